// definition_checks.cpp — see definition_checks.hpp. Layer: core (pure C++17).
#include "core/definition_checks.hpp"

#include <algorithm>

namespace denorm::core {

namespace {

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string joined(const std::vector<std::string> &items, const char *separator)
{
    std::string out;
    for (size_t i = 0; i < items.size(); i++) out += (i ? separator : "") + items[i];
    return out;
}

std::vector<std::string> sorted(std::vector<std::string> v)
{
    std::sort(v.begin(), v.end());  // byte order, as core::key_order
    return v;
}

bool overlaps(const std::vector<std::string> &a, const std::vector<std::string> &b)
{
    for (const std::string &x : a)
        if (std::find(b.begin(), b.end(), x) != b.end()) return true;
    return false;
}

}  // namespace

std::optional<Problem> check_new_name(std::string_view name, bool exists)
{
    if (!exists) return std::nullopt;
    return Problem{ErrorKind::DuplicateObject, "counter " + quoted(name) + " already exists", ""};
}

std::optional<Problem> check_is_table(std::string_view what, std::string_view rel, bool is_table)
{
    if (is_table) return std::nullopt;
    return Problem{ErrorKind::WrongObjectType, std::string(what) + " " + quoted(rel) + " is not a table", ""};
}

std::optional<Problem> check_no_null_keys(bool has_null)
{
    if (!has_null) return std::nullopt;
    return Problem{ErrorKind::InvalidParameter, "source_key and target_key must not contain NULL", ""};
}

std::optional<Problem> check_primary_key(std::string_view target, std::optional<size_t> pk_len, size_t source_key_len)
{
    if (!pk_len)
        return Problem{ErrorKind::InvalidColumnRef, "target " + std::string(target) + " has no primary key",
                       "Give target_key, the target columns matching source_key."};
    if (*pk_len != source_key_len)
        return Problem{ErrorKind::InvalidParameter,
                       "source_key has " + std::to_string(source_key_len) + " columns but the primary key of " +
                           std::string(target) + " has " + std::to_string(*pk_len),
                       ""};
    return std::nullopt;
}

Problem missing_column(std::string_view column, std::string_view rel, std::string_view what)
{
    return Problem{ErrorKind::UndefinedColumn, "column " + quoted(column) + " of " + std::string(rel) + " does not exist",
                   "It was given as " + std::string(what) + "."};
}

std::optional<Problem> check_key_types(std::string_view source_column, std::string_view source_type,
                                       std::string_view target_column, std::string_view target_type, bool comparable)
{
    if (comparable) return std::nullopt;
    return Problem{ErrorKind::DatatypeMismatch,
                   "source key column " + quoted(source_column) + " (" + std::string(source_type) +
                       ") cannot be compared with target key column " + quoted(target_column) + " (" +
                       std::string(target_type) + ")",
                   ""};
}

std::optional<Problem> check_unique_index(std::string_view target, const std::vector<std::string> &key,
                                          const std::vector<std::string> &key_idents, bool has_index)
{
    if (has_index) return std::nullopt;
    return Problem{ErrorKind::InvalidColumnRef,
                   "there is no unique index on " + std::string(target) + "(" + joined(key, ", ") + ")",
                   "Create one: CREATE UNIQUE INDEX ON " + std::string(target) + " (" + joined(key_idents, ", ") + ");"};
}

std::optional<Problem> check_filter_type(std::string_view counter, std::string_view type)
{
    if (type == "boolean") return std::nullopt;
    return Problem{ErrorKind::DatatypeMismatch,
                   "filter of counter " + quoted(counter) + " is of type " + std::string(type) + ", not boolean", ""};
}

std::optional<Problem> check_touch_type(std::string_view touch, std::string_view target, std::string_view type)
{
    if (type == "timestamp with time zone" || type == "timestamp without time zone") return std::nullopt;
    return Problem{ErrorKind::DatatypeMismatch,
                   "touch column " + quoted(touch) + " of " + std::string(target) + " is not a timestamp", ""};
}

std::optional<Problem> check_value(std::string_view counter, Aggregate agg, const ValueFacts &value)
{
    if (agg == Aggregate::Sum && !is_counter_column_type(value.type))
        return Problem{ErrorKind::DatatypeMismatch,
                       "value expression of counter " + quoted(counter) + " is of type " + std::string(value.type) +
                           ", not a number",
                       ""};
    if ((agg == Aggregate::Min || agg == Aggregate::Max) && !(value.orderable && value.assignable))
        return Problem{ErrorKind::DatatypeMismatch,
                       "value expression of counter " + quoted(counter) + " is of type " + std::string(value.type) +
                           ", which has no ordering or cannot be stored in column " + quoted(value.column) + " (" +
                           std::string(value.column_type) + ")",
                       ""};
    return std::nullopt;
}

std::optional<Problem> check_written_column(std::string_view column, std::string_view column_type, Aggregate incoming,
                                            const std::vector<Aggregate> &existing)
{
    if (family_of(incoming) == Family::Additive)
        if (auto problem = check_counter_column_type("counter column " + quoted(column), column_type)) return problem;
    return check_family_sharing(column, incoming, existing);
}

std::optional<Problem> check_written_columns(std::string_view target, const std::vector<std::string> &columns,
                                             const std::vector<std::string> &key, const std::optional<std::string> &touch)
{
    for (const std::string &c : columns)
        if (std::find(key.begin(), key.end(), c) != key.end())
            return Problem{ErrorKind::InvalidParameter,
                           "column " + quoted(c) + " of " + std::string(target) + " is part of the target key",
                           "A counter writes a column of the target row its key identifies; name another column."};
    if (touch && (std::find(columns.begin(), columns.end(), *touch) != columns.end() ||
                  std::find(key.begin(), key.end(), *touch) != key.end()))
        return Problem{ErrorKind::InvalidParameter,
                       "touch column " + quoted(*touch) + " of " + std::string(target) + " is also a key or counter column",
                       ""};
    return std::nullopt;
}

std::optional<Problem> check_shared_key(std::string_view target, const std::vector<std::string> &columns,
                                        const std::vector<std::string> &key,
                                        const std::vector<ExistingDefinition> &on_target)
{
    bool mismatch = false;
    for (const ExistingDefinition &d : on_target)
        mismatch = mismatch || (overlaps(d.columns, columns) && sorted(d.key) != sorted(key));
    if (!mismatch) return std::nullopt;
    // Name the first of the new columns some definition writes.
    std::string shared;
    for (const std::string &c : columns)
        for (const ExistingDefinition &d : on_target)
            if (shared.empty() && std::find(d.columns.begin(), d.columns.end(), c) != d.columns.end()) shared = c;
    return Problem{ErrorKind::InvalidParameter,
                   "column " + quoted(shared) + " of " + std::string(target) +
                       " is already written by a counter keyed by other target columns",
                   "Definitions sharing a column must match the same target key columns."};
}

std::optional<Problem> check_latest_shape(std::string_view name, const std::vector<std::string> &columns,
                                          bool columns_have_null, size_t nvalues, size_t norder)
{
    if (columns_have_null)
        return Problem{ErrorKind::InvalidParameter, "target_columns of latest " + quoted(name) + " must not contain NULL", ""};
    if (columns.empty() || columns.size() != nvalues)
        return Problem{ErrorKind::InvalidParameter,
                       "target_columns has " + std::to_string(columns.size()) + " entries but source_values has " +
                           std::to_string(nvalues),
                       "Give one source value expression for each target column, in the same order."};
    if (norder == 0)
        return Problem{ErrorKind::InvalidParameter, "order_by of latest " + quoted(name) + " is empty",
                       "Name the expressions that order the source rows, e.g. '{created_at, id}'."};
    std::vector<std::string> s = sorted(columns);
    if (std::adjacent_find(s.begin(), s.end()) != s.end())
        return Problem{ErrorKind::InvalidParameter, "target_columns of latest " + quoted(name) + " names a column twice",
                       ""};
    return std::nullopt;
}

std::optional<Problem> check_latest_value(size_t position, std::string_view name, std::string_view type,
                                          std::string_view column, std::string_view column_type, bool assignable)
{
    if (assignable) return std::nullopt;
    return Problem{ErrorKind::DatatypeMismatch,
                   "source value " + std::to_string(position) + " of latest " + quoted(name) + " is of type " +
                       std::string(type) + ", which cannot be stored in column " + quoted(column) + " (" +
                       std::string(column_type) + ")",
                   ""};
}

std::optional<Problem> check_order_types(std::string_view name, const std::vector<std::string> &types,
                                         const std::vector<bool> &orderable)
{
    for (size_t i = 0; i < types.size(); i++)
        if (!orderable[i])
            return Problem{ErrorKind::DatatypeMismatch,
                           "order_by of latest " + quoted(name) + " has a value of type " + types[i] +
                               ", which has no ordering",
                           ""};
    return std::nullopt;
}

std::optional<Problem> check_latest_group(std::string_view name, const std::vector<std::string> &columns,
                                          const std::vector<std::string> &order_types,
                                          const std::vector<ExistingDefinition> &on_target)
{
    for (const ExistingDefinition &other : on_target) {
        if (!overlaps(other.columns, columns)) continue;
        if (other.columns != columns)
            return Problem{ErrorKind::InvalidParameter,
                           "latest " + quoted(name) + " would share some but not all of its columns with latest " +
                               quoted(other.name),
                           "Write the same target_columns as " + quoted(other.name) + ": " + array_text(other.columns) +
                               "."};
        if (other.order_types != order_types)
            return Problem{ErrorKind::DatatypeMismatch,
                           "order_by of latest " + quoted(name) + " (" + array_text(order_types) +
                               ") does not match that of latest " + quoted(other.name) + ", which writes the same columns",
                           ""};
    }
    return std::nullopt;
}

std::string array_text(const std::vector<std::string> &items)
{
    std::string out = "{";
    for (size_t i = 0; i < items.size(); i++) {
        const std::string &e = items[i];
        bool quote = e.empty() || e.find_first_of("{},\"\\ \t\n\r\v\f") != std::string::npos;
        std::string upper;
        for (char c : e) upper += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        quote = quote || upper == "NULL";
        if (i) out += ",";
        if (!quote) {
            out += e;
            continue;
        }
        out += "\"";
        for (char c : e) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += "\"";
    }
    return out + "}";
}

}  // namespace denorm::core
