// search_rules.cpp — see search_rules.hpp. Layer: core (pure C++17).
#include "core/search_rules.hpp"

namespace denorm::core {

namespace {
std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }
}  // namespace

std::optional<Problem> check_search_source_name(std::string_view name)
{
    if (!check_counter_name(name)) return std::nullopt;
    return Problem{ErrorKind::InvalidParameter, "invalid search source name " + quoted(name),
                   "A search source name is 1 to 63 bytes of lower-case letters, digits and underscores, "
                   "not starting with a digit."};
}

std::optional<Problem> check_new_search_source(std::string_view name, bool exists)
{
    if (!exists) return std::nullopt;
    return Problem{ErrorKind::DuplicateObject, "search source " + quoted(name) + " already exists", ""};
}

std::optional<Problem> check_search_table(std::string_view table, bool is_table)
{
    if (is_table) return std::nullopt;
    return Problem{ErrorKind::WrongObjectType, "source " + quoted(table) + " is not a table", ""};
}

std::optional<Problem> check_search_row_security(std::string_view table, bool row_security)
{
    if (!row_security) return std::nullopt;
    return Problem{ErrorKind::FeatureNotSupported, "table " + quoted(table) + " has row security",
                   "search() shows a source's documents to every role that may SELECT from it, whatever its "
                   "row security policies would hide."};
}

std::optional<Problem> check_search_doc_key(std::string_view table, bool has_doc_key, bool has_primary_key)
{
    if (has_doc_key || has_primary_key) return std::nullopt;
    return Problem{ErrorKind::InvalidColumnRef, "table " + quoted(table) + " has no primary key",
                   "Give doc_key, an expression that identifies a row, e.g. doc_key => 'slug'."};
}

std::optional<Problem> check_search_filter_type(std::string_view type, bool is_boolean)
{
    if (is_boolean) return std::nullopt;
    return Problem{ErrorKind::DatatypeMismatch, "filter must be boolean, not " + std::string(type),
                   "Write a condition, e.g. filter => 'deleted_at IS NULL'."};
}

std::optional<Problem> check_search_boost_type(std::string_view type, bool is_numeric)
{
    if (is_numeric) return std::nullopt;
    return Problem{ErrorKind::DatatypeMismatch, "boost must be a number, not " + std::string(type),
                   "It is added to the rank, e.g. boost => 'ln(1 + stars) / 10'."};
}

std::string primary_key_doc_key(const std::vector<std::string> &column_idents)
{
    if (column_idents.size() == 1) return column_idents[0];
    std::string out;
    for (size_t i = 0; i < column_idents.size(); i++)
        out += (i ? " || ',' || " : "") + std::string("(") + column_idents[i] + ")::text";
    return out;
}

}  // namespace denorm::core
