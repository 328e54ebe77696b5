// suspend.cpp — denorm.suspend(source) and denorm.resume(source, reconcile): stop
// maintaining the counters fed by a source during a bulk load, then maintain them
// again, reconciling first. Layer: pg glue. Regime: PostgreSQL.
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
}

#include "pg/counters/statement_batch.hpp"
#include "pg/errors.hpp"
#include "pg/privileges.hpp"

using namespace denorm::pg;

namespace {
const char *own_source = "Only the owner of a source table may suspend or resume its counters.";

void set_suspended(Oid source, bool suspended)
{
    Oid types[2] = {REGCLASSOID, BOOLOID};
    Datum values[2] = {ObjectIdGetDatum(source), BoolGetDatum(suspended)};
    execute_as(extension_owner(), "SELECT denorm._set_suspended($1, $2)", 2, types, values, nullptr);
}
}  // namespace

DENORM_FUNCTION(denorm_suspend)
{
    apply_transaction_changes();  // what it reads or recounts includes this transaction's changes
    static const char *const required[] = {"source"};
    require_arguments(fcinfo, required, 1);
    Oid source = PG_GETARG_OID(0);
    require_owner(source, "source", own_source);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    set_suspended(source, true);
    SPI_finish();
    PG_RETURN_VOID();
}

// Writers are kept out while the counters are recounted (SHARE ROW EXCLUSIVE, as
// CREATE TRIGGER takes): a write made while suspended is committed before the
// recount reads, and every later write is maintained again.
DENORM_FUNCTION(denorm_resume)
{
    apply_transaction_changes();  // what it reads or recounts includes this transaction's changes
    static const char *const required[] = {"source", "reconcile"};
    require_arguments(fcinfo, required, 2);
    Oid source = PG_GETARG_OID(0);
    bool reconcile = PG_GETARG_BOOL(1);
    require_owner(source, "source", own_source);
    LockRelationOid(source, ShareRowExclusiveLock);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    set_suspended(source, false);
    int64 fixed = 0;
    if (reconcile) {
        int nest = pin_search_path();
        Oid types[1] = {REGCLASSOID};
        Datum values[1] = {ObjectIdGetDatum(source)};
        // One reconcile per counter column (or min/max/latest group) fed by this source,
        // shared columns once.
        SPI_execute_with_args("SELECT pg_catalog.count(*) FROM "
                              "(SELECT pg_catalog.min(name) AS name FROM denorm._definitions "
                              "  WHERE source OPERATOR(pg_catalog.=) $1 "
                              "  GROUP BY target, target_columns[1]) c, "
                              "LATERAL denorm.reconcile(c.name) r WHERE r.fixed",
                              1, types, values, nullptr, false, 0);
        bool isnull;
        fixed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
        unpin_search_path(nest);
    }
    SPI_finish();
    PG_RETURN_INT64(fixed);
}
