// search_writer.cpp — see search_writer.hpp. Layer: pg glue. Regime: PostgreSQL.
#include "pg/search/search_writer.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

#include "core/search_statements.hpp"
#include "pg/counters/catalog.hpp"
#include "pg/errors.hpp"
#include "pg/privileges.hpp"

namespace denorm::pg {

namespace {

SPIPlanPtr upsert_plan = nullptr;
SPIPlanPtr delete_plan = nullptr;
SPIPlanPtr delete_sources_plan = nullptr;

void prepare_plans()
{
    if (upsert_plan) return;
    char *upsert = guarded_string([] { return core::search_upsert_statement(); });
    char *del = guarded_string([] { return core::search_delete_statement(); });
    char *del_sources = guarded_string([] { return core::search_delete_sources_statement(); });
    Oid upsert_types[6] = {TEXTOID, REGCONFIGOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, FLOAT4ARRAYOID};
    Oid delete_types[2] = {TEXTOID, TEXTARRAYOID};
    Oid sources_types[1] = {TEXTARRAYOID};
    SPIPlanPtr u = prepare_kept(upsert, 6, upsert_types);
    SPIPlanPtr d = prepare_kept(del, 2, delete_types);
    SPIPlanPtr s = prepare_kept(del_sources, 1, sources_types);
    upsert_plan = u;
    delete_plan = d;
    delete_sources_plan = s;
}

text *copied_text(ExprState *state, ExprContext *econtext, bool *isnull)
{
    *isnull = true;
    if (!state) return nullptr;
    Datum d = ExecEvalExprSwitchContext(state, econtext, isnull);
    return *isnull ? nullptr : DatumGetTextPCopy(d);
}

int compare_docs(const void *a, const void *b)
{
    auto *x = static_cast<const SearchDoc *>(a);
    auto *y = static_cast<const SearchDoc *>(b);
    int c = compare_keys(x->key, y->key);
    if (c != 0) return c;
    return x->ordinal < y->ordinal ? -1 : x->ordinal > y->ordinal;
}

// Sorted by key, the last of equal keys kept.
void sort_unique(DocList *list)
{
    if (list->n < 2) return;
    qsort(list->docs, list->n, sizeof(SearchDoc), compare_docs);
    int out = 0;
    for (int i = 0; i < list->n; i++) {
        if (out > 0 && compare_keys(list->docs[out - 1].key, list->docs[i].key) == 0)
            list->docs[out - 1] = list->docs[i];
        else
            list->docs[out++] = list->docs[i];
    }
    list->n = out;
}

bool same_text(const text *a, const text *b)
{
    if (!a || !b) return a == b;
    return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) && memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

ArrayType *text_array(text **items, int n)
{
    auto *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (n + 1)));
    auto *nulls = static_cast<bool *>(palloc(sizeof(bool) * (n + 1)));
    for (int i = 0; i < n; i++) {
        nulls[i] = items[i] == nullptr;
        elems[i] = nulls[i] ? (Datum) 0 : PointerGetDatum(items[i]);
    }
    int dims[1] = {n};
    int lbs[1] = {1};
    return construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
}

void execute(SPIPlanPtr plan, Datum *values, const char *what)
{
    RunAs as;
    // The statements name every object and operator qualified and fire no user code:
    // search_path need not be pinned (privileges.hpp).
    run_as_begin_unpinned(&as, extension_owner());
    int rc = SPI_execute_plan(plan, values, nullptr, false, 0);
    run_as_end(&as);
    if (rc < 0) elog(ERROR, "denorm: %s of search documents failed: %s", what, SPI_result_code_string(rc));
}

}  // namespace

void doc_list_add(DocList *list, const SearchDoc &doc)
{
    if (list->n == list->capacity) {
        list->capacity = list->capacity ? list->capacity * 2 : 16;
        list->docs = static_cast<SearchDoc *>(list->docs ? repalloc_huge(list->docs, sizeof(SearchDoc) * list->capacity)
                                                         : palloc(sizeof(SearchDoc) * list->capacity));
    }
    list->docs[list->n++] = doc;
}

