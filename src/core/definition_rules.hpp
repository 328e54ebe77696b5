// definition_rules.hpp — what makes a counter definition acceptable, independent of
// any catalog: name syntax, aggregate kinds and their families, the column types a
// counter may write, the shape of the key lists. Layer: core (pure C++17).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error_kind.hpp"

namespace denorm::core {

struct Problem {
    ErrorKind kind;
    std::string message;
    std::string hint;  // empty when no hint helps
};

enum class Aggregate { Count, Sum, Min, Max, Latest };

// Definitions of one family may write the same column: count and sum add up,
// min takes the least, max the greatest, latest the newest.
enum class Family { Additive, Least, Greatest, Newest };

std::optional<Aggregate> parse_aggregate(std::string_view text);
const char *aggregate_name(Aggregate agg);
Family family_of(Aggregate agg);
const char *family_name(Family family);

// [a-z_][a-z0-9_]*, at most 63 bytes.
std::optional<Problem> check_counter_name(std::string_view name);

// The arguments that do not need a catalog: aggregate text, whether value was given,
// key list lengths (target_key_len < 0 means "primary key", checked later).
struct CounterShape {
    std::string_view name;
    std::string_view aggregate;
    bool has_value = false;
    int source_key_len = 0;
    int target_key_len = -1;
    bool deferred = false;
};
std::optional<Problem> check_counter_shape(const CounterShape &shape);

// Column types (by pg_catalog type name) a count or sum may write, and a sum's value
// may have.
bool is_counter_column_type(std::string_view type_name);

// 42804 naming `what` (e.g. counter column "n") unless type_name is one of them.
std::optional<Problem> check_counter_column_type(std::string_view what, std::string_view type_name);

// A new definition of `incoming` may share a column already written by definitions of
// `existing` families only when all are of the same family.
std::optional<Problem> check_family_sharing(std::string_view column, Aggregate incoming,
                                            const std::vector<Aggregate> &existing);

}  // namespace denorm::core
