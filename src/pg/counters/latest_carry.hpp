// latest_carry.hpp — a latest whose writer keeps the newest row it added in the batch,
// so the target row is written once with that row's values and the row's other
// changes (direct_update.hpp), instead of an UPDATE that reads the newest row back
// from the source. The newest is what the latest's statements would pick: greatest
// order_by tuple among the added rows that pass the filter and have no NULL in it.
// Layer: pg glue. Regime: PostgreSQL (plain structs in memory contexts).
#pragma once

extern "C" {
#include "postgres.h"
#include "executor/execdesc.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
}

#include "pg/counters/definition_loader.hpp"

namespace denorm::pg {

struct LatestCarry {
    int nvalues;
    Expr **values;          // planned source_values, each of exactly its target column's type
    AttrNumber *columns;    // those target columns
    int16 *typlen;
    bool *byval;
    int norder;
    int *order_at;          // order_by[o] is values[order_at[o]]
    FmgrInfo *order_cmp;    // the value type's default btree comparison
    Oid *order_collation;
};

struct Accum;
struct CounterDef;

// How the latest `loaded` (with its source_values planned, `values`) carries its newest
// row, or NULL when it cannot: an order_by expression not among the values, a value
// whose type or typmod differs from its column's, a text order column whose collation
// is not the expression's, or a type without ordering. Allocated in `cxt`.
LatestCarry *latest_carry(const LoadedDefinition &loaded, Expr **values, MemoryContext cxt);

// The expression states of a carry's values, for one trigger call (current context).
ExprState **carry_states(const LatestCarry *carry);

// Evaluates the values over the row in `econtext` and keeps them in `acc` (copied into
// `batch_cxt`) when they are newer than what it holds.
void carry_newest(const LatestCarry *carry, ExprState **states, ExprContext *econtext, Accum *acc,
                  MemoryContext batch_cxt);

// Whether `a` is newer than `b` (both carried, so no NULL in their order tuples).
bool carried_newer(const LatestCarry *carry, const Accum &a, const Accum &b);

// Whether the carried row is newer than the stored one (a target row's values/isnull):
// exactly the latest statement's test ROW(stored) < ROW(carried) OR stored first IS NULL.
bool carried_beats_stored(const LatestCarry *carry, const Accum &acc, const Datum *values, const bool *isnull);

// Whether rows `a` and `b` give the same values (the UPDATE row trigger: an update that
// changed none of a latest's values, key or filter changes nothing). Evaluated in
// `econtext`, whose scan tuple it leaves set to `b`.
bool carry_same(const LatestCarry *carry, ExprState **states, ExprContext *econtext, TupleTableSlot *a,
                TupleTableSlot *b);

}  // namespace denorm::pg
