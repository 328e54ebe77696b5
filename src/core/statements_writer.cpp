// statements_writer.cpp — what a writer runs for a count, sum or deferred definition
// (core/statements.hpp). Layer: core (pure C++17).
#include "core/statement_parts.hpp"
#include "core/statements.hpp"

namespace denorm::core {

using namespace parts;

namespace {

std::string set_clause(const Definition &d)
{
    const std::string &column = d.target_columns[0].ident;
    std::string set = column + " = t." + column + " OPERATOR(pg_catalog.+) $1";
    if (d.touch) set += ", " + *d.touch + " = pg_catalog.now()";
    return set;
}

// $2, $3, ...: the target key values.
std::vector<std::string> key_params(const Definition &d)
{
    std::vector<std::string> out;
    for (size_t k = 0; k < d.target_key.size(); k++) out.push_back(param(k + 2));
    return out;
}

}  // namespace

std::string apply_statement(const Definition &d)
{
    std::vector<std::string> matches;
    for (size_t k = 0; k < d.target_key.size(); k++)
        matches.push_back("t." + d.target_key[k].ident + " OPERATOR(pg_catalog.=) " + param(k + 2));
    return "UPDATE " + d.target + " AS t SET " + set_clause(d) + " WHERE " + joined(matches, " AND ");
}

std::string upsert_statement(const Definition &d)
{
    std::string keys = idents(d.target_key);
    std::string columns = keys + ", " + d.target_columns[0].ident + (d.touch ? ", " + *d.touch : "");
    std::string inserted = joined(key_params(d), ", ") + ", $1" + (d.touch ? ", pg_catalog.now()" : "");
    // xmax is 0 on a row this statement inserted, and set on one it updated on conflict.
    return "INSERT INTO " + d.target + " AS t (" + columns + ") VALUES (" + inserted + ") ON CONFLICT (" + keys +
           ") DO UPDATE SET " + set_clause(d) + " RETURNING (t.xmax::pg_catalog.text OPERATOR(pg_catalog.=) '0')";
}

std::string pending_insert_statement(const Definition &d)
{
    return "INSERT INTO denorm._pending_deltas (counter, key, delta) VALUES (" + literal(d.name) + ", " +
           pending_key_sql(d, key_params(d)) + ", $1)";
}

}  // namespace denorm::core
