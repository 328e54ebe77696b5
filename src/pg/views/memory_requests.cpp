// memory_requests.cpp — see memory_requests.hpp. Layer: pg glue. Regime: PostgreSQL.
// The commit callback only takes spinlocks: it must not fail (an ERROR after the commit
// record is written becomes a PANIC).
#include "pg/views/memory_requests.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/namespace.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "pg/callbacks.hpp"
#include "pg/counters/catalog.hpp"
#include "pg/privileges.hpp"
#include "pg/shared_state.hpp"
#include "pg/errors.hpp"

namespace denorm::pg {
namespace {

// This backend's slot of each view (slots are never given back, so a cached index
// stays right; it is checked anyway).
struct SlotOfView {
    Oid mv;
    int slot;
};
HTAB *slot_cache = nullptr;

// What this transaction does to the slots when it commits: a flush marks the requests
// it moved (up to `total`, the last of them at last_at).
struct Subtraction {
    int slot;
    int64 total;
    TimestampTz last_at;
};
int *to_bump = nullptr;  // slots of the views this transaction requested
int nbump = 0;
Subtraction *to_subtract = nullptr;  // what a flush moved to the table
int nsubtract = 0;
bool rerequested_at_commit = false;

// Both lists hold at most one entry per slot.
void ensure_lists()
{
    if (!to_bump) to_bump = static_cast<int *>(MemoryContextAlloc(TopMemoryContext, sizeof(int) * kMaxRequestSlots));
    if (!to_subtract)
        to_subtract = static_cast<Subtraction *>(MemoryContextAlloc(TopMemoryContext, sizeof(Subtraction) * kMaxRequestSlots));
}

void bump(SharedState *st, TimestampTz now)
{
    for (int i = 0; i < nbump; i++) {
        RequestSlot &r = st->requests[to_bump[i]];
        SpinLockAcquire(&r.mutex);
        if (r.total == r.moved) r.first_at = now;
        r.last_at = now;
        r.total++;
        SpinLockRelease(&r.mutex);
    }
}

void subtract(SharedState *st)
{
    for (int i = 0; i < nsubtract; i++) {
        RequestSlot &r = st->requests[to_subtract[i].slot];
        SpinLockAcquire(&r.mutex);
        if (r.moved < to_subtract[i].total) {
            r.moved = to_subtract[i].total;
            // What is left came after the moved ones (at or after their last).
            if (r.total > r.moved) r.first_at = to_subtract[i].last_at;
        }
        SpinLockRelease(&r.mutex);
    }
    if (rerequested_at_commit) {
        SpinLockAcquire(&st->mutex);
        bool present = false;
        for (Oid db : st->rerequested) present = present || db == MyDatabaseId;
        for (Oid &db : st->rerequested)
            if (!present && db == InvalidOid) {
                db = MyDatabaseId;
                present = true;
            }
        SpinLockRelease(&st->mutex);
    }
}

// A prepared transaction commits later, maybe in another session: its requests go
// into the table now, as part of it.
void insert_durable_rows()
{
    SharedState *st = shared_state();
    Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (nbump + 1)));
    for (int i = 0; i < nbump; i++) elems[i] = ObjectIdGetDatum(st->requests[to_bump[i]].mv);
    Oid types[1] = {OIDARRAYOID};
    Datum values[1] = {PointerGetDatum(construct_array(elems, nbump, OIDOID, sizeof(Oid), true, TYPALIGN_INT))};
    PushActiveSnapshot(GetTransactionSnapshot());  // the statement that ran PREPARE has none left
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    execute_as(extension_owner(), "INSERT INTO denorm._mv_requests (mv) SELECT pg_catalog.unnest($1)::pg_catalog.regclass",
               1, types, values, nullptr);
    SPI_finish();
    PopActiveSnapshot();
}

