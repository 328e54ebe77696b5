// counter_trigger.cpp — the statement triggers on a counter's source: read the
// statement's transition tables, accumulate net deltas per (definition, key),
// then apply them in key order with each definition's prepared statement; and the
// TRUNCATE trigger, which recomputes the affected target columns.
// Layer: pg glue. Regime: PostgreSQL: the C++ delta maps live on the heap, owned by
// a memory-context callback, so an error longjmp skips no destructor.
extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tupconvert.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/nodeFuncs.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
}

#include <new>

#include "core/apply_order.hpp"
#include "core/delta_map.hpp"
#include "pg/created_rows.hpp"
#include "pg/catalog.hpp"
#include "pg/errors.hpp"

namespace denorm::pg {
namespace {

// Net change of one target key within one statement.
struct Accum {
    int64 ival = 0;       // count, or integer sum
    double fval = 0;      // float sum
    Datum nval = 0;       // numeric sum; 0 = none yet
    bool nonzero = false; // set by finish(), read by the sort
    Datum *keys = nullptr;  // key datums, copied once into the statement context
};
using Deltas = core::DeltaMap<Accum>;

// Per-definition working state of one trigger call.
struct DefState {
    CounterDef *def;
    Deltas *deltas;        // heap; deleted by release_deltas
    ExprState *filter;
    ExprState *value;
    int16 *typlen;
    bool *typbyval;
};

struct CallState {
    int ndefs;
    DefState *defs;
    core::KeyEncoder *encoder;     // heap; deleted by release_deltas
    core::ApplyOrder<Accum> *order; // heap; deleted by release_deltas
};

void release_deltas(void *arg)
{
    auto *state = static_cast<CallState *>(arg);
    for (int i = 0; i < state->ndefs; i++) {
        delete state->defs[i].deltas;
        state->defs[i].deltas = nullptr;
    }
    delete state->encoder;
    state->encoder = nullptr;
    delete state->order;
    state->order = nullptr;
}

// Allocates the C++ containers; bad_alloc becomes an ERROR after the catch.
void allocate_containers(CallState *state)
{
    bool failed = false;
    try {
        state->encoder = new core::KeyEncoder();
        state->order = new core::ApplyOrder<Accum>();
        for (int i = 0; i < state->ndefs; i++) state->defs[i].deltas = new Deltas();
    } catch (const std::bad_alloc &) {
        failed = true;
    }
    if (failed) ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
}

void encode_datum(core::KeyEncoder *enc, Datum d, int16 typlen, bool typbyval)
{
    if (typbyval) {
        enc->add_part(&d, sizeof(Datum));
    } else if (typlen == -1) {
        struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
        enc->add_part(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
    } else if (typlen == -2) {
        enc->add_part(DatumGetPointer(d), strlen(DatumGetCString(d)));
    } else {
        enc->add_part(DatumGetPointer(d), typlen);
    }
}

// Adds one source row (sign +1 for a new row, -1 for an old one) to one definition.
void accumulate(DefState *ds, CallState *state, TupleTableSlot *slot, ExprContext *econtext, int sign,
                MemoryContext stmt_cxt)
{
    CounterDef *def = ds->def;
    Datum keyvals[INDEX_MAX_KEYS];
    core::KeyEncoder *enc = state->encoder;
    enc->clear();
    for (int k = 0; k < def->nkeys; k++) {
        bool isnull;
        Datum d = slot_getattr(slot, def->source_attnums[k], &isnull);
        if (isnull) return;  // a row with a NULL key counts for nothing
        keyvals[k] = d;
        encode_datum(enc, d, ds->typlen[k], ds->typbyval[k]);
    }
    econtext->ecxt_scantuple = slot;
    if (ds->filter) {
        bool isnull;
        Datum pass = ExecEvalExprSwitchContext(ds->filter, econtext, &isnull);
        if (isnull || !DatumGetBool(pass)) return;
    }
    Datum value = 0;
    if (ds->value) {
        bool isnull;
        value = ExecEvalExprSwitchContext(ds->value, econtext, &isnull);
        if (isnull) return;  // sum ignores NULLs
    }

    auto [acc, created] = ds->deltas->slot(enc->view());
    if (created) {
        acc.keys = static_cast<Datum *>(MemoryContextAlloc(stmt_cxt, sizeof(Datum) * def->nkeys));
        MemoryContext old = MemoryContextSwitchTo(stmt_cxt);
        for (int k = 0; k < def->nkeys; k++) acc.keys[k] = datumCopy(keyvals[k], ds->typbyval[k], ds->typlen[k]);
        MemoryContextSwitchTo(old);
    }
    if (def->is_count) {
        acc.ival += sign;
        return;
    }
    Oid type = exprType(reinterpret_cast<Node *>(def->value));
    switch (def->delta_kind) {
    case DeltaKind::Int: {
        int64 v = type == INT2OID ? DatumGetInt16(value) : type == INT4OID ? DatumGetInt32(value) : DatumGetInt64(value);
        if (__builtin_add_overflow(acc.ival, sign * v, &acc.ival))
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                            errmsg("bigint out of range in the change of counter \"%s\"", def->name)));
        break;
    }
    case DeltaKind::Float:
        acc.fval += sign * (type == FLOAT4OID ? static_cast<double>(DatumGetFloat4(value)) : DatumGetFloat8(value));
        break;
    case DeltaKind::Numeric: {
        MemoryContext old = MemoryContextSwitchTo(stmt_cxt);
        Datum v = type == NUMERICOID ? value : DirectFunctionCall1(numeric_in, CStringGetDatum("0"));
        if (acc.nval == 0)
            acc.nval = sign > 0 ? datumCopy(v, false, -1) : DirectFunctionCall1(numeric_uminus, v);
        else
            acc.nval = DirectFunctionCall2(sign > 0 ? numeric_add : numeric_sub, acc.nval, v);
        MemoryContextSwitchTo(old);
        break;
    }
    }
}

void read_transition_table(Tuplestorestate *store, int sign, Relation rel, TupleDesc root_desc, CallState *state,
                           MemoryContext stmt_cxt)
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
        for (int i = 0; i < state->ndefs; i++) accumulate(&state->defs[i], state, row, econtext, sign, stmt_cxt);
        ResetExprContext(econtext);
    }
    FreeExprContext(econtext, true);
    ExecDropSingleTupleTableSlot(slot);
    if (root_slot) ExecDropSingleTupleTableSlot(root_slot);
}

