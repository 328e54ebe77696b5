// statement_batch.cpp — see statement_batch.hpp. Layer: pg glue. Regime: PostgreSQL
// (C++ objects only behind pointers, created in guarded helpers).
#include "pg/counters/statement_batch.hpp"

extern "C" {
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
}

#include <new>

#include "pg/callbacks.hpp"
#include "pg/errors.hpp"
#include "pg/gucs.hpp"
#include "pg/counters/key_encoding.hpp"

namespace denorm::pg {
namespace {

// One pending batch per ExecutorFinish nesting level (index = depth).
Batch **frames = nullptr;
int frame_capacity = 0;
int executor_depth = 0;  // ExecutorFinish calls in progress that this library saw start
ExecutorFinish_hook_type previous_finish = nullptr;
bool hook_installed = false;

void delete_containers(void *arg)
{
    auto *batch = static_cast<Batch *>(arg);
    for (int i = 0; i < batch->ndefs; i++) {
        delete batch->defs[i].deltas;
        batch->defs[i].deltas = nullptr;
    }
    delete batch->encoder;
    batch->encoder = nullptr;
}


void ensure_frames(int depth)
{
    if (depth < frame_capacity) return;
    int capacity = Max(16, depth * 2);
    frames = static_cast<Batch **>(frames ? repalloc(frames, sizeof(Batch *) * capacity)
                                          : MemoryContextAlloc(TopMemoryContext, sizeof(Batch *) * capacity));
    for (int i = frame_capacity; i < capacity; i++) frames[i] = nullptr;
    frame_capacity = capacity;
}

void discard_frame(int depth)
{
    if (depth < frame_capacity && frames[depth]) {
        Batch *batch = frames[depth];
        frames[depth] = nullptr;
        free_batch(batch);
    }
}

// Applies what the statement at `depth` collected. A trigger that fires while the
// batch is applied (none should at this depth) starts a new one, applied next.
void apply_frame(int depth)
{
    while (depth < frame_capacity && frames[depth]) {
        Batch *batch = frames[depth];
        frames[depth] = nullptr;
        apply_batch(batch);
        free_batch(batch);
    }
}

void denorm_executor_finish(QueryDesc *query_desc)
{
    int depth = ++executor_depth;
    PG_TRY();
    {
        if (previous_finish)
            previous_finish(query_desc);
        else
            standard_ExecutorFinish(query_desc);
        apply_frame(depth);
    }
    PG_CATCH();
    {
        discard_frame(depth);
        executor_depth = depth - 1;
        PG_RE_THROW();
    }
    PG_END_TRY();
    executor_depth = depth - 1;
}

// denorm.apply = commit: the transaction's batches, oldest first, each tagged with the
// subtransaction that wrote it (TopTransactionContext).
Batch **transaction_batches = nullptr;
int ntransaction = 0;
int transaction_capacity = 0;
// Whether a denorm_counter_commit event is queued, and by which subtransaction (its
// event is discarded if that subtransaction rolls back).
bool commit_queued = false;
SubTransactionId queued_by = InvalidSubTransactionId;

// Where the event's row is, kept for the backend: found by name and a scan once, then
// fetched by its TID (a relcache invalidation of the table, e.g. its re-creation by
// ALTER EXTENSION, forgets both).
Oid commit_event_relid = InvalidOid;
ItemPointerData commit_event_tid;

void forget_commit_event(Datum, Oid relid)
{
    if (relid == InvalidOid || relid == commit_event_relid) commit_event_relid = InvalidOid;
}

// The event row into `slot`: by its kept TID, else by a scan (keeping its TID).
bool fetch_commit_event_row(Relation rel, TupleTableSlot *slot)
{
    Snapshot snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
    if (ItemPointerIsValid(&commit_event_tid) &&
        table_tuple_fetch_row_version(rel, &commit_event_tid, snapshot, slot))
        return true;
    TableScanDesc scan = table_beginscan(rel, snapshot, 0, nullptr);
    bool found = table_scan_getnextslot(scan, ForwardScanDirection, slot);
    table_endscan(scan);
    if (found) commit_event_tid = slot->tts_tid;
    return found;
}

// Queues the transaction's denorm_counter_commit event: an AFTER INSERT event of the
// trigger on denorm._commit_event, naming that table's one row, which no statement
// writes — queueing costs no write, no WAL and no lock on a user's table (a deferred
// event pending on a source would keep TRUNCATE and ALTER TABLE from it until commit).
// Called from a counter trigger, inside the statement's trigger processing, where
// PostgreSQL accepts new events. Returns false when there is no such table or row (the
// extension's SQL is older than this library until ALTER EXTENSION denorm UPDATE).
bool queue_commit_event()
{
    if (!OidIsValid(commit_event_relid)) {
        add_relcache_callback(forget_commit_event);
        Oid schema = get_namespace_oid("denorm", true);
        commit_event_relid = OidIsValid(schema) ? get_relname_relid("_commit_event", schema) : InvalidOid;
        ItemPointerSetInvalid(&commit_event_tid);
        if (!OidIsValid(commit_event_relid)) return false;
    }
    Relation rel = table_open(commit_event_relid, AccessShareLock);
    TupleTableSlot *slot = table_slot_create(rel, nullptr);
    if (fetch_commit_event_row(rel, slot) && rel->trigdesc && rel->trigdesc->trig_insert_after_row) {
        EState *estate = CreateExecutorState();
        ResultRelInfo *info = makeNode(ResultRelInfo);
        InitResultRelInfo(info, rel, 1, nullptr, 0);
        ExecARInsertTriggers(estate, info, slot, NIL, nullptr);
        FreeExecutorState(estate);
        commit_queued = true;
        queued_by = GetCurrentSubTransactionId();
    }
    ExecDropSingleTupleTableSlot(slot);
    table_close(rel, NoLock);
    return commit_queued;
}

// The transaction's batch, or nullptr when no commit event can be queued (then the
// statement's changes are written when it ends, as with denorm.apply = statement).
Batch *transaction_batch()
{
    if (!commit_queued && !queue_commit_event()) return nullptr;
    SubTransactionId subid = GetCurrentSubTransactionId();
    if (ntransaction > 0 && transaction_batches[ntransaction - 1]->subid == subid &&
        transaction_batches[ntransaction - 1]->applied_in == InvalidSubTransactionId)
        return transaction_batches[ntransaction - 1];
    if (ntransaction == transaction_capacity) {
        int capacity = Max(8, transaction_capacity * 2);
        auto **grown = static_cast<Batch **>(MemoryContextAllocZero(TopTransactionContext, sizeof(Batch *) * capacity));
        if (ntransaction) memcpy(grown, transaction_batches, sizeof(Batch *) * ntransaction);
        transaction_batches = grown;
        transaction_capacity = capacity;
    }
    Batch *batch = new_batch(false);
    batch->subid = subid;
    batch->applied_in = InvalidSubTransactionId;
    transaction_batches[ntransaction++] = batch;
    return batch;
}

bool has_changes(const Batch *batch)
{
    if (batch->applied_in != InvalidSubTransactionId) return false;
    for (int i = 0; i < batch->ndefs; i++)
        if (!batch->defs[i].deltas->empty()) return true;
    return false;
}

void on_xact(XactEvent event, void *)
{
    if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE) {
        // Changes no denorm_counter_commit event applied: a statement that ran after the
        // last event fired (SET CONSTRAINTS ALL IMMEDIATE fires it at the end of each
        // statement, before that statement's own changes are collected), or a source
        // whose trigger is missing. They are written here rather than lost; with
        // constraints immediate, what this fires is checked at once.
        bool pending = false;
        for (int i = 0; i < ntransaction; i++) pending = pending || has_changes(transaction_batches[i]);
        if (pending) {
            PushActiveSnapshot(GetTransactionSnapshot());  // no portal holds one here
            apply_transaction_changes();
            PopActiveSnapshot();
        }
        return;
    }
    if (transaction_ended(event)) {
        // TopTransactionContext (the batches' parent) is going away with them.
        for (int i = 0; i < frame_capacity; i++) frames[i] = nullptr;
        executor_depth = 0;
        transaction_batches = nullptr;
        ntransaction = transaction_capacity = 0;
        commit_queued = false;
    }
}

// A rolled-back subtransaction takes its changes (and those of its children, which
// have later ids) with it, and its queued commit event. Changes of an enclosing
// (sub)transaction that it wrote (a reconcile or TRUNCATE inside a savepoint writes the
// transaction's changes first) are unwritten with it: they are pending again.
void on_subxact(SubXactEvent event, SubTransactionId subid, SubTransactionId, void *)
{
    if (event != SUBXACT_EVENT_ABORT_SUB) return;
    int kept = 0;
    for (int i = 0; i < ntransaction; i++) {
        Batch *batch = transaction_batches[i];
        if (batch->subid >= subid) {
            free_batch(batch);
            continue;
        }
        if (batch->applied_in != InvalidSubTransactionId && batch->applied_in >= subid)
            batch->applied_in = InvalidSubTransactionId;
        transaction_batches[kept++] = batch;
    }
    ntransaction = kept;
    if (commit_queued && queued_by >= subid) commit_queued = false;
}

}  // namespace

