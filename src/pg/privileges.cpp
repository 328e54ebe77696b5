// privileges.cpp — see privileges.hpp. Layer: pg glue. Regime: PostgreSQL.
#include "pg/privileges.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace denorm::pg {

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
    if (!pg_class_ownercheck(relid, GetUserId()))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("must be owner of %s table %s", what, get_rel_name(relid)), errhint("%s", hint)));
}

Oid extension_owner()
{
    Oid catalog = RangeVarGetRelid(makeRangeVar(pstrdup("denorm"), pstrdup("_definitions"), -1), NoLock, false);
    return owner_of(catalog);
}

void execute_as(Oid role, const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
    Oid save_user;
    int save_sec;
    GetUserIdAndSecContext(&save_user, &save_sec);
    MemoryContext caller_cxt = CurrentMemoryContext;
    SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE);
    PG_TRY();
    {
        SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
    }
    PG_CATCH();
    {
        SetUserIdAndSecContext(save_user, save_sec);
        MemoryContextSwitchTo(caller_cxt);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        edata->context = nullptr;
        ReThrowError(edata);
    }
    PG_END_TRY();
    SetUserIdAndSecContext(save_user, save_sec);
}

}  // namespace denorm::pg
