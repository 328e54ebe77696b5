// counter_statements.cpp — see counter_statements.hpp. Layer: core (pure C++17).
#include "core/counter_statements.hpp"

namespace denorm::core {

namespace {

std::string set_clause(const AdditiveTarget &target)
{
    std::string set = target.column + " = t." + target.column + " OPERATOR(pg_catalog.+) $1";
    if (target.touch) set += ", " + *target.touch + " = pg_catalog.now()";
    return set;
}

std::string joined(const std::vector<std::string> &items, const char *separator)
{
    std::string out;
    for (size_t i = 0; i < items.size(); i++) out += (i ? separator : "") + items[i];
    return out;
}

std::string param(size_t key_index) { return "$" + std::to_string(key_index + 2); }

}  // namespace

std::string apply_statement(const AdditiveTarget &target)
{
    std::vector<std::string> matches;
    for (size_t k = 0; k < target.key.size(); k++)
        matches.push_back("t." + target.key[k] + " OPERATOR(pg_catalog.=) " + param(k));
    return "UPDATE " + target.table + " AS t SET " + set_clause(target) + " WHERE " + joined(matches, " AND ");
}

std::string upsert_statement(const AdditiveTarget &target)
{
    std::vector<std::string> values;
    for (size_t k = 0; k < target.key.size(); k++) values.push_back(param(k));
    std::string keys = joined(target.key, ", ");
    std::string columns = keys + ", " + target.column + (target.touch ? ", " + *target.touch : "");
    std::string inserted = joined(values, ", ") + ", $1" + (target.touch ? ", pg_catalog.now()" : "");
    // xmax is 0 on a row this statement inserted, and set on one it updated on conflict.
    return "INSERT INTO " + target.table + " AS t (" + columns + ") VALUES (" + inserted + ") ON CONFLICT (" + keys +
           ") DO UPDATE SET " + set_clause(target) + " RETURNING (t.xmax::pg_catalog.text OPERATOR(pg_catalog.=) '0')";
}

}  // namespace denorm::core