Batch *new_batch(bool immediate)
{
    MemoryContext context = AllocSetContextCreate(TopTransactionContext, "denorm statement batch", ALLOCSET_DEFAULT_SIZES);
    auto *batch = static_cast<Batch *>(MemoryContextAllocZero(context, sizeof(Batch)));
    batch->context = context;
    batch->immediate = immediate;
    auto *callback = static_cast<MemoryContextCallback *>(MemoryContextAllocZero(context, sizeof(MemoryContextCallback)));
    callback->func = delete_containers;
    callback->arg = batch;
    MemoryContextRegisterResetCallback(context, callback);
    guarded([batch] {
        batch->encoder = new core::KeyEncoder();
    });
    return batch;
}

void free_batch(Batch *batch) { MemoryContextDelete(batch->context); }  // runs delete_containers


void statement_batch_install_hook()
{
    if (hook_installed) return;
    previous_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = denorm_executor_finish;
    add_xact_callback(on_xact);
    add_subxact_callback(on_subxact);
    hook_installed = true;
}

Batch *statement_batch()
{
    if (static_cast<ApplyMode>(guc_apply) == ApplyMode::Commit)
        if (Batch *batch = transaction_batch()) return batch;
    // Without an enclosing ExecutorFinish we know of (COPY, or the library was
    // loaded by this very statement), the trigger call applies its own changes.
    if (executor_depth == 0) return new_batch(true);
    ensure_frames(executor_depth);
    if (!frames[executor_depth]) frames[executor_depth] = new_batch(false);
    return frames[executor_depth];
}

