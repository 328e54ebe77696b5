// publish_api.cpp — denorm.publish_counter, unpublish_counter and redis_resync (README
// "Publishing to Redis"): the caller must own the counter's target (what is published is
// its rows); the catalog work then runs as the extension's owner (82_publish.sql).
// Layer: pg glue. Regime: PostgreSQL.
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
}

#include "pg/counters/statement_batch.hpp"
#include "pg/errors.hpp"
#include "pg/privileges.hpp"

using namespace denorm::pg;

namespace {
const char *own_target = "Only the owner of a counter's target table may publish it.";

// 42501 unless the caller owns the target of counter `name`; nothing when there is no
// such counter (the implementation then raises 42704).
void require_target_owner(Datum name)
{
    Oid types[1] = {TEXTOID};
    Datum values[1] = {name};
    SPI_execute_with_args("SELECT target::pg_catalog.oid FROM denorm._definitions WHERE name OPERATOR(pg_catalog.=) $1", 1,
                          types, values, nullptr, true, 1);
    if (SPI_processed == 1) {
        bool isnull;
        require_owner(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)), "target",
                      own_target);
    }
}

void require_name(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0)) ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("name must not be NULL")));
}
}  // namespace

DENORM_FUNCTION(denorm_publish_counter)
{
    require_name(fcinfo);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    require_target_owner(PG_GETARG_DATUM(0));
    Oid types[4] = {TEXTOID, TEXTOID, TEXTOID, INTERVALOID};
    Datum values[4];
    char nulls[5] = "    ";
    for (int i = 0; i < 4; i++) {
        values[i] = PG_ARGISNULL(i) ? 0 : PG_GETARG_DATUM(i);
        nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
    }
    execute_as(extension_owner(), "SELECT denorm._publish_counter($1, $2, $3, $4)", 4, types, values, nulls);
    SPI_finish();
    PG_RETURN_VOID();
}

DENORM_FUNCTION(denorm_unpublish_counter)
{
    require_name(fcinfo);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    require_target_owner(PG_GETARG_DATUM(0));
    Oid types[1] = {TEXTOID};
    Datum values[1] = {PG_GETARG_DATUM(0)};
    execute_as(extension_owner(), "SELECT denorm._unpublish_counter($1)", 1, types, values, nullptr);
    SPI_finish();
    PG_RETURN_VOID();
}

// redis_resync(name): every current value sent again; NULL = every counter whose target
// the caller owns (a superuser: all).
DENORM_FUNCTION(denorm_redis_resync)
{
    apply_transaction_changes();  // the values sent include this transaction's changes
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    int64 total = 0;
    Oid types[1] = {TEXTOID};
    if (!PG_ARGISNULL(0)) {
        require_target_owner(PG_GETARG_DATUM(0));
        Datum values[1] = {PG_GETARG_DATUM(0)};
        execute_as(extension_owner(), "SELECT denorm._redis_resync($1)", 1, types, values, nullptr);
        bool isnull;
        total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    } else {
        SPI_execute("SELECT p.counter FROM denorm._publications p JOIN denorm._definitions d ON d.name OPERATOR(pg_catalog.=) "
                    "p.counter WHERE pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid "
                    "OPERATOR(pg_catalog.=) d.target), 'USAGE') ORDER BY 1",
                    true, 0);
        SPITupleTable *names = SPI_tuptable;
        uint64 n = SPI_processed;
        for (uint64 i = 0; i < n; i++) {
            bool isnull;
            Datum values[1] = {SPI_getbinval(names->vals[i], names->tupdesc, 1, &isnull)};
            execute_as(extension_owner(), "SELECT denorm._redis_resync($1)", 1, types, values, nullptr);
            total += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
        }
    }
    SPI_finish();
    PG_RETURN_INT64(total);
}
