// module.cpp — the library's entry: PG_MODULE_MAGIC, the GUCs, and (when preloaded)
// shared memory and the launcher. Layer: pg glue. Regime: PostgreSQL.
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/guc.h"
PG_MODULE_MAGIC;
void _PG_init(void);
}

#include "core/redis_publish.hpp"
#include "pg/stats/stats.hpp"
#include "pg/gucs.hpp"
#include "pg/shared_state.hpp"
#include "pg/counters/statement_batch.hpp"
#include "pg/errors.hpp"

namespace denorm::pg {

bool guc_enabled = true;
int guc_naptime_ms = 1000;
int guc_fold_interval_ms = 1000;
int guc_refresh_lock_timeout_ms = 5000;
int guc_log_retention_s = 7 * 24 * 3600;
char *guc_databases = nullptr;
char *guc_redis_url = nullptr;
char *guc_redis_password = nullptr;
int guc_redis_timeout_ms = 1000;
int guc_apply = static_cast<int>(ApplyMode::Commit);

namespace {
// A denorm.redis_url that names no server is refused when set, with the reason.
bool check_redis_url(char **value, void **, GucSource)
{
    if (!*value || !**value) return true;
    char why[256];
    bool ok = guarded([&] {
        std::string problem;
        bool parsed = core::parse_redis_url(*value, &problem).has_value();
        strlcpy(why, problem.c_str(), sizeof why);
        return parsed;
    });
    if (!ok) GUC_check_errdetail("%s", why);
    return ok;
}

const struct config_enum_entry apply_modes[] = {
    {"commit", static_cast<int>(ApplyMode::Commit), false},
    {"statement", static_cast<int>(ApplyMode::Statement), false},
    {nullptr, 0, false},
};
}  // namespace

void define_gucs()
{
    DefineCustomBoolVariable("denorm.enabled", "Whether the background worker refreshes registered views and folds deferred counters.", nullptr,
                             &guc_enabled, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("denorm.naptime", "Longest sleep of the background worker.", nullptr, &guc_naptime_ms, 1000,
                            10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("denorm.fold_interval", "How often the background worker folds deferred counters.",
                            nullptr, &guc_fold_interval_ms, 1000, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("denorm.refresh_lock_timeout", "lock_timeout of a materialized view refresh.", nullptr,
                            &guc_refresh_lock_timeout_ms, 5000, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("denorm.log_retention", "How long rows of denorm.refresh_log are kept.", nullptr,
                            &guc_log_retention_s, 7 * 24 * 3600, 60, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr,
                            nullptr);
    DefineCustomStringVariable("denorm.databases",
                               "Databases the background worker serves (comma-separated; empty = every database "
                               "where the extension is installed).",
                               nullptr, &guc_databases, "", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomEnumVariable("denorm.apply",
                             "When counter changes are written to the target rows: once per transaction, just "
                             "before it commits (commit), or at the end of each statement (statement).",
                             "commit takes the target rows' locks once, in one global order, so transactions cannot "
                             "deadlock on them; statement shows a transaction its own changes in the target columns.",
                             &guc_apply, static_cast<int>(ApplyMode::Commit), apply_modes, PGC_USERSET, 0, nullptr,
                             nullptr, nullptr);
    DefineCustomStringVariable("denorm.redis_url",
                               "Redis server the worker publishes counters to: redis://host[:port][/db]; empty = off.",
                               nullptr, &guc_redis_url, "", PGC_SUSET, 0, check_redis_url, nullptr, nullptr);
    DefineCustomStringVariable("denorm.redis_password", "Password for Redis AUTH (shown to superusers only).", nullptr,
                               &guc_redis_password, "", PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, nullptr, nullptr,
                               nullptr);
    DefineCustomIntVariable("denorm.redis_timeout", "Timeout of connecting to Redis and of each batch sent.", nullptr,
                            &guc_redis_timeout_ms, 1000, 10, 60000, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("denorm");
}

namespace {

shmem_request_hook_type previous_request = nullptr;
ProcessUtility_hook_type previous_utility = nullptr;

const char *template_of(CreatedbStmt *stmt)
{
    ListCell *cell;
    foreach (cell, stmt->options) {
        auto *option = static_cast<DefElem *>(lfirst(cell));
        if (strcmp(option->defname, "template") == 0) return defGetString(option);
    }
    return nullptr;
}

// Before DROP DATABASE or a copy of a database, its worker must be gone.
void utility_hook(PlannedStmt *pstmt, const char *query, bool read_only, ProcessUtilityContext context,
                  ParamListInfo params, QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc)
{
    Node *tree = pstmt->utilityStmt;
    if (IsA(tree, DropdbStmt))
        stop_worker_for(get_database_oid(reinterpret_cast<DropdbStmt *>(tree)->dbname, true));
    else if (IsA(tree, CreatedbStmt))
        if (const char *name = template_of(reinterpret_cast<CreatedbStmt *>(tree)))
            stop_worker_for(get_database_oid(name, true));
    if (previous_utility)
        previous_utility(pstmt, query, read_only, context, params, env, dest, qc);
    else
        standard_ProcessUtility(pstmt, query, read_only, context, params, env, dest, qc);
}
shmem_startup_hook_type previous_startup = nullptr;

void request_shmem()
{
    if (previous_request) previous_request();
    shared_state_request();
    stats_request();
}

void startup_shmem()
{
    if (previous_startup) previous_startup();
    shared_state_startup();
    stats_startup();
}

void register_launcher()
{
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = 5;
    strlcpy(worker.bgw_library_name, "denorm", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "denorm_launcher_main", BGW_MAXLEN);
    strlcpy(worker.bgw_name, "denorm launcher", BGW_MAXLEN);
    strlcpy(worker.bgw_type, "denorm launcher", BGW_MAXLEN);
    RegisterBackgroundWorker(&worker);
}

}  // namespace
}  // namespace denorm::pg

extern "C" void _PG_init(void)
{
    using namespace denorm::pg;
    define_gucs();
    statement_batch_install_hook();
    if (!process_shared_preload_libraries_in_progress) return;  // everything but the worker works without it
    previous_request = shmem_request_hook;
    shmem_request_hook = request_shmem;
    previous_startup = shmem_startup_hook;
    shmem_startup_hook = startup_shmem;
    previous_utility = ProcessUtility_hook;
    ProcessUtility_hook = utility_hook;
    register_launcher();
}

// _preloaded() -> boolean: whether denorm was loaded by shared_preload_libraries (its
// shared memory exists only then). health() asks this instead of reading the setting,
// which only superusers and pg_read_all_settings may see.
DENORM_FUNCTION(denorm_preloaded)
{
    PG_RETURN_BOOL(denorm::pg::shared_state() != nullptr);
}
