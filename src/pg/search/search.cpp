// search.cpp — denorm.search(query, sources, max_results, fuzzy). The caller sees the
// documents of the sources whose tables it may read (denorm._visible_search_sources, the
// rule search_documents' row security uses too); the query is read by the core
// (core/search_query.hpp), parsed per language by websearch_to_tsquery with the word being
// typed made a prefix match, and answered by two prepared statements run as the
// extension's owner: full-text matches (GIN on the weighted vector), then, while fewer
// than max_results were found and fuzzy is on, titles similar by trigram (GIN trigram
// index on the title), always ranked below every full-text match.
// Layer: pg glue. Regime: PostgreSQL (C++ only inside guarded()).
extern "C" {
#include "postgres.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "tsearch/ts_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

#include "core/search_query.hpp"
#include "core/search_statements.hpp"
#include "pg/counters/catalog.hpp"
#include "pg/errors.hpp"
#include "pg/privileges.hpp"

using namespace denorm;
using namespace denorm::pg;

namespace {

// The query as the core read it, in palloc'd strings (NULL: none).
struct UserQuery {
    char *text;
    int nwords;
    char **words;  // not excluded, in order
    char *excluded;
    char *typing;
};

UserQuery read_query(text *raw)
{
    const char *data = VARDATA_ANY(raw);
    int len = VARSIZE_ANY_EXHDR(raw);
    int cut = len > static_cast<int>(core::kSearchQueryMaxBytes)
                  ? pg_mbcliplen(data, len, static_cast<int>(core::kSearchQueryMaxBytes))
                  : len;
    UserQuery q{};
    guarded([&] {
        core::SearchQuery parsed = core::parse_search_query(std::string_view(data, cut), cut < len);
        q.text = palloc_string(parsed.text);
        q.nwords = static_cast<int>(parsed.words.size());
        q.words = palloc_strings(parsed.words);
        std::string excluded = parsed.excluded_text();
        q.excluded = excluded.empty() ? nullptr : palloc_string(excluded);
        q.typing = parsed.typing ? palloc_string(*parsed.typing) : nullptr;
    });
    return q;
}

// pg_trgm's schema (it is relocatable; PostgreSQL 15 has no @extschema:pg_trgm@).
Oid trgm_schema()
{
    Relation rel = table_open(ExtensionRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ, CStringGetDatum("pg_trgm"));
    SysScanDesc scan = systable_beginscan(rel, ExtensionNameIndexId, true, nullptr, 1, &key);
    HeapTuple tuple = systable_getnext(scan);
    Oid schema = HeapTupleIsValid(tuple) ? reinterpret_cast<Form_pg_extension>(GETSTRUCT(tuple))->extnamespace : InvalidOid;
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    if (!OidIsValid(schema))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("extension \"pg_trgm\" is not installed"),
                        errhint("denorm requires it: CREATE EXTENSION pg_trgm.")));
    return schema;
}

SPIPlanPtr sources_plan = nullptr;
SPIPlanPtr fulltext_plan = nullptr;
SPIPlanPtr fuzzy_plan = nullptr;
Oid fuzzy_schema = InvalidOid;  // the pg_trgm schema fuzzy_plan names

void prepare_plans(Oid schema)
{
    if (!sources_plan) {
        // Run as the caller: the visibility rule is the caller's rights.
        Oid types[1] = {TEXTARRAYOID};
        sources_plan = prepare_kept(
            "SELECT s.name, s.language::pg_catalog.oid, s.name OPERATOR(pg_catalog.=) ANY "
            "((SELECT denorm._visible_search_sources())::pg_catalog.text[]) FROM denorm._search_sources s "
            "WHERE $1 IS NULL OR s.name OPERATOR(pg_catalog.=) ANY ($1) ORDER BY s.language::pg_catalog.oid, s.name",
            1, types);
    }
    if (!fulltext_plan) {
        char *sql = guarded_string([] { return core::search_fulltext_query(); });
        Oid types[3] = {TEXTARRAYOID, TSQUERYOID, INT4OID};
        fulltext_plan = prepare_kept(sql, 3, types);
    }
    if (fuzzy_schema != schema) {
        if (fuzzy_plan) SPI_freeplan(fuzzy_plan);
        fuzzy_plan = nullptr;
        const char *ident = quote_identifier(get_namespace_name(schema));
        char *sql = guarded_string([&] { return core::search_fuzzy_query(ident); });
        Oid types[5] = {TEXTARRAYOID, TEXTOID, TSQUERYOID, TSQUERYOID, INT4OID};
        fuzzy_plan = prepare_kept(sql, 5, types);
        fuzzy_schema = schema;
    }
}

Datum empty_tsquery()
{
    auto *q = static_cast<TSQuery>(palloc0(HDRSIZETQ));
    SET_VARSIZE(q, HDRSIZETQ);
    q->size = 0;
    return PointerGetDatum(q);
}

// The lexeme of operand `item` of q.
bool same_lexeme(TSQuery a, QueryOperand *x, TSQuery b, QueryOperand *y)
{
    return x->length == y->length && memcmp(GETOPERAND(a) + x->distance, GETOPERAND(b) + y->distance, x->length) == 0;
}

