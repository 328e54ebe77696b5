// direct_update.hpp — writes count/sum changes and latest rows (latest_carry.hpp) to one
// target row without the executor: the row is found through the target's unique index
// on the key, locked, and updated in place once (HOT when no indexed column changes).
// Only for a plain target where that is exactly what the definitions' statements would
// do; anything else (a trigger, row security, a CHECK, a stored generated column, a
// touch column, a non-integer column, a NULL counter, a row updated concurrently) is
// left to the statements, so the semantics are theirs.
// Layer: pg glue. Regime: PostgreSQL (no C++ objects).
#pragma once

#include "pg/counters/statement_batch.hpp"

namespace denorm::pg {

// The most count/sum changes to one target row written at once (in one direct write or
// one combined UPDATE); more are written in further groups.
constexpr int kMostChangesPerRow = 16;

enum class DirectResult {
    Written,          // every change is in the row (a latest's older row left it as it was)
    NoRow,            // no target row under the statement's snapshot; nothing done
    LeftToStatement   // nothing done: the statements must write these changes
};

// Writes items[i], the change of defs[i], into one target row: a count/sum's delta added
// to its column, a latest's carried row (no row removed) if newer than the stored one.
// The key is taken from items[0] in the order of defs[0]; n at most kMostChangesPerRow;
// runs as the role `as` is switched to.
DirectResult write_row_directly(CounterDef **defs, Accum **items, int n, struct RunAs *as);

}  // namespace denorm::pg
