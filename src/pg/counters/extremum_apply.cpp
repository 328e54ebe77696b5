// extremum_apply.cpp — writes one statement's change of a min, max or latest to one
// target row. A min or max whose removed values all lost to the stored one folds the
// best added value in with one UPDATE (least/greatest), and a latest that only gained
// rows writes its newest one if it is newer than the stored one; otherwise the row is
// locked and then recomputed by index probes in a new statement,
// which sees every writer that committed before the lock was granted (a single
// UPDATE would recompute from its own, older snapshot after waiting;
// test/isolation/specs/extremum_concurrent.spec).
// Layer: pg glue. Regime: PostgreSQL (no C++ objects).
#include "pg/counters/statement_batch.hpp"

extern "C" {
#include "executor/spi.h"
}

namespace denorm::pg {
namespace {

uint64 run(SPIPlanPtr plan, Datum *values, const char *nulls, const CounterDef *def, int expected)
{
    int rc = SPI_execute_plan(plan, values, nulls, false, 0);
    if (rc != expected) elog(ERROR, "denorm: maintenance of \"%s\" failed: %s", def->name, SPI_result_code_string(rc));
    return SPI_processed;
}

}  // namespace

ExtremumResult apply_extremum(const CounterDef *def, const Accum *acc, bool row_missing)
{
    Datum values[INDEX_MAX_KEYS + 2];
    char nulls[INDEX_MAX_KEYS + 3];
    values[0] = acc->added;
    values[1] = acc->removed;
    nulls[0] = acc->has_added ? ' ' : 'n';
    nulls[1] = acc->has_removed && def->kind != core::Aggregate::Latest ? ' ' : 'n';
    for (int k = 0; k < def->nkeys; k++) {
        values[k + 2] = acc->keys[k];
        nulls[k + 2] = ' ';
    }
    nulls[def->nkeys + 2] = '\0';

    // A latest's fast path holds only when the statement removed no row of the key.
    bool fast = def->fast_plan && (def->kind != core::Aggregate::Latest || !acc->has_removed);
    // A row missing a moment ago: straight to creating it, if the definition may.
    bool skip_to_create = row_missing && def->create_plan && acc->has_added;
    if (!skip_to_create && fast && run(def->fast_plan, values, nulls, def, SPI_OK_UPDATE_RETURNING) > 0)
        return ExtremumResult::Folded;
    if (skip_to_create || run(def->lock_plan, values, nulls, def, SPI_OK_SELECT) == 0) {
        if (!def->create_plan) return ExtremumResult::NoRow;
        if (run(def->create_plan, values, nulls, def, SPI_OK_INSERT_RETURNING) > 0) return ExtremumResult::Created;
        // Another transaction inserted it first (and committed): lock that row.
        if (run(def->lock_plan, values, nulls, def, SPI_OK_SELECT) == 0) return ExtremumResult::NoRow;
    }
    run(def->recompute_plan, values, nulls, def, SPI_OK_UPDATE);
    return ExtremumResult::Recomputed;
}

}  // namespace denorm::pg
