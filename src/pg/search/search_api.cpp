// search_api.cpp — denorm.create_search_source and denorm.drop_search_source. They check
// the arguments and that the caller owns the table (core/search_rules.hpp has the rules,
// this file the catalog facts), then run the PL/pgSQL implementations (catalog row,
// triggers) as the extension's owner, and the backfill (search_sync.hpp).
// Layer: pg glue. Regime: PostgreSQL (C++ only inside raise_problem/guarded).
extern "C" {
#include "postgres.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "access/htup_details.h"
}

#include <string>
#include <vector>

#include "core/search_rules.hpp"
#include "pg/errors.hpp"
#include "pg/privileges.hpp"
#include "pg/search/search_expressions.hpp"
#include "pg/search/search_sync.hpp"

using namespace denorm;
using namespace denorm::pg;

namespace {

const char *kOwnerHint = "Only the owner of a table may define or drop a search source on it.";

bool search_source_exists(Datum name)
{
    Oid types[1] = {TEXTOID};
    Datum args[1] = {name};
    if (SPI_execute_with_args("SELECT 1 FROM denorm._search_sources WHERE name OPERATOR(pg_catalog.=) $1", 1, types,
                              args, nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._search_sources");
    return SPI_processed > 0;
}

// The doc_key of a table without one given: its primary key's columns (NULL without one).
char *primary_key_doc_key(Relation rel)
{
    Oid pk = RelationGetPrimaryKeyIndex(rel);
    if (!OidIsValid(pk)) return nullptr;
    HeapTuple tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));
    if (!HeapTupleIsValid(tuple)) elog(ERROR, "cache lookup failed for index %u", pk);
    auto *index = reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple));
    int n = index->indnkeyatts;
    auto **idents = static_cast<const char **>(palloc(sizeof(char *) * (n + 1)));
    for (int i = 0; i < n; i++)
        idents[i] = quote_identifier(get_attname(RelationGetRelid(rel), index->indkey.values[i], false));
    ReleaseSysCache(tuple);
    return guarded_string([&] { return core::primary_key_doc_key(std::vector<std::string>(idents, idents + n)); });
}

const char *relation_text(Oid rel) { return DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(rel))); }

}  // namespace

// create_search_source(name, source, title, body, doc_key, filter, boost, language)
DENORM_FUNCTION(denorm_create_search_source)
{
    constexpr int nargs = 8;
    static const char *const required[] = {"name", "source", "title", nullptr, nullptr, nullptr, nullptr, "language"};
    require_arguments(fcinfo, required, nargs);
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    raise_problem([&] { return core::check_search_source_name(name); });
    Oid source = PG_GETARG_OID(1);
    require_owner(source, "source", kOwnerHint);  // 42P01 when there is no such relation
    char relkind = get_rel_relkind(source);
    const char *source_text = relation_text(source);
    raise_problem([&] {
        return core::check_search_table(source_text, relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE);
    });
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    bool exists = search_source_exists(PG_GETARG_DATUM(0));
    raise_problem([&] { return core::check_new_search_source(name, exists); });

    // The expressions, parsed with the caller's search_path and stored as text that
    // means the same under any (as pg_get_constraintdef shows a CHECK).
    Relation rel = table_open(source, AccessShareLock);
    bool row_security = rel->rd_rel->relrowsecurity;
    raise_problem([&] { return core::check_search_row_security(source_text, row_security); });
    char *given[kSearchParts];
    for (int p = 0; p < kSearchParts; p++) {
        int arg = p == 0 ? 4 : p == 1 ? 2 : p == 2 ? 3 : p + 2;  // doc_key, title, body, filter, boost
        given[p] = PG_ARGISNULL(arg) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(arg));
    }
    if (!given[0]) {
        given[0] = primary_key_doc_key(rel);
        raise_problem([&] { return core::check_search_doc_key(source_text, false, given[0] != nullptr); });
    }
    Datum stored[kSearchParts];
    char nulls[nargs + 1] = "        ";
    for (int p = 0; p < kSearchParts; p++) {
        char *deparsed = nullptr;
        (void) search_expression(rel, static_cast<SearchPart>(p), given[p], &deparsed);
        stored[p] = deparsed ? CStringGetTextDatum(deparsed) : (Datum) 0;
    }
    table_close(rel, NoLock);

    // Writers are held off until commit: one that started before the source is visible
    // to it would otherwise commit a row that neither its trigger nor the backfill sees.
    LockRelationOid(source, ShareRowExclusiveLock);
    Oid types[nargs] = {TEXTOID, REGCLASSOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, REGCONFIGOID};
    Datum values[nargs] = {PG_GETARG_DATUM(0), ObjectIdGetDatum(source), stored[1], stored[2], stored[0],
                           stored[3],          stored[4],              PG_GETARG_DATUM(7)};
    for (int i = 0; i < nargs; i++) nulls[i] = (i >= 2 && i <= 6 && values[i] == (Datum) 0) ? 'n' : ' ';
    execute_as(extension_owner(), "SELECT denorm._create_search_source($1, $2, $3, $4, $5, $6, $7, $8)", nargs, types,
               values, nulls);
    sync_search_source(name, true, nullptr);
    SPI_finish();
    PG_RETURN_VOID();
}

// drop_search_source(name, if_exists)
DENORM_FUNCTION(denorm_drop_search_source)
{
    static const char *const required[] = {"name", "if_exists"};
    require_arguments(fcinfo, required, 2);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid types[2] = {TEXTOID, BOOLOID};
    Datum values[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
    if (SPI_execute_with_args("SELECT source::pg_catalog.oid FROM denorm._search_sources WHERE name OPERATOR(pg_catalog.=) $1",
                              1, types, values, nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._search_sources");
    if (SPI_processed == 1) {
        bool isnull;
        require_owner(DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)), "source",
                      kOwnerHint);
    }
    execute_as(extension_owner(), "SELECT denorm._drop_search_source($1, $2)", 2, types, values, nullptr);
    SPI_finish();
    PG_RETURN_VOID();
}

// _check_search_expressions(source regclass, doc_key, title, body, filter, boost text):
// raises what create_search_source would raise for these expressions on the table as it
// is now (the event trigger refuses an ALTER TABLE that breaks a search source).
DENORM_FUNCTION(denorm_check_search_expressions)
{
    if (PG_ARGISNULL(0)) PG_RETURN_VOID();
    Relation rel = table_open(PG_GETARG_OID(0), AccessShareLock);
    for (int p = 0; p < kSearchParts; p++)
        if (!PG_ARGISNULL(p + 1))
            (void) search_expression(rel, static_cast<SearchPart>(p), text_to_cstring(PG_GETARG_TEXT_PP(p + 1)));
    table_close(rel, NoLock);
    PG_RETURN_VOID();
}

// _search_resync(name text) -> bigint: makes the source's documents equal to its rows
// (after partitions came or went); returns the documents fixed. Internal: no ownership check.
DENORM_FUNCTION(denorm_search_resync)
{
    if (PG_ARGISNULL(0)) PG_RETURN_NULL();
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    int64 fixed = sync_search_source(name, true, nullptr);
    SPI_finish();
    PG_RETURN_INT64(fixed);
}
