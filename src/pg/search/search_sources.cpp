// search_sources.cpp — see search_sources.hpp. Layer: pg glue. Regime: PostgreSQL (plain
// structs in memory contexts, no C++ objects).
#include "pg/search/search_sources.hpp"

extern "C" {
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
}

#include "pg/callbacks.hpp"
#include "pg/counters/catalog.hpp"
#include "pg/counters/expression.hpp"
#include "pg/privileges.hpp"

namespace denorm::pg {

namespace {

struct Entry {
    Oid root;
    bool valid;
    SearchSourceSet set;
};

HTAB *cache = nullptr;
// Bumped by every relcache invalidation: an entry loaded while it moved is used once and
// loaded again at its next lookup.
uint64 generation = 0;

void on_relcache_invalidation(Datum, Oid relid)
{
    generation++;
    if (!cache) return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, cache);
    while (auto *e = static_cast<Entry *>(hash_seq_search(&status)))
        if (relid == InvalidOid || e->root == relid) e->valid = false;
}

char *text_field(HeapTuple row, TupleDesc desc, int field)
{
    bool isnull;
    Datum d = SPI_getbinval(row, desc, field, &isnull);
    return isnull ? nullptr : TextDatumGetCString(d);
}

struct ParseArgs {
    Relation rel;
    SearchPart part;
    const char *text;
    Node *expr;
};
void parse_fixed(void *arg)
{
    auto *a = static_cast<ParseArgs *>(arg);
    a->expr = search_expression(a->rel, a->part, a->text);
}

// The catalog rows of `root`'s sources, parsed (under the pinned search_path: the stored
// text names what it named at creation, whoever loads it) and planned as its owner.
void load(Entry *entry)
{
    SearchSourceSet *set = &entry->set;
    Oid types[1] = {OIDOID};
    Datum args[1] = {ObjectIdGetDatum(entry->root)};
    if (SPI_execute_with_args("SELECT name, language::pg_catalog.oid, doc_key, title, body, filter, boost "
                              "FROM denorm._search_sources WHERE source::pg_catalog.oid OPERATOR(pg_catalog.=) $1 "
                              "ORDER BY name",
                              1, types, args, nullptr, true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._search_sources");
    SPITupleTable *rows = SPI_tuptable;
    set->root = entry->root;
    set->n = static_cast<int>(SPI_processed);
    set->defs = static_cast<SearchSourceDef *>(MemoryContextAllocZero(set->context, sizeof(SearchSourceDef) * (set->n + 1)));
    if (set->n == 0) return;
    Oid owner = owner_of(entry->root);
    Relation rel = table_open(entry->root, AccessShareLock);
    for (int i = 0; i < set->n; i++) {
        HeapTuple row = rows->vals[i];
        SearchSourceDef *def = &set->defs[i];
        bool isnull;
        def->name = MemoryContextStrdup(set->context, text_field(row, rows->tupdesc, 1));
        def->language = DatumGetObjectId(SPI_getbinval(row, rows->tupdesc, 2, &isnull));
        for (int p = 0; p < kSearchParts; p++) {
            ParseArgs parse{rel, static_cast<SearchPart>(p), text_field(row, rows->tupdesc, 3 + p), nullptr};
            with_fixed_search_path(parse_fixed, &parse);
            def->exprs[p] = planned_expression(parse.expr, owner, set->context);
        }
    }
    table_close(rel, NoLock);
}

}  // namespace

SearchSourceSet *search_sources_of(Oid root)
{
    add_relcache_callback(on_relcache_invalidation);
    if (!cache) cache = make_oid_hash("denorm search sources", sizeof(Entry), CacheMemoryContext, 16);
    bool found;
    auto *entry = static_cast<Entry *>(hash_search(cache, &root, HASH_ENTER, &found));
    if (found && entry->valid) return entry->set.n > 0 ? &entry->set : nullptr;
    // A replaced entry may still be in use further up the stack: the transaction frees it.
    if (found && entry->set.context) MemoryContextSetParent(entry->set.context, TopTransactionContext);
    memset(&entry->set, 0, sizeof entry->set);
    entry->valid = false;
    entry->set.context = AllocSetContextCreate(CacheMemoryContext, "denorm search sources", ALLOCSET_SMALL_SIZES);
    uint64 loaded_at = generation;
    // Read and parsed as the extension's owner, as counter definitions are: the writer needs
    // no right on the catalog; its own EXECUTE rights are checked when the expression states
    // are built, as a CHECK constraint's are.
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    RunAs as;
    run_as_begin(&as, extension_owner());
    load(entry);
    run_as_end(&as);
    SPI_finish();
    entry->valid = loaded_at == generation;
    return entry->set.n > 0 ? &entry->set : nullptr;
}

void search_source_states(SearchSourceSet *set, SearchSourceDef *def)
{
    if (def->states_built) return;
    MemoryContext old = MemoryContextSwitchTo(set->context);
    for (int p = 0; p < kSearchParts; p++) def->states[p] = def->exprs[p] ? ExecInitExpr(def->exprs[p], nullptr) : nullptr;
    MemoryContextSwitchTo(old);
    def->states_built = true;
}

}  // namespace denorm::pg