void compute_document(const SearchSourceDef *def, TupleTableSlot *slot, ExprContext *econtext, DocList *list)
{
    econtext->ecxt_scantuple = slot;
    SearchDoc doc{};
    bool isnull;
    doc.key = copied_text(def->states[static_cast<int>(SearchPart::DocKey)], econtext, &isnull);
    if (!doc.key) {
        ResetExprContext(econtext);
        return;
    }
    doc.visible = true;
    if (ExprState *filter = def->states[static_cast<int>(SearchPart::Filter)]) {
        Datum d = ExecEvalExprSwitchContext(filter, econtext, &isnull);
        doc.visible = !isnull && DatumGetBool(d);
    }
    if (doc.visible) {
        doc.title = copied_text(def->states[static_cast<int>(SearchPart::Title)], econtext, &isnull);
        doc.body = copied_text(def->states[static_cast<int>(SearchPart::Body)], econtext, &isnull);
        if (ExprState *boost = def->states[static_cast<int>(SearchPart::Boost)]) {
            Datum d = ExecEvalExprSwitchContext(boost, econtext, &isnull);
            doc.boost = isnull ? 0 : DatumGetFloat4(d);
        }
    }
    doc.ordinal = list->n;
    doc_list_add(list, doc);
    ResetExprContext(econtext);
}

int compare_keys(const text *a, const text *b)
{
    size_t la = VARSIZE_ANY_EXHDR(a), lb = VARSIZE_ANY_EXHDR(b);
    int c = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(la, lb));
    if (c != 0) return c;
    return la < lb ? -1 : la > lb;
}

bool same_document(const SearchDoc &a, const SearchDoc &b)
{
    if (a.visible != b.visible) return false;
    if (!a.visible) return true;
    return same_text(a.title, b.title) && same_text(a.body, b.body) && a.boost == b.boost;
}

void doc_writes_delete(DocWrites *writes, text *key)
{
    if (writes->ndeletes == writes->delete_capacity) {
        writes->delete_capacity = writes->delete_capacity ? writes->delete_capacity * 2 : 16;
        writes->deletes = static_cast<text **>(writes->deletes ? repalloc_huge(writes->deletes, sizeof(text *) * writes->delete_capacity)
                                                               : palloc(sizeof(text *) * writes->delete_capacity));
    }
    writes->deletes[writes->ndeletes++] = key;
}

void diff_documents(DocList *old_docs, DocList *new_docs, DocWrites *writes)
{
    sort_unique(old_docs);
    sort_unique(new_docs);
    int i = 0, j = 0;
    while (i < old_docs->n || j < new_docs->n) {
        int c = i == old_docs->n ? 1 : j == new_docs->n ? -1 : compare_keys(old_docs->docs[i].key, new_docs->docs[j].key);
        if (c < 0) {
            if (old_docs->docs[i].visible) doc_writes_delete(writes, old_docs->docs[i].key);
            i++;
        } else if (c > 0) {
            if (new_docs->docs[j].visible) doc_list_add(&writes->upserts, new_docs->docs[j]);
            j++;
        } else {
            const SearchDoc &o = old_docs->docs[i++];
            const SearchDoc &n = new_docs->docs[j++];
            if (n.visible && !same_document(o, n))
                doc_list_add(&writes->upserts, n);
            else if (!n.visible && o.visible)
                doc_writes_delete(writes, o.key);
        }
    }
}

void write_documents(const char *name, Oid language, DocWrites *writes)
{
    if (writes->ndeletes == 0 && writes->upserts.n == 0) return;
    prepare_plans();
    Datum source = CStringGetTextDatum(name);
    if (writes->ndeletes > 0) {
        Datum values[2] = {source, PointerGetDatum(text_array(writes->deletes, writes->ndeletes))};
        execute(delete_plan, values, "delete");
    }
    int n = writes->upserts.n;
    if (n > 0) {
        auto **keys = static_cast<text **>(palloc(sizeof(text *) * n));
        auto **titles = static_cast<text **>(palloc(sizeof(text *) * n));
        auto **bodies = static_cast<text **>(palloc(sizeof(text *) * n));
        auto *boosts = static_cast<Datum *>(palloc(sizeof(Datum) * n));
        for (int i = 0; i < n; i++) {
            const SearchDoc &doc = writes->upserts.docs[i];
            keys[i] = doc.key;
            titles[i] = doc.title;
            bodies[i] = doc.body;
            boosts[i] = Float4GetDatum(doc.boost);
        }
        Datum values[6] = {source, ObjectIdGetDatum(language), PointerGetDatum(text_array(keys, n)),
                           PointerGetDatum(text_array(titles, n)), PointerGetDatum(text_array(bodies, n)),
                           PointerGetDatum(construct_array(boosts, n, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT))};
        execute(upsert_plan, values, "upsert");
    }
}

void delete_source_documents(char **names, int n)
{
    prepare_plans();
    auto **texts = static_cast<text **>(palloc(sizeof(text *) * (n + 1)));
    for (int i = 0; i < n; i++) texts[i] = cstring_to_text(names[i]);
    Datum values[1] = {PointerGetDatum(text_array(texts, n))};
    execute(delete_sources_plan, values, "delete");
}

}  // namespace denorm::pg
