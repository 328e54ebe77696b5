// shared_state.hpp — the little shared memory denorm needs (only when preloaded):
// the launcher's and each database worker's latch, so a commit that requested a
// refresh can wake the worker at once, and per-database worker state for the
// launcher. Everything durable lives in tables; this is rebuilt after a crash.
// Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
}

namespace denorm::pg {

constexpr int kMaxDatabases = 64;
constexpr int kMaxRequestSlots = 1024;

enum class DbState : int { Free = 0, Unknown, Installed, NotInstalled, Running };

struct DbSlot {
    Oid dbid;
    DbState state;
    int worker_procno;     // -1 when no worker is in its loop
    bool worker_busy;      // its last pass left views pending: it wakes by itself soon
    bool outbox_signalled; // a commit woke it for the outbox since its last drain began
                           // (read and set without the lock: at worst one wake too many)
    TimestampTz probed_at;
};

// Refresh requests of one view committed since the worker last moved them to
// denorm._mv_requests (memory_requests.hpp).
struct RequestSlot {
    slock_t mutex;
    Oid dbid;              // InvalidOid: free (slots are taken under SharedState::mutex)
    Oid mv;
    int64 total;           // committed transactions that requested it, ever
    int64 moved;           // how many of them are rows in _mv_requests (never decreases, so
                           // two flushes racing may move some twice, never lose one)
    TimestampTz first_at;  // of the first and the last request not moved yet
    TimestampTz last_at;
};

struct SharedState {
    slock_t mutex;
    int launcher_procno;   // -1 when no launcher
    DbSlot slots[kMaxDatabases];
    TimestampTz created_at;  // when this shared memory was created (server start, crash restart)
    // Databases known to have re-requested every view since then (requests kept only
    // here are gone after a restart or crash); denorm._requests_state says it durably.
    Oid rerequested[kMaxDatabases];
    RequestSlot requests[kMaxRequestSlots];
};

// NULL unless denorm is in shared_preload_libraries.
SharedState *shared_state();

void shared_state_request();   // shmem_request_hook
void shared_state_startup();   // shmem_startup_hook

// Wakes the worker of the current database / the launcher (no-op without shared memory).
// A worker that already has pending views is not woken: it wakes at their due time, at
// most denorm.naptime later, and waking it on every commit of a busy source would cost
// more than it gains.
void wake_worker(Oid dbid);

// The worker publishes whether views are pending after each pass.
void set_worker_busy(Oid dbid, bool busy);
void wake_launcher();

// Asks for the current database's worker (and the launcher) to be woken when this
// transaction commits; nothing happens if it aborts.
void wake_at_commit(bool launcher);

// The same for an outbox entry: wakes the worker only if no commit did since its last
// drain began (thousands of commits a second cost it one wake per drain, not one each).
void wake_at_commit_for_outbox();
// The worker, as a drain begins.
void clear_outbox_signal(Oid dbid);

// Stops the worker of dbid before DROP DATABASE / CREATE DATABASE ... TEMPLATE
// (worker.cpp); the launcher leaves the database alone for a few seconds.
void stop_worker_for(Oid dbid);

}  // namespace denorm::pg
