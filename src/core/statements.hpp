// statements.hpp — every statement denorm runs for a counter definition, generated
// from plain values (core/definition.hpp): what writers prepare, what the BEFORE
// INSERT initialiser runs, and what the set-based maintenance functions (recount,
// adoption, reconcile, fold, counter_value) execute. Names come quoted and every
// operator and function is schema-qualified, so the text means the same under any
// search_path. Golden texts: test/unit/test_statements*.cpp; execution: sql/.
// Parameters are named where a statement has them.
// Layer: core (pure C++17). Parts shared by several statements: statement_parts.hpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/definition.hpp"

namespace denorm::core {

// ---- Writers: count and sum (statements_writer.cpp) ----------------------------------
// $1 the statement's net change, $2.. the target key values in the order of target_key.

// UPDATE <target> AS t SET <column> = t.<column> + $1[, <touch> = now()] WHERE <key> = $2 ...
std::string apply_statement(const Definition &d);

// The changes of several count/sum definitions to one target row as one UPDATE:
// columns[i] (quoted) gains $i+1 (a column that several definitions write gains each
// of their parameters), each touch column (quoted) is set to now(); key (quoted target
// key columns) matches $n+1, $n+2, ... in that order.
struct ColumnChange {
    std::string column;
    std::optional<std::string> touch;
};
std::string combined_apply_statement(const std::string &table, const std::vector<std::string> &key,
                                     const std::vector<ColumnChange> &changes);

// INSERT ... VALUES (key..., $1) ON CONFLICT (key) DO UPDATE SET <the same SET>,
// returning whether the row was inserted (its BEFORE INSERT initialiser then counted
// the whole statement already) rather than updated. create_missing only.
std::string upsert_statement(const Definition &d);

// A deferred definition's change, appended to denorm._pending_deltas.
std::string pending_insert_statement(const Definition &d);

// ---- Writers: min, max, latest (statements_extremum.cpp) -----------------------------
// $1 and $2 the best value a statement added and the best it removed (min, max; of the
// value's type), $3.. the target key values in the order of target_key.
struct ExtremumStatements {
    std::string lock;                  // lock the target row
    std::string recompute;             // recompute the group's columns by index probes
    std::optional<std::string> create; // create_missing: insert the row (its initialiser computes it)
    std::optional<std::string> fast;   // fold the added value in without a recompute, when that is safe
};
ExtremumStatements extremum_statements(const TargetDefinitions &on_target, const Definition &d);

// ---- The initialiser of a new target row (statements_init.cpp) -----------------------
struct InitQuery {
    std::string query;                      // one output column per counter column
    std::vector<std::string> key_columns;   // the target columns passed as $1..$n
    std::vector<std::string> counter_columns;  // output columns, in order (unquoted)
};
InitQuery init_query(const TargetDefinitions &on_target);

// ---- Set-based maintenance (statements_recount.cpp) ----------------------------------
// Recount of the column a definition writes (with every definition sharing it, or its
// min/max/latest group): lock every target row in key order, then one statement that
// writes the rows whose value differs and returns how many. nullopt: nothing to do.
struct RecountStatements {
    std::string lock;
    std::string update;
};
std::optional<RecountStatements> recount_statements(const TargetDefinitions &on_target, const std::string &column);

// create_missing adoption: insert the target rows the definition's source rows call
// for (the initialiser computes them); returns how many. nullopt without create_missing.
std::optional<std::string> adopt_statement(const Definition &d);

// Adoption of a target that no other definition writes, a count, sum, min or max: one
// INSERT of the target rows with their values, grouped from the source (the target's
// initialiser is off for it: it would compute the same values row by row). Returns how
// many rows it inserted.
std::string adopt_values_statement(const Definition &d);

// The exact value of a count or sum for one key ($1, text[]: the key in the order of d's
// target_key, then the caller's transaction's own unwritten change): the stored column
// plus pending deltas and that change, or the recount a missing row would get when
// some definition creates it.
std::string counter_value_statement(const TargetDefinitions &on_target, const Definition &d);

// ---- Deferred counters (statements_fold.cpp) -----------------------------------------
// $1 the counter's name. create (create_missing) inserts the missing rows of keys with a
// positive pending delta; fold moves the deltas into the target rows, returning the
// changes as JSON text: an array of [target key values (text, in target_key order),
// delta], one per row changed (a published counter's outbox entries; denorm._fold).
struct FoldStatements {
    std::optional<std::string> create;
    std::string fold;
};
FoldStatements fold_statements(const Definition &d);

// ---- Reconciliation (statements_reconcile.cpp) ---------------------------------------
// Each returns one jsonb value: report and missing_report an array of {key, stored,
// expected}, candidates an array of keys; fix ($1 a jsonb array of keys) recounts the
// rows lock locked ($1 the same keys) and returns what it changed; missing_fix inserts
// the missing rows and returns them.
struct ReconcileStatements {
    std::string report;
    std::string candidates;
    std::string lock;
    std::string fix;
    std::optional<std::string> missing_report;  // create_missing definitions only
    std::optional<std::string> missing_fix;
};
ReconcileStatements reconcile_statements(const TargetDefinitions &on_target, const Definition &d);

}  // namespace denorm::core
