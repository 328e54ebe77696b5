// counter_api.cpp — denorm.create_counter and denorm.drop_counter. They check that
// the caller owns the tables, then run the PL/pgSQL implementations (which write
// the catalog, create triggers and backfill) as the extension's owner; statements on
// the tables run as their owner (README "Security"). Layer: pg glue. Regime: PostgreSQL.
extern "C" {
#include "postgres.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

#include "pg/errors.hpp"
#include "pg/counters/definition_loader.hpp"
#include "pg/counters/expression.hpp"
#include "pg/privileges.hpp"
#include "pg/counters/statement_batch.hpp"

using namespace denorm::pg;

namespace {

const char *own_both = "Only the owner of both the source and the target may define or drop a counter on them.";

// The caller's expression, parsed with the caller's search_path and stored as text
// that means the same under any search_path (as pg_get_constraintdef shows a CHECK).
Datum normalized_expression(Oid source, text *expr, const char *what)
{
    Relation rel = table_open(source, AccessShareLock);
    Node *node = parse_row_expression(rel, text_to_cstring(expr), what);
    char *sql = deparse_row_expression(rel, node);
    table_close(rel, NoLock);
    return CStringGetTextDatum(sql);
}

// The same for each element of a text[] (a latest's source_values and order_by).
Datum normalized_expressions(Oid source, ArrayType *exprs, const char *what)
{
    Datum *elems;
    bool *nulls;
    int n;
    deconstruct_array(exprs, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
    for (int i = 0; i < n; i++) {
        if (nulls[i]) ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s must not contain NULL", what)));
        elems[i] = normalized_expression(source, DatumGetTextPP(elems[i]), what);
    }
    return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

bool function_exists(const char *name, int nargs, Oid *types)
{
    List *qualified = list_make2(makeString(pstrdup("denorm")), makeString(pstrdup(name)));
    return OidIsValid(LookupFuncName(qualified, nargs, types, true));
}

// Whether a definition on `source` other than `name` writes one of name's columns: then
// the recount must lock the target rows first (their other writers keep writing).
bool column_shared_with_other_sources(Oid source, Datum name)
{
    Oid types[2] = {TEXTOID, OIDOID};
    Datum args[2] = {name, ObjectIdGetDatum(source)};
    if (SPI_execute_with_args("SELECT 1 FROM denorm._definitions d, denorm._definitions x "
                              "WHERE x.name OPERATOR(pg_catalog.=) $1 AND d.target OPERATOR(pg_catalog.=) x.target "
                              "AND d.target_columns OPERATOR(pg_catalog.&&) x.target_columns "
                              "AND d.source::pg_catalog.oid OPERATOR(pg_catalog.<>) $2",
                              2, types, args, nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._definitions");
    return SPI_processed > 0;
}

// Runs a create implementation, then the backfill of `column` (recount, and the rows
// create_missing would have created), as the extension's owner; the backfill's
// statements on the target run as the target's owner. values[0] is the name.
// The source is locked against writers until commit first (as resume() does): a writer
// that started before the new definition is visible to it would otherwise commit a row
// that neither its statement nor the backfill counts. Its other writers being blocked,
// the recount need not lock the target rows unless definitions on other sources write
// the same columns.
void create_and_backfill(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, Oid target,
                         Oid source, Datum column, bool backfill)
{
    LockRelationOid(source, ShareRowExclusiveLock);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid ext_owner = extension_owner();
    execute_as(ext_owner, sql, nargs, types, values, nulls);
    if (backfill) {
        Oid rtypes[3] = {REGCLASSOID, TEXTOID, BOOLOID};
        Datum rvalues[3] = {ObjectIdGetDatum(target), column, BoolGetDatum(true)};
        if (function_exists("_recompute", 3, rtypes)) {
            rvalues[2] = BoolGetDatum(column_shared_with_other_sources(source, values[0]));
            execute_as(ext_owner, "SELECT denorm._recompute($1, $2, $3)", 3, rtypes, rvalues, nullptr);
        } else {
            execute_as(ext_owner, "SELECT denorm._recompute($1, $2)", 2, rtypes, rvalues, nullptr);
        }
        // (Absent while the extension's SQL is older than this library, until ALTER
        // EXTENSION denorm UPDATE: the definition is then created without adoption.)
        Oid atypes[1] = {TEXTOID};
        if (function_exists("_adopt", 1, atypes))
            execute_as(ext_owner, "SELECT denorm._adopt($1)", 1, atypes, values, nullptr);
    }
    SPI_finish();
}

void collect_arguments(FunctionCallInfo fcinfo, int nargs, Datum *values, char *nulls)
{
    for (int i = 0; i < nargs; i++) {
        values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
        nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
    }
    nulls[nargs] = '\0';
}

}  // namespace

// create_counter(name, target, target_column, source, source_key, target_key, aggregate,
//                value, filter, create_missing, touch, deferred, backfill)
DENORM_FUNCTION(denorm_create_counter)
{
    apply_transaction_changes();  // written before the catalog and the recount change under them
    constexpr int nargs = 13;
    static const char *const required[] = {"name", "target", "target_column", "source", "source_key", nullptr,
                                           "aggregate", nullptr, nullptr, "create_missing", nullptr, "deferred",
                                           "backfill"};
    require_arguments(fcinfo, required, nargs);
    Oid target = PG_GETARG_OID(1);
    Oid source = PG_GETARG_OID(3);
    require_owner(target, "target", own_both);
    require_owner(source, "source", own_both);

    Oid types[nargs] = {TEXTOID, REGCLASSOID, TEXTOID, REGCLASSOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID,
                        TEXTOID, TEXTOID,    BOOLOID, TEXTOID,     BOOLOID,      BOOLOID};
    Datum values[nargs];
    char nulls[nargs + 1];
    collect_arguments(fcinfo, nargs, values, nulls);
    if (!PG_ARGISNULL(7)) values[7] = normalized_expression(source, PG_GETARG_TEXT_PP(7), "value");
    if (!PG_ARGISNULL(8)) values[8] = normalized_expression(source, PG_GETARG_TEXT_PP(8), "filter");
    // backfill (the last argument) is not passed on: create_and_backfill runs it.
    create_and_backfill("SELECT denorm._create_counter($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)", nargs - 1,
                     types, values, nulls, target, source, PG_GETARG_DATUM(2), PG_GETARG_BOOL(12));
    PG_RETURN_VOID();
}

// create_latest(name, target, target_columns, source, source_key, source_values, order_by,
//               target_key, filter, create_missing, touch, backfill)
DENORM_FUNCTION(denorm_create_latest)
{
    apply_transaction_changes();  // written before the catalog and the recount change under them
    constexpr int nargs = 12;
    static const char *const required[] = {"name", "target", "target_columns", "source", "source_key", "source_values",
                                           "order_by", nullptr, nullptr, "create_missing", nullptr, "backfill"};
    require_arguments(fcinfo, required, nargs);
    Oid target = PG_GETARG_OID(1);
    Oid source = PG_GETARG_OID(3);
    require_owner(target, "target", own_both);
    require_owner(source, "source", own_both);

    Oid types[nargs - 1] = {TEXTOID,      REGCLASSOID,  TEXTARRAYOID, REGCLASSOID, TEXTARRAYOID, TEXTARRAYOID,
                            TEXTARRAYOID, TEXTARRAYOID, TEXTOID,      BOOLOID,     TEXTOID};
    Datum values[nargs];
    char nulls[nargs + 1];
    collect_arguments(fcinfo, nargs, values, nulls);
    values[5] = normalized_expressions(source, PG_GETARG_ARRAYTYPE_P(5), "source_values");
    values[6] = normalized_expressions(source, PG_GETARG_ARRAYTYPE_P(6), "order_by");
    if (!PG_ARGISNULL(8)) values[8] = normalized_expression(source, PG_GETARG_TEXT_PP(8), "filter");
    // The backfill (not passed on) recomputes the group through its first column.
    Datum *columns;
    bool *column_nulls;
    int ncolumns;
    deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT, &columns, &column_nulls, &ncolumns);
    bool has_column = ncolumns > 0 && !column_nulls[0];
    create_and_backfill("SELECT denorm._create_latest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", nargs - 1, types,
                     values, nulls, target, source, has_column ? columns[0] : (Datum) 0,
                     PG_GETARG_BOOL(11) && has_column);
    PG_RETURN_VOID();
}

// drop_counter(name, if_exists)
DENORM_FUNCTION(denorm_drop_counter)
{
    apply_transaction_changes();  // written before the catalog and the recount change under them
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("name and if_exists must not be NULL")));
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid types[2] = {TEXTOID, BOOLOID};
    Datum values[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
    SPI_execute_with_args("SELECT target::pg_catalog.oid, source::pg_catalog.oid FROM denorm._definitions "
                          "WHERE name OPERATOR(pg_catalog.=) $1",
                          1, types, values, nullptr, true, 1);
    if (SPI_processed == 1) {
        bool isnull;
        require_owner(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
                      "target", own_both);
        require_owner(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
                      "source", own_both);
    }
    execute_as(extension_owner(), "SELECT denorm._drop_counter($1, $2)", 2, types, values, nullptr);
    SPI_finish();
    PG_RETURN_VOID();
}

// _invalidate(rel): every backend drops its cached definitions of rel (at commit;
// this backend at the next command).
DENORM_FUNCTION(denorm_invalidate)
{
    CacheInvalidateRelcacheByRelid(PG_GETARG_OID(0));
    PG_RETURN_VOID();
}

// counter_value(name, VARIADIC key): the caller must be allowed to read the counter's
// target (the value is what its column holds once folded); the value is then read
// by denorm._counter_value as the target's owner, pending deltas included.
DENORM_FUNCTION(denorm_counter_value)
{
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("name must not be NULL")));
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid types[3] = {TEXTOID, TEXTARRAYOID, NUMERICOID};
    Datum values[3] = {PG_GETARG_DATUM(0), PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1), (Datum) 0};
    const char *nulls = PG_ARGISNULL(1) ? " nn" : "  n";
    SPI_execute_with_args("SELECT target::pg_catalog.oid, target_columns[1], target_key, kind FROM denorm._definitions "
                          "WHERE name OPERATOR(pg_catalog.=) $1",
                          1, types, values, nullptr, true, 1);
    if (SPI_processed == 1) {
        HeapTuple row = SPI_tuptable->vals[0];
        TupleDesc desc = SPI_tuptable->tupdesc;
        bool isnull;
        Oid target = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
        if (pg_class_aclcheck(target, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
            ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                            errmsg("permission denied for table %s", get_rel_name(target)),
                            errhint("counter_value() reads the counter's target table: it needs SELECT on it.")));
        // The transaction's own changes not yet written (denorm.apply = commit) count too.
        char *kind = SPI_getvalue(row, desc, 4);
        if (!PG_ARGISNULL(1) && (strcmp(kind, "count") == 0 || strcmp(kind, "sum") == 0)) {
            int nnames, nkeys;
            bool null_key = false;
            char **key_columns = text_strings(DatumGetArrayTypeP(SPI_getbinval(row, desc, 3, &isnull)), &nnames);
            char **key_values = text_strings(PG_GETARG_ARRAYTYPE_P(1), &nkeys, &null_key);
            if (nkeys == nnames && !null_key) {
                values[2] = unapplied_change(target, SPI_getvalue(row, desc, 2), nkeys, key_columns, key_values);
                nulls = "   ";
            }
        }
    }
    execute_as(extension_owner(), "SELECT denorm._counter_value($1, $2, $3)", 3, types, values, nulls, true);
    bool isnull;
    Datum result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (!isnull) result = SPI_datumTransfer(result, false, -1);
    SPI_finish();
    if (isnull) PG_RETURN_NULL();
    PG_RETURN_DATUM(result);
}
