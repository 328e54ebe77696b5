// statements_reconcile.cpp — reconciliation of one counter's column (with every
// definition sharing it; for min, max and latest, the group of columns its definitions
// write), see core/statements.hpp. Candidates come from one snapshot, where stored
// values and sources agree unless they drifted (writers change both in one
// transaction), so a report takes no lock. A fix locks a batch of candidate rows in key
// order and recounts them in a new statement: a writer that committed meanwhile is
// seen, one still running waits for the lock and adds its change on top. Both join each
// target row t to its expected values v.v1..v.vn. Layer: core (pure C++17).
#include "core/statement_parts.hpp"
#include "core/statements.hpp"

namespace denorm::core {

using namespace parts;

namespace {

// The combined value of a count/sum column for the target row aliased t, by index
// probes of each source (what a fix writes, recomputed after the row is locked).
std::string expected_expr(const TargetDefinitions &on_target, const std::string &column)
{
    std::string expr = "0";
    for (const Definition *x : additive_on(on_target, column))
        expr += " + (" + contribution_sql(*x, refs("t", x->target_key)) + ")::pg_catalog.numeric";
    return expr;
}

std::string json_object(const std::vector<Column> &columns, const std::vector<std::string> &values)
{
    std::vector<std::string> pairs;
    for (size_t i = 0; i < columns.size(); i++) pairs.push_back(literal(columns[i].name) + ", " + values[i]);
    return "pg_catalog.jsonb_build_object(" + joined(pairs, ", ") + ")";
}

// Rows create_missing should have created and that are missing (rows aliased t
// holding only the key columns), or nullopt.
std::optional<std::string> missing_rows(const TargetDefinitions &on_target, const Definition &d,
                                        const std::vector<Column> &key)
{
    std::vector<std::string> parts;
    for (const Definition &x : on_target) {
        bool overlaps = false;
        for (const Column &a : x.target_columns)
            for (const Column &b : d.target_columns) overlaps = overlaps || a.name == b.name;
        if (overlaps && x.create_missing)
            parts.push_back("SELECT " + joined(refs("a", key), ", ") + " FROM (" + adoption_keys_sql(x) + ") a");
    }
    if (parts.empty()) return std::nullopt;
    std::vector<std::string> matches;
    for (const Column &c : key) matches.push_back("x." + c.ident + " OPERATOR(pg_catalog.=) m." + c.ident);
    return "SELECT m.* FROM (" + joined(parts, " UNION ") + ") m WHERE NOT EXISTS (SELECT 1 FROM " + d.target +
           " x WHERE " + joined(matches, " AND ") + ")";
}

}  // namespace

ReconcileStatements reconcile_statements(const TargetDefinitions &on_target, const Definition &d)
{
    const std::vector<Column> &cols = d.target_columns;
    std::vector<Column> key;
    std::string report_join, fix_join;
    if (family_of(d.kind) != Family::Additive) {
        key = d.target_key;
        report_join = "LEFT JOIN LATERAL (" + group_query(group_of(on_target, cols), key, refs("t", key)) + ") v ON true";
        fix_join = report_join;
    } else {
        // The report recounts every key at once; a fix probes the locked rows one by one.
        ExpectedQuery e = *expected_query(on_target, cols[0].name);
        key = e.key;
        report_join = "LEFT JOIN (" + e.query + ") v0 ON " + key_join(key, "t", "v0") +
                      " CROSS JOIN LATERAL (SELECT coalesce(v0.total, 0)::" + cols[0].type + " AS v1) v";
        fix_join = "CROSS JOIN LATERAL (SELECT (" + expected_expr(on_target, cols[0].name) + ")::" + cols[0].type +
                   " AS v1) v";
    }
    // A latest's values are reported as an object keyed by column, others as the value.
    std::string stored, expected;
    std::vector<std::string> vs;
    for (size_t o = 1; o <= cols.size(); o++) vs.push_back("v.v" + std::to_string(o));
    if (d.kind == Aggregate::Latest) {
        stored = json_object(cols, refs("t", cols));
        expected = json_object(cols, vs);
    } else {
        stored = "pg_catalog.to_jsonb(t." + cols[0].ident + ")";
        expected = "pg_catalog.to_jsonb(v.v1)";
        // Deferred definitions: the value is the column plus its pending deltas, and what
        // a fix writes (v.v1) is the aggregate minus them; report value and aggregate.
        std::vector<std::string> pending;
        if (family_of(d.kind) == Family::Additive)
            for (const Definition *x : additive_on(on_target, cols[0].name))
                if (x->deferred) pending.push_back(pending_sql(*x, refs("t", x->target_key)));
        if (!pending.empty()) {
            stored = "pg_catalog.to_jsonb((t." + cols[0].ident + " + " + joined(pending, " + ") + ")::" + cols[0].type + ")";
            expected = "pg_catalog.to_jsonb((v.v1 + " + joined(pending, " + ") + ")::" + cols[0].type + ")";
        }
    }
    std::vector<std::string> from_json, dv;
    for (const Column &c : key) from_json.push_back("(j->>" + literal(c.name) + ")::" + c.type);
    for (size_t o = 1; o <= cols.size(); o++) dv.push_back("d.v" + std::to_string(o));
    std::string key_json = json_object(key, refs("t", key));
    std::string key_list = joined(refs("t", key), ", ");
    std::string in_batch =
        "(" + key_list + ") IN (SELECT " + joined(from_json, ", ") + " FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) j)";
    std::string drifted = " WHERE " + stored + " IS DISTINCT FROM " + expected;

    ReconcileStatements s;
    s.report = "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('key', " + key_json + ", 'stored', " + stored +
               ", 'expected', " + expected + ") ORDER BY " + key_list + ") FROM " + d.target + " t " + report_join + drifted;
    s.candidates = "SELECT pg_catalog.jsonb_agg(" + key_json + " ORDER BY " + key_list + ") FROM " + d.target + " t " +
                   report_join + drifted;
    s.lock = "SELECT pg_catalog.count(*) FROM (SELECT 1 FROM " + d.target + " t WHERE " + in_batch + " ORDER BY " +
             lock_order("t", key) + " FOR UPDATE) l";
    s.fix = "WITH x AS (SELECT t.ctid AS row_id, t.tableoid AS rel, " + key_json + " AS key, " + stored + " AS stored, " +
            expected + " AS expected, " + joined(vs, ", ") + " FROM " + d.target + " t " + fix_join + " WHERE " + in_batch +
            "), d AS (SELECT * FROM x WHERE stored IS DISTINCT FROM expected), u AS (UPDATE " + d.target + " t SET (" +
            idents(cols) + ") = ROW(" + joined(dv, ", ") +
            ") FROM d WHERE t.ctid OPERATOR(pg_catalog.=) d.row_id AND t.tableoid OPERATOR(pg_catalog.=) d.rel) "
            "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('key', d.key, 'stored', d.stored, 'expected', "
            "d.expected) ORDER BY d.key) FROM d";
    if (std::optional<std::string> missing = missing_rows(on_target, d, key)) {
        s.missing_report = "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('key', " + key_json +
                           ", 'expected', " + expected + ") ORDER BY " + key_list + ") FROM (" + *missing + ") t " + fix_join;
        // Inserted ON CONFLICT DO NOTHING (a writer may create one meanwhile); their
        // BEFORE INSERT initialiser computes the values, which RETURNING reports.
        s.missing_fix = "WITH t AS (INSERT INTO " + d.target + " AS t (" + idents(key) + ") SELECT * FROM (" + *missing +
                        ") m ON CONFLICT (" + idents(key) + ") DO NOTHING RETURNING t.*) SELECT "
                        "pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('key', " + key_json + ", 'expected', " + stored +
                        ") ORDER BY " + key_list + ") FROM t";
    }
    return s;
}

}  // namespace denorm::core
