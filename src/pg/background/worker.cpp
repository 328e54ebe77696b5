// worker.cpp — the per-database processes the launcher starts (launcher.cpp): a
// 'denorm probe' that finds out whether the database has the extension, and the
// 'denorm worker' that folds its deferred counters, publishes the outbox to Redis
// (publish/outbox_drain), refreshes its due views (views/mv_refresh) and prunes
// refresh_log, one pass at a time.
// State machine: README.md beside it. Layer: pg glue. Regime: PostgreSQL (no C++ objects
// but the trivially destructible lambdas of in_transaction).
extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/heapam.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
}

#include <algorithm>

#include "pg/background/processes.hpp"
#include "pg/gucs.hpp"
#include "pg/privileges.hpp"
#include "pg/publish/outbox.hpp"
#include "pg/shared_state.hpp"
#include "pg/views/memory_requests.hpp"
#include "pg/views/mv_refresh.hpp"

namespace denorm::pg {
namespace {

constexpr int kPruneEverySeconds = 60;
constexpr long kRetryAfterErrorMs = 10000;  // after a pass that failed
constexpr long kOutboxGatherMs = 5;          // after a pass that published

bool extension_installed()
{
    StartTransactionCommand();
    bool installed = OidIsValid(get_extension_oid("denorm", true));
    CommitTransactionCommand();
    return installed;
}

void clear_worker_latch(int, Datum arg)
{
    // Only the latch: the state says whether the launcher should start it again.
    SharedState *state = shared_state();
    SpinLockAcquire(&state->mutex);
    if (DbSlot *slot = slot_of(DatumGetObjectId(arg))) slot->worker_procno = -1;
    SpinLockRelease(&state->mutex);
}

// One transaction of a pass: a fresh snapshot, SPI connected, `activity` shown in
// pg_stat_activity, committed at the end. An error propagates to the caller (which
// aborts the transaction); what the body keeps beyond it goes into `pass`, the pass's
// memory context, which is current again afterwards.
template <typename Body>
void in_transaction(const char *activity, Body &&body)
{
    MemoryContext pass = CurrentMemoryContext;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    SPI_connect();
    pgstat_report_activity(STATE_RUNNING, activity);
    body(pass);
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    MemoryContextSwitchTo(pass);
}

// Folds the deferred counters in a transaction of its own; an error is logged and
// the fold is tried again next time. Returns whether there are deferred counters.
bool fold_deferred()
{
    volatile bool any = false;
    MemoryContext pass = CurrentMemoryContext;
    PG_TRY();
    {
        in_transaction("denorm: folding deferred counters", [&](MemoryContext) {
            if (SPI_execute("SELECT denorm._fold_all()", false, 0) == SPI_OK_SELECT && SPI_processed == 1) {
                bool isnull;
                SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
                any = !isnull;
            }
        });
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(pass);
        EmitErrorReport();
        FlushErrorState();
        AbortCurrentTransaction();
        any = true;
    }
    PG_END_TRY();
    return any;
}

// Sends what the outbox holds to Redis in a transaction of its own (outbox_drain.cpp);
// an error is logged and it is tried again next pass. Returns whether entries may be
// left after a drain that sent some: then the next pass comes at once.
bool publish_outbox(bool *published)
{
    volatile bool more = false;
    volatile bool sent = false;
    clear_outbox_signal(MyDatabaseId);  // a commit from now on wakes this worker again
    MemoryContext pass = CurrentMemoryContext;
    PG_TRY();
    {
        in_transaction("denorm: publishing to Redis", [&](MemoryContext) {
            if (outbox_installed() &&
                SPI_execute("SELECT denorm._publish_pending(), "
                            "EXISTS (SELECT 1 FROM denorm._outbox) AND (SELECT o.connected FROM denorm._outbox_state o)",
                            false, 0) == SPI_OK_SELECT && SPI_processed == 1) {
                bool isnull;
                Datum n = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
                sent = !isnull && DatumGetInt64(n) > 0;
                Datum left = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
                // Only a drain that sent something goes again at once: one that sent
                // nothing (another session holds the drain, or Redis refused) waits for
                // the next pass, a commit's wake-up or the backoff.
                more = sent && !isnull && DatumGetBool(left);
            }
        });
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(pass);
        EmitErrorReport();
        FlushErrorState();
        AbortCurrentTransaction();
    }
    PG_END_TRY();
    *published = sent;
    return more;
}

// One pass: the deferred counters when their fold is due, then the due views, each
// refreshed in its own transaction so that a failure stays with its view. Returns how
// long to sleep. Runs in the pass's memory context, reset before the next pass.
long run_once(TimestampTz *last_prune, TimestampTz *last_fold, bool *published)
{
    core::Micros sleep = static_cast<core::Micros>(guc_naptime_ms) * 1000;
    if (!guc_enabled) return guc_naptime_ms;

    core::Micros fold_every = static_cast<core::Micros>(guc_fold_interval_ms) * 1000;
    core::Micros since_fold = GetCurrentTimestamp() - *last_fold;
    if (since_fold >= fold_every) {
        *last_fold = GetCurrentTimestamp();
        if (fold_deferred()) sleep = std::min(sleep, fold_every);
    } else {
        sleep = std::min(sleep, fold_every - since_fold);
    }

    if (publish_outbox(published)) sleep = 0;

    int n = 0;
    bool pending = false;
    Oid *list = nullptr;
    in_transaction("denorm: looking for due refreshes", [&](MemoryContext pass) {
        flush_memory_requests(false);  // not behind a session's refresh: next pass
        Oid *due = due_views(&n, sleep, &sleep, &pending);
        list = static_cast<Oid *>(MemoryContextAlloc(pass, sizeof(Oid) * (n + 1)));
        memcpy(list, due, sizeof(Oid) * n);
    });

    for (int i = 0; i < n; i++) {
        CHECK_FOR_INTERRUPTS();
        in_transaction("denorm: refreshing a materialized view", [&](MemoryContext) {
            refresh_one(list[i], nullptr);  // a failed refresh is logged and backed off inside
        });
        sleep = 0;  // a refresh may make a dependent view due: look again at once
    }
    set_worker_busy(MyDatabaseId, pending);

    TimestampTz now = GetCurrentTimestamp();
    if (TimestampDifferenceExceeds(*last_prune, now, kPruneEverySeconds * 1000)) {
        *last_prune = now;
        in_transaction("denorm: pruning refresh_log", [&](MemoryContext) {
            Oid types[1] = {INT4OID};
            Datum values[1] = {Int32GetDatum(guc_log_retention_s)};
            SPI_execute_with_args("DELETE FROM denorm.refresh_log WHERE finished_at < "
                                  "pg_catalog.now() - pg_catalog.make_interval(secs => $1)",
                                  1, types, values, nullptr, false, 0);
        });
    }
    pgstat_report_stat(false);  // so autovacuum learns about the request rows deleted here
    pgstat_report_activity(STATE_IDLE, nullptr);
    return static_cast<long>((sleep + 999) / 1000);
}

}  // namespace
}  // namespace denorm::pg

