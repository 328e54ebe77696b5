// latest_carry.cpp — see latest_carry.hpp. Layer: pg glue. Regime: PostgreSQL (no C++
// objects).
#include "pg/counters/latest_carry.hpp"

extern "C" {
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
}

#include "pg/counters/statement_batch.hpp"

namespace denorm::pg {

LatestCarry *latest_carry(const LoadedDefinition &loaded, Expr **values, MemoryContext cxt)
{
    if (loaded.kind != core::Aggregate::Latest || loaded.nvalues != loaded.ncolumns || loaded.norder < 1) return nullptr;
    for (int v = 0; v < loaded.nvalues; v++) {
        const LoadedColumn &column = loaded.target_columns[v];
        Node *e = reinterpret_cast<Node *>(values[v]);
        if (!e || exprType(e) != column.type_oid || (column.typmod != -1 && exprTypmod(e) != column.typmod)) return nullptr;
    }
    auto *c = static_cast<LatestCarry *>(MemoryContextAllocZero(cxt, sizeof(LatestCarry)));
    c->nvalues = loaded.nvalues;
    c->values = values;
    c->columns = static_cast<AttrNumber *>(MemoryContextAlloc(cxt, sizeof(AttrNumber) * c->nvalues));
    for (int v = 0; v < c->nvalues; v++) {
        c->columns[v] = get_attnum(loaded.target, loaded.target_columns[v].name);
        if (c->columns[v] <= 0) return nullptr;
    }
    c->typlen = static_cast<int16 *>(MemoryContextAlloc(cxt, sizeof(int16) * c->nvalues));
    c->byval = static_cast<bool *>(MemoryContextAlloc(cxt, sizeof(bool) * c->nvalues));
    for (int v = 0; v < c->nvalues; v++) get_typlenbyval(loaded.target_columns[v].type_oid, &c->typlen[v], &c->byval[v]);
    c->norder = loaded.norder;
    c->order_at = static_cast<int *>(MemoryContextAlloc(cxt, sizeof(int) * c->norder));
    c->order_cmp = static_cast<FmgrInfo *>(MemoryContextAllocZero(cxt, sizeof(FmgrInfo) * c->norder));
    c->order_collation = static_cast<Oid *>(MemoryContextAlloc(cxt, sizeof(Oid) * c->norder));
    for (int o = 0; o < c->norder; o++) {
        int at = -1;
        for (int v = 0; v < loaded.nvalues && at < 0; v++)
            if (strcmp(loaded.order_by_sql[o], loaded.source_values_sql[v]) == 0) at = v;
        if (at < 0) return nullptr;
        const LoadedColumn &column = loaded.target_columns[at];
        Node *e = reinterpret_cast<Node *>(values[at]);
        TypeCacheEntry *tce = lookup_type_cache(column.type_oid, TYPECACHE_CMP_PROC_FINFO);
        if (!OidIsValid(tce->cmp_proc_finfo.fn_oid)) return nullptr;
        if (column.collatable && exprCollation(e) != column.collation) return nullptr;
        c->order_at[o] = at;
        fmgr_info_copy(&c->order_cmp[o], &tce->cmp_proc_finfo, cxt);
        c->order_collation[o] = exprCollation(e);
    }
    return c;
}

ExprState **carry_states(const LatestCarry *carry)
{
    auto **states = static_cast<ExprState **>(palloc(sizeof(ExprState *) * carry->nvalues));
    for (int v = 0; v < carry->nvalues; v++) states[v] = ExecInitExpr(carry->values[v], nullptr);
    return states;
}

namespace {

// <0, 0, >0 as tuple a's order is before, equal to, after b's (no NULLs).
int compare_order(const LatestCarry *carry, const Datum *a, const Datum *b)
{
    for (int o = 0; o < carry->norder; o++) {
        int v = carry->order_at[o];
        int cmp = DatumGetInt32(FunctionCall2Coll(&carry->order_cmp[o], carry->order_collation[o], a[v], b[v]));
        if (cmp != 0) return cmp;
    }
    return 0;
}

void evaluate(const LatestCarry *carry, ExprState **states, ExprContext *econtext, Datum *values, bool *isnull)
{
    for (int v = 0; v < carry->nvalues; v++) values[v] = ExecEvalExprSwitchContext(states[v], econtext, &isnull[v]);
}

}  // namespace

void carry_newest(const LatestCarry *carry, ExprState **states, ExprContext *econtext, Accum *acc,
                  MemoryContext batch_cxt)
{
    MemoryContext row = econtext->ecxt_per_tuple_memory;  // reset after each source row
    auto *values = static_cast<Datum *>(MemoryContextAlloc(row, sizeof(Datum) * carry->nvalues));
    auto *isnull = static_cast<bool *>(MemoryContextAlloc(row, sizeof(bool) * carry->nvalues));
    evaluate(carry, states, econtext, values, isnull);
    for (int o = 0; o < carry->norder; o++)
        if (isnull[carry->order_at[o]]) return;  // the latest's statements skip such a row
    if (acc->carried && compare_order(carry, values, acc->carried) <= 0) return;
    if (!acc->carried) {
        acc->carried = static_cast<Datum *>(MemoryContextAlloc(batch_cxt, sizeof(Datum) * carry->nvalues));
        acc->carried_null = static_cast<bool *>(MemoryContextAlloc(batch_cxt, sizeof(bool) * carry->nvalues));
    }
    MemoryContext old = MemoryContextSwitchTo(batch_cxt);
    for (int v = 0; v < carry->nvalues; v++) {
        // (The previous copies stay in the batch's context until it is freed.)
        acc->carried_null[v] = isnull[v];
        acc->carried[v] = isnull[v] ? 0 : datumCopy(values[v], carry->byval[v], carry->typlen[v]);
    }
    MemoryContextSwitchTo(old);
}

bool carried_newer(const LatestCarry *carry, const Accum &a, const Accum &b)
{
    return compare_order(carry, a.carried, b.carried) > 0;
}

bool carried_beats_stored(const LatestCarry *carry, const Accum &acc, const Datum *values, const bool *isnull)
{
    const AttrNumber *columns = carry->columns;
    if (isnull[columns[carry->order_at[0]] - 1]) return true;
    for (int o = 0; o < carry->norder; o++) {
        int v = carry->order_at[o];
        int a = columns[v] - 1;
        if (isnull[a]) return false;  // ROW(...) < ROW(...) is NULL from here on
        int cmp = DatumGetInt32(FunctionCall2Coll(&carry->order_cmp[o], carry->order_collation[o], values[a], acc.carried[v]));
        if (cmp != 0) return cmp < 0;
    }
    return false;
}

bool carry_same(const LatestCarry *carry, ExprState **states, ExprContext *econtext, TupleTableSlot *a,
                TupleTableSlot *b)
{
    MemoryContext row = econtext->ecxt_per_tuple_memory;  // reset after each source row
    auto *av = static_cast<Datum *>(MemoryContextAlloc(row, sizeof(Datum) * carry->nvalues));
    auto *an = static_cast<bool *>(MemoryContextAlloc(row, sizeof(bool) * carry->nvalues));
    auto *bv = static_cast<Datum *>(MemoryContextAlloc(row, sizeof(Datum) * carry->nvalues));
    auto *bn = static_cast<bool *>(MemoryContextAlloc(row, sizeof(bool) * carry->nvalues));
    econtext->ecxt_scantuple = a;
    evaluate(carry, states, econtext, av, an);
    econtext->ecxt_scantuple = b;
    evaluate(carry, states, econtext, bv, bn);
    for (int v = 0; v < carry->nvalues; v++) {
        if (an[v] != bn[v]) return false;
        if (!an[v] && !datum_image_eq(av[v], bv[v], carry->byval[v], carry->typlen[v])) return false;
    }
    return true;
}

}  // namespace denorm::pg
