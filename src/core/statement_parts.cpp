// statement_parts.cpp — see statement_parts.hpp. Layer: core (pure C++17).
#include "core/statement_parts.hpp"

#include <stdexcept>

namespace denorm::core::parts {

std::string joined(const std::vector<std::string> &items, const char *separator)
{
    std::string out;
    for (size_t i = 0; i < items.size(); i++) out += (i ? separator : "") + items[i];
    return out;
}

std::string literal(const std::string &text)
{
    // As quote_literal: quotes doubled; with a backslash, an E'' literal with it doubled.
    bool backslash = text.find('\\') != std::string::npos;
    std::string out = backslash ? "E'" : "'";
    for (char c : text) {
        if (c == '\'' || c == '\\') out += c;
        out += c;
    }
    return out + "'";
}

std::string param(size_t n) { return "$" + std::to_string(n); }

std::vector<std::string> refs(const std::string &alias, const std::vector<Column> &columns)
{
    std::vector<std::string> out;
    for (const Column &c : columns) out.push_back(alias + "." + c.ident);
    return out;
}

std::string lock_order(const std::string &alias, const std::vector<Column> &key)
{
    std::vector<std::string> out;
    // Text compared byte by byte, as writers order it, whatever the column's collation.
    for (size_t k : key_order(key)) out.push_back(alias + "." + key[k].ident + (key[k].collatable ? " COLLATE \"C\"" : ""));
    return joined(out, ", ");
}

std::string key_join(const std::vector<Column> &key, const std::string &t, const std::string &v)
{
    std::vector<std::string> out;
    for (size_t i = 0; i < key.size(); i++)
        out.push_back(t + "." + key[i].ident + " OPERATOR(pg_catalog.=) " + v + ".k" + std::to_string(i + 1));
    return joined(out, " AND ");
}

std::string idents(const std::vector<Column> &columns)
{
    std::vector<std::string> out;
    for (const Column &c : columns) out.push_back(c.ident);
    return joined(out, ", ");
}

size_t position_of(const std::vector<Column> &columns, const std::string &name)
{
    for (size_t i = 0; i < columns.size(); i++)
        if (columns[i].name == name) return i;
    throw std::logic_error("denorm: key column \"" + name + "\" is not among the definition's target key");
}

bool same_columns(const std::vector<Column> &a, const std::vector<Column> &b)
{
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++)
        if (a[i].name != b[i].name) return false;
    return true;
}

std::string filter_sql(const Definition &d) { return d.filter ? "(" + *d.filter + ") IS TRUE" : "true"; }

std::string aggregate_sql(const Definition &d)
{
    return d.kind == Aggregate::Count ? "pg_catalog.count(*)" : "pg_catalog.sum(" + d.value.value_or("NULL") + ")";
}

std::string key_probe(const Definition &d, const std::vector<std::string> &refs)
{
    std::string out;
    for (size_t i = 0; i < d.source_key.size(); i++) out += " AND " + d.source_key[i] + " OPERATOR(pg_catalog.=) " + refs[i];
    return out;
}

std::string probe_sql(const Definition &d, const std::vector<std::string> &refs)
{
    return "coalesce((SELECT " + aggregate_sql(d) + " FROM " + d.source + " WHERE " + filter_sql(d) + key_probe(d, refs) +
           "), 0)";
}

std::string pending_key_sql(const Definition &d, const std::vector<std::string> &refs)
{
    std::vector<std::string> values;
    for (size_t k : key_order(d.target_key))
        values.push_back("((" + refs[k] + ")::" + d.target_key[k].type + ")::pg_catalog.text");
    return "ARRAY[" + joined(values, ", ") + "]::pg_catalog.text[]";
}

std::string pending_key_element(const Definition &d, const std::string &p, const std::string &name)
{
    std::vector<size_t> order = key_order(d.target_key);
    for (size_t i = 0; i < order.size(); i++)
        if (d.target_key[order[i]].name == name)
            return "(" + p + ".key[" + std::to_string(i + 1) + "])::" + d.target_key[order[i]].type;
    throw std::logic_error("denorm: key column \"" + name + "\" is not among the definition's target key");
}