// websearch_to_tsquery(language, text), with the word being typed a prefix match: the
// query's last operand (the right operand of every operator from the root, not under a
// NOT) when its lexeme is the typed word's.
Datum build_tsquery(Oid language, const UserQuery &q)
{
    Datum parsed = DirectFunctionCall2(websearch_to_tsquery_byid, ObjectIdGetDatum(language), CStringGetTextDatum(q.text));
    TSQuery query = DatumGetTSQuery(parsed);
    if (query->size == 0 || !q.typing) return parsed;
    QueryItem *items = GETQUERY(query);
    int i = 0;
    while (i < query->size && items[i].type == QI_OPR) {
        if (items[i].qoperator.oper == OP_NOT) return parsed;
        i++;  // the right operand follows its operator
    }
    if (i >= query->size || items[i].type != QI_VAL) return parsed;
    TSQuery typed = DatumGetTSQuery(
        DirectFunctionCall2(plainto_tsquery_byid, ObjectIdGetDatum(language), CStringGetTextDatum(q.typing)));
    if (typed->size != 1 || GETQUERY(typed)[0].type != QI_VAL ||
        !same_lexeme(query, &items[i].qoperand, typed, &GETQUERY(typed)[0].qoperand))
        return parsed;
    TSQuery prefixed = static_cast<TSQuery>(palloc(VARSIZE(query)));
    memcpy(prefixed, query, VARSIZE(query));
    GETQUERY(prefixed)[i].qoperand.prefix = true;
    return PointerGetDatum(prefixed);
}

// The text the trigram match compares with titles in `language`: the query's words of at
// least core::kFuzzyMinChars characters that are no stop word there, at most
// core::kFuzzyMaxWords of them; NULL when none is left.
char *fuzzy_text(Oid language, const UserQuery &q)
{
    StringInfoData buf;
    initStringInfo(&buf);
    size_t kept = 0;
    for (int i = 0; i < q.nwords && kept < core::kFuzzyMaxWords; i++) {
        if (pg_mbstrlen(q.words[i]) < core::kFuzzyMinChars) continue;
        TSQuery lexemes = DatumGetTSQuery(
            DirectFunctionCall2(plainto_tsquery_byid, ObjectIdGetDatum(language), CStringGetTextDatum(q.words[i])));
        if (lexemes->size == 0) continue;  // a stop word
        appendStringInfo(&buf, "%s%s", kept++ ? " " : "", q.words[i]);
    }
    return kept ? buf.data : nullptr;
}

struct Hit {
    int tier;  // 0 full text, 1 trigram
    text *source;
    text *doc_key;
    text *title;  // NULL when NULL
    float4 score;
};

struct Hits {
    int n;
    int capacity;
    Hit *hits;
    MemoryContext context;  // the caller's: the hits outlive SPI
};

void collect(Hits *hits, int tier)
{
    MemoryContext old = MemoryContextSwitchTo(hits->context);
    for (uint64 r = 0; r < SPI_processed; r++) {
        if (hits->n == hits->capacity) {
            hits->capacity = hits->capacity ? hits->capacity * 2 : 32;
            hits->hits = static_cast<Hit *>(hits->hits ? repalloc(hits->hits, sizeof(Hit) * hits->capacity)
                                                       : palloc(sizeof(Hit) * hits->capacity));
        }
        HeapTuple row = SPI_tuptable->vals[r];
        TupleDesc desc = SPI_tuptable->tupdesc;
        bool isnull;
        Hit &h = hits->hits[hits->n++];
        h.tier = tier;
        h.source = DatumGetTextPCopy(SPI_getbinval(row, desc, 1, &isnull));
        h.doc_key = DatumGetTextPCopy(SPI_getbinval(row, desc, 2, &isnull));
        Datum title = SPI_getbinval(row, desc, 3, &isnull);
        h.title = isnull ? nullptr : DatumGetTextPCopy(title);
        Datum score = SPI_getbinval(row, desc, 4, &isnull);
        h.score = isnull ? 0 : DatumGetFloat4(score);
    }
    MemoryContextSwitchTo(old);
}

int text_cmp(const text *a, const text *b)
{
    int la = VARSIZE_ANY_EXHDR(a), lb = VARSIZE_ANY_EXHDR(b);
    int c = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(la, lb));
    return c != 0 ? c : (la > lb) - (la < lb);
}

// Full-text matches first, then by score (highest first), source and key.
int compare_hits(const void *a, const void *b)
{
    auto *x = static_cast<const Hit *>(a);
    auto *y = static_cast<const Hit *>(b);
    if (x->tier != y->tier) return x->tier - y->tier;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    int c = text_cmp(x->source, y->source);
    return c != 0 ? c : text_cmp(x->doc_key, y->doc_key);
}

void run_as_owner(SPIPlanPtr plan, Datum *values, const char *nulls)
{
    RunAs as;
    run_as_begin_unpinned(&as, extension_owner());
    int rc = SPI_execute_plan(plan, values, nulls, true, 0);
    run_as_end(&as);
    if (rc != SPI_OK_SELECT) elog(ERROR, "denorm: search failed: %s", SPI_result_code_string(rc));
}

}  // namespace

