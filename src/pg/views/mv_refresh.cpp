// mv_refresh.cpp — see mv_refresh.hpp; also the SQL-callable register_mv,
// unregister_mv, request_refresh, refresh_now and run_pending, which check the
// caller's rights and run the PL/pgSQL implementations as the extension's owner.
// Layer: pg glue. Regime: PostgreSQL.
#include "pg/views/mv_refresh.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

#include <new>

#include "pg/gucs.hpp"
#include "pg/views/memory_requests.hpp"
#include "pg/counters/statement_batch.hpp"
#include "pg/errors.hpp"
#include "pg/privileges.hpp"
#include "pg/publish/outbox.hpp"
#include "pg/shared_state.hpp"
#include "pg/stats/stats.hpp"

namespace denorm::pg {

namespace {

core::Micros interval_micros(Datum d)
{
    const Interval *iv = DatumGetIntervalP(d);
    return iv->time + (static_cast<int64>(iv->day) + static_cast<int64>(iv->month) * 30) * USECS_PER_DAY;
}

}  // namespace

Oid *due_views(int *n, core::Micros longest, core::Micros *sleep, bool *pending)
{
    if (SPI_execute("SELECT mv::pg_catalog.oid, debounce, max_delay, reads_views::pg_catalog.oid[], "
                    "consecutive_failures, next_attempt_at, first_request_at, last_request_at FROM denorm._mv_pending()",
                    false /* a fresh snapshot: run_pending loops after refreshing */, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._mv_pending()");
    int count = static_cast<int>(SPI_processed);
    Oid *oids = static_cast<Oid *>(palloc(sizeof(Oid) * (count + 1)));
    Oid *result = static_cast<Oid *>(palloc(sizeof(Oid) * (count + 1)));
    // Read into palloc'd plain values first (reading may raise an error); only then the
    // C++ containers, which call nothing that could.
    auto *timings = static_cast<core::ViewTiming *>(palloc(sizeof(core::ViewTiming) * (count + 1)));
    Datum **read_oids = static_cast<Datum **>(palloc(sizeof(Datum *) * (count + 1)));
    int *nread = static_cast<int *>(palloc(sizeof(int) * (count + 1)));
    for (int i = 0; i < count; i++) {
        HeapTuple row = SPI_tuptable->vals[i];
        TupleDesc desc = SPI_tuptable->tupdesc;
        bool isnull;
        core::ViewTiming *timing = new (&timings[i]) core::ViewTiming();  // trivially destructible
        oids[i] = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
        timing->debounce = interval_micros(SPI_getbinval(row, desc, 2, &isnull));
        timing->max_delay = interval_micros(SPI_getbinval(row, desc, 3, &isnull));
        deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(row, desc, 4, &isnull)), OIDOID, sizeof(Oid), true,
                          TYPALIGN_INT, &read_oids[i], nullptr, &nread[i]);
        timing->consecutive_failures = DatumGetInt32(SPI_getbinval(row, desc, 5, &isnull));
        Datum next = SPI_getbinval(row, desc, 6, &isnull);
        if (!isnull) timing->next_attempt = DatumGetTimestampTz(next);
        Datum first = SPI_getbinval(row, desc, 7, &isnull);
        if (!isnull) timing->first_change = DatumGetTimestampTz(first);
        Datum last = SPI_getbinval(row, desc, 8, &isnull);
        if (!isnull) timing->last_change = DatumGetTimestampTz(last);
    }
    core::Micros now = GetCurrentTimestamp();
    *n = 0;
    guarded([&] {
        std::vector<core::ViewTiming> views(timings, timings + count);
        std::vector<std::vector<int>> reads(count);
        for (int i = 0; i < count; i++)
            for (int e = 0; e < nread[i]; e++)
                for (int j = 0; j < count; j++)
                    if (oids[j] == DatumGetObjectId(read_oids[i][e])) reads[i].push_back(j);
        auto order = core::refresh_order(reads);
        std::vector<int> sequence;
        if (order) sequence = *order;
        else for (int i = 0; i < count; i++) sequence.push_back(i);  // a cycle: listing order
        for (int i : sequence)
            if (core::refresh_is_due(views[i], now)) result[(*n)++] = oids[i];
        *sleep = core::sleep_until_next(views, now, longest);
        if (pending) {
            *pending = false;
            for (const auto &view : views) *pending = *pending || view.first_change.has_value();
        }
    });
    return result;
}

bool refresh_one(Oid mv, int64 *row_count)
{
    flush_memory_requests();  // the requests this refresh serves are then claimed with the rest
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", guc_refresh_lock_timeout_ms);
    int nest = NewGUCNestLevel();
    (void) set_config_option("lock_timeout", timeout, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    Oid types[1] = {REGCLASSOID};
    Datum values[1] = {ObjectIdGetDatum(mv)};
    TimestampTz started = GetCurrentTimestamp();
    if (SPI_execute_with_args("SELECT denorm._refresh($1)", 1, types, values, nullptr, false, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not run denorm._refresh()");
    bool isnull;
    Datum rows = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    char *schema = get_namespace_name(get_rel_namespace(mv));
    char *view = get_rel_name(mv);
    if (schema && view)
        stat_refresh(psprintf("%s.%s", schema, view), !isnull,
                     static_cast<double>(GetCurrentTimestamp() - started) / 1000.0);
    AtEOXact_GUC(true, nest);
    if (row_count) *row_count = isnull ? 0 : DatumGetInt64(rows);
    // A refresh announced through the outbox (PUBLISH denorm:refreshed): the worker sends
    // it once this commits (refresh_now in a session; the worker itself looks again at once).
    if (!isnull && guc_redis_url && *guc_redis_url) wake_at_commit_for_outbox();
    return !isnull;
}

}  // namespace denorm::pg

using namespace denorm::pg;

namespace {

const char *own_view = "Only the owner of a materialized view may register, unregister or refresh it.";

}  // namespace

// register_mv(mv, debounce, max_delay, depends_on, concurrently)
DENORM_FUNCTION(denorm_register_mv)
{
    static const char *const required[] = {"mv"};
    require_arguments(fcinfo, required, 1);
    require_owner(PG_GETARG_OID(0), "materialized view", own_view);
    Oid types[5] = {REGCLASSOID, INTERVALOID, INTERVALOID, REGCLASSARRAYOID, BOOLOID};
    Datum values[5];
    char nulls[6];
    for (int i = 0; i < 5; i++) {
        values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
        nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
    }
    nulls[5] = '\0';
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    execute_as(extension_owner(), "SELECT denorm._register_mv($1, $2, $3, $4, $5)", 5, types, values, nulls);
    SPI_finish();
    PG_RETURN_VOID();
}

DENORM_FUNCTION(denorm_unregister_mv)
{
    static const char *const required[] = {"mv", "if_exists"};
    require_arguments(fcinfo, required, 2);
    require_owner(PG_GETARG_OID(0), "materialized view", own_view);
    Oid types[2] = {REGCLASSOID, BOOLOID};
    Datum values[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    execute_as(extension_owner(), "SELECT denorm._unregister_mv($1, $2)", 2, types, values, nullptr);
    SPI_finish();
    PG_RETURN_VOID();
}

namespace {
void require_registered(Oid mv)
{
    Oid types[1] = {OIDOID};
    Datum values[1] = {ObjectIdGetDatum(mv)};
    SPI_execute_with_args("SELECT 1 FROM denorm._mv_registry WHERE mv::pg_catalog.oid OPERATOR(pg_catalog.=) $1", 1,
                          types, values, nullptr, true, 1);
    if (SPI_processed == 0)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("materialized view %s is not registered", get_rel_name(mv)),
                        errhint("Register it with denorm.register_mv().")));
}

// The mv argument of request_refresh and refresh_now: not NULL, owned by the caller,
// registered. SPI is connected afterwards.
Oid owned_registered_view(FunctionCallInfo fcinfo)
{
    static const char *const required[] = {"mv"};
    require_arguments(fcinfo, required, 1);
    Oid mv = PG_GETARG_OID(0);
    require_owner(mv, "materialized view", own_view);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    require_registered(mv);
    return mv;
}
}  // namespace

DENORM_FUNCTION(denorm_request_refresh)
{
    Oid mv = owned_registered_view(fcinfo);
    Oid types[1] = {REGCLASSOID};
    Datum values[1] = {ObjectIdGetDatum(mv)};
    execute_as(extension_owner(), "SELECT denorm._request($1)", 1, types, values, nullptr);
    SPI_finish();
    PG_RETURN_VOID();
}

DENORM_FUNCTION(denorm_refresh_now)
{
    apply_transaction_changes();  // what it reads or recounts includes this transaction's changes
    Oid mv = owned_registered_view(fcinfo);
    RunAs as;
    run_as_begin(&as, extension_owner());  // REFRESH restricts itself as the view's owner
    int64 rows;
    bool ok = refresh_one(mv, &rows);
    run_as_end(&as);
    SPI_finish();
    if (!ok) PG_RETURN_NULL();  // the WARNING and refresh_log say why
    PG_RETURN_INT64(rows);
}

// run_pending(): every due refresh, in this session (setups without the worker,
// e.g. from pg_cron every minute). Views that fall due because a view they read was
// just refreshed (debounce 0) are refreshed in the same call.
DENORM_FUNCTION(denorm_run_pending)
{
    apply_transaction_changes();  // what it reads or recounts includes this transaction's changes
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    RunAs as;
    run_as_begin(&as, extension_owner());  // REFRESH restricts itself as the view's owner
    flush_memory_requests();
    // Deferred counters first: a view reading a counter then sees it folded.
    if (SPI_execute("SELECT denorm._fold_all()", false, 0) != SPI_OK_SELECT) elog(ERROR, "denorm._fold_all() failed");
    int done = 0;
    for (int pass = 0; pass < 100; pass++) {
        int n;
        denorm::core::Micros sleep;
        Oid *due = due_views(&n, 0, &sleep);
        if (n == 0) break;
        int completed = 0;
        for (int i = 0; i < n; i++) completed += refresh_one(due[i], nullptr) ? 1 : 0;
        done += completed;
        if (completed == 0) break;  // only failures: they wait for their backoff
    }
    // The outbox last: it then includes what the folds changed.
    if (outbox_installed() && SPI_execute("SELECT denorm._publish_pending()", false, 0) != SPI_OK_SELECT)
        elog(ERROR, "denorm._publish_pending() failed");
    run_as_end(&as);
    SPI_finish();
    PG_RETURN_INT32(done);
}
