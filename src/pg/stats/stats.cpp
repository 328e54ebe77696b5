// stats.cpp — see stats.hpp; also denorm._stats() and denorm.stats_reset().
// Layer: pg glue. Regime: PostgreSQL (no C++ objects; the transaction callback only
// copies numbers under a spinlock, so it cannot fail).
#include "pg/stats/stats.hpp"

extern "C" {
#include "access/xact.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

#include "pg/callbacks.hpp"
#include "pg/errors.hpp"

namespace denorm::pg {
namespace {

constexpr int kSlots = 4096;
constexpr int kNameBytes = 2 * NAMEDATALEN;  // "schema.view"

struct Numbers {
    int64 calls;
    int64 rows_seen;
    int64 written;
    int64 refreshes;
    int64 failures;
    double refresh_ms_total;
    double refresh_ms_max;
};

struct Slot {
    Oid dbid;  // InvalidOid: free
    char kind;
    char name[kNameBytes];
    Numbers n;
    TimestampTz reset_at;
};

struct Shared {
    slock_t mutex;  // every slot: taken once per transaction end that counted something
    int used;
    int full;       // names that found no free slot
    TimestampTz created_at;
    Slot slots[kSlots];
};

Shared *shared = nullptr;

// This process's counts since its last flush, by (kind, name).
struct PendingKey {
    char kind;
    char name[kNameBytes];
};
struct Pending {
    PendingKey key;
    Numbers n;
};
HTAB *pending = nullptr;
bool have_pending = false;

uint32 slot_hash(Oid dbid, char kind, const char *name)
{
    uint32 h = hash_bytes(reinterpret_cast<const unsigned char *>(name), static_cast<int>(strlen(name)));
    return hash_combine(hash_combine(h, dbid), static_cast<uint32>(kind));
}

// The slot of (dbid, kind, name), taken if `create` and free; NULL if none. Caller holds mutex.
Slot *find_slot(Oid dbid, char kind, const char *name, bool create)
{
    uint32 start = slot_hash(dbid, kind, name) % kSlots;
    for (int i = 0; i < kSlots; i++) {
        Slot *s = &shared->slots[(start + i) % kSlots];
        if (s->dbid == InvalidOid) {
            if (!create || shared->used >= kSlots * 3 / 4) {
                if (create) shared->full++;
                return nullptr;
            }
            s->dbid = dbid;
            s->kind = kind;
            strlcpy(s->name, name, kNameBytes);
            memset(&s->n, 0, sizeof s->n);
            s->reset_at = GetCurrentTimestamp();
            shared->used++;
            return s;
        }
        if (s->dbid == dbid && s->kind == kind && strcmp(s->name, name) == 0) return s;
    }
    return nullptr;
}

void add(Numbers *into, const Numbers &from)
{
    into->calls += from.calls;
    into->rows_seen += from.rows_seen;
    into->written += from.written;
    into->refreshes += from.refreshes;
    into->failures += from.failures;
    into->refresh_ms_total += from.refresh_ms_total;
    into->refresh_ms_max = Max(into->refresh_ms_max, from.refresh_ms_max);
}

void flush()
{
    if (!have_pending) return;
    have_pending = false;
    HASH_SEQ_STATUS seq;
    hash_seq_init(&seq, pending);
    SpinLockAcquire(&shared->mutex);
    while (auto *p = static_cast<Pending *>(hash_seq_search(&seq))) {
        if (Slot *s = find_slot(MyDatabaseId, p->key.kind, p->key.name, true)) add(&s->n, p->n);
        memset(&p->n, 0, sizeof p->n);
    }
    SpinLockRelease(&shared->mutex);
}

void on_xact(XactEvent event, void *)
{
    if (transaction_ended(event)) flush();
}

// This process's pending counts of (kind, name), or NULL when nothing is counted.
Numbers *counts(StatKind kind, const char *name)
{
    if (!shared || !OidIsValid(MyDatabaseId)) return nullptr;
    if (!pending) {
        HASHCTL ctl;
        memset(&ctl, 0, sizeof ctl);
        ctl.keysize = sizeof(PendingKey);
        ctl.entrysize = sizeof(Pending);
        ctl.hcxt = TopMemoryContext;
        pending = hash_create("denorm stats", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
        add_xact_callback(on_xact);
    }
    PendingKey key;
    memset(&key, 0, sizeof key);
    key.kind = static_cast<char>(kind);
    strlcpy(key.name, name, kNameBytes);
    bool found;
    auto *p = static_cast<Pending *>(hash_search(pending, &key, HASH_ENTER, &found));
    if (!found) memset(&p->n, 0, sizeof p->n);
    have_pending = true;
    return &p->n;
}

const char *kind_name(char kind)
{
    switch (static_cast<StatKind>(kind)) {
    case StatKind::Counter: return "counter";
    case StatKind::Latest: return "latest";
    case StatKind::View: return "view";
    case StatKind::Publication: return "publication";
    case StatKind::Search: return "search";
    }
    return "?";
}

}  // namespace

void stat_call(StatKind kind, const char *name, int64 rows)
{
    if (Numbers *n = counts(kind, name)) {
        n->calls++;
        n->rows_seen += rows;
    }
}

void stat_written(StatKind kind, const char *name, int64 rows)
{
    if (Numbers *n = counts(kind, name)) n->written += rows;
}

void stat_refresh(const char *view, bool ok, double ms)
{
    if (Numbers *n = counts(StatKind::View, view)) {
        (ok ? n->refreshes : n->failures)++;
        if (ok) {
            n->refresh_ms_total += ms;
            n->refresh_ms_max = Max(n->refresh_ms_max, ms);
        }
    }
}

void stat_failure(StatKind kind, const char *name)
{
    if (Numbers *n = counts(kind, name)) n->failures++;
}

void stats_request() { RequestAddinShmemSpace(MAXALIGN(sizeof(Shared))); }

void stats_startup()
{
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found;
    shared = static_cast<Shared *>(ShmemInitStruct("denorm stats", sizeof(Shared), &found));
    if (!found) {
        memset(shared, 0, sizeof(Shared));
        SpinLockInit(&shared->mutex);
        shared->created_at = GetCurrentTimestamp();
    }
    LWLockRelease(AddinShmemInitLock);
}

}  // namespace denorm::pg

using namespace denorm::pg;

// _stats() -> (kind, name, calls, rows_seen, target_rows_written, refreshes, failures,
// refresh_ms_total, refresh_ms_max, stats_reset): the current database's slots, this
// process's own counts included. Nothing without shared memory.
DENORM_FUNCTION(denorm_stats)
{
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    InitMaterializedSRF(fcinfo, 0);
    if (!shared) return (Datum) 0;
    flush();
    int capacity = 64, n = 0;
    auto *copies = static_cast<Slot *>(palloc(sizeof(Slot) * capacity));
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < kSlots; i++) {
        if (shared->slots[i].dbid != MyDatabaseId) continue;
        if (n == capacity) break;  // (re-read below with room for all: no palloc under a spinlock)
        copies[n++] = shared->slots[i];
    }
    int used = shared->used;
    SpinLockRelease(&shared->mutex);
    if (n == capacity && used > capacity) {
        capacity = used;
        copies = static_cast<Slot *>(repalloc(copies, sizeof(Slot) * capacity));
        n = 0;
        SpinLockAcquire(&shared->mutex);
        for (int i = 0; i < kSlots && n < capacity; i++)
            if (shared->slots[i].dbid == MyDatabaseId) copies[n++] = shared->slots[i];
        SpinLockRelease(&shared->mutex);
    }
    for (int i = 0; i < n; i++) {
        const Slot &s = copies[i];
        Datum values[10];
        bool nulls[10] = {};
        values[0] = CStringGetTextDatum(kind_name(s.kind));
        values[1] = CStringGetTextDatum(s.name);
        values[2] = Int64GetDatum(s.n.calls);
        values[3] = Int64GetDatum(s.n.rows_seen);
        values[4] = Int64GetDatum(s.n.written);
        values[5] = Int64GetDatum(s.n.refreshes);
        values[6] = Int64GetDatum(s.n.failures);
        values[7] = Float8GetDatum(s.n.refresh_ms_total);
        values[8] = Float8GetDatum(s.n.refresh_ms_max);
        values[9] = TimestampTzGetDatum(s.reset_at);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum) 0;
}

// _stats_state() -> (preloaded, slots_used, names_not_counted, since): for health().
DENORM_FUNCTION(denorm_stats_state)
{
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) elog(ERROR, "return type must be a row type");
    desc = BlessTupleDesc(desc);
    Datum values[4] = {BoolGetDatum(shared != nullptr), 0, 0, 0};
    bool nulls[4] = {false, true, true, true};
    if (shared) {
        SpinLockAcquire(&shared->mutex);
        values[1] = Int32GetDatum(shared->used);
        values[2] = Int32GetDatum(shared->full);
        values[3] = TimestampTzGetDatum(shared->created_at);
        SpinLockRelease(&shared->mutex);
        nulls[1] = nulls[2] = nulls[3] = false;
    }
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

// stats_reset(): zeroes the current database's counts (its slots stay taken).
DENORM_FUNCTION(denorm_stats_reset)
{
    if (!shared) PG_RETURN_VOID();
    flush();
    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&shared->mutex);
    for (int i = 0; i < kSlots; i++) {
        Slot *s = &shared->slots[i];
        if (s->dbid != MyDatabaseId) continue;
        memset(&s->n, 0, sizeof s->n);
        s->reset_at = now;
    }
    SpinLockRelease(&shared->mutex);
    PG_RETURN_VOID();
}