bool numeric_is_zero(Datum n)
{
    return DatumGetInt32(DirectFunctionCall2(numeric_cmp, n, DirectFunctionCall1(numeric_in, CStringGetDatum("0")))) == 0;
}

Datum delta_datum(const CounterDef *def, const Accum &acc)
{
    if (def->is_count) return Int64GetDatum(acc.ival);
    switch (def->delta_kind) {
    case DeltaKind::Int: return Int64GetDatum(acc.ival);
    case DeltaKind::Float: return Float8GetDatum(acc.fval);
    case DeltaKind::Numeric: return acc.nval;
    }
    return Int64GetDatum(acc.ival);
}

// Encodes (target, key) with the key in target-column order into state->encoder.
void encode_target_row(CallState *state, DefState *ds, const Accum *acc)
{
    core::KeyEncoder *enc = state->encoder;
    enc->clear();
    Oid target = ds->def->target;
    enc->add_part(&target, sizeof target);
    for (int i = 0; i < ds->def->nkeys; i++) {
        int k = ds->def->key_order[i];
        encode_datum(enc, acc->keys[k], ds->typlen[k], ds->typbyval[k]);
    }
}

// Queues every non-zero change of every definition, then sorts them into the one
// global order (target row, then definition): see core/apply_order.hpp.
void collect_in_global_order(CallState *state)
{
    core::ApplyOrder<Accum> *order = state->order;
    for (int i = 0; i < state->ndefs; i++) {
        DefState *ds = &state->defs[i];
        CounterDef *def = ds->def;
        ds->deltas->for_each([state, ds, def, order, i](Accum &acc) {
            bool nonzero = def->delta_kind == DeltaKind::Numeric && !def->is_count
                               ? (acc.nval != 0 && !numeric_is_zero(acc.nval))
                               : (acc.ival != 0 || acc.fval != 0);
            if (!nonzero) return;
            encode_target_row(state, ds, &acc);
            order->add(state->encoder->view(), i, &acc);
        });
    }
    order->sort();
}

// Applies one change (the caller has switched to the target's owner). A missing
// target row is inserted when the definition says create_missing.
void apply_one(CounterDef *def, const Accum *acc, std::string_view row)
{
    Datum values[INDEX_MAX_KEYS + 1];
    values[0] = delta_datum(def, *acc);
    for (int k = 0; k < def->nkeys; k++) values[k + 1] = acc->keys[k];
    int rc = SPI_execute_plan(def->update_plan, values, nullptr, false, 0);
    if (rc != SPI_OK_UPDATE) elog(ERROR, "denorm: update of counter \"%s\" failed: %d", def->name, rc);
    if (SPI_processed > 0 || !def->create_missing) return;
    rc = SPI_execute_plan(def->upsert_plan, values, nullptr, false, 0);
    if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
        elog(ERROR, "denorm: insert for counter \"%s\" failed: %d", def->name, rc);
    bool isnull;
    if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
        created_rows_note(row);  // its initialiser counted this whole statement
}

