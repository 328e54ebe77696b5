// statement_batch.cpp — see statement_batch.hpp. Layer: pg glue. Regime: PostgreSQL
// (C++ objects only behind pointers, created in guarded helpers).
#include "pg/counters/statement_batch.hpp"

extern "C" {
#include "access/xact.h"
#include "executor/executor.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
}

#include <new>

#include "pg/callbacks.hpp"
#include "pg/errors.hpp"

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
    delete batch->order;
    batch->order = nullptr;
}


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
        batch->order = new core::ApplyOrder<Accum>();
    });
    return batch;
}

void free_batch(Batch *batch) { MemoryContextDelete(batch->context); }  // runs delete_containers

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

void on_xact(XactEvent event, void *)
{
    if (transaction_ended(event)) {
        // TopTransactionContext (the batches' parent) is going away with them.
        for (int i = 0; i < frame_capacity; i++) frames[i] = nullptr;
        executor_depth = 0;
    }
}

}  // namespace

void statement_batch_install_hook()
{
    if (hook_installed) return;
    previous_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = denorm_executor_finish;
    add_xact_callback(on_xact);
    hook_installed = true;
}

Batch *statement_batch()
{
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
    entry->typlen = static_cast<int16 *>(MemoryContextAlloc(batch->context, sizeof(int16) * def->nkeys));
    entry->typbyval = static_cast<bool *>(MemoryContextAlloc(batch->context, sizeof(bool) * def->nkeys));
    for (int k = 0; k < def->nkeys; k++) get_typlenbyval(def->key_types[k], &entry->typlen[k], &entry->typbyval[k]);
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

}  // namespace denorm::pg
