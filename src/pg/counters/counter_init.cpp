// counter_init.cpp — BEFORE INSERT trigger on a counter's target: a target row
// inserted after its source rows starts at the right value (an index probe per
// counter column), not at the column default. Layer: pg glue. Regime: PostgreSQL.
extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

#include "pg/callbacks.hpp"
#include "pg/counters/catalog.hpp"
#include "pg/counters/init_scan.hpp"
#include "pg/privileges.hpp"
#include "pg/errors.hpp"

using namespace denorm::pg;

namespace {
// The target whose rows an adoption inserts with their values already computed
// (denorm._skip_initialiser), or InvalidOid. Reset when the transaction ends.
Oid skipped_target = InvalidOid;

void on_xact(XactEvent event, void *)
{
    if (transaction_ended(event)) skipped_target = InvalidOid;
}
}  // namespace

// _skip_initialiser(target regclass, skip boolean): while on, the initialiser of target
// leaves inserted rows as they are (denorm._adopt's one grouped INSERT computes them).
DENORM_FUNCTION(denorm_skip_initialiser)
{
    add_xact_callback(on_xact);
    skipped_target = PG_GETARG_BOOL(1) ? PG_GETARG_OID(0) : InvalidOid;
    PG_RETURN_VOID();
}

DENORM_FUNCTION(denorm_counter_init_trigger)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("denorm._counter_init_trigger() can only be called as a trigger")));
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    HeapTuple tuple = td->tg_trigtuple;
    if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
        !TRIGGER_FIRED_BY_INSERT(td->tg_event))
        elog(ERROR, "denorm._counter_init_trigger() must be a BEFORE INSERT row trigger");

    Relation rel = td->tg_relation;
    TupleDesc desc = RelationGetDescr(rel);
    Oid root = partition_root(RelationGetRelid(rel));
    if (OidIsValid(skipped_target) && root == skipped_target) return PointerGetDatum(tuple);
    TargetInit *init = target_init(root);
    if (!init) return PointerGetDatum(tuple);
    if (HeapTuple counted = init_by_index_scans(init, rel, tuple)) return PointerGetDatum(counted);

    int nkeys = init->nkeys, ncounters = init->ncounters;
    Datum *keys = static_cast<Datum *>(palloc(sizeof(Datum) * (nkeys + 1)));
    char *key_nulls = static_cast<char *>(palloc(nkeys + 1));
    for (int k = 0; k < nkeys; k++) {
        bool isnull;
        keys[k] = heap_getattr(tuple, SPI_fnumber(desc, init->key_columns[k]), desc, &isnull);
        key_nulls[k] = isnull ? 'n' : ' ';
    }
    int *columns = static_cast<int *>(palloc(sizeof(int) * ncounters));
    Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * ncounters));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * ncounters));
    MemoryContext caller_cxt = CurrentMemoryContext;

    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    // Sources are read with the target owner's rights, as foreign key checks are.
    RunAs as;
    run_as_begin(&as, init->owner);
    int rc = SPI_execute_plan(init->plan, keys, key_nulls, true, 1);
    run_as_end(&as);
    if (rc != SPI_OK_SELECT || SPI_processed != 1) elog(ERROR, "denorm: counter initialisation failed");
    for (int c = 0; c < ncounters; c++) {
        columns[c] = SPI_fnumber(desc, init->counter_columns[c]);
        Form_pg_attribute att = TupleDescAttr(desc, columns[c] - 1);
        Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
        MemoryContext old = MemoryContextSwitchTo(caller_cxt);
        values[c] = nulls[c] ? (Datum) 0 : datumCopy(d, att->attbyval, att->attlen);
        MemoryContextSwitchTo(old);
    }
    SPI_finish();
    return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, ncounters, columns, values, nulls));
}