void on_xact(XactEvent event, void *)
{
    SharedState *st = shared_state();
    if (event == XACT_EVENT_PRE_PREPARE && nbump > 0) {
        insert_durable_rows();
        nbump = 0;
    }
    if (event == XACT_EVENT_COMMIT && st) {
        bump(st, GetCurrentTransactionStopTimestamp());
        subtract(st);
    }
    if (transaction_ended(event)) {
        nbump = 0;
        nsubtract = 0;
        rerequested_at_commit = false;
    }
}

void register_callback() { add_xact_callback(on_xact); }

// The slot of (this database, mv), taken on first use; -1 when all are taken.
int slot_of(SharedState *st, Oid mv)
{
    if (!slot_cache) {
        HASHCTL ctl;
        memset(&ctl, 0, sizeof ctl);
        ctl.keysize = sizeof(Oid);
        ctl.entrysize = sizeof(SlotOfView);
        ctl.hcxt = TopMemoryContext;
        slot_cache = hash_create("denorm request slots", 32, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    }
    bool found;
    auto *entry = static_cast<SlotOfView *>(hash_search(slot_cache, &mv, HASH_ENTER, &found));
    if (found && entry->slot >= 0 && st->requests[entry->slot].dbid == MyDatabaseId && st->requests[entry->slot].mv == mv)
        return entry->slot;
    int slot = -1;
    SpinLockAcquire(&st->mutex);
    for (int i = 0; i < kMaxRequestSlots && slot < 0; i++)
        if (st->requests[i].dbid == MyDatabaseId && st->requests[i].mv == mv) slot = i;
    for (int i = 0; i < kMaxRequestSlots && slot < 0; i++)
        if (st->requests[i].dbid == InvalidOid) {
            st->requests[i].mv = mv;
            st->requests[i].dbid = MyDatabaseId;
            slot = i;
        }
    SpinLockRelease(&st->mutex);
    entry->slot = slot;
    return slot;
}

// What one slot of this database holds, read under its spinlock; false for another
// database's slot or one with nothing waiting.
struct SlotContents {
    Oid mv;
    int64 total;
    int64 waiting;  // not moved yet
    TimestampTz first_at;
    TimestampTz last_at;
};
bool read_slot(RequestSlot &r, SlotContents *out)
{
    if (r.dbid != MyDatabaseId) return false;
    SpinLockAcquire(&r.mutex);
    *out = {r.mv, r.total, r.total - r.moved, r.first_at, r.last_at};
    SpinLockRelease(&r.mutex);
    return out->waiting > 0;
}

}  // namespace

bool request_in_memory_at_commit(const Oid *views, int n)
{
    SharedState *st = shared_state();
    if (!st) return false;
    int *slots = static_cast<int *>(palloc(sizeof(int) * (n + 1)));
    for (int i = 0; i < n; i++) {
        slots[i] = slot_of(st, views[i]);
        if (slots[i] < 0) return false;
    }
    register_callback();
    ensure_lists();
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < nbump; j++) seen = seen || to_bump[j] == slots[i];
        if (!seen && nbump < kMaxRequestSlots) to_bump[nbump++] = slots[i];
    }
    return true;
}

