// launcher.cpp — the 'denorm launcher' (one per cluster, restarted by the postmaster):
// starts and supervises one 'denorm worker' per database where the extension is
// installed (worker.cpp), finding out with a short-lived 'denorm probe', and stops a
// database's worker when DROP DATABASE or CREATE DATABASE ... TEMPLATE needs it gone.
// State machine: README.md beside it. Layer: pg glue. Regime: PostgreSQL (no C++ objects).
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
#include "pg/views/memory_requests.hpp"
#include "pg/views/mv_refresh.hpp"
#include "pg/shared_state.hpp"


#include <algorithm>

#include "pg/background/processes.hpp"
#include "pg/gucs.hpp"
#include "pg/views/memory_requests.hpp"
#include "pg/views/mv_refresh.hpp"
#include "pg/shared_state.hpp"

namespace denorm::pg {
namespace {

constexpr int kProbeEverySeconds = 10;  // how often a database without denorm is looked at again
constexpr int kMaxProbesAtOnce = 2;      // probes are short-lived; leave worker slots to others

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
