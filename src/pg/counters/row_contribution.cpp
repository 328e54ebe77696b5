// row_contribution.cpp — see row_contribution.hpp.
// Layer: pg glue. Regime: PostgreSQL: the C++ maps live on the heap, owned by the
// batch's memory context, so an error longjmp skips no destructor.
#include "pg/counters/row_contribution.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/numeric.h"
}

#include "pg/counters/key_encoding.hpp"
#include "pg/counters/latest_carry.hpp"

namespace denorm::pg {
namespace {

// min, max: remembers the best value added and removed for the key; a latest only
// notes whether rows were added or removed (it recomputes from the source).
void keep_best(const CounterDef *def, MemoryContext batch_cxt, Accum &acc, Datum value, int sign)
{
    if (def->kind == core::Aggregate::Latest) {
        (sign > 0 ? acc.has_added : acc.has_removed) = true;
        return;
    }
    bool &has = sign > 0 ? acc.has_added : acc.has_removed;
    Datum &best = sign > 0 ? acc.added : acc.removed;
    if (has) {
        int cmp = DatumGetInt32(FunctionCall2Coll(def->value_cmp, def->value_collation, value, best));
        if (def->kind == core::Aggregate::Max ? cmp <= 0 : cmp >= 0) return;
    }
    MemoryContext old = MemoryContextSwitchTo(batch_cxt);
    best = datumCopy(value, def->value_byval, def->value_typlen);
    MemoryContextSwitchTo(old);
    has = true;
}

}  // namespace

// The states are kept for the life of the definition's cache entry: an ExprState made
// without a parent holds no per-query state (evaluation works in the caller's
// ExprContext), and the expressions are immutable scalar ones (the definition checks),
// which cannot run a statement that would evaluate them again meanwhile.
void init_state(DefState *state, Batch *batch, CounterDef *def)
{
    state->batch = batch_definition(batch, def);
    if (!def->states_built) {
        MemoryContext old = MemoryContextSwitchTo(def->owner->context);
        def->filter_state = def->filter ? ExecInitExpr(def->filter, nullptr) : nullptr;
        def->value_state = def->value ? ExecInitExpr(def->value, nullptr) : nullptr;
        def->carry_states = def->carry ? carry_states(def->carry) : nullptr;
        MemoryContextSwitchTo(old);
        def->states_built = true;
    }
    state->filter = def->filter_state;
    state->value = def->value_state;
    state->carry = def->carry_states;
}

void accumulate(DefState *ds, Batch *batch, TupleTableSlot *slot, ExprContext *econtext, int sign)
{
    DefBatch *db = ds->batch;
    CounterDef *def = db->def;
    MemoryContext batch_cxt = batch->context;
    Datum keyvals[INDEX_MAX_KEYS];
    core::KeyEncoder *enc = batch->encoder;
    enc->clear();
    for (int k = 0; k < def->nkeys; k++) {
        bool isnull;
        Datum d = slot_getattr(slot, def->source_attnums[k], &isnull);
        if (isnull) return;  // a row with a NULL key counts for nothing
        keyvals[k] = d;
        encode_key_datum(enc, d, db->typlen[k], db->typbyval[k]);
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

    auto [acc, created] = db->deltas->slot(enc->view());
    if (created) {
        acc.keys = static_cast<Datum *>(MemoryContextAlloc(batch_cxt, sizeof(Datum) * def->nkeys));
        MemoryContext old = MemoryContextSwitchTo(batch_cxt);
        for (int k = 0; k < def->nkeys; k++) acc.keys[k] = datumCopy(keyvals[k], db->typbyval[k], db->typlen[k]);
        MemoryContextSwitchTo(old);
    }
    if (is_extremum(def)) {
        keep_best(def, batch_cxt, acc, value, sign);
        if (sign > 0 && ds->carry) carry_newest(def->carry, ds->carry, econtext, &acc, batch_cxt);
        return;
    }
    if (sign > 0) acc.has_added = true;  // create_missing creates a row only for a key that gained rows
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
        MemoryContext old = MemoryContextSwitchTo(batch_cxt);
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

}  // namespace denorm::pg
