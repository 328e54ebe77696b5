// search_sync.cpp — see search_sync.hpp; also denorm.search_reconcile().
// Layer: pg glue. Regime: PostgreSQL (palloc'd values; C++ only inside guarded()).
#include "pg/search/search_sync.hpp"

extern "C" {
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

#include <cmath>

#include "core/search_statements.hpp"
#include "pg/errors.hpp"
#include "pg/privileges.hpp"
#include "pg/search/search_expressions.hpp"
#include "pg/search/search_writer.hpp"

namespace denorm::pg {

namespace {

constexpr int kBatch = 1000;

// What the catalog says about one source.
struct SourceRow {
    Oid table;
    Oid language;
    char *texts[kSearchParts];  // as stored, by SearchPart
};

bool read_source(const char *name, SourceRow *row)
{
    Oid types[1] = {TEXTOID};
    Datum args[1] = {CStringGetTextDatum(name)};
    if (SPI_execute_with_args("SELECT source::pg_catalog.oid, language::pg_catalog.oid, doc_key, title, body, filter, boost "
                              "FROM denorm._search_sources WHERE name OPERATOR(pg_catalog.=) $1",
                              1, types, args, nullptr, false, 1) != SPI_OK_SELECT)  // (sees a row just inserted)
        elog(ERROR, "could not read denorm._search_sources");
    if (SPI_processed == 0) return false;
    HeapTuple tuple = SPI_tuptable->vals[0];
    TupleDesc desc = SPI_tuptable->tupdesc;
    bool isnull;
    row->table = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
    row->language = DatumGetObjectId(SPI_getbinval(tuple, desc, 2, &isnull));
    for (int p = 0; p < kSearchParts; p++) row->texts[p] = SPI_getvalue(tuple, desc, 3 + p);
    return true;
}

struct DeparseArgs {
    Relation rel;
    SourceRow *row;
    char *sql[kSearchParts];
};
void deparse_all(void *arg)
{
    auto *a = static_cast<DeparseArgs *>(arg);
    for (int p = 0; p < kSearchParts; p++)
        (void) search_expression(a->rel, static_cast<SearchPart>(p), a->row->texts[p], &a->sql[p]);
}

// The recomputation of a source's documents (core::search_recompute_query), from its
// expressions deparsed again under the pinned search_path.
char *recompute_query(const char *name, SourceRow *row)
{
    Relation rel = table_open(row->table, AccessShareLock);
    DeparseArgs args{rel, row, {}};
    with_fixed_search_path(deparse_all, &args);
    char *table = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel));
    table_close(rel, NoLock);
    return guarded_string([&] {
        auto optional = [](const char *s) { return s ? std::optional<std::string>(s) : std::nullopt; };
        core::SearchSource s{name, table, args.sql[0], args.sql[1], optional(args.sql[2]), optional(args.sql[3]),
                             optional(args.sql[4])};
        return core::search_recompute_query(s);
    });
}

// A cursor read batch by batch as `role` (the functions an expression calls run as the
// table's owner, never as the extension's).
struct Cursor {
    Portal portal;
    Oid role;
    SPITupleTable *batch;
    uint64 pos;
    bool done;
};

void advance(Cursor *c)
{
    c->pos++;
    if (c->batch && c->pos < c->batch->numvals) return;
    if (c->batch) SPI_freetuptable(c->batch);
    c->batch = nullptr;
    c->pos = 0;
    if (c->done) return;
    RunAs as;
    run_as_begin(&as, c->role);
    SPI_cursor_fetch(c->portal, true, kBatch);
    run_as_end(&as);
    c->batch = SPI_tuptable;
    if (!c->batch || c->batch->numvals == 0) c->done = true;
    if (c->done && c->batch) {
        SPI_freetuptable(c->batch);
        c->batch = nullptr;
    }
}

Cursor open_cursor(const char *sql, Oid role, int nargs, Oid *types, Datum *values)
{
    RunAs as;
    run_as_begin(&as, role);
    Portal portal = SPI_cursor_open_with_args(nullptr, sql, nargs, types, values, nullptr, false, 0);
    run_as_end(&as);
    Cursor c{portal, role, nullptr, 0, false};
    c.pos = static_cast<uint64>(-1);
    advance(&c);
    return c;
}

bool at_end(const Cursor &c) { return !c.batch; }

text *text_at(const Cursor &c, int field)
{
    bool isnull;
    Datum d = SPI_getbinval(c.batch->vals[c.pos], c.batch->tupdesc, field, &isnull);
    return isnull ? nullptr : DatumGetTextPP(d);
}

// The document of the current row: (key, title, body, boost) at fields 1..4.
SearchDoc doc_at(const Cursor &c)
{
    SearchDoc doc{};
    bool isnull;
    doc.key = text_at(c, 1);
    doc.title = text_at(c, 2);
    doc.body = text_at(c, 3);
    Datum boost = SPI_getbinval(c.batch->vals[c.pos], c.batch->tupdesc, 4, &isnull);
    doc.boost = isnull ? 0 : DatumGetFloat4(boost);
    doc.visible = true;
    return doc;
}

text *copy_text(const text *t) { return t ? DatumGetTextPCopy(PointerGetDatum(t)) : nullptr; }

// A document that outlives the cursor's batch its values point into.
SearchDoc copied(SearchDoc doc)
{
    doc.key = copy_text(doc.key);
    doc.title = copy_text(doc.title);
    doc.body = copy_text(doc.body);
    return doc;
}

void json_text_field(StringInfo buf, const char *name, const text *value)
{
    appendStringInfo(buf, "\"%s\": ", name);
    if (value)
        escape_json(buf, text_to_cstring(value));
    else
        appendStringInfoString(buf, "null");
}

Datum doc_json(const SearchDoc &doc, bool stale_vector)
{
    StringInfoData buf;
    initStringInfo(&buf);
    appendStringInfoChar(&buf, '{');
    json_text_field(&buf, "title", doc.title);
    appendStringInfoString(&buf, ", ");
    json_text_field(&buf, "body", doc.body);
    if (!std::isnan(doc.boost) && !std::isinf(doc.boost))
        appendStringInfo(&buf, ", \"boost\": %s", DatumGetCString(DirectFunctionCall1(float4out, Float4GetDatum(doc.boost))));
    else
        appendStringInfoString(&buf, ", \"boost\": null");
    if (stale_vector) appendStringInfoString(&buf, ", \"document\": \"stale\"");
    appendStringInfoChar(&buf, '}');
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

void report_row(SyncReport *report, const char *name, const text *key, const SearchDoc *stored, bool stale,
                const SearchDoc *expected, bool fixed)
{
    if (!report) return;
    Datum values[5] = {CStringGetTextDatum(name), PointerGetDatum(key), 0, 0, BoolGetDatum(fixed)};
    bool nulls[5] = {false, false, stored == nullptr, expected == nullptr, false};
    if (stored) values[2] = doc_json(*stored, stale);
    if (expected) values[3] = doc_json(*expected, false);
    tuplestore_putvalues(report->store, report->desc, values, nulls);
}

}  // namespace

int64 sync_search_source(const char *name, bool fix, SyncReport *report)
{
    SourceRow row;
    if (!read_source(name, &row))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("search source \"%s\" does not exist", name)));
    // No writer may change a row between the recomputation and the fix.
    if (fix) LockRelationOid(row.table, ShareLock);
    char *recompute = recompute_query(name, &row);
    char *stored_sql = guarded_string([] { return core::search_stored_query(); });
    Oid ext_owner = extension_owner();
    Cursor expected = open_cursor(recompute, owner_of(row.table), 0, nullptr, nullptr);
    Oid types[2] = {TEXTOID, REGCONFIGOID};
    Datum args[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(row.language)};
    Cursor stored = open_cursor(stored_sql, ext_owner, 2, types, args);

    int64 differences = 0;
    // Memory stays bounded: the last expected key (a repeated one, doc_key not unique, is
    // skipped) and the pending writes live in contexts of their own, reset as they move on.
    MemoryContext key_cxt = AllocSetContextCreate(CurrentMemoryContext, "denorm search sync key", ALLOCSET_SMALL_SIZES);
    MemoryContext writes_cxt = AllocSetContextCreate(CurrentMemoryContext, "denorm search sync writes", ALLOCSET_DEFAULT_SIZES);
    MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "denorm search sync row", ALLOCSET_DEFAULT_SIZES);
    MemoryContext loop_cxt = CurrentMemoryContext;
    DocWrites writes{};
    text *previous = nullptr;
    while (!at_end(expected) || !at_end(stored)) {
        MemoryContextReset(row_cxt);
        MemoryContextSwitchTo(row_cxt);
        if (!at_end(expected) && previous && compare_keys(previous, text_at(expected, 1)) == 0) {
            MemoryContextSwitchTo(loop_cxt);
            advance(&expected);
            continue;
        }
        int c = at_end(expected) ? 1 : at_end(stored) ? -1 : compare_keys(text_at(expected, 1), text_at(stored, 1));
        bool vector_ok = true;
        if (c == 0) {
            bool isnull;
            vector_ok = DatumGetBool(SPI_getbinval(stored.batch->vals[stored.pos], stored.batch->tupdesc, 5, &isnull));
        }
        SearchDoc want = c <= 0 ? doc_at(expected) : SearchDoc{};
        SearchDoc have = c >= 0 ? doc_at(stored) : SearchDoc{};
        bool differs = c != 0 || !same_document(want, have) || !vector_ok;
        if (differs) {
            report_row(report, name, c <= 0 ? want.key : have.key, c >= 0 ? &have : nullptr, !vector_ok,
                       c <= 0 ? &want : nullptr, fix);
            differences++;
        }
        if (differs && fix) {
            MemoryContextSwitchTo(writes_cxt);
            if (c > 0) {
                doc_writes_delete(&writes, copy_text(have.key));
            } else {
                SearchDoc copy = copied(want);
                // The upsert rewrites a document whose text or boost changed; a stale
                // vector alone needs the row written again.
                if (c == 0 && same_document(want, have)) doc_writes_delete(&writes, copy.key);
                doc_list_add(&writes.upserts, copy);
            }
        }
        if (c <= 0) {
            MemoryContextReset(key_cxt);
            MemoryContextSwitchTo(key_cxt);
            previous = copy_text(want.key);
        }
        MemoryContextSwitchTo(loop_cxt);
        if (c <= 0) advance(&expected);
        if (c >= 0) advance(&stored);
        if (writes.upserts.n + writes.ndeletes >= kBatch) {
            MemoryContextSwitchTo(writes_cxt);
            write_documents(name, row.language, &writes);
            MemoryContextSwitchTo(loop_cxt);
            writes = DocWrites{};
            MemoryContextReset(writes_cxt);
        }
    }
    MemoryContextSwitchTo(writes_cxt);
    write_documents(name, row.language, &writes);
    MemoryContextSwitchTo(loop_cxt);
    SPI_cursor_close(expected.portal);
    SPI_cursor_close(stored.portal);
    MemoryContextDelete(key_cxt);
    MemoryContextDelete(writes_cxt);
    MemoryContextDelete(row_cxt);
    return differences;
}

}  // namespace denorm::pg

