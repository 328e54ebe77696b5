// statement_parts.hpp — SQL pieces shared by the statements of core/statements.hpp:
// a definition's filter, aggregate and index probe for one key, its pending key, the
// min/max/latest group query, key lists and joins. "refs" are SQL expressions giving
// the values of a definition's target key columns, in the order of its target_key (a
// column of a row, a parameter). Layer: core (pure C++17).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/definition.hpp"

namespace denorm::core::parts {

std::string joined(const std::vector<std::string> &items, const char *separator);
std::string literal(const std::string &text);  // a SQL string literal
std::string param(size_t n);                    // "$n"

// {alias.c1, alias.c2}: references to columns of the row aliased `alias`.
std::vector<std::string> refs(const std::string &alias, const std::vector<Column> &columns);
// "alias.a, alias.b" in key_order: the order every statement locks target rows in
// (text columns COLLATE "C", the writers' byte order).
std::string lock_order(const std::string &alias, const std::vector<Column> &key);
// "t.a = v.k1 AND t.b = v.k2" for key columns (a, b).
std::string key_join(const std::vector<Column> &key, const std::string &t, const std::string &v);
// "c1, c2": the quoted names.
std::string idents(const std::vector<Column> &columns);
// The position of the column named `name` in `columns`.
size_t position_of(const std::vector<Column> &columns, const std::string &name);
bool same_columns(const std::vector<Column> &a, const std::vector<Column> &b);

std::string filter_sql(const Definition &d);     // "true" or "(filter) IS TRUE"
std::string aggregate_sql(const Definition &d);  // count(*) or sum(value)
// " AND <source key column> = <ref> ..." of an index probe of d's source.
std::string key_probe(const Definition &d, const std::vector<std::string> &refs);
// d's count or sum for one key (0 without rows).
std::string probe_sql(const Definition &d, const std::vector<std::string> &refs);
// A deferred definition's pending key for a target row: the values as text through
// the target columns' types (so '007' and 7 are one key), in key_order.
std::string pending_key_sql(const Definition &d, const std::vector<std::string> &refs);
// "(p.key[2])::integer": target key column `name` of the pending row aliased p.
std::string pending_key_element(const Definition &d, const std::string &p, const std::string &name);
// The sum of a deferred definition's pending deltas for one target row (0 when none).
std::string pending_sql(const Definition &d, const std::vector<std::string> &refs);
// What d contributes to a recount of one target row: its probe, minus its pending
// deltas when deferred.
std::string contribution_sql(const Definition &d, const std::vector<std::string> &refs);

// The definitions on the target writing exactly `columns` (a min/max/latest group).
std::vector<const Definition *> group_of(const TargetDefinitions &on_target, const std::vector<Column> &columns);
// The count and sum definitions writing `column`.
std::vector<const Definition *> additive_on(const TargetDefinitions &on_target, const std::string &column);

// The query giving the group's columns (v1..vn, at most one row) for the target row
// whose key column key[i] is given by key_refs[i]. A latest's source rows with a NULL
// in an order_by expression never win, so the probe can read an index on
// (key, order_by) backwards.
std::string group_query(const std::vector<const Definition *> &group, const std::vector<Column> &key,
                        const std::vector<std::string> &key_refs);
// "SET (c1, .., cn[, touch]) = (...)": the group's new values for the target row
// aliased t; touch is set to now() when they differ from the stored ones.
std::string group_set_sql(const std::vector<const Definition *> &group, const std::vector<Column> &key,
                          const std::vector<std::string> &key_refs, const std::optional<std::string> &touch);

// The SELECT of the target keys create_missing would have created a row for, had
// every existing source row been inserted after the definition: a key with a row that
// contributes (a count: any row the filter keeps; a sum: a non-zero value; a min or
// max: a non-NULL value; a latest: any row). Columns named like the target key.
std::string adoption_keys_sql(const Definition &d);

// The combined count/sum of `column` for every key with source rows (minus pending
// deltas): k1..kn in the order of `key`, and total. nullopt without definitions.
struct ExpectedQuery {
    std::string query;
    std::vector<Column> key;
};
std::optional<ExpectedQuery> expected_query(const TargetDefinitions &on_target, const std::string &column);

}  // namespace denorm::core::parts
