// init_scan.cpp — see init_scan.hpp.
// Layer: pg glue. Regime: PostgreSQL (no C++ objects; the scratch batch owns its maps).
#include "pg/counters/init_scan.hpp"
#include "pg/counters/latest_carry.hpp"
#include "pg/counters/row_contribution.hpp"
#include "pg/privileges.hpp"
#include "pg/counters/type_facts.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
}

namespace denorm::pg {

// How one definition's source rows of a key are found: an index whose leading columns
// are exactly the source key, compared with the new row's target key columns as the
// initialiser's query compares them. Built on first use, kept with the definition (the
// cache entry is rebuilt when the source or target changes: an index, a grant, row
// security).
struct InitScan {
    bool usable;
    Oid index;
    int nkeys;
    AttrNumber target_attnum[INDEX_MAX_KEYS];  // index column i = this target column's value
    RegProcedure equal[INDEX_MAX_KEYS];
    Oid subtype[INDEX_MAX_KEYS];
    Oid collation[INDEX_MAX_KEYS];
    AttrNumber column;  // count, sum, min, max: the counter column
    Oid column_type;
};

namespace {

// The counter column can hold what the writers add up for it without a cast.
bool column_fits(const CounterDef *def, TupleDesc desc, InitScan *plan)
{
    if (def->kind == core::Aggregate::Latest) return def->carry != nullptr;
    plan->column = get_attnum(def->target, def->target_column);
    if (plan->column <= 0) return false;
    Form_pg_attribute att = TupleDescAttr(desc, plan->column - 1);
    plan->column_type = att->atttypid;
    if (!is_extremum(def)) return def->delta_kind == DeltaKind::Int && integer_type(att->atttypid);
    Node *value = reinterpret_cast<Node *>(def->value);
    return value && exprType(value) == att->atttypid && (att->atttypmod < 0 || exprTypmod(value) == att->atttypmod);
}

// A valid btree index of `src` whose first nkeys columns are the definition's source key
// (in any order), with the source columns' collations.
bool find_source_index(Relation src, const CounterDef *def, TupleDesc target_desc, InitScan *plan)
{
    AttrNumber target_attnums[INDEX_MAX_KEYS];
    for (int k = 0; k < def->nkeys; k++) {
        target_attnums[k] = get_attnum(def->target, def->target_key[k]);
        if (target_attnums[k] <= 0) return false;
    }
    ListCell *lc;
    foreach (lc, RelationGetIndexList(src)) {
        Relation index = index_open(lfirst_oid(lc), AccessShareLock);
        Form_pg_index form = index->rd_index;
        bool ok = form->indisvalid && form->indisready && form->indislive && form->indnkeyatts >= def->nkeys &&
                  index->rd_rel->relam == BTREE_AM_OID && RelationGetIndexPredicate(index) == NIL;
        bool used[INDEX_MAX_KEYS] = {};
        for (int i = 0; ok && i < def->nkeys; i++) {
            int k = 0;
            while (k < def->nkeys && (used[k] || def->source_attnums[k] != form->indkey.values[i])) k++;
            if (k == def->nkeys) {
                ok = false;
                break;
            }
            used[k] = true;
            Oid source_collation = TupleDescAttr(RelationGetDescr(src), def->source_attnums[k] - 1)->attcollation;
            Oid value_type = TupleDescAttr(target_desc, target_attnums[k] - 1)->atttypid;
            RegProcedure equal = index_equality(index->rd_opfamily[i], index->rd_opcintype[i], &value_type);
            if (!OidIsValid(equal) || index->rd_indcollation[i] != source_collation) {
                ok = false;
                break;
            }
            plan->target_attnum[i] = target_attnums[k];
            plan->equal[i] = equal;
            plan->subtype[i] = value_type;
            plan->collation[i] = index->rd_indcollation[i];
        }
        if (ok) {
            plan->index = RelationGetRelid(index);
            plan->nkeys = def->nkeys;
        }
        index_close(index, AccessShareLock);
        if (ok) return true;
    }
    return false;
}

InitScan *init_scan_of(CounterDef *def, TupleDesc target_desc)
{
    if (def->init_scan) return def->init_scan;
    auto *plan = static_cast<InitScan *>(MemoryContextAllocZero(def->owner->context, sizeof(InitScan)));
    if (!def->deferred && column_fits(def, target_desc, plan)) {
        Relation src = table_open(def->source, AccessShareLock);
        // What the query would read as the target's owner: every row (no row security)
        // of a plain table it may select from.
        plan->usable = src->rd_rel->relkind == RELKIND_RELATION && !src->rd_rel->relrowsecurity &&
                       pg_class_aclcheck(def->source, def->target_owner, ACL_SELECT) == ACLCHECK_OK &&
                       find_source_index(src, def, target_desc, plan);
        table_close(src, AccessShareLock);
    }
    def->init_scan = plan;
    return plan;
}

// Whether two definitions find their rows with the same scan: one source, one index,
// compared with the same columns of the new row the same way.
bool same_scan(const CounterDef *a, const InitScan *pa, const CounterDef *b, const InitScan *pb)
{
    if (a->source != b->source || pa->index != pb->index || pa->nkeys != pb->nkeys) return false;
    for (int i = 0; i < pa->nkeys; i++)
        if (pa->target_attnum[i] != pb->target_attnum[i] || pa->equal[i] != pb->equal[i] ||
            pa->subtype[i] != pb->subtype[i] || pa->collation[i] != pb->collation[i])
            return false;
    return true;
}

// Adds every row of the source whose key is the new row's to the entry in `batch` of
// each of defs[0..n-1] (definitions with the same scan: the conversation's count,
// unread count and last message of one direction read their rows once).
void count_source_rows(CounterDef **defs, const InitScan *plan, int n, HeapTuple tuple, TupleDesc desc,
                       Batch *batch, ExprContext *econtext)
{
    ScanKeyData keys[INDEX_MAX_KEYS];
    for (int i = 0; i < plan->nkeys; i++) {
        bool isnull;
        Datum value = heap_getattr(tuple, plan->target_attnum[i], desc, &isnull);
        if (isnull) return;  // key = NULL matches no row
        ScanKeyEntryInitialize(&keys[i], 0, i + 1, BTEqualStrategyNumber, plan->subtype[i], plan->collation[i],
                               plan->equal[i], value);
    }
    Relation src = table_open(defs[0]->source, AccessShareLock);
    Relation index = index_open(plan->index, AccessShareLock);
    TupleTableSlot *slot = table_slot_create(src, nullptr);
    auto *states = static_cast<DefState *>(palloc(sizeof(DefState) * n));
    for (int d = 0; d < n; d++) init_state(&states[d], batch, defs[d]);
    IndexScanDesc scan = index_beginscan(src, index, GetActiveSnapshot(), plan->nkeys, 0);
    index_rescan(scan, keys, plan->nkeys, nullptr, 0);
    while (index_getnext_slot(scan, ForwardScanDirection, slot)) {
        for (int d = 0; d < n; d++) accumulate(&states[d], batch, slot, econtext, +1);
        ResetExprContext(econtext);
    }
    index_endscan(scan);
    ExecDropSingleTupleTableSlot(slot);
    index_close(index, NoLock);
    table_close(src, NoLock);
}

// The values of the row's counter columns, indexed by attribute number - 1.
struct RowValues {
    Datum *values;
    bool *nulls;
    bool *set;
    int64 *sums;                    // count and sum columns, before the cast to the column
    const Accum **newest;           // latest: the newest carried row, by its first column
    const CounterDef **newest_def;
};

void add_entry(const CounterDef *def, const InitScan *plan, const Accum &acc, RowValues *row)
{
    switch (core::family_of(def->kind)) {
    case core::Family::Additive: {
        int c = plan->column - 1;
        if (__builtin_add_overflow(row->sums[c], acc.ival, &row->sums[c]))
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("bigint out of range")));
        return;
    }
    default:
        break;
    }
    if (def->kind == core::Aggregate::Latest) {
        int c = def->carry->columns[0] - 1;
        if (acc.carried && (!row->newest[c] || carried_newer(def->carry, acc, *row->newest[c]))) {
            row->newest[c] = &acc;
            row->newest_def[c] = def;
        }
        return;
    }
    int c = plan->column - 1;
    if (!acc.has_added) return;
    if (!row->nulls[c]) {
        int cmp = DatumGetInt32(FunctionCall2Coll(def->value_cmp, def->value_collation, acc.added, row->values[c]));
        if (def->kind == core::Aggregate::Max ? cmp <= 0 : cmp >= 0) return;
    }
    row->values[c] = acc.added;
    row->nulls[c] = false;
}

