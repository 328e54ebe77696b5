// direct_update.cpp — see direct_update.hpp. Why: the UPDATE statement of a count
// costs a plan revalidation, an executor start (result relation, index scan node,
// projection) and end for every target row, several times what finding, locking and
// updating the row costs. PostgreSQL's logical replication apply worker writes rows
// the same way; here every case it would have to handle beyond "a plain row found and
// locked" is handed back to the statement.
// Layer: pg glue. Regime: PostgreSQL (no C++ objects).
#include "pg/counters/direct_update.hpp"
#include "pg/counters/latest_carry.hpp"
#include "pg/privileges.hpp"
#include "pg/counters/type_facts.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "nodes/parsenodes.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
}

namespace denorm::pg {

// What a definition needs to write its target row directly; built on first use and kept
// with the definition (the cache entry is rebuilt when the target's relcache entry is
// invalidated: a new trigger, index or constraint).
struct DirectPlan {
    bool usable;
    AttrNumber column;          // count/sum: the counter column (a latest's are in its carry)
    Oid column_type;            // int2, int4 or int8
    Oid index;                  // unique btree index on exactly the target key
    int nkeys;
    int key_of[INDEX_MAX_KEYS];           // index column i compares with the definition's key key_of[i]
    RegProcedure equal[INDEX_MAX_KEYS];   // index column = key value
    Oid subtype[INDEX_MAX_KEYS];          // type of the key value
    Oid collation[INDEX_MAX_KEYS];
};

namespace {

// A unique, immediate, valid btree index on plain columns that are exactly the target key.
bool find_key_index(Relation rel, const CounterDef *def, DirectPlan *plan)
{
    AttrNumber key_attnums[INDEX_MAX_KEYS];
    for (int k = 0; k < def->nkeys; k++) {
        key_attnums[k] = get_attnum(def->target, def->target_key[k]);
        if (key_attnums[k] == InvalidAttrNumber) return false;
    }
    List *indexes = RelationGetIndexList(rel);
    ListCell *lc;
    foreach (lc, indexes) {
        Relation index = index_open(lfirst_oid(lc), AccessShareLock);
        Form_pg_index form = index->rd_index;
        bool ok = form->indisunique && form->indimmediate && form->indisvalid && form->indisready &&
                  form->indislive && form->indnkeyatts == def->nkeys && index->rd_rel->relam == BTREE_AM_OID &&
                  RelationGetIndexExpressions(index) == NIL && RelationGetIndexPredicate(index) == NIL;
        for (int i = 0; ok && i < def->nkeys; i++) {
            int k = 0;
            while (k < def->nkeys && key_attnums[k] != form->indkey.values[i]) k++;
            if (k == def->nkeys) {
                ok = false;
                break;
            }
            Oid value_type = def->key_types[k];
            RegProcedure equal = index_equality(index->rd_opfamily[i], index->rd_opcintype[i], &value_type);
            if (!OidIsValid(equal)) ok = false;
            else {
                plan->key_of[i] = k;
                plan->equal[i] = equal;
                plan->subtype[i] = value_type;
                plan->collation[i] = index->rd_indcollation[i];
            }
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

// Whether the counter column may be written without the UPDATE's foreign-key and
// unique-key checks: it is part of no foreign key and no unique key.
bool column_is_free(Relation rel, AttrNumber column)
{
    Bitmapset *keys = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_KEY);
    if (bms_is_member(column - FirstLowInvalidHeapAttributeNumber, keys)) return false;
    ListCell *lc;
    foreach (lc, RelationGetFKeyList(rel)) {
        auto *fk = static_cast<ForeignKeyCacheInfo *>(lfirst(lc));
        for (int i = 0; i < fk->nkeys; i++)
            if (fk->conkey[i] == column) return false;
    }
    return true;
}

// A latest's columns are all free (column_is_free).
bool latest_columns_free(const LatestCarry *carry, Relation rel)
{
    for (int v = 0; v < carry->nvalues; v++)
        if (!column_is_free(rel, carry->columns[v])) return false;
    return true;
}

DirectPlan *direct_plan(CounterDef *def, Relation rel)
{
    if (def->direct) return def->direct;
    auto *plan = static_cast<DirectPlan *>(MemoryContextAllocZero(def->owner->context, sizeof(DirectPlan)));
    bool columns_ok;
    if (def->kind == core::Aggregate::Latest) {
        columns_ok = def->carry && latest_columns_free(def->carry, rel);
    } else {
        plan->column = get_attnum(def->target, def->target_column);
        if (plan->column > 0) plan->column_type = TupleDescAttr(RelationGetDescr(rel), plan->column - 1)->atttypid;
        columns_ok = !is_extremum(def) && def->delta_kind == DeltaKind::Int && plan->column > 0 &&
                     integer_type(plan->column_type) && column_is_free(rel, plan->column);
    }
    plan->usable = columns_ok && !def->touch_ident && !def->deferred &&
                   pg_class_aclcheck(def->target, def->target_owner, ACL_UPDATE) == ACLCHECK_OK &&
                   find_key_index(rel, def, plan);
    def->direct = plan;
    return plan;
}

// The target as the UPDATE would write it with nothing but the row itself: a plain
// heap table, no row security, no CHECK or stored generated column, and no UPDATE
// trigger other than foreign-key triggers (which skip a row whose key columns did not
// change; column_is_free keeps the counter out of every key).
bool plain_target(Relation rel)
{
    if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_tableam != GetHeapamTableAmRoutine() ||
        rel->rd_rel->relrowsecurity)
        return false;
    if (TupleConstr *constr = RelationGetDescr(rel)->constr)
        if (constr->num_check > 0 || constr->has_generated_stored) return false;
    if (TriggerDesc *triggers = rel->trigdesc)
        for (int i = 0; i < triggers->numtriggers; i++) {
            const Trigger *t = &triggers->triggers[i];
            if ((t->tgtype & TRIGGER_TYPE_UPDATE) && RI_FKey_trigger_type(t->tgfoid) == RI_TRIGGER_NONE) return false;
        }
    return true;
}

int64 integer_value(Datum d, Oid type)
{
    if (type == INT2OID) return DatumGetInt16(d);
    if (type == INT4OID) return DatumGetInt32(d);
    return DatumGetInt64(d);
}

// What new_values made of the row.
enum class NewRow { Changed, Same, LeftToStatement };

// The new tuple of the row in `old`: every column as it is, each count/sum's column plus
// its delta (several definitions may add to one column, in order), and each latest's
// columns its carried row's values if that row is newer than what they hold by then.
// LeftToStatement when a counter is NULL (the UPDATE keeps it NULL; left to it).
NewRow new_values(CounterDef **defs, Accum **items, DirectPlan **plans, int n, TupleTableSlot *old,
                  TupleTableSlot *out)
{
    int natts = old->tts_tupleDescriptor->natts;
    slot_getallattrs(old);
    ExecClearTuple(out);
    memcpy(out->tts_values, old->tts_values, sizeof(Datum) * natts);
    memcpy(out->tts_isnull, old->tts_isnull, sizeof(bool) * natts);
    bool changed = false;
    for (int i = 0; i < n; i++) {
        if (const LatestCarry *carry = defs[i]->carry) {
            if (!carried_beats_stored(carry, *items[i], out->tts_values, out->tts_isnull)) continue;
            for (int v = 0; v < carry->nvalues; v++) {
                out->tts_values[carry->columns[v] - 1] = items[i]->carried[v];
                out->tts_isnull[carry->columns[v] - 1] = items[i]->carried_null[v];
            }
            changed = true;
            continue;
        }
        int a = plans[i]->column - 1;
        if (out->tts_isnull[a]) return NewRow::LeftToStatement;
        int64 v = integer_value(out->tts_values[a], plans[i]->column_type);
        if (pg_add_s64_overflow(v, items[i]->ival, &v))
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("bigint out of range")));
        // The errors are the UPDATE's (t.c + $1::int8, then the assignment to the column's type).
        out->tts_values[a] = integer_datum(v, plans[i]->column_type);
        changed = true;
    }
    ExecStoreVirtualTuple(out);
    return changed ? NewRow::Changed : NewRow::Same;
}

// The new version needs index entries (not a HOT update): as the executor adds them,
// telling each index whether the update changed its columns (a hint for its cleanup).
void insert_index_entries(Relation rel, TupleTableSlot *slot, CounterDef **defs, DirectPlan **plans, int n)
{
    EState *estate = CreateExecutorState();
    RangeTblEntry *rte = makeNode(RangeTblEntry);
    rte->rtekind = RTE_RELATION;
    rte->relid = RelationGetRelid(rel);
    rte->relkind = rel->rd_rel->relkind;
    rte->rellockmode = RowExclusiveLock;
    for (int i = 0; i < n; i++) {
        if (defs[i]->carry)
            for (int v = 0; v < defs[i]->carry->nvalues; v++)
                rte->updatedCols =
                    bms_add_member(rte->updatedCols, defs[i]->carry->columns[v] - FirstLowInvalidHeapAttributeNumber);
        else
            rte->updatedCols = bms_add_member(rte->updatedCols, plans[i]->column - FirstLowInvalidHeapAttributeNumber);
    }
    ExecInitRangeTable(estate, list_make1(rte));
    ResultRelInfo *info = makeNode(ResultRelInfo);
    InitResultRelInfo(info, rel, 1, nullptr, 0);
    ExecOpenIndices(info, false);
    ExecInsertIndexTuples(info, slot, estate, true, false, nullptr, NIL);
    ExecCloseIndices(info);
    FreeExecutorState(estate);
}

}  // namespace

