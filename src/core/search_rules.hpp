// search_rules.hpp — what makes a search source definition acceptable (README "Search"),
// as problems with their ErrorKind (SQLSTATE: core/error_kind.cpp); the glue
// (src/pg/search/search_checks.cpp) looks the facts up in the catalog and raises the first
// problem. Names and types come as PostgreSQL prints them. Layer: core (pure C++17).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/definition_rules.hpp"

namespace denorm::core {

// The name syntax of a counter's ([a-z_][a-z0-9_]*, at most 63 bytes): 22023.
std::optional<Problem> check_search_source_name(std::string_view name);
// 42710 when a search source of that name exists.
std::optional<Problem> check_new_search_source(std::string_view name, bool exists);
// 42809 unless the source is a table (plain or partitioned).
std::optional<Problem> check_search_table(std::string_view table, bool is_table);
// 0A000 when the source has row security: search() shows a source's documents to
// whoever may SELECT from it, which row security would contradict.
std::optional<Problem> check_search_row_security(std::string_view table, bool row_security);
// 42P10 when doc_key is not given and the table has no primary key.
std::optional<Problem> check_search_doc_key(std::string_view table, bool has_doc_key, bool has_primary_key);
// filter is boolean, boost a number (a type of the numeric category): 42804.
std::optional<Problem> check_search_filter_type(std::string_view type, bool is_boolean);
std::optional<Problem> check_search_boost_type(std::string_view type, bool is_numeric);

// doc_key when not given: the primary key columns (quoted), each as text, joined by ','.
std::string primary_key_doc_key(const std::vector<std::string> &column_idents);

}  // namespace denorm::core
