// init_scan.hpp — the counter columns of a new target row computed in C: each
// definition's source rows of the row's key read through an index on the source key
// and added up with the writers' own code (row_contribution.hpp). The initialiser's
// query (core init_query) gives the same values; it costs an executor start of a plan
// with a subquery per definition, which made every conversation row create_missing
// inserts several times dearer than the write itself (bench/hotkeys.sh, CONV).
// Layer: pg glue. Regime: PostgreSQL (no C++ objects).
#pragma once

extern "C" {
#include "postgres.h"
#include "access/htup.h"
#include "utils/rel.h"
}

#include "pg/counters/catalog.hpp"

namespace denorm::pg {

// `tuple` (a row being inserted into `target`, the root of `init`) with its counter
// columns set, or NULL when some definition on the target cannot be counted so (no
// plain index on its source key, a partitioned or row-secured source, a deferred or
// suspended definition, a value of another type than its column, a latest without a
// carry...): then the caller runs the initialiser's query.
HeapTuple init_by_index_scans(const TargetInit *init, Relation target, HeapTuple tuple);

}  // namespace denorm::pg
