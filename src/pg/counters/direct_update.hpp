// direct_update.hpp — adds count/sum changes to one target row without the executor:
// the row is found through the target's unique index on the key, locked, and updated
// in place (HOT when no indexed column changes). Only for a plain target where that
// is exactly what the definitions' UPDATE would do; anything else (a trigger, row
// security, a CHECK, a stored generated column, a touch column, a non-integer column,
// a NULL counter, a row updated concurrently or missing) is left to the UPDATE, so the
// semantics are the UPDATE's. Layer: pg glue. Regime: PostgreSQL (no C++ objects).
#pragma once

#include "pg/counters/statement_batch.hpp"

namespace denorm::pg {

// The most count/sum changes to one target row written at once (in one direct write or
// one combined UPDATE); more are written in further groups.
constexpr int kMostChangesPerRow = 16;

// Adds items[i]'s delta to the column of defs[i] (all writing one target row, the key
// taken from items[0] in the order of defs[0]; n at most kMostChangesPerRow), running as the role `as` is switched to.
// True when the row was updated; false when nothing was done and the UPDATE statement
// must do it.
bool direct_add(CounterDef **defs, Accum **items, int n, struct RunAs *as);

}  // namespace denorm::pg
