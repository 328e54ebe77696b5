// statements_fold.cpp — folding a deferred counter's pending deltas into its target
// rows (core/statements.hpp). The rows are locked first, in key order, and the deltas of
// a row are deleted and added in the same statement, so a concurrent fold never adds
// them twice. Layer: core (pure C++17).
#include "core/statement_parts.hpp"
#include "core/statements.hpp"

namespace denorm::core {

using namespace parts;

namespace {

// "t.a = (p.key[1])::integer AND ...": target row alias t against pending key alias p.
std::string pending_match(const Definition &d, const std::string &t, const std::string &p)
{
    std::vector<std::string> out;
    for (size_t k : key_order(d.target_key))
        out.push_back(t + "." + d.target_key[k].ident + " OPERATOR(pg_catalog.=) " +
                      pending_key_element(d, p, d.target_key[k].name));
    return joined(out, " AND ");
}

}  // namespace

FoldStatements fold_statements(const Definition &d)
{
    FoldStatements s;
    std::vector<size_t> order = key_order(d.target_key);
    std::vector<std::string> keys, elements;
    for (size_t k : order) {
        keys.push_back(d.target_key[k].ident);
        elements.push_back(pending_key_element(d, "p", d.target_key[k].name));
    }
    // A missing row is created only for a key some statement added to (a positive
    // delta), as a writer's create_missing would; its initialiser subtracts the deltas
    // the fold then adds. The deltas of a key that only lost rows wait for its row.
    if (d.create_missing)
        s.create = "INSERT INTO " + d.target + " AS t (" + joined(keys, ", ") + ") SELECT DISTINCT " +
                   joined(elements, ", ") +
                   " FROM denorm._pending_deltas p WHERE p.counter OPERATOR(pg_catalog.=) $1 AND p.delta "
                   "OPERATOR(pg_catalog.>) 0 AND NOT EXISTS (SELECT 1 FROM " +
                   d.target + " t WHERE " + pending_match(d, "t", "p") + ") ON CONFLICT (" + joined(keys, ", ") +
                   ") DO NOTHING";
    const std::string &col = d.target_columns[0].ident;
    // Each row changed, as [key values in target_key order as text, delta]: what a
    // published counter's fold appends to the outbox (denorm._fold).
    std::vector<std::string> key_texts;
    for (const Column &k : d.target_key) key_texts.push_back("t." + k.ident + "::pg_catalog.text");
    std::vector<std::string> locked;
    for (size_t k : order) locked.push_back("t." + d.target_key[k].ident);
    s.fold = "WITH l AS (SELECT " + joined(locked, ", ") + " FROM " + d.target +
             " t WHERE EXISTS (SELECT 1 FROM denorm._pending_deltas p WHERE p.counter OPERATOR(pg_catalog.=) $1 AND " +
             pending_match(d, "t", "p") + ") ORDER BY " + lock_order("t", d.target_key) +
             " FOR NO KEY UPDATE), g AS (DELETE FROM denorm._pending_deltas p USING l WHERE p.counter "
             "OPERATOR(pg_catalog.=) $1 AND " +
             pending_match(d, "l", "p") +
             " RETURNING p.key, p.delta), s AS (SELECT g.key, pg_catalog.sum(g.delta) AS delta FROM g GROUP BY g.key), "
             "u AS (UPDATE " +
             d.target + " t SET " + col + " = t." + col + " OPERATOR(pg_catalog.+) s.delta" +
             (d.touch ? ", " + *d.touch + " = pg_catalog.now()" : "") + " FROM s WHERE " + pending_match(d, "t", "s") +
             " AND s.delta OPERATOR(pg_catalog.<>) 0 RETURNING pg_catalog.json_build_array(ARRAY[" +
             joined(key_texts, ", ") +
             "], s.delta) AS change) SELECT coalesce(pg_catalog.json_agg(u.change), '[]')::pg_catalog.text "
             "FROM u";
    return s;
}

}  // namespace denorm::core