using namespace denorm::pg;

// search_reconcile(name text DEFAULT NULL, fix boolean DEFAULT true)
//   RETURNS TABLE(source text, doc_key text, stored jsonb, expected jsonb, fixed boolean)
// NULL name: every search source on a table the caller owns. A named one needs that too.
DENORM_FUNCTION(denorm_search_reconcile)
{
    if (PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("fix must not be NULL")));
    bool fix = PG_GETARG_BOOL(1);
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    SyncReport report{rsinfo->setResult, rsinfo->setDesc};
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid types[1] = {TEXTOID};
    Datum args[1] = {PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0)};
    if (SPI_execute_with_args("SELECT name, source::pg_catalog.oid FROM denorm._search_sources "
                              "WHERE $1 IS NULL OR name OPERATOR(pg_catalog.=) $1 ORDER BY name",
                              1, types, args, PG_ARGISNULL(0) ? "n" : " ", true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._search_sources");
    SPITupleTable *sources = SPI_tuptable;
    uint64 n = SPI_processed;
    if (!PG_ARGISNULL(0) && n == 0)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("search source \"%s\" does not exist", text_to_cstring(PG_GETARG_TEXT_PP(0)))));
    for (uint64 i = 0; i < n; i++) {
        bool isnull;
        char *name = SPI_getvalue(sources->vals[i], sources->tupdesc, 1);
        Oid table = DatumGetObjectId(SPI_getbinval(sources->vals[i], sources->tupdesc, 2, &isnull));
        if (PG_ARGISNULL(0)) {
            if (!pg_class_ownercheck(table, GetUserId())) continue;
        } else {
            require_owner(table, "source", "Only the owner of a search source's table may reconcile it.");
        }
        sync_search_source(name, fix, &report);
    }
    SPI_finish();
    return (Datum) 0;
}
