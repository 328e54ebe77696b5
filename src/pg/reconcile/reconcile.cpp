// reconcile.cpp — denorm.reconcile(name, fix, batch_size): finds (and fixes) counter
// columns that drifted from what their definitions imply, one column at a time
// (definitions sharing a column are reconciled together, under the first name or
// the name asked for). The work per column is denorm._reconcile_counter, run as the
// target's owner; the audit trail is written as the extension's owner.
// Layer: pg glue. Regime: PostgreSQL.
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

#include "pg/privileges.hpp"
#include "pg/counters/statement_batch.hpp"
#include "pg/errors.hpp"

using namespace denorm::pg;

namespace {

struct Column {
    char *counter;  // the name reported
    Oid target;
};

// The columns to reconcile: the one of `name`, or every counter column.
Column *columns_to_reconcile(text *name, int *n)
{
    Oid types[1] = {TEXTOID};
    Datum values[1] = {name ? PointerGetDatum(name) : (Datum) 0};
    char nulls[2] = {name ? ' ' : 'n', '\0'};
    if (name) {
        SPI_execute_with_args("SELECT 1 FROM denorm._definitions WHERE name OPERATOR(pg_catalog.=) $1", 1, types,
                              values, nulls, true, 1);
        if (SPI_processed == 0)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                            errmsg("counter \"%s\" does not exist", text_to_cstring(name)),
                            errhint("denorm.counters lists the counters.")));
    }
    SPI_execute_with_args(
        "SELECT coalesce($1, pg_catalog.min(name)), target::pg_catalog.oid FROM denorm._definitions "
        "WHERE (target, target_columns[1]) IN "
        "      (SELECT target, target_columns[1] FROM denorm._definitions WHERE $1 IS NULL OR name OPERATOR(pg_catalog.=) $1) "
        "GROUP BY target, target_columns[1] ORDER BY 1",
        1, types, values, nulls, true, 0);
    *n = static_cast<int>(SPI_processed);
    auto *columns = static_cast<Column *>(SPI_palloc(sizeof(Column) * (*n + 1)));
    for (int i = 0; i < *n; i++) {
        bool isnull;
        columns[i].counter = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
        columns[i].target = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
    }
    return columns;
}

Datum first_value(void)
{
    bool isnull;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    return isnull ? (Datum) 0 : d;
}

}  // namespace

DENORM_FUNCTION(denorm_reconcile)
{
    apply_transaction_changes();  // what it reads or recounts includes this transaction's changes
    if (PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("fix must not be NULL")));
    if (PG_ARGISNULL(2) || PG_GETARG_INT32(2) < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("batch_size must be at least 1")));
    text *name = PG_ARGISNULL(0) ? nullptr : PG_GETARG_TEXT_PP(0);
    bool fix = PG_GETARG_BOOL(1);
    int32 batch_size = PG_GETARG_INT32(2);

    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);

    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    int nest = pin_search_path();  // our queries resolve nothing through the caller's schemas
    int n;
    Column *columns = columns_to_reconcile(name, &n);
    Oid ext_owner = extension_owner();
    execute_as(ext_owner, "SELECT pg_catalog.nextval('denorm.reconcile_run_id_seq')", 0, nullptr, nullptr, nullptr);
    Datum run_id = first_value();

    for (int i = 0; i < n; i++) {
        Oid target = columns[i].target;
        if (!pg_class_ownercheck(target, GetUserId())) {
            if (name)
                require_owner(target, "target", "Only the owner of a counter's target may reconcile it.");
            continue;  // reconcile(NULL) covers the counters the caller owns
        }
        Oid owner = owner_of(target);
        Datum started_at = TimestampTzGetDatum(GetCurrentTimestamp());
        Datum counter = CStringGetTextDatum(columns[i].counter);

        // rows_checked: the target rows the comparison covered.
        execute_as(owner, psprintf("SELECT pg_catalog.count(*) FROM %s",
                                   quote_qualified_identifier(get_namespace_name(get_rel_namespace(target)),
                                                              get_rel_name(target))),
                   0, nullptr, nullptr, nullptr);
        Datum rows_checked = first_value();

        Oid rtypes[3] = {TEXTOID, BOOLOID, INT4OID};
        Datum rvalues[3] = {counter, BoolGetDatum(fix), Int32GetDatum(batch_size)};
        execute_as(ext_owner,
                   "SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)), '[]') "
                   "FROM denorm._reconcile_counter($1, $2, $3) r",
                   3, rtypes, rvalues, nullptr);
        Datum results = datumCopy(first_value(), false, -1);

        Oid ltypes[5] = {INT8OID, TEXTOID, TIMESTAMPTZOID, INT8OID, JSONBOID};
        Datum lvalues[5] = {run_id, counter, started_at, rows_checked, results};
        execute_as(ext_owner, "SELECT denorm._log_reconcile($1, $2, $3, $4, $5)", 5, ltypes, lvalues, nullptr);

        Oid etypes[1] = {JSONBOID};
        Datum evalues[1] = {results};
        SPI_execute_with_args("SELECT r->'key', r->'stored', r->'expected', (r->>'fixed')::pg_catalog.bool "
                              "FROM pg_catalog.jsonb_array_elements($1) r",
                              1, etypes, evalues, nullptr, true, 0);
        for (uint64 row = 0; row < SPI_processed; row++) {
            Datum values[5];
            bool nulls[5] = {false, false, false, false, false};
            values[0] = counter;
            for (int c = 0; c < 4; c++)
                values[c + 1] = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, c + 1, &nulls[c + 1]);
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        }
    }
    unpin_search_path(nest);
    SPI_finish();
    return (Datum) 0;
}
