// row_contribution.hpp — what one source row adds to (or, removed, takes from) one
// definition's change of its key: the key, the filter, the value, a min/max's best
// value, a latest's newest row. Used by the source triggers (counter_trigger.cpp) and
// by the count of a new target row from its sources (init_scan.cpp).
// Layer: pg glue. Regime: PostgreSQL (plain structs; the batch owns the maps).
#pragma once

extern "C" {
#include "postgres.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
}

#include "pg/counters/statement_batch.hpp"

namespace denorm::pg {

// What one trigger call needs per definition: its batch entry and the
// expression states (built per call; the batch may outlive this call's memory).
struct DefState {
    DefBatch *batch;
    ExprState *filter;
    ExprState *value;
    ExprState **carry;  // a latest's values (latest_carry.hpp); NULL without a carry
};

void init_state(DefState *state, Batch *batch, CounterDef *def);

// Adds one source row (sign +1 for a new row, -1 for an old one) to one definition.
void accumulate(DefState *ds, Batch *batch, TupleTableSlot *slot, ExprContext *econtext, int sign);

}  // namespace denorm::pg