using namespace denorm::pg;

extern "C" {
PGDLLEXPORT void denorm_database_main(Datum);
}

// A probe (is denorm installed here?) or a database worker.
extern "C" void denorm_database_main(Datum arg)
{
    Oid dbid = DatumGetObjectId(arg);
    Role role = static_cast<Role>(MyBgworkerEntry->bgw_extra[0]);
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
    // A superuser session: nothing it runs may resolve a name through a schema
    // another role can create objects in.
    SetConfigOption("search_path", kPinnedSearchPath, PGC_SUSET, PGC_S_OVERRIDE);

    if (!extension_installed()) {
        set_state(dbid, DbState::NotInstalled, -1);
        proc_exit(0);
    }
    if (role == Role::Probe) {
        set_state(dbid, DbState::Installed, -1);
        wake_launcher();  // start the worker now rather than at the next pass
        proc_exit(0);
    }
    pgstat_report_appname("denorm worker");
    set_state(dbid, DbState::Running, MyProc->pgprocno);
    before_shmem_exit(clear_worker_latch, ObjectIdGetDatum(dbid));
    StartTransactionCommand();
    char *dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(dbid));
    CommitTransactionCommand();
    ereport(LOG, (errmsg("denorm worker started for database \"%s\"", dbname)));

    TimestampTz last_prune = 0;
    TimestampTz last_fold = 0;
    // What a pass allocates outside its transactions lives here, freed before the next
    // pass, whether the pass ended normally or in an error.
    MemoryContext pass_context = AllocSetContextCreate(TopMemoryContext, "denorm worker pass", ALLOCSET_DEFAULT_SIZES);
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        if (!extension_installed()) {  // DROP EXTENSION: nothing left to do here
            set_state(dbid, DbState::NotInstalled, -1);
            proc_exit(0);
        }
        // A pass that fails (say, the extension's SQL is older than this library until
        // ALTER EXTENSION denorm UPDATE) is logged and tried again later; exiting
        // instead would have the launcher restart this worker in a tight loop.
        volatile long sleep_ms = 0;
        MemoryContextSwitchTo(pass_context);  // (a committed transaction leaves TopMemoryContext current)
        MemoryContextReset(pass_context);
        PG_TRY();
        {
            bool published = false;
            sleep_ms = run_once(&last_prune, &last_fold, &published);
            // Entries went out: let the next ones gather for a moment, so that busy
            // writers' changes go out in batches (a commit's wake waits in the latch).
            if (published) pg_usleep(kOutboxGatherMs * 1000L);
        }
        PG_CATCH();
        {
            MemoryContextSwitchTo(pass_context);
            EmitErrorReport();
            FlushErrorState();
            AbortCurrentTransaction();
            pgstat_report_activity(STATE_IDLE, nullptr);
            sleep_ms = kRetryAfterErrorMs;
        }
        PG_END_TRY();
        if (sleep_ms > 0) {
            (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
        }
    }
}