void flush_memory_requests(bool wait)
{
    SharedState *st = shared_state();
    if (!st) return;
    register_callback();
    // One flusher at a time (the worker, run_pending, refresh_now): two at once would
    // move the same waiting requests twice. The lock conflicts with itself only, not
    // with writers or readers of _mv_requests.
    Oid requests = RangeVarGetRelid(makeRangeVar(pstrdup("denorm"), pstrdup("_mv_requests"), -1), NoLock, false);
    if (wait)
        LockRelationOid(requests, ShareUpdateExclusiveLock);
    else if (!ConditionalLockRelationOid(requests, ShareUpdateExclusiveLock))
        return;
    bool rerequested = false;
    SpinLockAcquire(&st->mutex);
    for (Oid db : st->rerequested) rerequested = rerequested || db == MyDatabaseId;
    SpinLockRelease(&st->mutex);
    if (!rerequested && !rerequested_at_commit) {
        // Once per database and shared memory: unless this database already did it (or
        // its extension was created) since the shared memory was created, requests may
        // have been lost with the previous one.
        Oid types[1] = {TIMESTAMPTZOID};
        Datum values[1] = {TimestampTzGetDatum(st->created_at)};
        if (SPI_execute_with_args("WITH s AS (UPDATE denorm._requests_state SET memory_created_at = $1 "
                                  "           WHERE memory_created_at IS DISTINCT FROM $1 RETURNING 1) "
                                  "INSERT INTO denorm._mv_requests (mv) SELECT r.mv FROM denorm._mv_registry r "
                                  "WHERE EXISTS (SELECT FROM s)",
                                  1, types, values, nullptr, false, 0) != SPI_OK_INSERT)
            elog(ERROR, "denorm: could not request the registered views");
        rerequested_at_commit = true;
    }

    // Two rows per view keep what the debounce rule reads: the first and the last
    // request, and the count of the rest.
    Datum *mvs = static_cast<Datum *>(palloc(sizeof(Datum) * 2 * kMaxRequestSlots));
    Datum *times = static_cast<Datum *>(palloc(sizeof(Datum) * 2 * kMaxRequestSlots));
    Datum *counts = static_cast<Datum *>(palloc(sizeof(Datum) * 2 * kMaxRequestSlots));
    int nrows = 0;
    ensure_lists();
    nsubtract = 0;
    for (int i = 0; i < kMaxRequestSlots; i++) {
        SlotContents c;
        if (!read_slot(st->requests[i], &c)) continue;
        to_subtract[nsubtract++] = {i, c.total, c.last_at};
        mvs[nrows] = ObjectIdGetDatum(c.mv);
        times[nrows] = TimestampTzGetDatum(c.first_at);
        counts[nrows++] = Int64GetDatum(1);
        if (c.waiting > 1) {
            mvs[nrows] = ObjectIdGetDatum(c.mv);
            times[nrows] = TimestampTzGetDatum(c.last_at);
            counts[nrows++] = Int64GetDatum(c.waiting - 1);
        }
    }
    if (nrows == 0) return;
    Oid types[3] = {OIDARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID};
    Datum values[3] = {
        PointerGetDatum(construct_array(mvs, nrows, OIDOID, sizeof(Oid), true, TYPALIGN_INT)),
        PointerGetDatum(construct_array(times, nrows, TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
        PointerGetDatum(construct_array(counts, nrows, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))};
    // Views unregistered meanwhile are skipped (their slot is emptied all the same).
    if (SPI_execute_with_args("INSERT INTO denorm._mv_requests (mv, requested_at, n) "
                              "SELECT u.mv::pg_catalog.regclass, u.at, u.n "
                              "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) u(mv, at, n) "
                              "WHERE u.mv::pg_catalog.regclass IN (SELECT r.mv FROM denorm._mv_registry r)",
                              3, types, values, nullptr, false, 0) != SPI_OK_INSERT)
        elog(ERROR, "denorm: could not move refresh requests to denorm._mv_requests");
}

}  // namespace denorm::pg

using namespace denorm::pg;

// _memory_requests() -> (mv regclass, first_request_at timestamptz, requests bigint):
// this database's requests not yet moved to the table (for mv_status), for the views
// the caller may see.
DENORM_FUNCTION(denorm_memory_requests)
{
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    SharedState *st = shared_state();
    if (!st) return (Datum) 0;
    for (int i = 0; i < kMaxRequestSlots; i++) {
        SlotContents c;
        if (!read_slot(st->requests[i], &c) || !may_see(c.mv)) continue;
        Datum values[3] = {ObjectIdGetDatum(c.mv), TimestampTzGetDatum(c.first_at), Int64GetDatum(c.waiting)};
        bool nulls[3] = {false, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum) 0;
}

// _memory_created_at(): when the shared memory was created (NULL without it); the
// install script records it, so a new database has nothing to re-request.
DENORM_FUNCTION(denorm_memory_created_at)
{
    SharedState *st = shared_state();
    if (!st) PG_RETURN_NULL();
    PG_RETURN_TIMESTAMPTZ(st->created_at);
}