std::string pending_sql(const Definition &d, const std::vector<std::string> &refs)
{
    return "coalesce((SELECT pg_catalog.sum(p.delta) FROM denorm._pending_deltas p WHERE p.counter OPERATOR(pg_catalog.=) " +
           literal(d.name) + " AND p.key OPERATOR(pg_catalog.=) " + pending_key_sql(d, refs) + "), 0)";
}

std::string contribution_sql(const Definition &d, const std::vector<std::string> &refs)
{
    return probe_sql(d, refs) + (d.deferred ? " - " + pending_sql(d, refs) : "");
}

std::vector<const Definition *> group_of(const TargetDefinitions &on_target, const std::vector<Column> &columns)
{
    std::vector<const Definition *> out;
    for (const Definition &x : on_target)
        if (same_columns(x.target_columns, columns)) out.push_back(&x);
    return out;
}

std::vector<const Definition *> additive_on(const TargetDefinitions &on_target, const std::string &column)
{
    std::vector<const Definition *> out;
    for (const Definition &x : on_target)
        if (family_of(x.kind) == Family::Additive && x.target_columns[0].name == column) out.push_back(&x);
    return out;
}

namespace {

// "o1 DESC, o2 DESC" (prefix "u.": "u.o1 DESC, ...").
std::string newest_first(size_t n, const std::string &prefix)
{
    std::vector<std::string> out;
    for (size_t o = 1; o <= n; o++) out.push_back(prefix + "o" + std::to_string(o) + " DESC");
    return joined(out, ", ");
}

std::string latest_probe(const Definition &d, const std::vector<Column> &columns, const std::string &keys)
{
    std::vector<std::string> values, orders;
    std::string not_null;
    for (size_t o = 0; o < d.source_values.size(); o++)
        values.push_back("(" + d.source_values[o] + ")::" + columns[o].type + " AS v" + std::to_string(o + 1));
    for (size_t o = 0; o < d.order_by.size(); o++) {
        orders.push_back(d.order_by[o] + " AS o" + std::to_string(o + 1));
        not_null += " AND (" + d.order_by[o] + ") IS NOT NULL";
    }
    return "(SELECT " + joined(values, ", ") + ", " + joined(orders, ", ") + " FROM " + d.source + " WHERE " +
           filter_sql(d) + keys + not_null + " ORDER BY " + newest_first(d.order_by.size(), "") + " LIMIT 1)";
}

}  // namespace

std::string group_query(const std::vector<const Definition *> &group, const std::vector<Column> &key,
                        const std::vector<std::string> &key_refs)
{
    if (group.empty()) throw std::logic_error("denorm: a min/max/latest group without definitions");
    const std::vector<Column> &columns = group.front()->target_columns;
    std::vector<std::string> parts;
    for (const Definition *d : group) {
        std::vector<std::string> refs;
        for (const Column &k : d->target_key) refs.push_back(key_refs[position_of(key, k.name)]);
        std::string keys = key_probe(*d, refs);
        if (d->kind == Aggregate::Latest)
            parts.push_back(latest_probe(*d, columns, keys));
        else
            parts.push_back("(SELECT pg_catalog." + std::string(aggregate_name(d->kind)) + "(" + d->value.value_or("NULL") +
                            ") FROM " + d->source + " WHERE " + filter_sql(*d) + keys + ")::" + columns[0].type);
    }
    const Definition &last = *group.back();
    if (last.kind == Aggregate::Latest) {
        std::vector<std::string> outputs;
        for (size_t o = 1; o <= columns.size(); o++) outputs.push_back("u.v" + std::to_string(o));
        return "SELECT " + joined(outputs, ", ") + " FROM (" + joined(parts, " UNION ALL ") + ") u ORDER BY " +
               newest_first(last.order_by.size(), "u.") + " LIMIT 1";
    }
    // (LEAST and GREATEST are keywords, not functions: never schema-qualified.)
    return std::string("SELECT ") + (last.kind == Aggregate::Min ? "LEAST" : "GREATEST") + "(" + joined(parts, ", ") +
           ") AS v1";
}