DefBatch *batch_definition(Batch *batch, CounterDef *def)
{
    for (int i = 0; i < batch->ndefs; i++)
        if (batch->defs[i].def == def) return &batch->defs[i];
    if (batch->ndefs == batch->capacity) {
        int capacity = Max(4, batch->capacity * 2);
        DefBatch *defs = static_cast<DefBatch *>(MemoryContextAllocZero(batch->context, sizeof(DefBatch) * capacity));
        if (batch->ndefs) memcpy(defs, batch->defs, sizeof(DefBatch) * batch->ndefs);
        batch->defs = defs;
        batch->capacity = capacity;
    }
    DefBatch *entry = &batch->defs[batch->ndefs];
    entry->def = def;
    entry->typlen = def->key_typlen;
    entry->typbyval = def->key_byval;
    guarded([entry] { entry->deltas = new Deltas(); });
    batch->ndefs++;
    return entry;
}

void statement_batch_end_of_trigger(Batch *batch)
{
    if (!batch->immediate) return;
    apply_batch(batch);
    free_batch(batch);
}

void apply_transaction_changes()
{
    // Applying may cause more changes (a target that is itself a source): they go into
    // new batches, written by the next round.
    for (;;) {
        auto **pending = static_cast<Batch **>(palloc(sizeof(Batch *) * (ntransaction + 1)));
        int n = 0;
        for (int i = 0; i < ntransaction; i++)
            if (transaction_batches[i]->applied_in == InvalidSubTransactionId) pending[n++] = transaction_batches[i];
        if (n == 0) {
            pfree(pending);
            return;
        }
        // Marked first: a batch a cascade opens now is a new one.
        SubTransactionId now = GetCurrentSubTransactionId();
        for (int i = 0; i < n; i++) pending[i]->applied_in = now;
        apply_batches(pending, n);
        // Written by the top-level transaction: nothing can unwrite them but its abort.
        if (GetCurrentTransactionNestLevel() == 1) {
            int kept = 0;
            for (int i = 0; i < ntransaction; i++) {
                Batch *batch = transaction_batches[i];
                if (batch->applied_in == now)
                    free_batch(batch);
                else
                    transaction_batches[kept++] = batch;
            }
            ntransaction = kept;
        }
        pfree(pending);
    }
}