void apply_in_global_order(CallState *state)
{
    core::ApplyOrder<Accum> *order = state->order;
    if (order->size() == 0) return;
    Oid save_user;
    int save_sec;
    GetUserIdAndSecContext(&save_user, &save_sec);
    for (size_t i = 0; i < order->size(); i++) {
        const auto &entry = order->at(i);
        CounterDef *def = state->defs[entry.definition].def;
        if (created_rows_contains(entry.row)) continue;
        SetUserIdAndSecContext(def->target_owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
        apply_one(def, entry.item, entry.row);
        SetUserIdAndSecContext(save_user, save_sec);  // on error, (sub)transaction abort restores it
    }
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

extern "C" {
PG_FUNCTION_INFO_V1(denorm_counter_stmt_trigger);
PG_FUNCTION_INFO_V1(denorm_counter_truncate_trigger);
}

namespace {
Datum counter_stmt_trigger(FunctionCallInfo fcinfo)
{
    TriggerData *td = trigger_data(fcinfo, "denorm._counter_stmt_trigger()");
    Relation rel = td->tg_relation;
    Oid root = partition_root(RelationGetRelid(rel));
    SourceDefs *defs = source_definitions(root);
    if (!defs) return PointerGetDatum(nullptr);

    MemoryContext stmt_cxt = AllocSetContextCreate(CurrentMemoryContext, "denorm statement", ALLOCSET_DEFAULT_SIZES);
    MemoryContext old = MemoryContextSwitchTo(stmt_cxt);

    auto *state = static_cast<CallState *>(palloc0(sizeof(CallState)));
    state->ndefs = defs->ndefs;
    state->defs = static_cast<DefState *>(palloc0(sizeof(DefState) * defs->ndefs));
    auto *callback = static_cast<MemoryContextCallback *>(palloc0(sizeof(MemoryContextCallback)));
    callback->func = release_deltas;
    callback->arg = state;
    MemoryContextRegisterResetCallback(stmt_cxt, callback);
    allocate_containers(state);

    for (int i = 0; i < defs->ndefs; i++) {
        DefState *ds = &state->defs[i];
        ds->def = &defs->defs[i];
        ds->filter = ds->def->filter ? ExecInitExpr(ds->def->filter, nullptr) : nullptr;
        ds->value = ds->def->value ? ExecInitExpr(ds->def->value, nullptr) : nullptr;
        ds->typlen = static_cast<int16 *>(palloc(sizeof(int16) * ds->def->nkeys));
        ds->typbyval = static_cast<bool *>(palloc(sizeof(bool) * ds->def->nkeys));
        for (int k = 0; k < ds->def->nkeys; k++) get_typlenbyval(ds->def->key_types[k], &ds->typlen[k], &ds->typbyval[k]);
    }

    Relation root_rel = root != RelationGetRelid(rel) ? table_open(root, AccessShareLock) : nullptr;
    TupleDesc root_desc = root_rel ? RelationGetDescr(root_rel) : nullptr;
    read_transition_table(td->tg_oldtable, -1, rel, root_desc, state, stmt_cxt);
    read_transition_table(td->tg_newtable, +1, rel, root_desc, state, stmt_cxt);
    if (root_rel) table_close(root_rel, NoLock);

    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    collect_in_global_order(state);
    apply_in_global_order(state);
    SPI_finish();
    created_rows_end_of_trigger();

    MemoryContextSwitchTo(old);
    MemoryContextDelete(stmt_cxt);  // runs release_deltas
    return PointerGetDatum(nullptr);
}
}  // namespace

extern "C" Datum denorm_counter_stmt_trigger(PG_FUNCTION_ARGS)
{
    // The delta maps may throw bad_alloc; guarded() turns it into an ERROR.
    return guarded([fcinfo] { return counter_stmt_trigger(fcinfo); });
}

// TRUNCATE fires no row triggers: recompute every target column fed by this source
// (other definitions may add into the same column, so it is not simply zeroed).
extern "C" Datum denorm_counter_truncate_trigger(PG_FUNCTION_ARGS)
{
    TriggerData *td = trigger_data(fcinfo, "denorm._counter_truncate_trigger()");
    Oid root = partition_root(RelationGetRelid(td->tg_relation));
    SourceDefs *defs = source_definitions(root);
    if (!defs) return PointerGetDatum(nullptr);
    int n = defs->ndefs;
    Oid *targets = static_cast<Oid *>(palloc(sizeof(Oid) * n));
    Oid *owners = static_cast<Oid *>(palloc(sizeof(Oid) * n));
    char **columns = static_cast<char **>(palloc(sizeof(char *) * n));
    for (int i = 0; i < n; i++) {
        targets[i] = defs->defs[i].target;
        owners[i] = defs->defs[i].target_owner;
        columns[i] = pstrdup(defs->defs[i].target_column);
    }
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid save_user;
    int save_sec;
    GetUserIdAndSecContext(&save_user, &save_sec);
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++) seen = seen || (targets[j] == targets[i] && strcmp(columns[j], columns[i]) == 0);
        if (seen) continue;
        Oid types[2] = {OIDOID, TEXTOID};
        Datum args[2] = {ObjectIdGetDatum(targets[i]), CStringGetTextDatum(columns[i])};
        SetUserIdAndSecContext(owners[i], save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
        SPI_execute_with_args("SELECT denorm._recompute($1::pg_catalog.regclass, $2)", 2, types, args, nullptr, false, 0);
        SetUserIdAndSecContext(save_user, save_sec);
    }
    SPI_finish();
    return PointerGetDatum(nullptr);
}
