// statements_extremum.cpp — what a writer runs for a min, max or latest definition and
// one target key (core/statements.hpp). min and max fold the best added value in unless a
// removed value may have been the stored one; otherwise, and for a latest that cannot
// take the fast path, the writer locks the row and recomputes it in a new statement,
// which then sees every writer that committed before the lock.
// Layer: core (pure C++17).
#include "core/statement_parts.hpp"
#include "core/statements.hpp"

namespace denorm::core {

using namespace parts;

namespace {

// "t.a = $3 AND t.b = $4".
std::string where_key(const Definition &d)
{
    std::vector<std::string> matches;
    for (size_t k = 0; k < d.target_key.size(); k++)
        matches.push_back("t." + d.target_key[k].ident + " OPERATOR(pg_catalog.=) " + param(k + 3));
    return joined(matches, " AND ");
}

// Positions (1-based) of a latest's order_by expressions among its source values; an
// empty vector when one is not there.
std::vector<size_t> order_positions(const Definition &d)
{
    std::vector<size_t> positions;
    for (const std::string &e : d.order_by) {
        size_t p = 0;
        for (size_t v = 0; v < d.source_values.size() && !p; v++)
            if (d.source_values[v] == e) p = v + 1;
        if (!p) return {};
        positions.push_back(p);
    }
    return positions;
}

// A latest whose order_by expressions are all among its source values keeps its
// winner's order tuple in the target row. Then a statement that only added rows for a
// key needs no lock-and-recompute: one UPDATE writes the newest of the key's rows (read
// under this statement's snapshot, so it includes the writer's own) only if its tuple
// is greater than the stored one, which the UPDATE re-reads at its latest version after
// any wait — a newer row committed meanwhile is never overwritten by an older one.
// nullopt when the definitions of the group do not all store the tuple in the same
// columns.
std::optional<std::string> latest_fast(const std::vector<const Definition *> &group, const Definition &d)
{
    std::vector<size_t> positions = order_positions(d);
    if (positions.empty()) return std::nullopt;
    for (const Definition *x : group)
        if (order_positions(*x) != positions) return std::nullopt;
    std::vector<std::string> params, news, stored, winners;
    for (size_t k = 0; k < d.target_key.size(); k++) params.push_back(param(k + 3));
    for (size_t o = 1; o <= d.target_columns.size(); o++) news.push_back("x.v" + std::to_string(o));
    for (size_t p : positions) {
        stored.push_back("t." + d.target_columns[p - 1].ident);
        winners.push_back("x.v" + std::to_string(p));
    }
    return "WITH x AS (" + group_query(group, d.target_key, params) + ") UPDATE " + d.target + " t SET (" +
           idents(d.target_columns) + (d.touch ? ", " + *d.touch : "") + ") = ROW(" + joined(news, ", ") +
           (d.touch ? ", pg_catalog.now()" : "") + ") FROM x WHERE " + where_key(d) + " AND (ROW(" + joined(stored, ", ") +
           ") < ROW(" + joined(winners, ", ") + ") OR t." + d.target_columns[positions[0] - 1].ident +
           " IS NULL) RETURNING 1";
}

std::string min_max_fast(const Definition &d)
{
    const Column &col = d.target_columns[0];
    std::string best = std::string(d.kind == Aggregate::Min ? "LEAST" : "GREATEST") + "(t." + col.ident + ", $1::" +
                       col.type + ")";
    std::string touched;
    if (d.touch)
        touched = ", " + *d.touch + " = CASE WHEN " + best + " IS DISTINCT FROM t." + col.ident +
                  " THEN pg_catalog.now() ELSE t." + *d.touch + " END";
    return "UPDATE " + d.target + " t SET " + col.ident + " = " + best + touched + " WHERE " + where_key(d) + " AND ($2::" +
           col.type + " IS NULL OR t." + col.ident + " OPERATOR(pg_catalog." + (d.kind == Aggregate::Min ? "<" : ">") +
           ") $2::" + col.type + ") RETURNING 1";
}

}  // namespace

ExtremumStatements extremum_statements(const TargetDefinitions &on_target, const Definition &d)
{
    std::vector<const Definition *> group = group_of(on_target, d.target_columns);
    ExtremumStatements s;
    s.lock = "SELECT 1 FROM " + d.target + " t WHERE " + where_key(d) + " FOR NO KEY UPDATE";
    s.recompute = "UPDATE " + d.target + " t " + group_set_sql(group, d.target_key, refs("t", d.target_key), d.touch) +
                  " WHERE " + where_key(d);
    if (d.create_missing) {
        std::vector<std::string> params;
        for (size_t k = 0; k < d.target_key.size(); k++) params.push_back(param(k + 3));
        std::string keys = idents(d.target_key);
        s.create = "INSERT INTO " + d.target + " AS t (" + keys + ") VALUES (" + joined(params, ", ") + ") ON CONFLICT (" +
                   keys + ") DO NOTHING RETURNING true";
    }
    if (d.kind == Aggregate::Latest)
        s.fast = latest_fast(group, d);
    else
        s.fast = min_max_fast(d);
    return s;
}

}  // namespace denorm::core
