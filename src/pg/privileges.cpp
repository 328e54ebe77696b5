// privileges.cpp — see privileges.hpp; also the SQL faces of its rules:
// denorm._may_see (the row filter of logs, audit and status) and denorm._as_owner
// (how the PL/pgSQL maintenance functions run a statement on a user's table).
// Layer: pg glue. Regime: PostgreSQL.
#include "pg/privileges.hpp"
#include "pg/errors.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace denorm::pg {

const char *const kPinnedSearchPath = "pg_catalog, pg_temp";

Oid owner_of(Oid relid)
{
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tuple))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relid)));
    Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return owner;
}

void require_owner(Oid relid, const char *what, const char *hint)
{
    // (pg_class_ownercheck answers true for a superuser before it looks the OID up)
    if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relid)));
    if (!pg_class_ownercheck(relid, GetUserId()))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("must be owner of %s table %s", what, get_rel_name(relid)), errhint("%s", hint)));
}

Oid extension_owner()
{
    Oid catalog = RangeVarGetRelid(makeRangeVar(pstrdup("denorm"), pstrdup("_definitions"), -1), NoLock, false);
    return owner_of(catalog);
}

bool may_see(Oid rel)
{
    Oid user = GetUserId();
    if (has_privs_of_role(user, ROLE_PG_MONITOR)) return true;
    if (!OidIsValid(rel) || !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(rel))) return false;
    return pg_class_aclcheck(rel, user, ACL_SELECT) == ACLCHECK_OK;
}

int pin_search_path()
{
    // Always a level of its own, even when already pinned: a SET search_path by code run
    // inside (a trigger of the target's owner) is undone when we unpin.
    int nest = NewGUCNestLevel();
    (void) set_config_option("search_path", kPinnedSearchPath, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                             false);
    return nest;
}

void unpin_search_path(int nest)
{
    if (nest >= 0) AtEOXact_GUC(true, nest);
}

void with_fixed_search_path(void (*fn)(void *), void *arg)
{
    int nest = pin_search_path();
    fn(arg);  // on error, transaction abort unwinds the GUC nest level
    unpin_search_path(nest);
}

namespace {
void switch_first(RunAs *state, Oid role)
{
    GetUserIdAndSecContext(&state->save_user, &state->save_sec);
    run_as_switch(state, role);
    state->guc_nest = -1;
}
}  // namespace

void run_as_begin(RunAs *state, Oid role)
{
    switch_first(state, role);
    state->guc_nest = pin_search_path();
}

void run_as_begin_unpinned(RunAs *state, Oid role)
{
    switch_first(state, role);
}

void run_as_switch(RunAs *state, Oid role)
{
    SetUserIdAndSecContext(role, state->save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
}

void run_as_pin(RunAs *state)
{
    if (state->guc_nest < 0) state->guc_nest = pin_search_path();
}

void run_as_end(const RunAs *state)
{
    unpin_search_path(state->guc_nest);
    SetUserIdAndSecContext(state->save_user, state->save_sec);
}

void execute_as(Oid role, const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, bool read_only)
{
    RunAs as;
    MemoryContext caller_cxt = CurrentMemoryContext;
    run_as_begin(&as, role);
    PG_TRY();
    {
        SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);
    }
    PG_CATCH();
    {
        if (as.guc_nest >= 0) AtEOXact_GUC(false, as.guc_nest);
        SetUserIdAndSecContext(as.save_user, as.save_sec);
        MemoryContextSwitchTo(caller_cxt);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        edata->context = nullptr;
        ReThrowError(edata);
    }
    PG_END_TRY();
    run_as_end(&as);
}

}  // namespace denorm::pg

using namespace denorm::pg;

// _may_see(rel regclass) -> boolean; NULL (a counter that is gone) is seen by
// pg_monitor only.
DENORM_FUNCTION(denorm_may_see)
{
    PG_RETURN_BOOL(may_see(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0)));
}

// _as_owner(rel regclass, sql text, arg text DEFAULT NULL) -> text: runs sql (whose
// $1, when it has one, is arg) as the owner of rel, under run_as; returns the first
// column of its first row as text, NULL when it returns none. Only for denorm's own
// maintenance functions, which run as the extension's owner: anyone else could use
// it to act as any table's owner. _as_owner_read is the same for a read under the
// caller's snapshot (from a STABLE function).
namespace {
Datum as_owner(FunctionCallInfo fcinfo, bool read_only)
{
    if (!superuser())
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("denorm._as_owner() is internal to denorm")));
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) elog(ERROR, "denorm._as_owner(): relation and statement must not be NULL");
    Oid rel = PG_GETARG_OID(0);
    char *sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
    Oid types[1] = {TEXTOID};
    Datum values[1] = {PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2)};
    const char *nulls = PG_ARGISNULL(2) ? "n" : " ";

    MemoryContext caller_cxt = CurrentMemoryContext;
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    execute_as(owner_of(rel), sql, 1, types, values, nulls, read_only);  // $1 may go unused
    text *result = nullptr;
    if (SPI_tuptable && SPI_processed > 0) {
        char *first = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        if (first) {
            MemoryContext old = MemoryContextSwitchTo(caller_cxt);
            result = cstring_to_text(first);
            MemoryContextSwitchTo(old);
        }
    }
    SPI_finish();
    if (!result) PG_RETURN_NULL();
    PG_RETURN_TEXT_P(result);
}
}  // namespace

DENORM_FUNCTION(denorm_as_owner)
{
    return as_owner(fcinfo, false);
}

DENORM_FUNCTION(denorm_as_owner_read)
{
    return as_owner(fcinfo, true);
}