// Marks the columns `def` writes as set; a min, max or latest starts NULL, a count or sum 0.
void start_columns(const CounterDef *def, const InitScan *plan, RowValues *row)
{
    if (def->kind == core::Aggregate::Latest) {
        for (int v = 0; v < def->carry->nvalues; v++) {
            int c = def->carry->columns[v] - 1;
            row->set[c] = true;
            row->nulls[c] = true;
        }
        return;
    }
    int c = plan->column - 1;
    if (!row->set[c]) row->nulls[c] = is_extremum(def);
    row->set[c] = true;
}

}  // namespace

HeapTuple init_by_index_scans(const TargetInit *init, Relation target, HeapTuple tuple)
{
    if (init->nsources == 0) return nullptr;
    TupleDesc desc = RelationGetDescr(target);
    // Every definition on the target, from its source's writer cache (an entry replaced
    // meanwhile stays readable until the transaction ends). A suspended definition is in
    // none of them: then the counts differ and the query decides.
    auto **defs = static_cast<CounterDef **>(palloc(sizeof(CounterDef *) * (init->ndefs + 1)));
    auto **plans = static_cast<InitScan **>(palloc(sizeof(InitScan *) * (init->ndefs + 1)));
    int n = 0;
    for (int s = 0; s < init->nsources; s++) {
        SourceDefs *on_source = source_definitions(init->sources[s]);
        if (!on_source) return nullptr;
        for (int i = 0; i < on_source->ndefs; i++) {
            if (on_source->defs[i].target != init->target) continue;
            if (n == init->ndefs) return nullptr;
            defs[n++] = &on_source->defs[i];
        }
    }
    if (n != init->ndefs) return nullptr;
    for (int i = 0; i < n; i++) {
        plans[i] = init_scan_of(defs[i], desc);
        if (!plans[i]->usable) return nullptr;
    }

    int natts = desc->natts;
    RowValues row;
    row.values = static_cast<Datum *>(palloc0(sizeof(Datum) * natts));
    row.nulls = static_cast<bool *>(palloc0(sizeof(bool) * natts));
    row.set = static_cast<bool *>(palloc0(sizeof(bool) * natts));
    row.sums = static_cast<int64 *>(palloc0(sizeof(int64) * natts));
    row.newest = static_cast<const Accum **>(palloc0(sizeof(Accum *) * natts));
    row.newest_def = static_cast<const CounterDef **>(palloc0(sizeof(CounterDef *) * natts));

    MemoryContext caller_cxt = CurrentMemoryContext;
    Batch *batch = new_batch(false);
    ExprContext *econtext = CreateStandaloneExprContext();
    // Sources are read, and expressions evaluated, with the target owner's rights (as
    // the query would be, and as foreign key checks are).
    RunAs as;
    run_as_begin_unpinned(&as, init->owner);
    auto *scanned = static_cast<bool *>(palloc0(sizeof(bool) * n));
    auto **together = static_cast<CounterDef **>(palloc(sizeof(CounterDef *) * n));
    for (int i = 0; i < n; i++) {
        if (scanned[i]) continue;
        int m = 0;
        for (int j = i; j < n; j++)
            if (!scanned[j] && same_scan(defs[i], plans[i], defs[j], plans[j])) {
                scanned[j] = true;
                together[m++] = defs[j];
            }
        count_source_rows(together, plans[i], m, tuple, desc, batch, econtext);
    }
    run_as_end(&as);
    FreeExprContext(econtext, true);

    for (int i = 0; i < n; i++) {
        start_columns(defs[i], plans[i], &row);
        // Several entries only when keys equal to the row's differ in their bytes (1.0,
        // 1.00). Collected first: add_entry may raise an error, which must not cross
        // the map's frames.
        Deltas *deltas = batch_definition(batch, defs[i])->deltas;
        size_t nentries = 0;
        deltas->for_each([&nentries](Accum &) { nentries++; });
        auto **entries = static_cast<Accum **>(palloc(sizeof(Accum *) * (nentries + 1)));
        size_t at = 0;
        deltas->for_each([entries, &at](Accum &acc) { entries[at++] = &acc; });
        for (size_t e = 0; e < at; e++) add_entry(defs[i], plans[i], *entries[e], &row);
    }
    int *columns = static_cast<int *>(palloc(sizeof(int) * natts));
    int ncolumns = 0;
    for (int c = 0; c < natts; c++) {
        if (!row.set[c]) continue;
        columns[ncolumns++] = c + 1;
        if (const Accum *newest = row.newest[c]) {
            const LatestCarry *carry = row.newest_def[c]->carry;
            for (int v = 0; v < carry->nvalues; v++) {
                row.values[carry->columns[v] - 1] = newest->carried[v];
                row.nulls[carry->columns[v] - 1] = newest->carried_null[v];
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (!is_extremum(defs[i])) {
            int c = plans[i]->column - 1;
            row.values[c] = integer_datum(row.sums[c], plans[i]->column_type);
            row.nulls[c] = false;
        }
    // The new tuple copies the values out of the batch before it goes.
    MemoryContext old = MemoryContextSwitchTo(caller_cxt);
    int *cols = static_cast<int *>(palloc(sizeof(int) * (ncolumns + 1)));
    Datum *vals = static_cast<Datum *>(palloc(sizeof(Datum) * (ncolumns + 1)));
    bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * (ncolumns + 1)));
    for (int j = 0; j < ncolumns; j++) {
        cols[j] = columns[j];
        vals[j] = row.values[columns[j] - 1];
        nulls[j] = row.nulls[columns[j] - 1];
    }
    HeapTuple result = heap_modify_tuple_by_cols(tuple, desc, ncolumns, cols, vals, nulls);
    MemoryContextSwitchTo(old);
    free_batch(batch);
    return result;
}

}  // namespace denorm::pg
