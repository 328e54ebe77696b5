// counter_apply.cpp — writes a statement batch to the target tables: every
// non-zero change of every definition, sorted into one global order (target row,
// then definition), each applied with its definition's prepared statement as the
// target's owner. Layer: pg glue. Regime: PostgreSQL (C++ containers only behind
// the batch's pointers; see statement_batch.hpp).
#include "pg/counters/statement_batch.hpp"

extern "C" {
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
}

#include <new>
#include <string>

#include "pg/errors.hpp"
#include "pg/counters/key_encoding.hpp"
#include "pg/privileges.hpp"

namespace denorm::pg {
namespace {

bool numeric_is_zero(Datum n)
{
    return DatumGetInt32(DirectFunctionCall2(numeric_cmp, n, DirectFunctionCall1(numeric_in, CStringGetDatum("0")))) == 0;
}

bool is_zero(const CounterDef *def, const Accum &acc)
{
    if (is_extremum(def)) return !acc.has_added && !acc.has_removed;
    if (!def->is_count && def->delta_kind == DeltaKind::Numeric) return acc.nval == 0 || numeric_is_zero(acc.nval);
    return acc.ival == 0 && acc.fval == 0;
}

Datum delta_datum(const CounterDef *def, const Accum &acc)
{
    if (!def->is_count && def->delta_kind == DeltaKind::Float) return Float8GetDatum(acc.fval);
    if (!def->is_count && def->delta_kind == DeltaKind::Numeric) return acc.nval;
    return Int64GetDatum(acc.ival);
}

// (target, key in target-column order): the same target row encodes the same in
// every definition, whatever the order of its source key.
void encode_target_row(core::KeyEncoder *enc, const DefBatch *db, const Accum &acc)
{
    enc->clear();
    Oid target = db->def->target;
    enc->add_part(&target, sizeof target);
    for (int i = 0; i < db->def->nkeys; i++) {
        int k = db->def->key_order[i];
        encode_key_datum(enc, acc.keys[k], db->typlen[k], db->typbyval[k]);
    }
}

void collect_in_global_order(Batch *batch)
{
    core::ApplyOrder<Accum> *order = batch->order;
    for (int i = 0; i < batch->ndefs; i++) {
        DefBatch *db = &batch->defs[i];
        db->deltas->for_each([batch, db, order, i](Accum &acc) {
            if (is_zero(db->def, acc)) return;
            encode_target_row(batch->encoder, db, acc);
            order->add(batch->encoder->view(), i, &acc);
        });
    }
    order->sort();
}

// The parameters of a count or sum's statements: $1 the delta, $2.. the source key.
void delta_and_key(const CounterDef *def, const Accum *acc, Datum *values)
{
    values[0] = delta_datum(def, *acc);
    for (int k = 0; k < def->nkeys; k++) values[k + 1] = acc->keys[k];
}

// A deferred definition's change: appended, no target row touched.
void append_pending(CounterDef *def, const Accum *acc)
{
    Datum values[INDEX_MAX_KEYS + 1];
    delta_and_key(def, acc, values);
    int rc = SPI_execute_plan(def->pending_plan, values, nullptr, false, 0);
    if (rc != SPI_OK_INSERT) elog(ERROR, "denorm: deferred change of counter \"%s\" failed: %d", def->name, rc);
}

// Applies one change; returns true when create_missing inserted the target row
// (its BEFORE INSERT initialiser then counted the whole statement already).
bool apply_one(CounterDef *def, const Accum *acc)
{
    Datum values[INDEX_MAX_KEYS + 1];
    delta_and_key(def, acc, values);
    int rc = SPI_execute_plan(def->update_plan, values, nullptr, false, 0);
    if (rc != SPI_OK_UPDATE) elog(ERROR, "denorm: update of counter \"%s\" failed: %d", def->name, rc);
    // A change that only removed rows (a target row deleted with its source rows, in
    // either order) never creates the row.
    if (SPI_processed > 0 || !def->create_missing || !acc->has_added) return false;
    rc = SPI_execute_plan(def->upsert_plan, values, nullptr, false, 0);
    if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
        elog(ERROR, "denorm: insert for counter \"%s\" failed: %d", def->name, rc);
    bool isnull;
    return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

}  // namespace

void apply_batch(Batch *batch)
{
    // Called from the ExecutorFinish hook too: no C++ exception may leave here.
    guarded([batch] { collect_in_global_order(batch); });
    core::ApplyOrder<Accum> *order = batch->order;
    if (order->size() == 0) return;

    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    // Each change is written as its target's owner (a deferred one, into our own
    // table, as the extension's owner); on error the (sub)transaction abort restores.
    RunAs as;
    run_as_begin(&as, GetUserId());  // each entry switches to its owner
    // Entries of one target row are adjacent. Once a row was inserted by
    // create_missing, its initialiser counted everything, so the other changes to it
    // are skipped; once a group of min/max/latest columns was recomputed, the other
    // definitions of that group are covered too.
    const std::string *created_row = nullptr;
    const std::string *recomputed_row = nullptr;
    const char *recomputed_group = nullptr;
    for (size_t i = 0; i < order->size(); i++) {
        const auto &entry = order->at(i);
        if (created_row && *created_row == entry.row) continue;
        CounterDef *def = batch->defs[entry.definition].def;
        bool extremum = is_extremum(def);
        if (extremum && recomputed_row && *recomputed_row == entry.row && strcmp(recomputed_group, def->group) == 0)
            continue;
        run_as_switch(&as, def->deferred ? def->pending_owner : def->target_owner);
        bool created = false;
        if (def->deferred) {
            append_pending(def, entry.item);
        } else if (extremum) {
            ExtremumResult result = apply_extremum(def, entry.item);
            created = result == ExtremumResult::Created;
            if (result == ExtremumResult::Recomputed) {
                recomputed_row = &entry.row;
                recomputed_group = def->group;
            }
        } else {
            created = apply_one(def, entry.item);
        }
        created_row = created ? &entry.row : nullptr;
    }
    run_as_end(&as);
    SPI_finish();
}

}  // namespace denorm::pg
