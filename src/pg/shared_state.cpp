// shared_state.cpp — see shared_state.hpp. Layer: pg glue. Regime: PostgreSQL.
#include "pg/shared_state.hpp"

#include "pg/callbacks.hpp"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
}

namespace denorm::pg {
namespace {

SharedState *state = nullptr;
bool wake_worker_at_commit = false;
bool wake_launcher_at_commit = false;
bool wake_for_outbox_at_commit = false;
void set_latch_of(int procno)
{
    if (procno >= 0 && procno < static_cast<int>(ProcGlobal->allProcCount))
        SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

DbSlot *my_slot = nullptr;  // this database's, once found

// The current database's slot (kept: a slot changes hands only when its database is dropped).
DbSlot *current_slot()
{
    if (my_slot && my_slot->dbid == MyDatabaseId && my_slot->state != DbState::Free) return my_slot;
    my_slot = nullptr;
    SpinLockAcquire(&state->mutex);
    for (auto &slot : state->slots)
        if (slot.state != DbState::Free && slot.dbid == MyDatabaseId) my_slot = &slot;
    SpinLockRelease(&state->mutex);
    return my_slot;
}

void wake_worker_for_outbox()
{
    if (!state) return;
    DbSlot *slot = current_slot();
    if (!slot || slot->outbox_signalled) return;
    slot->outbox_signalled = true;
    set_latch_of(slot->worker_procno);
}

// Commit callbacks must not fail (an ERROR after the commit record is written becomes a
// PANIC): only SetLatch here.
void on_xact(XactEvent event, void *)
{
    if (event == XACT_EVENT_COMMIT) {
        if (wake_worker_at_commit) wake_worker(MyDatabaseId);
        else if (wake_for_outbox_at_commit) wake_worker_for_outbox();
        if (wake_launcher_at_commit) wake_launcher();
    }
    if (transaction_ended(event)) {
        wake_worker_at_commit = false;
        wake_launcher_at_commit = false;
        wake_for_outbox_at_commit = false;
    }
}

}  // namespace

SharedState *shared_state() { return state; }

void shared_state_request() { RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState))); }

void shared_state_startup()
{
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    state = static_cast<SharedState *>(ShmemInitStruct("denorm", sizeof(SharedState), &found));
    if (!found) {
        memset(state, 0, sizeof(SharedState));
        SpinLockInit(&state->mutex);
        state->launcher_procno = -1;
        for (auto &slot : state->slots) slot.worker_procno = -1;
        for (auto &request : state->requests) SpinLockInit(&request.mutex);
        state->created_at = GetCurrentTimestamp();
    }
    LWLockRelease(AddinShmemInitLock);
}

void wake_worker(Oid dbid)
{
    if (!state) return;
    int procno = -1;
    SpinLockAcquire(&state->mutex);
    for (auto &slot : state->slots)
        if (slot.state != DbState::Free && slot.dbid == dbid && !slot.worker_busy) procno = slot.worker_procno;
    SpinLockRelease(&state->mutex);
    set_latch_of(procno);
}

void set_worker_busy(Oid dbid, bool busy)
{
    if (!state) return;
    SpinLockAcquire(&state->mutex);
    for (auto &slot : state->slots)
        if (slot.state != DbState::Free && slot.dbid == dbid) slot.worker_busy = busy;
    SpinLockRelease(&state->mutex);
}

void wake_launcher()
{
    if (!state) return;
    SpinLockAcquire(&state->mutex);
    int procno = state->launcher_procno;
    SpinLockRelease(&state->mutex);
    set_latch_of(procno);
}

void wake_at_commit(bool launcher)
{
    add_xact_callback(on_xact);
    wake_worker_at_commit = true;
    wake_launcher_at_commit = wake_launcher_at_commit || launcher;
}

void wake_at_commit_for_outbox()
{
    add_xact_callback(on_xact);
    wake_for_outbox_at_commit = true;
}

void clear_outbox_signal(Oid dbid)
{
    if (!state) return;
    SpinLockAcquire(&state->mutex);
    for (auto &slot : state->slots)
        if (slot.state != DbState::Free && slot.dbid == dbid) slot.outbox_signalled = false;
    SpinLockRelease(&state->mutex);
}

}  // namespace denorm::pg
