// worker.cpp — the background processes: the launcher (backend_type 'denorm
// launcher') starts and supervises one 'denorm worker' per database where the
// extension is installed, finding out with a short-lived 'denorm probe'; each worker
// refreshes its database's due views (mv_refresh) and prunes refresh_log.
// State machine: worker.md. Layer: pg glue. Regime: PostgreSQL (no C++ objects).
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

#include "pg/gucs.hpp"
#include "pg/memory_requests.hpp"
#include "pg/mv_refresh.hpp"
#include "pg/shared_state.hpp"

namespace denorm::pg {
namespace {

constexpr int kProbeEverySeconds = 10;  // how often a database without denorm is looked at again
constexpr int kPruneEverySeconds = 60;
constexpr long kRetryAfterErrorMs = 10000;  // after a pass that failed
constexpr int kMaxProbesAtOnce = 2;      // probes are short-lived; leave worker slots to others

enum class Role : uint32 { Probe = 1, Worker = 2 };

DbSlot *slot_of(Oid dbid)
{
    SharedState *state = shared_state();
    for (auto &slot : state->slots)
        if (slot.state != DbState::Free && slot.dbid == dbid) return &slot;
    return nullptr;
}

void set_state(Oid dbid, DbState value, int procno)
{
    SharedState *state = shared_state();
    SpinLockAcquire(&state->mutex);
    if (DbSlot *slot = slot_of(dbid)) {
        slot->state = value;
        slot->worker_procno = procno;
        slot->probed_at = GetCurrentTimestamp();
    }
    SpinLockRelease(&state->mutex);
}

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

// One pass: the deferred counters when their fold is due, then the due views, each
// refreshed in its own transaction so that a failure stays with its view. Returns how
// long to sleep. Runs in the pass's memory context, reset before the next pass.
long run_once(TimestampTz *last_prune, TimestampTz *last_fold)
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

