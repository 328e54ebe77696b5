// definition_checks.hpp — the checks a new counter definition passes that need facts
// from the catalog: each takes the facts as plain values and returns the problem, with
// its ErrorKind (SQLSTATE: core/error_kind.cpp) and message. Together with
// definition_rules.hpp this is the one place definitions are validated; the glue
// (src/pg/counters/definition_checks.cpp) looks the facts up, in the order below, and
// raises the first problem. Relations and types come as the text PostgreSQL prints
// for them; column names unquoted unless said otherwise. Layer: core (pure C++17).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/definition_rules.hpp"

namespace denorm::core {

std::optional<Problem> check_new_name(std::string_view name, bool exists);
// `what` is "target" or "source".
std::optional<Problem> check_is_table(std::string_view what, std::string_view rel, bool is_table);
std::optional<Problem> check_no_null_keys(bool has_null);
// pk_len: the number of primary key columns, or nullopt without a primary key.
std::optional<Problem> check_primary_key(std::string_view target, std::optional<size_t> pk_len, size_t source_key_len);
// `what` names the argument that gave the column (source_key, touch...).
Problem missing_column(std::string_view column, std::string_view rel, std::string_view what);
std::optional<Problem> check_key_types(std::string_view source_column, std::string_view source_type,
                                       std::string_view target_column, std::string_view target_type, bool comparable);
// key_idents: the target key columns, quoted (for the CREATE UNIQUE INDEX the hint gives).
std::optional<Problem> check_unique_index(std::string_view target, const std::vector<std::string> &key,
                                          const std::vector<std::string> &key_idents, bool has_index);
std::optional<Problem> check_filter_type(std::string_view counter, std::string_view type);
std::optional<Problem> check_touch_type(std::string_view touch, std::string_view target, std::string_view type);

// The value of a sum is a number; that of a min or max has an ordering and fits the column.
struct ValueFacts {
    std::string_view type;
    bool orderable = false;
    bool assignable = false;  // to the target column
    std::string_view column;
    std::string_view column_type;
};
std::optional<Problem> check_value(std::string_view counter, Aggregate agg, const ValueFacts &value);

// A column written by a new definition: of a counter type (count, sum) and shared only
// within one family.
std::optional<Problem> check_written_column(std::string_view column, std::string_view column_type, Aggregate incoming,
                                            const std::vector<Aggregate> &existing);
// The columns written are not the target key, nor its touch column.
std::optional<Problem> check_written_columns(std::string_view target, const std::vector<std::string> &columns,
                                             const std::vector<std::string> &key, const std::optional<std::string> &touch);

// Definitions already on the target: what a new one must agree with.
struct ExistingDefinition {
    std::string name;
    std::vector<std::string> columns;
    std::vector<std::string> key;
    std::vector<std::string> order_types;  // a latest's
};
// Definitions sharing a column match the same target key columns (in any order).
std::optional<Problem> check_shared_key(std::string_view target, const std::vector<std::string> &columns,
                                        const std::vector<std::string> &key,
                                        const std::vector<ExistingDefinition> &on_target);

// create_latest's arguments: one source value per target column, a non-empty order_by,
// no column twice.
std::optional<Problem> check_latest_shape(std::string_view name, const std::vector<std::string> &columns,
                                          bool columns_have_null, size_t nvalues, size_t norder);
std::optional<Problem> check_latest_value(size_t position, std::string_view name, std::string_view type,
                                          std::string_view column, std::string_view column_type, bool assignable);
// types[i] of order_by[i], orderable[i] whether it has a default ordering.
std::optional<Problem> check_order_types(std::string_view name, const std::vector<std::string> &types,
                                         const std::vector<bool> &orderable);
// Latests share columns only as a whole group, ordered by tuples of one type.
std::optional<Problem> check_latest_group(std::string_view name, const std::vector<std::string> &columns,
                                          const std::vector<std::string> &order_types,
                                          const std::vector<ExistingDefinition> &on_target);

// An array as PostgreSQL prints it: {a,"b c"}.
std::string array_text(const std::vector<std::string> &items);

}  // namespace denorm::core
