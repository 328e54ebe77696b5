// statement_batch.hpp — the counter changes of one statement, collected by every
// statement trigger the statement fires (ON CONFLICT fires an INSERT and an UPDATE
// trigger, MERGE up to three, data-modifying CTEs one per table) and applied once,
// when the executor finishes the statement, in one global order (core/apply_order).
// Applying per trigger call instead would lock target rows in several sorted runs,
// and two such statements can deadlock.
// Layer: pg glue. Regime: PostgreSQL; the C++ containers live on the heap, owned
// by the batch's memory context (a reset callback deletes them).
#pragma once

extern "C" {
#include "postgres.h"
}

#include "core/apply_order.hpp"
#include "core/delta_map.hpp"
#include "pg/counters/catalog.hpp"

namespace denorm::pg {

// Net change of one target key.
struct Accum {
    int64 ival = 0;         // count, or integer sum
    double fval = 0;        // float sum
    Datum nval = 0;         // numeric sum; 0 = none yet
    Datum *keys = nullptr;  // source key datums, copied into the batch context
    // min and max: the best value the statement added and the best it removed (the
    // greatest for max, the least for min); latest: has_removed marks a touched key.
    // has_added: the statement added rows for the key (count and sum too: only then may
    // create_missing create the target row).
    bool has_added = false;
    bool has_removed = false;
    Datum added = 0;
    Datum removed = 0;
    // latest with a carry (latest_carry.hpp): the newest added row's values; NULL when
    // none was added (or none with a complete order tuple).
    Datum *carried = nullptr;
    bool *carried_null = nullptr;
};
using Deltas = core::DeltaMap<Accum>;

// One definition's changes within a batch.
struct DefBatch {
    CounterDef *def;        // cache entries live at least until transaction end
    Deltas *deltas;
    int16 *typlen;          // of the source key columns
    bool *typbyval;
};

struct Batch {
    MemoryContext context;  // keys, numerics, this struct
    int ndefs;
    int capacity;
    DefBatch *defs;
    core::KeyEncoder *encoder;
    bool immediate;         // no enclosing ExecutorFinish seen: apply at the end of the trigger
    SubTransactionId subid; // denorm.apply = commit: the subtransaction whose changes these are
    SubTransactionId applied_in;  // written already, by this subtransaction (it may still roll
                                  // back, and the changes with it); invalid: not yet written
    void *row_states;       // the row trigger's expression states (counter_trigger.cpp)
};

void statement_batch_install_hook();

// A new, empty batch (in TopTransactionContext); free_batch deletes it and its maps.
Batch *new_batch(bool immediate);
void free_batch(Batch *batch);

// The batch of the statement whose triggers fire now.
Batch *statement_batch();

// The entry of `def` in `batch`, added on first use.
DefBatch *batch_definition(Batch *batch, CounterDef *def);

// For an immediate batch: applies it and frees it. No-op otherwise.
void statement_batch_end_of_trigger(Batch *batch);

// Writes the changes of batches to the targets, in one global order; changes of one
// (definition, key) in several batches are added up first (counter_apply.cpp).
void apply_batches(Batch **batches, int n);
inline void apply_batch(Batch *batch) { apply_batches(&batch, 1); }

// denorm.apply = commit: the changes of the transaction's statements wait in batches (one
// per subtransaction that wrote; dropped when it rolls back) until the deferred
// constraint trigger denorm_counter_commit on the sources fires just before commit,
// or a maintenance function that reads or recounts targets needs them written first.
// Applies them now (and those that applying them causes, a cascade). No-op when none.
void apply_transaction_changes();

// The net change (numeric) the transaction's unapplied batches hold for column `column`
// of `target` at the target key named by key_columns[i] = key_values[i] (text): what
// counter_value adds to the stored value inside the writing transaction.
Datum unapplied_change(Oid target, const char *column, int nkeys, char **key_columns, char **key_values);

// What apply_extremum did to the target row.
enum class ExtremumResult {
    Folded,      // min/max: the added value folded in; other definitions of the group still apply
    Recomputed,  // the group's columns recomputed from the sources
    Created,     // create_missing inserted the row (its initialiser computed everything)
    NoRow        // no target row
};

// Writes the change of one min, max or latest to its target row (extremum_apply.cpp);
// row_missing: the row was not there a moment ago.
ExtremumResult apply_extremum(const CounterDef *def, const Accum *acc, bool row_missing);

}  // namespace denorm::pg
