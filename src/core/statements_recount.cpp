// statements_recount.cpp — the set-based recount (backfill, TRUNCATE of a source),
// create_missing adoption and counter_value (core/statements.hpp).
// Layer: core (pure C++17).
#include "core/statement_parts.hpp"
#include "core/statements.hpp"

namespace denorm::core {

using namespace parts;

namespace {

std::string lock_all(const Definition &d, const std::vector<Column> &key)
{
    return "SELECT pg_catalog.count(*) FROM (SELECT 1 FROM " + d.target + " t ORDER BY " + lock_order("t", key) +
           " FOR UPDATE) l";
}

}  // namespace

std::optional<RecountStatements> recount_statements(const TargetDefinitions &on_target, const std::string &column)
{
    for (const Definition &grp : on_target) {
        if (family_of(grp.kind) == Family::Additive) continue;
        bool writes = false;
        for (const Column &c : grp.target_columns) writes = writes || c.name == column;
        if (!writes) continue;
        // A min/max/latest group: every row recomputed by probes, after locking them all;
        // only rows whose values differ are written (adopting a table that is right
        // already leaves it as it is: no new row versions, no bloat).
        std::vector<std::string> recomputed, news;
        for (size_t o = 1; o <= grp.target_columns.size(); o++) {
            recomputed.push_back("g.v" + std::to_string(o));
            news.push_back("x.v" + std::to_string(o));
        }
        return RecountStatements{
            lock_all(grp, grp.target_key),
            "WITH x AS (SELECT t.tableoid AS rel, t.ctid AS row_id, g.* FROM " + grp.target + " t LEFT JOIN LATERAL (" +
                group_query(group_of(on_target, grp.target_columns), grp.target_key, refs("t", grp.target_key)) +
                ") g ON true WHERE ROW(" + joined(refs("t", grp.target_columns), ", ") + ") IS DISTINCT FROM ROW(" +
                joined(recomputed, ", ") + ")), u AS (UPDATE " + grp.target + " t SET (" + idents(grp.target_columns) +
                ") = ROW(" + joined(news, ", ") +
                ") FROM x WHERE t.tableoid OPERATOR(pg_catalog.=) x.rel AND t.ctid OPERATOR(pg_catalog.=) x.row_id "
                "RETURNING 1) SELECT pg_catalog.count(*) FROM u"};
    }
    std::optional<ExpectedQuery> e = expected_query(on_target, column);
    if (!e) return std::nullopt;
    const Definition &d = *additive_on(on_target, column).front();
    const std::string &col = d.target_columns[0].ident;
    // Locked first, then recounted in a new statement: a single UPDATE ... FROM
    // (aggregate) would wait for a concurrent writer's row lock and then write a total
    // from its older snapshot, losing that write. The recount is one statement: every
    // target row joined to its total (0 without source rows) by a hash join, each
    // changed row written once.
    return RecountStatements{
        lock_all(d, e->key),
        "WITH x AS (SELECT t.tableoid AS rel, t.ctid AS row_id, coalesce(v.total, 0) AS total FROM " + d.target +
            " t LEFT JOIN (" + e->query + ") v ON " + key_join(e->key, "t", "v") + " WHERE t." + col +
            " IS DISTINCT FROM coalesce(v.total, 0)), u AS (UPDATE " + d.target + " t SET " + col +
            " = x.total FROM x WHERE t.tableoid OPERATOR(pg_catalog.=) x.rel AND t.ctid OPERATOR(pg_catalog.=) x.row_id "
            "RETURNING 1) SELECT pg_catalog.count(*) FROM u"};
}

std::optional<std::string> adopt_statement(const Definition &d)
{
    if (!d.create_missing) return std::nullopt;
    std::string keys = idents(d.target_key);
    return "WITH i AS (INSERT INTO " + d.target + " AS t (" + keys + (d.touch ? ", " + *d.touch : "") + ") SELECT k.*" +
           (d.touch ? ", pg_catalog.now()" : "") + " FROM (" + adoption_keys_sql(d) + ") k ON CONFLICT (" + keys +
           ") DO NOTHING RETURNING 1) SELECT pg_catalog.count(*) FROM i";
}

std::string adopt_values_statement(const Definition &d)
{
    std::vector<std::string> keys, groups;
    for (size_t o = 0; o < d.target_key.size(); o++) {
        keys.push_back("s." + d.source_key[o]);
        groups.push_back(std::to_string(o + 1));
    }
    std::string value = d.kind == Aggregate::Count ? "pg_catalog.count(*)"
                                                   : "pg_catalog." + std::string(aggregate_name(d.kind)) + "(" + *d.value + ")";
    std::string adopted = adoption_keys_sql(d);  // SELECT DISTINCT ... FROM source s WHERE ...
    std::string where = adopted.substr(adopted.find(" WHERE "));
    return "WITH i AS (INSERT INTO " + d.target + " AS t (" + idents(d.target_key) + (d.touch ? ", " + *d.touch : "") +
           ", " + d.target_columns[0].ident + ") SELECT " + joined(keys, ", ") + (d.touch ? ", pg_catalog.now()" : "") +
           ", " + value + " FROM " + d.source + " s" + where + " GROUP BY " + joined(groups, ", ") + " ON CONFLICT (" +
           idents(d.target_key) + ") DO NOTHING RETURNING 1) SELECT pg_catalog.count(*) FROM i";
}

std::string counter_value_statement(const TargetDefinitions &on_target, const Definition &d)
{
    const Column &column = d.target_columns[0];
    std::string pending = "0", recount = "0";
    bool creates = false;
    for (const Definition *x : additive_on(on_target, column.name)) {
        // $1[i] is the value of d.target_key[i] (x may list the key columns in another
        // order), read as the target column's type.
        std::vector<std::string> key_refs;
        for (const Column &k : x->target_key)
            key_refs.push_back("(($1::pg_catalog.text[])[" + std::to_string(position_of(d.target_key, k.name) + 1) +
                               "])::" + k.type);
        if (x->deferred) pending += " + " + pending_sql(*x, key_refs);
        recount += " + " + probe_sql(*x, key_refs);
        creates = creates || x->create_missing;
    }
    std::vector<std::string> matches;
    for (size_t o = 0; o < d.target_key.size(); o++)
        matches.push_back("t." + d.target_key[o].ident + " OPERATOR(pg_catalog.=) (($1::pg_catalog.text[])[" +
                          std::to_string(o + 1) + "])::" + d.target_key[o].type);
    // The transaction's own changes not yet written ($1 after the key) add to a stored row;
    // a row still to be created is recounted from the sources, which include them.
    std::string own = "(($1::pg_catalog.text[])[" + std::to_string(d.target_key.size() + 1) + "])::pg_catalog.numeric";
    return "SELECT CASE WHEN r.present THEN r.v + " + pending + " + " + own + " " + (creates ? "ELSE " + recount : "") +
           " END FROM (SELECT 1) _one LEFT JOIN LATERAL (SELECT t." + column.ident +
           "::pg_catalog.numeric AS v, true AS present FROM " + d.target + " t WHERE " + joined(matches, " AND ") +
           ") r ON true";
}

}  // namespace denorm::core