    int n = 0;
    bool pending = false;
    Oid *list = nullptr;
    in_transaction("denorm: looking for due refreshes", [&](MemoryContext pass) {
        flush_memory_requests();
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

bool database_wanted(const char *name)
{
    if (!guc_databases || guc_databases[0] == '\0') return true;
    char *copy = pstrdup(guc_databases);
    List *names;
    bool wanted = false;
    if (SplitIdentifierString(copy, ',', &names)) {
        ListCell *cell;
        foreach (cell, names)
            wanted = wanted || strcmp(static_cast<char *>(lfirst(cell)), name) == 0;
    }
    return wanted;
}

struct Database {
    Oid dbid;
};

// The databases a worker may serve: connectable, not templates, wanted by denorm.databases.
Database *list_databases(int *n)
{
    Database *out = static_cast<Database *>(palloc(sizeof(Database) * kMaxDatabases));
    *n = 0;
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tuple;
    while ((tuple = heap_getnext(scan, ForwardScanDirection)) != nullptr && *n < kMaxDatabases) {
        auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple));
        if (!db->datallowconn || db->datistemplate || !database_wanted(NameStr(db->datname))) continue;
        out[(*n)++].dbid = db->oid;
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    PopActiveSnapshot();
    CommitTransactionCommand();
    return out;
}

BackgroundWorkerHandle *start_process(Oid dbid, Role role)
{
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher restarts it
    strlcpy(worker.bgw_library_name, "denorm", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "denorm_database_main", BGW_MAXLEN);
    const char *type = role == Role::Worker ? "denorm worker" : "denorm probe";
    snprintf(worker.bgw_name, BGW_MAXLEN, "%s for database %u", type, dbid);
    strlcpy(worker.bgw_type, type, BGW_MAXLEN);
    worker.bgw_main_arg = ObjectIdGetDatum(dbid);
    worker.bgw_extra[0] = static_cast<char>(role);
    worker.bgw_notify_pid = MyProcPid;
    BackgroundWorkerHandle *handle;
    if (!RegisterDynamicBackgroundWorker(&worker, &handle)) {
        ereport(WARNING, (errmsg("denorm launcher: could not start a %s for database %u", type, dbid),
                          errhint("Raise max_worker_processes.")));
        return nullptr;
    }
    return handle;
}

}  // namespace

// DROP DATABASE and CREATE DATABASE ... TEMPLATE refuse a database with sessions,
// and a worker is one: stop it, and keep the launcher away for a while.
void stop_worker_for(Oid dbid)
{
    SharedState *state = shared_state();
    if (!state || !OidIsValid(dbid)) return;
    int procno = -1;
    SpinLockAcquire(&state->mutex);
    if (DbSlot *slot = slot_of(dbid)) {
        slot->state = DbState::NotInstalled;
        slot->probed_at = GetCurrentTimestamp();
        procno = slot->worker_procno;
    }
    SpinLockRelease(&state->mutex);
    if (procno < 0) return;
    int pid = ProcGlobal->allProcs[procno].pid;
    if (pid > 0) kill(pid, SIGTERM);
    for (int i = 0; i < 500; i++) {  // up to 5 s
        SpinLockAcquire(&state->mutex);
        DbSlot *slot = slot_of(dbid);
        bool gone = !slot || slot->worker_procno < 0;
        SpinLockRelease(&state->mutex);
        if (gone) return;
        CHECK_FOR_INTERRUPTS();
        pg_usleep(10000L);
    }
}

}  // namespace denorm::pg

using namespace denorm::pg;

extern "C" {
PGDLLEXPORT void denorm_launcher_main(Datum);
PGDLLEXPORT void denorm_database_main(Datum);
}

// The launcher: one per cluster, restarted by the postmaster if it dies.
extern "C" void denorm_launcher_main(Datum)
{
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
    pgstat_report_appname("denorm launcher");

    SharedState *state = shared_state();
    SpinLockAcquire(&state->mutex);
    state->launcher_procno = MyProc->pgprocno;
    for (auto &slot : state->slots) {  // a restarted launcher starts over
        slot.state = DbState::Free;
        slot.worker_procno = -1;
    }
    SpinLockRelease(&state->mutex);

    // Local to this process: the handles of the processes it started, per slot.
    BackgroundWorkerHandle *handles[kMaxDatabases] = {};
    Role roles[kMaxDatabases] = {};

    for (;;) {
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        int n;
        Database *dbs = list_databases(&n);
        TimestampTz now = GetCurrentTimestamp();
        bool keep[kMaxDatabases] = {};
        int probes = 0;
        for (int s = 0; s < kMaxDatabases; s++) probes += handles[s] && roles[s] == Role::Probe ? 1 : 0;
        for (int d = 0; d < n; d++) {
            SpinLockAcquire(&state->mutex);
            int index = -1;
            for (int s = 0; s < kMaxDatabases && index < 0; s++)
                if (state->slots[s].state != DbState::Free && state->slots[s].dbid == dbs[d].dbid) index = s;
            for (int s = 0; s < kMaxDatabases && index < 0; s++)
                if (state->slots[s].state == DbState::Free) {
                    index = s;
                    state->slots[s] = DbSlot{dbs[d].dbid, DbState::Unknown, -1, 0};
                }
            DbSlot slot = index >= 0 ? state->slots[index] : DbSlot{};
            SpinLockRelease(&state->mutex);
            if (index < 0) continue;  // more databases than slots
            keep[index] = true;

            if (handles[index]) {
                pid_t pid;
                if (GetBackgroundWorkerPid(handles[index], &pid) != BGWH_STOPPED) continue;
                pfree(handles[index]);
                handles[index] = nullptr;
                if (roles[index] == Role::Worker && slot.state == DbState::Running)
                    set_state(slot.dbid, DbState::Installed, -1);  // it died: start it again below
            }
            SpinLockAcquire(&state->mutex);
            slot = state->slots[index];
            SpinLockRelease(&state->mutex);
            if (slot.state == DbState::NotInstalled &&
                !TimestampDifferenceExceeds(slot.probed_at, now, kProbeEverySeconds * 1000))
                continue;
            if (slot.state == DbState::Unknown &&
                !TimestampDifferenceExceeds(slot.probed_at, now, kProbeEverySeconds * 1000))
                continue;  // could not be started a moment ago
            roles[index] = slot.state == DbState::Installed || slot.state == DbState::Running ? Role::Worker : Role::Probe;
            if (roles[index] == Role::Probe && probes >= kMaxProbesAtOnce) continue;
            handles[index] = start_process(slot.dbid, roles[index]);
            if (!handles[index]) set_state(slot.dbid, slot.state == DbState::Running ? DbState::Installed : slot.state, -1);
            else if (roles[index] == Role::Probe) probes++;
        }
        // Databases gone or no longer wanted (denorm.databases): stop their worker.
        for (int s = 0; s < kMaxDatabases; s++) {
            if (keep[s]) continue;
            if (handles[s]) {
                TerminateBackgroundWorker(handles[s]);
                pfree(handles[s]);
                handles[s] = nullptr;
            }
            SpinLockAcquire(&state->mutex);
            state->slots[s].state = DbState::Free;
            state->slots[s].worker_procno = -1;
            SpinLockRelease(&state->mutex);
        }
        pfree(dbs);
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    }
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
    SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

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
            sleep_ms = run_once(&last_prune, &last_fold);
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
