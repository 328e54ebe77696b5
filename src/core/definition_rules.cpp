// definition_rules.cpp — catalog-free checks of counter definitions. Layer: core.
#include "core/definition_rules.hpp"

#include <iterator>

namespace denorm::core {

std::optional<Aggregate> parse_aggregate(std::string_view text)
{
    if (text == "count") return Aggregate::Count;
    if (text == "sum") return Aggregate::Sum;
    if (text == "min") return Aggregate::Min;
    if (text == "max") return Aggregate::Max;
    return std::nullopt;  // 'latest' is made by create_latest, never named here
}

const char *aggregate_name(Aggregate agg)
{
    switch (agg) {
    case Aggregate::Count: return "count";
    case Aggregate::Sum: return "sum";
    case Aggregate::Min: return "min";
    case Aggregate::Max: return "max";
    case Aggregate::Latest: return "latest";
    }
    return "?";
}

Family family_of(Aggregate agg)
{
    switch (agg) {
    case Aggregate::Count:
    case Aggregate::Sum: return Family::Additive;
    case Aggregate::Min: return Family::Least;
    case Aggregate::Max: return Family::Greatest;
    case Aggregate::Latest: return Family::Newest;
    }
    return Family::Additive;
}

const char *family_name(Family family)
{
    switch (family) {
    case Family::Additive: return "count/sum";
    case Family::Least: return "min";
    case Family::Greatest: return "max";
    case Family::Newest: return "latest";
    }
    return "?";
}

std::optional<Problem> check_counter_name(std::string_view name)
{
    bool ok = !name.empty() && name.size() <= 63 && !(name[0] >= '0' && name[0] <= '9');
    for (char c : name)
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    if (ok) return std::nullopt;
    return Problem{ErrorKind::InvalidParameter, "invalid counter name \"" + std::string(name) + "\"",
                   "A counter name is 1 to 63 bytes of lower-case letters, digits and underscores, "
                   "not starting with a digit."};
}

std::optional<Problem> check_counter_shape(const CounterShape &shape)
{
    if (auto problem = check_counter_name(shape.name)) return problem;
    auto agg = parse_aggregate(shape.aggregate);
    if (!agg)
        return Problem{ErrorKind::InvalidParameter, "invalid aggregate \"" + std::string(shape.aggregate) + "\"",
                       "Use 'count', 'sum', 'min' or 'max'."};
    if (*agg == Aggregate::Count && shape.has_value)
        return Problem{ErrorKind::InvalidParameter, "a count counter takes no value expression",
                       "Use aggregate => 'sum' to add up a value, or a filter to choose the rows counted."};
    if (*agg != Aggregate::Count && !shape.has_value)
        return Problem{ErrorKind::InvalidParameter,
                       std::string("aggregate \"") + aggregate_name(*agg) + "\" needs a value expression", ""};
    if (shape.deferred && family_of(*agg) != Family::Additive)
        return Problem{ErrorKind::InvalidParameter,
                       std::string("a ") + aggregate_name(*agg) + " counter cannot be deferred",
                       "Only count and sum counters may be deferred."};
    if (shape.source_key_len < 1)
        return Problem{ErrorKind::InvalidParameter, "source_key must name at least one column", ""};
    if (shape.target_key_len >= 0 && shape.target_key_len != shape.source_key_len)
        return Problem{ErrorKind::InvalidParameter,
                       "source_key has " + std::to_string(shape.source_key_len) + " columns but target_key has " +
                           std::to_string(shape.target_key_len),
                       "Name one target column for each source key column, in the same order."};
    return std::nullopt;
}

namespace {
// The one list of the types a count or sum column (and a sum's value) may have.
constexpr std::string_view kCounterColumnTypes[] = {"smallint", "integer", "bigint", "numeric", "real",
                                                    "double precision"};
}  // namespace

bool is_counter_column_type(std::string_view type_name)
{
    for (std::string_view t : kCounterColumnTypes)
        if (t == type_name) return true;
    return false;
}

std::optional<Problem> check_counter_column_type(std::string_view what, std::string_view type_name)
{
    if (is_counter_column_type(type_name)) return std::nullopt;
    std::string listed;
    for (size_t i = 0; i < std::size(kCounterColumnTypes); i++)
        listed += std::string(i == 0 ? "" : i + 1 == std::size(kCounterColumnTypes) ? " or " : ", ") +
                  std::string(kCounterColumnTypes[i]);
    return Problem{ErrorKind::DatatypeMismatch, std::string(what) + " is of type " + std::string(type_name),
                   "A count or sum column is " + listed + "."};
}

std::optional<Problem> check_family_sharing(std::string_view column, Aggregate incoming,
                                            const std::vector<Aggregate> &existing)
{
    for (Aggregate other : existing)
        if (family_of(other) != family_of(incoming))
            return Problem{ErrorKind::InvalidParameter,
                           "column \"" + std::string(column) + "\" is already written by a " +
                               family_name(family_of(other)) + " definition",
                           std::string("Definitions sharing a column must all be of one family; this one is ") +
                               family_name(family_of(incoming)) + "."};
    return std::nullopt;
}

}  // namespace denorm::core