std::string group_set_sql(const std::vector<const Definition *> &group, const std::vector<Column> &key,
                          const std::vector<std::string> &key_refs, const std::optional<std::string> &touch)
{
    const std::vector<Column> &columns = group.front()->target_columns;
    std::vector<std::string> news;
    for (size_t o = 1; o <= columns.size(); o++) news.push_back("x.v" + std::to_string(o));
    std::string touched;
    if (touch)
        touched = ", CASE WHEN ROW(" + joined(refs("t", columns), ", ") + ") IS DISTINCT FROM ROW(" + joined(news, ", ") +
                  ") THEN pg_catalog.now() ELSE t." + *touch + " END";
    return "SET (" + idents(columns) + (touch ? ", " + *touch : "") + ") = (SELECT " + joined(news, ", ") + touched +
           " FROM (SELECT 1) _one LEFT JOIN LATERAL (" + group_query(group, key, key_refs) + ") x ON true)";
}

std::string adoption_keys_sql(const Definition &d)
{
    std::vector<std::string> keys, present;
    for (size_t o = 0; o < d.target_key.size(); o++) {
        keys.push_back("s." + d.source_key[o] + " AS " + d.target_key[o].ident);
        present.push_back("s." + d.source_key[o] + " IS NOT NULL");
    }
    std::string contributes = "true";
    if (d.kind == Aggregate::Sum) contributes = "(" + *d.value + ") OPERATOR(pg_catalog.<>) 0";
    if (d.kind == Aggregate::Min || d.kind == Aggregate::Max) contributes = "(" + *d.value + ") IS NOT NULL";
    return "SELECT DISTINCT " + joined(keys, ", ") + " FROM " + d.source + " s WHERE " + joined(present, " AND ") +
           " AND " + filter_sql(d) + " AND " + contributes;
}

namespace {

// One definition's aggregate per source key (as x), its key as k1..kn in the order of
// `key` (definitions sharing a column key it by the same target columns, possibly from
// source columns in another order).
std::string aggregate_query(const Definition &d, const std::vector<Column> &key)
{
    std::string keys, present;
    for (size_t i = 0; i < key.size(); i++) {
        const std::string &col = d.source_key[position_of(d.target_key, key[i].name)];
        keys += col + " AS k" + std::to_string(i + 1) + ", ";
        present += col + " IS NOT NULL AND ";
    }
    std::vector<std::string> groups;
    for (size_t g = 1; g <= key.size(); g++) groups.push_back(std::to_string(g));
    return "SELECT " + keys + "coalesce(" + aggregate_sql(d) + ", 0)::pg_catalog.numeric AS x FROM " + d.source +
           " WHERE " + present + "(" + filter_sql(d) + ") GROUP BY " + joined(groups, ", ");
}

// Minus a deferred definition's pending deltas per key, shaped like aggregate_query.
std::string pending_query(const Definition &d, const std::vector<Column> &key)
{
    std::vector<std::string> keys, groups;
    for (size_t i = 0; i < key.size(); i++) {
        keys.push_back(pending_key_element(d, "p", key[i].name) + " AS k" + std::to_string(i + 1));
        groups.push_back(std::to_string(i + 1));
    }
    return "SELECT " + joined(keys, ", ") +
           ", -pg_catalog.sum(p.delta) AS x FROM denorm._pending_deltas p WHERE p.counter OPERATOR(pg_catalog.=) " +
           literal(d.name) + " GROUP BY " + joined(groups, ", ");
}

}  // namespace

std::optional<ExpectedQuery> expected_query(const TargetDefinitions &on_target, const std::string &column)
{
    std::vector<const Definition *> defs = additive_on(on_target, column);
    if (defs.empty()) return std::nullopt;
    ExpectedQuery e;
    e.key = defs.front()->target_key;
    std::vector<std::string> parts;
    for (const Definition *d : defs) {
        parts.push_back(aggregate_query(*d, e.key));
        if (d->deferred) parts.push_back(pending_query(*d, e.key));
    }
    std::vector<std::string> ks;
    for (size_t g = 1; g <= e.key.size(); g++) ks.push_back("k" + std::to_string(g));
    e.query = "SELECT " + joined(ks, ", ") + ", pg_catalog.sum(x) AS total FROM (" + joined(parts, " UNION ALL ") +
              ") u GROUP BY " + joined(ks, ", ");
    return e;
}

}  // namespace denorm::core::parts