Datum unapplied_change(Oid target, const char *column, int nkeys, char **key_columns, char **key_values)
{
    Datum total = DirectFunctionCall1(int8_numeric, Int64GetDatum(0));
    for (int b = 0; b < ntransaction; b++) {
        Batch *batch = transaction_batches[b];
        if (batch->applied_in != InvalidSubTransactionId) continue;  // in the target already
        for (int i = 0; i < batch->ndefs; i++) {
            DefBatch *db = &batch->defs[i];
            CounterDef *def = db->def;
            if (def->target != target || is_extremum(def) || strcmp(def->target_column, column) != 0) continue;
            // The key as this definition's source key datums, encoded as its batch keys them.
            batch->encoder->clear();
            for (int k = 0; k < def->nkeys; k++) {
                int at = -1;
                for (int c = 0; c < nkeys && at < 0; c++)
                    if (strcmp(key_columns[c], def->target_key[k]) == 0) at = c;
                if (at < 0) elog(ERROR, "denorm: key column \"%s\" of counter \"%s\" not given", def->target_key[k], def->name);
                Oid input;
                Oid param;
                getTypeInputInfo(def->key_types[k], &input, &param);
                Datum d = OidInputFunctionCall(input, key_values[at], param, -1);
                encode_key_datum(batch->encoder, d, db->typlen[k], db->typbyval[k]);
            }
            Accum *acc = guarded([db, batch] { return db->deltas->find(batch->encoder->view()); });
            if (!acc) continue;
            Datum change;
            if (!def->is_count && def->delta_kind == DeltaKind::Numeric)
                change = acc->nval ? acc->nval : DirectFunctionCall1(int8_numeric, Int64GetDatum(0));
            else if (!def->is_count && def->delta_kind == DeltaKind::Float)
                change = DirectFunctionCall1(float8_numeric, Float8GetDatum(acc->fval));
            else
                change = DirectFunctionCall1(int8_numeric, Int64GetDatum(acc->ival));
            total = DirectFunctionCall2(numeric_add, total, change);
        }
    }
    return total;
}

}  // namespace denorm::pg

// The denorm_counter_commit constraint trigger on denorm._commit_event (DEFERRABLE
// INITIALLY DEFERRED): fires with the other deferred triggers, before the transaction
// commits, and writes the transaction's counter changes in one global order. What it writes may queue more
// deferred events (foreign-key checks on the targets, a cascade's own commit event):
// PostgreSQL fires those too before committing.
DENORM_FUNCTION(denorm_counter_commit_trigger)
{
    using namespace denorm::pg;
    if (!CALLED_AS_TRIGGER(fcinfo)) elog(ERROR, "denorm: _counter_commit_trigger() must be called as a trigger");
    commit_queued = false;
    apply_transaction_changes();
    return PointerGetDatum(nullptr);
}