// search(query text, sources text[] DEFAULT NULL, max_results integer DEFAULT 20,
//        fuzzy boolean DEFAULT true) RETURNS TABLE(source text, doc_key text, title text, score real)
DENORM_FUNCTION(denorm_search)
{
    static const char *const required[] = {nullptr, nullptr, "max_results", "fuzzy"};
    require_arguments(fcinfo, required, 4);
    int32 max_results = PG_GETARG_INT32(2);
    bool fuzzy = PG_GETARG_BOOL(3);
    if (max_results < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("max_results must be at least 1, not %d", max_results)));
    Datum sources = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
    int nrequested = 0;
    char **requested = nullptr;
    if (!PG_ARGISNULL(1)) {
        bool has_null = false;
        Datum *elems;
        bool *nulls;
        deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nrequested);
        requested = static_cast<char **>(palloc(sizeof(char *) * (nrequested + 1)));
        for (int i = 0; i < nrequested; i++) {
            has_null = has_null || nulls[i];
            requested[i] = nulls[i] ? nullptr : TextDatumGetCString(elems[i]);
        }
        if (has_null) ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("sources must not contain NULL")));
    }
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (PG_ARGISNULL(0)) return (Datum) 0;  // no query, no documents
    UserQuery q = read_query(PG_GETARG_TEXT_PP(0));
    Hits hits{0, 0, nullptr, CurrentMemoryContext};

    Oid schema = trgm_schema();
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    prepare_plans(schema);
    Datum args[1] = {sources};
    if (SPI_execute_plan(sources_plan, args, PG_ARGISNULL(1) ? "n" : " ", true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._search_sources");
    SPITupleTable *found = SPI_tuptable;
    uint64 nfound = SPI_processed;
    for (int i = 0; i < nrequested; i++) {
        bool known = false;
        for (uint64 r = 0; r < nfound && !known; r++)
            known = strcmp(SPI_getvalue(found->vals[r], found->tupdesc, 1), requested[i]) == 0;
        if (!known)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("search source \"%s\" does not exist", requested[i])));
    }

    // The visible sources, grouped by language (the rows come ordered by it): one query
    // per language and tier.
    int ngroups = 0;
    auto *group_language = static_cast<Oid *>(palloc(sizeof(Oid) * (nfound + 1)));
    auto *group_names = static_cast<Datum *>(palloc(sizeof(Datum) * (nfound + 1)));
    auto *names = static_cast<Datum *>(palloc(sizeof(Datum) * (nfound + 1)));
    for (uint64 r = 0; r < nfound;) {
        bool isnull;
        Oid language = DatumGetObjectId(SPI_getbinval(found->vals[r], found->tupdesc, 2, &isnull));
        int n = 0;
        for (; r < nfound && DatumGetObjectId(SPI_getbinval(found->vals[r], found->tupdesc, 2, &isnull)) == language; r++)
            if (DatumGetBool(SPI_getbinval(found->vals[r], found->tupdesc, 3, &isnull)))
                names[n++] = CStringGetTextDatum(SPI_getvalue(found->vals[r], found->tupdesc, 1));
        if (n == 0) continue;
        group_language[ngroups] = language;
        group_names[ngroups++] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
    }
    auto *queries = static_cast<Datum *>(palloc(sizeof(Datum) * (ngroups + 1)));
    for (int g = 0; g < ngroups; g++) {
        queries[g] = build_tsquery(group_language[g], q);
        if (DatumGetTSQuery(queries[g])->size == 0) continue;
        Datum values[3] = {group_names[g], queries[g], Int32GetDatum(max_results)};
        run_as_owner(fulltext_plan, values, nullptr);
        collect(&hits, 0);
    }
    if (fuzzy && hits.n < max_results) {
        int fulltext = hits.n;
        for (int g = 0; g < ngroups; g++) {
            char *similar_to = fuzzy_text(group_language[g], q);
            if (!similar_to) continue;
            Datum excluded = q.excluded ? DirectFunctionCall2(websearch_to_tsquery_byid, ObjectIdGetDatum(group_language[g]),
                                                              CStringGetTextDatum(q.excluded))
                                        : empty_tsquery();
            Datum values[5] = {group_names[g], CStringGetTextDatum(similar_to), queries[g], excluded,
                               Int32GetDatum(max_results - fulltext)};
            run_as_owner(fuzzy_plan, values, nullptr);
            collect(&hits, 1);
        }
    }
    SPI_finish();

    if (hits.n > 1) qsort(hits.hits, hits.n, sizeof(Hit), compare_hits);
    for (int i = 0; i < hits.n && i < max_results; i++) {
        const Hit &h = hits.hits[i];
        Datum values[4] = {PointerGetDatum(h.source), PointerGetDatum(h.doc_key), PointerGetDatum(h.title),
                           Float4GetDatum(h.score)};
        bool nulls[4] = {false, false, h.title == nullptr, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum) 0;
}
