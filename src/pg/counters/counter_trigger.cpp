// counter_trigger.cpp — the statement triggers on a counter's source: read the
// statement's transition tables and accumulate net changes per (definition, key)
// into the statement's batch (statement_batch.hpp), which is applied when the
// statement finishes; and the TRUNCATE trigger, which recomputes the affected
// target columns.
// Layer: pg glue. Regime: PostgreSQL: the C++ maps live on the heap, owned by the
// batch's memory context, so an error longjmp skips no destructor.
extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tupconvert.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
}

#include "pg/counters/catalog.hpp"
#include "pg/errors.hpp"
#include "pg/counters/key_encoding.hpp"
#include "pg/counters/latest_carry.hpp"
#include "pg/privileges.hpp"
#include "pg/counters/statement_batch.hpp"
#include "pg/counters/row_contribution.hpp"
#include "pg/stats/stats.hpp"

namespace denorm::pg {
namespace {

// The value of expression `state` (NULL: none) over `slot`, as `*isnull`.
Datum value_over(ExprState *state, ExprContext *econtext, TupleTableSlot *slot, bool *isnull)
{
    *isnull = true;
    if (!state) return 0;
    econtext->ecxt_scantuple = slot;
    return ExecEvalExprSwitchContext(state, econtext, isnull);
}

// Whether an updated row counts exactly as it did for a definition: the same key, filter
// result and value (a latest: the same values, which it needs its carry to tell). Then
// its -1 and +1 would cancel, and for a latest they would cost a recomputation.
bool counts_the_same(DefState *ds, TupleTableSlot *old_row, TupleTableSlot *new_row, ExprContext *econtext)
{
    const CounterDef *def = ds->batch->def;
    if (def->kind == core::Aggregate::Latest && !ds->carry) return false;
    for (int k = 0; k < def->nkeys; k++) {
        bool old_null, new_null;
        Datum a = slot_getattr(old_row, def->source_attnums[k], &old_null);
        Datum b = slot_getattr(new_row, def->source_attnums[k], &new_null);
        if (old_null != new_null || (!old_null && !datum_image_eq(a, b, ds->batch->typbyval[k], ds->batch->typlen[k])))
            return false;
    }
    if (ds->filter) {
        bool old_null, new_null;
        Datum a = value_over(ds->filter, econtext, old_row, &old_null);
        Datum b = value_over(ds->filter, econtext, new_row, &new_null);
        if ((!old_null && DatumGetBool(a)) != (!new_null && DatumGetBool(b))) return false;
    }
    if (ds->value) {
        bool old_null, new_null;
        Datum a = value_over(ds->value, econtext, old_row, &old_null);
        Datum b = value_over(ds->value, econtext, new_row, &new_null);
        Oid type = exprType(reinterpret_cast<Node *>(def->value));
        int16 typlen;
        bool byval;
        get_typlenbyval(type, &typlen, &byval);
        if (old_null != new_null || (!old_null && !datum_image_eq(a, b, byval, typlen))) return false;
    }
    return !ds->carry || carry_same(def->carry, ds->carry, econtext, old_row, new_row);
}

void read_transition_table(Tuplestorestate *store, int sign, Relation rel, TupleDesc root_desc, Batch *batch,
                           DefState *defs, int ndefs)
{
    if (!store) return;
    TupleDesc desc = RelationGetDescr(rel);
    TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
    // A partition's rows are converted to the root's layout, which the expressions use.
    TupleConversionMap *map = root_desc ? convert_tuples_by_name(desc, root_desc) : nullptr;
    TupleTableSlot *root_slot = map ? MakeSingleTupleTableSlot(root_desc, &TTSOpsVirtual) : nullptr;
    ExprContext *econtext = CreateStandaloneExprContext();

    int ptr = tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND);
    tuplestore_select_read_pointer(store, ptr);
    tuplestore_rescan(store);
    while (tuplestore_gettupleslot(store, true, false, slot)) {
        TupleTableSlot *row = map ? execute_attr_map_slot(map->attrMap, slot, root_slot) : slot;
        for (int i = 0; i < ndefs; i++) accumulate(&defs[i], batch, row, econtext, sign);
        ResetExprContext(econtext);
    }
    FreeExprContext(econtext, true);
    ExecDropSingleTupleTableSlot(slot);
    if (root_slot) ExecDropSingleTupleTableSlot(root_slot);
}

TriggerData *trigger_data(FunctionCallInfo fcinfo, const char *name)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("%s can only be called as a trigger", name)));
    return reinterpret_cast<TriggerData *>(fcinfo->context);
}

}  // namespace
}  // namespace denorm::pg

using namespace denorm::pg;

namespace {
Datum counter_stmt_trigger(FunctionCallInfo fcinfo)
{
    TriggerData *td = trigger_data(fcinfo, "denorm._counter_stmt_trigger()");
    Relation rel = td->tg_relation;
    Oid root = partition_root(RelationGetRelid(rel));
    SourceDefs *defs = source_definitions(root);
    if (!defs) return PointerGetDatum(nullptr);

    Batch *batch = statement_batch();
    auto *states = static_cast<DefState *>(palloc0(sizeof(DefState) * defs->ndefs));
    for (int i = 0; i < defs->ndefs; i++) init_state(&states[i], batch, &defs->defs[i]);
    Relation root_rel = root != RelationGetRelid(rel) ? table_open(root, AccessShareLock) : nullptr;
    TupleDesc root_desc = root_rel ? RelationGetDescr(root_rel) : nullptr;
    read_transition_table(td->tg_oldtable, -1, rel, root_desc, batch, states, defs->ndefs);
    read_transition_table(td->tg_newtable, +1, rel, root_desc, batch, states, defs->ndefs);
    int64 rows = (td->tg_oldtable ? tuplestore_tuple_count(td->tg_oldtable) : 0) +
                 (td->tg_newtable ? tuplestore_tuple_count(td->tg_newtable) : 0);
    for (int i = 0; i < defs->ndefs; i++) stat_call(stat_kind_of(&defs->defs[i]), defs->defs[i].name, rows);
    if (root_rel) table_close(root_rel, NoLock);

    statement_batch_end_of_trigger(batch);
    return PointerGetDatum(nullptr);
}
}  // namespace

