// mv_capture.cpp — change capture for registered materialized views: a statement
// trigger on every table a view reads records, once per transaction and view, a
// request — in shared memory at commit (memory_requests.hpp), or, without it, a
// durable insert-only request row — and asks for the worker to be woken when the
// transaction commits. Also the request and backoff helpers the SQL side calls.
// Layer: pg glue. Regime: PostgreSQL.
extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
}

#include "core/refresh_scheduler.hpp"
#include "pg/callbacks.hpp"
#include "pg/counters/catalog.hpp"
#include "pg/views/memory_requests.hpp"
#include "pg/privileges.hpp"
#include "pg/shared_state.hpp"
#include "pg/errors.hpp"

namespace denorm::pg {
namespace {

// Per backend: source table -> registered views reading it (rebuilt after any
// relcache invalidation of the table; register/unregister_mv send one).
struct SourceViews {
    Oid relid;
    bool valid;
    int nviews;
    Oid *views;  // in CacheMemoryContext
};
HTAB *views_by_source = nullptr;

// Per transaction: views already requested (a short list: a transaction writes the
// sources of a few views; beyond it, views are simply requested again, which is
// harmless). Cleared at transaction end and at subtransaction abort (the request rows
// of the aborted part are gone).
constexpr int kRememberedViews = 32;
Oid requested[kRememberedViews];
int nrequested = 0;

void on_relcache(Datum, Oid relid)
{
    if (!views_by_source) return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, views_by_source);
    while (auto *entry = static_cast<SourceViews *>(hash_seq_search(&status)))
        if (relid == InvalidOid || entry->relid == relid) entry->valid = false;
}

void on_xact(XactEvent event, void *)
{
    if (transaction_ended(event))
        nrequested = 0;
}

void on_subxact(SubXactEvent event, SubTransactionId, SubTransactionId, void *)
{
    if (event == SUBXACT_EVENT_ABORT_SUB) nrequested = 0;  // re-request later: a duplicate is harmless
}

void register_callbacks()
{
    add_relcache_callback(on_relcache);
    add_xact_callback(on_xact);
    add_subxact_callback(on_subxact);
}

SourceViews *views_of(Oid relid)
{
    if (!views_by_source)
        views_by_source = make_oid_hash("denorm views by source", sizeof(SourceViews), CacheMemoryContext, 32);
    bool found;
    auto *entry = static_cast<SourceViews *>(hash_search(views_by_source, &relid, HASH_ENTER, &found));
    if (found && entry->valid) return entry;
    if (found && entry->views) pfree(entry->views);
    entry->views = nullptr;
    entry->nviews = 0;
    entry->valid = true;
    Oid types[1] = {OIDOID};
    Datum values[1] = {ObjectIdGetDatum(relid)};
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    // As the extension's owner: the registry shows each role only the views it may
    // read, and a writer's change requests every view the source feeds.
    RunAs as;
    run_as_begin(&as, extension_owner());
    SPI_execute_with_args("SELECT mv::pg_catalog.oid FROM denorm._mv_registry "
                          "WHERE $1::pg_catalog.regclass OPERATOR(pg_catalog.=) ANY (sources)",
                          1, types, values, nullptr, true, 0);
    run_as_end(&as);
    entry->nviews = static_cast<int>(SPI_processed);
    entry->views = static_cast<Oid *>(MemoryContextAlloc(CacheMemoryContext, sizeof(Oid) * (entry->nviews + 1)));
    for (int i = 0; i < entry->nviews; i++) {
        bool isnull;
        entry->views[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
    }
    SPI_finish();
    return entry;
}

bool already_requested(Oid mv)
{
    for (int i = 0; i < nrequested; i++)
        if (requested[i] == mv) return true;
    if (nrequested < kRememberedViews) requested[nrequested++] = mv;
    return false;
}

// Inserts the request rows as the extension owner (writers need no right on them),
// with a plan prepared once per backend: this runs in every writing transaction.
SPIPlanPtr insert_plan = nullptr;
Oid request_owner = InvalidOid;

void insert_requests(Oid *views, int n, bool in_memory)
{
    if (in_memory && request_in_memory_at_commit(views, n)) {
        wake_at_commit(false);
        return;
    }
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    if (!insert_plan) {
        Oid types[1] = {OIDARRAYOID};
        insert_plan = prepare_kept("INSERT INTO denorm._mv_requests (mv) "
                                   "SELECT pg_catalog.unnest($1)::pg_catalog.regclass", 1, types);
        request_owner = extension_owner();
    }
    Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (n + 1)));
    for (int i = 0; i < n; i++) elems[i] = ObjectIdGetDatum(views[i]);
    ArrayType *array = construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
    Datum values[1] = {PointerGetDatum(array)};
    RunAs as;
    run_as_begin_unpinned(&as, request_owner);  // our own table, every name qualified
    int rc = SPI_execute_plan(insert_plan, values, nullptr, false, 0);
    run_as_end(&as);
    if (rc != SPI_OK_INSERT) elog(ERROR, "denorm: could not record a refresh request: %d", rc);
    SPI_finish();
    wake_at_commit(false);
}

}  // namespace

// Requests a refresh of the given views in this transaction (once per view); a
// writer's request may wait in memory until its commit, an explicit one is a row the
// transaction itself can see (request_refresh(); run_pending() in one transaction).
void request_refresh_of(Oid *views, int n, bool in_memory)
{
    Oid *fresh = static_cast<Oid *>(palloc(sizeof(Oid) * (n + 1)));
    int nfresh = 0;
    for (int i = 0; i < n; i++)
        if (!already_requested(views[i])) fresh[nfresh++] = views[i];
    if (nfresh > 0) insert_requests(fresh, nfresh, in_memory);
}

}  // namespace denorm::pg

using namespace denorm::pg;

// _wake_launcher(): CREATE EXTENSION calls it so the new database gets its worker
// as soon as the extension is committed, not at the launcher's next look.
DENORM_FUNCTION(denorm_wake_launcher)
{
    wake_at_commit(true);
    PG_RETURN_VOID();
}

DENORM_FUNCTION(denorm_mv_capture_trigger)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("denorm._mv_capture_trigger() can only be called as a trigger")));
    auto *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    register_callbacks();
    SourceViews *entry = views_of(partition_root(RelationGetRelid(td->tg_relation)));
    int n = entry->nviews;
    Oid *views = static_cast<Oid *>(palloc(sizeof(Oid) * (n + 1)));
    memcpy(views, entry->views, sizeof(Oid) * n);
    if (n > 0) request_refresh_of(views, n, true);
    return PointerGetDatum(nullptr);
}

// _request(mv): called by SQL (SPI connected by the caller's function manager).
DENORM_FUNCTION(denorm_request)
{
    register_callbacks();
    Oid mv = PG_GETARG_OID(0);
    request_refresh_of(&mv, 1, false);
    PG_RETURN_VOID();
}

DENORM_FUNCTION(denorm_failure_backoff)
{
    denorm::core::Micros wait = denorm::core::failure_backoff(PG_GETARG_INT32(0));
    auto *result = static_cast<Interval *>(palloc0(sizeof(Interval)));
    result->time = wait;  // TimeOffset is in microseconds
    PG_RETURN_INTERVAL_P(result);
}
