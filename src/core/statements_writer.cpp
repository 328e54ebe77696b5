// statements_writer.cpp — what a writer runs for a count, sum or deferred definition
// (core/statements.hpp). Layer: core (pure C++17).
#include <algorithm>

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

std::string combined_apply_statement(const std::string &table, const std::vector<std::string> &key,
                                     const std::vector<ColumnChange> &changes)
{
    // One assignment per column, in first-seen order; one per touch column.
    std::vector<std::string> columns, sums, touches;
    for (size_t i = 0; i < changes.size(); i++) {
        const ColumnChange &c = changes[i];
        size_t at = 0;
        while (at < columns.size() && columns[at] != c.column) at++;
        if (at == columns.size()) {
            columns.push_back(c.column);
            sums.push_back("t." + c.column);
        }
        sums[at] += " OPERATOR(pg_catalog.+) " + param(i + 1);
        if (c.touch && std::find(touches.begin(), touches.end(), *c.touch) == touches.end()) touches.push_back(*c.touch);
    }
    std::vector<std::string> sets, matches;
    for (size_t i = 0; i < columns.size(); i++) sets.push_back(columns[i] + " = " + sums[i]);
    for (const std::string &t : touches) sets.push_back(t + " = pg_catalog.now()");
    for (size_t k = 0; k < key.size(); k++)
        matches.push_back("t." + key[k] + " OPERATOR(pg_catalog.=) " + param(changes.size() + k + 1));
    return "UPDATE " + table + " AS t SET " + joined(sets, ", ") + " WHERE " + joined(matches, " AND ");
}

std::string pending_insert_statement(const Definition &d)
{
    return "INSERT INTO denorm._pending_deltas (counter, key, delta) VALUES (" + literal(d.name) + ", " +
           pending_key_sql(d, key_params(d)) + ", $1)";
}

}  // namespace denorm::core