namespace {
// The expression states of a row trigger's definitions, built once per statement in
// the batch's context (a row trigger is called once per row).
struct RowStates {
    SourceDefs *defs;
    DefState *states;
    ExprContext *econtext;
    RowStates *next;  // one per source a statement updates (a CTE may update several)
};

RowStates *row_states(Batch *batch, SourceDefs *defs)
{
    for (auto *rs = static_cast<RowStates *>(batch->row_states); rs; rs = rs->next)
        if (rs->defs == defs) return rs;
    MemoryContext old = MemoryContextSwitchTo(batch->context);
    auto *rs = static_cast<RowStates *>(palloc0(sizeof(RowStates)));
    rs->defs = defs;
    rs->next = static_cast<RowStates *>(batch->row_states);
    rs->states = static_cast<DefState *>(palloc0(sizeof(DefState) * defs->ndefs));
    for (int i = 0; i < defs->ndefs; i++) init_state(&rs->states[i], batch, &defs->defs[i]);
    rs->econtext = CreateStandaloneExprContext();
    MemoryContextSwitchTo(old);
    batch->row_states = rs;
    return rs;
}

// The AFTER UPDATE row trigger of a plain (unpartitioned) source, with a WHEN clause
// that lets through only rows where a column some definition reads changed: an UPDATE
// of other columns costs PostgreSQL no transition tables and denorm nothing.
Datum counter_row_trigger(FunctionCallInfo fcinfo)
{
    TriggerData *td = trigger_data(fcinfo, "denorm._counter_row_trigger()");
    if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
        !TRIGGER_FIRED_BY_UPDATE(td->tg_event))
        elog(ERROR, "denorm._counter_row_trigger() must be an AFTER UPDATE row trigger");
    SourceDefs *defs = source_definitions(RelationGetRelid(td->tg_relation));
    if (!defs) return PointerGetDatum(nullptr);
    Batch *batch = statement_batch();
    RowStates *rs = row_states(batch, defs);
    for (int i = 0; i < defs->ndefs; i++) {
        stat_call(stat_kind_of(&defs->defs[i]), defs->defs[i].name, 1);
        if (counts_the_same(&rs->states[i], td->tg_trigslot, td->tg_newslot, rs->econtext)) continue;
        accumulate(&rs->states[i], batch, td->tg_trigslot, rs->econtext, -1);
        accumulate(&rs->states[i], batch, td->tg_newslot, rs->econtext, +1);
    }
    ResetExprContext(rs->econtext);
    statement_batch_end_of_trigger(batch);
    return PointerGetDatum(nullptr);
}
}  // namespace

DENORM_FUNCTION(denorm_counter_row_trigger)
{
    return counter_row_trigger(fcinfo);
}

DENORM_FUNCTION(denorm_counter_stmt_trigger)
{
    return counter_stmt_trigger(fcinfo);  // (the delta maps may throw bad_alloc)
}

// TRUNCATE fires no row triggers: recompute every target column fed by this source
// (other definitions may add into the same column, so it is not simply zeroed).
DENORM_FUNCTION(denorm_counter_truncate_trigger)
{
    TriggerData *td = trigger_data(fcinfo, "denorm._counter_truncate_trigger()");
    // The transaction's earlier changes are written first: the recount then replaces them.
    apply_transaction_changes();
    Oid root = partition_root(RelationGetRelid(td->tg_relation));
    SourceDefs *defs = source_definitions(root);
    if (!defs) return PointerGetDatum(nullptr);
    int n = defs->ndefs;
    Oid *targets = static_cast<Oid *>(palloc(sizeof(Oid) * n));
    char **columns = static_cast<char **>(palloc(sizeof(char *) * n));
    for (int i = 0; i < n; i++) {
        targets[i] = defs->defs[i].target;
        columns[i] = pstrdup(defs->defs[i].target_column);
    }
    bool any_deferred = false;
    for (int i = 0; i < n; i++) any_deferred = any_deferred || defs->defs[i].deferred;
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    if (any_deferred) {
        // Pending deltas of the truncated rows are discarded before the recount.
        Oid dtypes[1] = {REGCLASSOID};
        Datum dvalues[1] = {ObjectIdGetDatum(root)};
        execute_as(extension_owner(), "SELECT denorm._discard_pending($1)", 1, dtypes, dvalues, nullptr);
    }
    // _recompute runs its statements on the target as the target's owner.
    Oid ext_owner = extension_owner();
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++) seen = seen || (targets[j] == targets[i] && strcmp(columns[j], columns[i]) == 0);
        if (seen) continue;
        Oid types[2] = {OIDOID, TEXTOID};
        Datum args[2] = {ObjectIdGetDatum(targets[i]), CStringGetTextDatum(columns[i])};
        execute_as(ext_owner, "SELECT denorm._recompute($1::pg_catalog.regclass, $2)", 2, types, args, nullptr);
    }
    SPI_finish();
    return PointerGetDatum(nullptr);
}