DirectResult write_row_directly(CounterDef **defs, Accum **items, int n, RunAs *as)
{
    if (n < 1 || n > kMostChangesPerRow) return DirectResult::LeftToStatement;
    Relation rel = table_open(defs[0]->target, RowExclusiveLock);
    DirectPlan *plans[kMostChangesPerRow];
    bool usable = plain_target(rel);
    for (int i = 0; usable && i < n; i++) {
        plans[i] = direct_plan(defs[i], rel);
        usable = plans[i]->usable;
    }
    if (!usable) {
        table_close(rel, NoLock);
        return DirectResult::LeftToStatement;
    }
    CheckCmdReplicaIdentity(rel, CMD_UPDATE);
    // As SPI does before each statement: see this transaction's earlier writes.
    CommandCounterIncrement();
    Snapshot snapshot = RegisterSnapshot(GetTransactionSnapshot());
    const DirectPlan *key = plans[0];
    Relation index = index_open(key->index, RowExclusiveLock);
    ScanKeyData scankeys[INDEX_MAX_KEYS];
    for (int i = 0; i < key->nkeys; i++)
        ScanKeyEntryInitialize(&scankeys[i], 0, i + 1, BTEqualStrategyNumber, key->subtype[i], key->collation[i],
                               key->equal[i], items[0]->keys[key->key_of[i]]);
    TupleTableSlot *old = table_slot_create(rel, nullptr);
    IndexScanDesc scan = index_beginscan(rel, index, snapshot, key->nkeys, 0);
    index_rescan(scan, scankeys, key->nkeys, nullptr, 0);
    bool found = index_getnext_slot(scan, ForwardScanDirection, old);
    index_endscan(scan);
    DirectResult result = found ? DirectResult::LeftToStatement : DirectResult::NoRow;
    if (found) {
        // Not following an update made since the snapshot: the statement does that (and
        // re-checks the key, or raises the serialization failure a repeatable-read
        // transaction must get).
        TM_FailureData failure;
        TM_Result locked = table_tuple_lock(rel, &old->tts_tid, snapshot, old, GetCurrentCommandId(false),
                                            LockTupleNoKeyExclusive, LockWaitBlock, 0, &failure);
        TupleTableSlot *row = table_slot_create(rel, nullptr);
        NewRow made = locked == TM_Ok ? new_values(defs, items, plans, n, old, row) : NewRow::LeftToStatement;
        if (made == NewRow::Changed) {
            bool update_indexes = false;
            ItemPointerData tid = old->tts_tid;
            simple_table_tuple_update(rel, &tid, row, snapshot, &update_indexes);
            if (update_indexes && RelationGetForm(rel)->relhasindex) {
                run_as_pin(as);  // index expressions and predicates are the target owner's code
                insert_index_entries(rel, row, defs, plans, n);
            }
        }
        if (made != NewRow::LeftToStatement) result = DirectResult::Written;
        ExecDropSingleTupleTableSlot(row);
    }
    ExecDropSingleTupleTableSlot(old);
    index_close(index, NoLock);
    UnregisterSnapshot(snapshot);
    table_close(rel, NoLock);
    return result;
}

}  // namespace denorm::pg
