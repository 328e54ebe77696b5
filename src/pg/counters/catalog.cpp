// catalog.cpp — per-backend cache of counter definitions and target initialisers.
// Layer: pg glue. Regime: PostgreSQL (plain structs in MemoryContexts, no C++ objects).
// An entry is rebuilt after a relcache invalidation of its source or target; the
// replaced entry is retired, not freed, until the transaction ends, because a
// trigger further up the stack (a cascade) may still be using it.
#include "pg/counters/catalog.hpp"

extern "C" {
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

#include <initializer_list>

#include "core/counter_statements.hpp"
#include "pg/callbacks.hpp"
#include "pg/errors.hpp"
#include "pg/counters/expression.hpp"
#include "pg/privileges.hpp"

namespace denorm::pg {

namespace {

struct SourceEntry {
    Oid key;
    bool valid;
    MemoryContext context;
    SourceDefs defs;
};

struct TargetEntry {
    Oid key;
    bool valid;
    MemoryContext context;
    TargetInit init;
    bool has_init;
};

// What a replaced entry owned, freed at transaction end.
struct Retired {
    MemoryContext context;
    int nplans;
    SPIPlanPtr *plans;
    Retired *next;
};

HTAB *source_cache = nullptr;
// Bumped by every relcache invalidation; an entry loaded while it moved is used
// once and reloaded at its next lookup.
uint64 invalidation_generation = 0;
HTAB *target_cache = nullptr;
Retired *retired = nullptr;

void retire(MemoryContext context, SPIPlanPtr *plans, int nplans)
{
    auto *r = static_cast<Retired *>(MemoryContextAllocZero(TopMemoryContext, sizeof(Retired)));
    r->context = context;
    r->nplans = nplans;
    r->plans = plans;  // lives in `context`
    r->next = retired;
    retired = r;
}

void free_retired()
{
    while (retired) {
        Retired *r = retired;
        retired = r->next;
        for (int i = 0; i < r->nplans; i++)
            if (r->plans[i]) SPI_freeplan(r->plans[i]);
        MemoryContextDelete(r->context);
        pfree(r);
    }
}

void on_xact_end(XactEvent event, void *)
{
    if (transaction_ended(event))
        free_retired();
}

bool def_touches(const SourceDefs &defs, Oid relid)
{
    for (int i = 0; i < defs.ndefs; i++)
        if (defs.defs[i].target == relid) return true;
    return false;
}

void on_relcache_invalidation(Datum, Oid relid)
{
    HASH_SEQ_STATUS status;
    invalidation_generation++;
    if (source_cache) {
        hash_seq_init(&status, source_cache);
        while (auto *e = static_cast<SourceEntry *>(hash_seq_search(&status)))
            if (relid == InvalidOid || e->key == relid || def_touches(e->defs, relid)) e->valid = false;
    }
    // Initialisers read every source of a target: any change may matter.
    if (target_cache) {
        hash_seq_init(&status, target_cache);
        while (auto *e = static_cast<TargetEntry *>(hash_seq_search(&status))) e->valid = false;
    }
}


Oid rel_owner(Oid relid)
{
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tuple)) elog(ERROR, "cache lookup failed for relation %u", relid);
    Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return owner;
}

char *qualified_name(Oid relid)
{
    return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

char **text_array(Datum array, int *n)
{
    Datum *elems;
    bool *nulls;
    deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
    char **out = static_cast<char **>(palloc(sizeof(char *) * (*n + 1)));
    for (int i = 0; i < *n; i++) out[i] = TextDatumGetCString(elems[i]);
    return out;
}

struct PrepareArgs {
    const char *sql;
    int nargs;
    Oid *types;
    SPIPlanPtr plan;
};
void prepare_fixed(void *arg)
{
    auto *a = static_cast<PrepareArgs *>(arg);
    a->plan = SPI_prepare(a->sql, a->nargs, a->types);
    if (!a->plan) elog(ERROR, "SPI_prepare failed for \"%s\": %s", a->sql, SPI_result_code_string(SPI_result));
    SPI_keepplan(a->plan);
}


struct ParseArgs {
    Relation rel;
    const char *text;
    const char *what;
    Node *expr;
};
void parse_fixed(void *arg)
{
    auto *a = static_cast<ParseArgs *>(arg);
    a->expr = parse_row_expression(a->rel, a->text, a->what);
}

Expr *planned_expression(Relation rel, const char *text, const char *what, MemoryContext into)
{
    ParseArgs args{rel, text, what, nullptr};
    with_fixed_search_path(parse_fixed, &args);
    Expr *planned = expression_planner(reinterpret_cast<Expr *>(args.expr));
    MemoryContext old = MemoryContextSwitchTo(into);
    Expr *copy = static_cast<Expr *>(copyObjectImpl(planned));
    MemoryContextSwitchTo(old);
    return copy;
}

DeltaKind delta_kind_of(Oid type)
{
    switch (type) {
    case INT2OID:
    case INT4OID:
    case INT8OID: return DeltaKind::Int;
    case FLOAT4OID:
    case FLOAT8OID: return DeltaKind::Float;
    default: return DeltaKind::Numeric;
    }
}

Oid delta_type_of(DeltaKind kind)
{
    switch (kind) {
    case DeltaKind::Int: return INT8OID;
    case DeltaKind::Float: return FLOAT8OID;
    case DeltaKind::Numeric: return NUMERICOID;
    }
    return INT8OID;
}

// Prepares the UPDATE and (for create_missing) upsert of one definition
// (core/counter_statements).
void prepare_def_plans(CounterDef *def, const char *target_column, char **target_key, const char *touch)
{
    // Names quoted first: the core only joins them.
    const char *table = qualified_name(def->target);
    const char *column = quote_identifier(target_column);
    const char *touch_column = touch ? quote_identifier(touch) : nullptr;
    const char **key = static_cast<const char **>(palloc(sizeof(char *) * (def->nkeys + 1)));
    for (int k = 0; k < def->nkeys; k++) key[k] = quote_identifier(target_key[k]);
    int nkeys = def->nkeys;
    auto target = [&] {
        core::AdditiveTarget t;
        t.table = table;
        t.column = column;
        t.key.assign(key, key + nkeys);
        if (touch_column) t.touch = touch_column;
        return t;
    };
    char *update_sql = guarded_string([&] { return core::apply_statement(target()); });
    char *upsert_sql = def->create_missing ? guarded_string([&] { return core::upsert_statement(target()); }) : nullptr;

    Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (def->nkeys + 1)));
    types[0] = delta_type_of(def->delta_kind);
    for (int k = 0; k < def->nkeys; k++) types[k + 1] = def->key_types[k];
    def->update_plan = prepare_kept(update_sql, def->nkeys + 1, types);
    // The target's BEFORE INSERT trigger computes a created row's counters from the
    // sources, so the inserted value is overwritten; on conflict the delta applies.
    if (upsert_sql) def->upsert_plan = prepare_kept(upsert_sql, def->nkeys + 1, types);
}


// How a min or max compares its values: the type's default btree order, under the
// value expression's collation.
void set_value_comparison(CounterDef *def, MemoryContext cxt)
{
    Oid type = exprType(reinterpret_cast<Node *>(def->value));
    TypeCacheEntry *tce = lookup_type_cache(type, TYPECACHE_CMP_PROC_FINFO);
    if (!OidIsValid(tce->cmp_proc_finfo.fn_oid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
                        errmsg("the values of counter \"%s\" (type %s) have no ordering", def->name, format_type_be(type))));
    def->value_cmp = static_cast<FmgrInfo *>(MemoryContextAllocZero(cxt, sizeof(FmgrInfo)));
    fmgr_info_copy(def->value_cmp, &tce->cmp_proc_finfo, cxt);
    def->value_collation = exprCollation(reinterpret_cast<Node *>(def->value));
    get_typlenbyval(type, &def->value_typlen, &def->value_byval);
}

// The statements of a min, max or latest (see denorm._extremum_statements): parameters
// $1, $2 of the value's type (the best added and removed value), then the source key.
void prepare_extremum_plans(CounterDef *def)
{
    Oid argtypes[1] = {TEXTOID};
    Datum args[1] = {CStringGetTextDatum(def->name)};
    if (SPI_execute_with_args("SELECT lock_sql, recompute_sql, create_sql, fast_sql FROM denorm._extremum_statements($1)",
                              1, argtypes, args, nullptr, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "could not read the statements of counter \"%s\"", def->name);
    char *sql[4];
    for (int i = 0; i < 4; i++) sql[i] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1);
    Oid value_type = def->value ? exprType(reinterpret_cast<Node *>(def->value)) : INT4OID;
    Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (def->nkeys + 2)));
    types[0] = types[1] = value_type;
    for (int k = 0; k < def->nkeys; k++) types[k + 2] = def->key_types[k];
    int nargs = def->nkeys + 2;
    def->lock_plan = prepare_kept(sql[0], nargs, types);
    def->recompute_plan = prepare_kept(sql[1], nargs, types);
    if (sql[2]) def->create_plan = prepare_kept(sql[2], nargs, types);
    if (sql[3]) def->fast_plan = prepare_kept(sql[3], nargs, types);
}

// A deferred count or sum appends its changes (denorm._pending_insert_sql).
void prepare_pending_plan(CounterDef *def)
{
    Oid argtypes[1] = {TEXTOID};
    Datum args[1] = {CStringGetTextDatum(def->name)};
    if (SPI_execute_with_args("SELECT denorm._pending_insert_sql($1)", 1, argtypes, args, nullptr, true, 1) !=
            SPI_OK_SELECT ||
        SPI_processed != 1)
        elog(ERROR, "could not read the statement of deferred counter \"%s\"", def->name);
    char *sql = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
    Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (def->nkeys + 1)));
    types[0] = delta_type_of(def->delta_kind);
    for (int k = 0; k < def->nkeys; k++) types[k + 1] = def->key_types[k];
    def->pending_plan = prepare_kept(sql, def->nkeys + 1, types);
    def->pending_owner = extension_owner();
}

void load_source(SourceEntry *entry)
{
    Oid argtypes[1] = {OIDOID};
    Datum args[1] = {ObjectIdGetDatum(entry->key)};
    if (SPI_execute_with_args("SELECT name, kind, target::pg_catalog.oid, target_columns[1], source_key, target_key, "
                              "value, filter, create_missing, touch, "
                              "pg_catalog.array_to_string(target_columns, ','), deferred FROM denorm._definitions "
                              "WHERE source::pg_catalog.oid OPERATOR(pg_catalog.=) $1 AND NOT suspended "
                              "ORDER BY name",
                              1, argtypes, args, nullptr, true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._definitions");
    SPITupleTable *table = SPI_tuptable;
    int n = static_cast<int>(SPI_processed);
    MemoryContext cxt = entry->context;
    entry->defs.source = entry->key;
    entry->defs.ndefs = n;
    entry->defs.defs = static_cast<CounterDef *>(MemoryContextAllocZero(cxt, sizeof(CounterDef) * (n + 1)));
    if (n == 0) return;

    Relation rel = table_open(entry->key, AccessShareLock);
    TupleDesc desc = RelationGetDescr(rel);
    for (int i = 0; i < n; i++) {
        HeapTuple row = table->vals[i];
        TupleDesc rowdesc = table->tupdesc;
        bool isnull;
        CounterDef *def = &entry->defs.defs[i];
        def->name = MemoryContextStrdup(cxt, TextDatumGetCString(SPI_getbinval(row, rowdesc, 1, &isnull)));
        char *kind = TextDatumGetCString(SPI_getbinval(row, rowdesc, 2, &isnull));
        // 'latest' is made by create_latest, never named as an aggregate.
        def->kind = core::parse_aggregate(kind).value_or(core::Aggregate::Latest);
        def->is_count = def->kind == core::Aggregate::Count;
        def->target = DatumGetObjectId(SPI_getbinval(row, rowdesc, 3, &isnull));
        def->target_owner = rel_owner(def->target);
        def->target_column = MemoryContextStrdup(cxt, TextDatumGetCString(SPI_getbinval(row, rowdesc, 4, &isnull)));
        int nsource, ntarget;
        char **source_key = text_array(SPI_getbinval(row, rowdesc, 5, &isnull), &nsource);
        char **target_key = text_array(SPI_getbinval(row, rowdesc, 6, &isnull), &ntarget);
        def->nkeys = nsource;
        def->source_attnums = static_cast<AttrNumber *>(MemoryContextAlloc(cxt, sizeof(AttrNumber) * nsource));
        def->key_order = static_cast<int *>(MemoryContextAlloc(cxt, sizeof(int) * nsource));
        for (int k = 0; k < nsource; k++) {
            int pos = k;  // insertion sort by target column name
            while (pos > 0 && strcmp(target_key[def->key_order[pos - 1]], target_key[k]) > 0) {
                def->key_order[pos] = def->key_order[pos - 1];
                pos--;
            }
            def->key_order[pos] = k;
        }
        def->key_types = static_cast<Oid *>(MemoryContextAlloc(cxt, sizeof(Oid) * nsource));
        for (int k = 0; k < nsource; k++) {
            AttrNumber attnum = get_attnum(entry->key, source_key[k]);
            if (attnum == InvalidAttrNumber)
                ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                                errmsg("source key column \"%s\" of counter \"%s\" does not exist", source_key[k],
                                       def->name)));
            def->source_attnums[k] = attnum;
            def->key_types[k] = TupleDescAttr(desc, attnum - 1)->atttypid;
        }
        bool value_null, filter_null, touch_null;
        Datum value = SPI_getbinval(row, rowdesc, 7, &value_null);
        Datum filter = SPI_getbinval(row, rowdesc, 8, &filter_null);
        def->create_missing = DatumGetBool(SPI_getbinval(row, rowdesc, 9, &isnull));
        Datum touch = SPI_getbinval(row, rowdesc, 10, &touch_null);
        // Planning may fold calls of the expressions' functions: as the source's owner,
        // who defined them, never as the extension's owner.
        RunAs as_definer;
        run_as_begin(&as_definer, rel->rd_rel->relowner);
        def->filter = filter_null ? nullptr : planned_expression(rel, TextDatumGetCString(filter), "filter", cxt);
        def->value = value_null ? nullptr : planned_expression(rel, TextDatumGetCString(value), "value", cxt);
        run_as_end(&as_definer);
        if (is_extremum(def)) {
            def->group = MemoryContextStrdup(cxt, TextDatumGetCString(SPI_getbinval(row, rowdesc, 11, &isnull)));
            if (def->value) set_value_comparison(def, cxt);
            prepare_extremum_plans(def);
        } else {
            def->delta_kind = def->value ? delta_kind_of(exprType(reinterpret_cast<Node *>(def->value))) : DeltaKind::Int;
            def->deferred = DatumGetBool(SPI_getbinval(row, rowdesc, 12, &isnull));
            if (def->deferred)
                prepare_pending_plan(def);
            else
                prepare_def_plans(def, def->target_column, target_key, touch_null ? nullptr : TextDatumGetCString(touch));
        }
    }
    table_close(rel, NoLock);
}

void load_target(TargetEntry *entry)
{
    Oid argtypes[1] = {OIDOID};
    Datum args[1] = {ObjectIdGetDatum(entry->key)};
    if (SPI_execute_with_args("SELECT query, key_columns, counter_columns FROM denorm._init_query($1::pg_catalog.regclass)",
                              1, argtypes, args, nullptr, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "could not read the initialiser of a denorm target");
    HeapTuple row = SPI_tuptable->vals[0];
    TupleDesc rowdesc = SPI_tuptable->tupdesc;
    bool isnull;
    char *query = TextDatumGetCString(SPI_getbinval(row, rowdesc, 1, &isnull));
    TargetInit *init = &entry->init;
    MemoryContext old = MemoryContextSwitchTo(entry->context);
    init->target = entry->key;
    init->owner = rel_owner(entry->key);
    init->key_columns = text_array(SPI_getbinval(row, rowdesc, 2, &isnull), &init->nkeys);
    init->counter_columns = text_array(SPI_getbinval(row, rowdesc, 3, &isnull), &init->ncounters);
    init->key_types = static_cast<Oid *>(palloc(sizeof(Oid) * (init->nkeys + 1)));
    MemoryContextSwitchTo(old);
    for (int k = 0; k < init->nkeys; k++) init->key_types[k] = get_atttype(entry->key, get_attnum(entry->key, init->key_columns[k]));
    entry->has_init = init->ncounters > 0;
    if (entry->has_init) init->plan = prepare_kept(query, init->nkeys, init->key_types);
}

template <typename Entry>
Entry *lookup(HTAB *cache, Oid key, void (*load)(Entry *), SPIPlanPtr *(*plans_of)(Entry *, int *))
{
    bool found;
    auto *entry = static_cast<Entry *>(hash_search(cache, &key, HASH_ENTER, &found));
    if (found && entry->valid) return entry;
    if (found && entry->context) {
        int nplans;
        SPIPlanPtr *plans = plans_of(entry, &nplans);
        retire(entry->context, plans, nplans);
    }
    // Start from a clean payload: a load that failed half-way leaves nothing behind
    // but a context (retired at the next lookup) and valid = false.
    memset(reinterpret_cast<char *>(entry) + sizeof(Oid), 0, sizeof(Entry) - sizeof(Oid));
    entry->context = AllocSetContextCreate(CacheMemoryContext, "denorm definitions", ALLOCSET_SMALL_SIZES);
    uint64 generation = invalidation_generation;
    // Read and prepared as the extension's owner: the writer needs no right on the
    // catalog or on its statement builders, and nothing here runs a user's code.
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    RunAs as;
    run_as_begin(&as, extension_owner());
    load(entry);
    run_as_end(&as);
    SPI_finish();
    entry->valid = generation == invalidation_generation;
    return entry;
}

SPIPlanPtr *source_plans(SourceEntry *e, int *n)
{
    auto *plans = static_cast<SPIPlanPtr *>(MemoryContextAllocZero(e->context, sizeof(SPIPlanPtr) * (7 * e->defs.ndefs + 1)));
    *n = 0;
    for (int i = 0; i < e->defs.ndefs; i++) {
        CounterDef *def = &e->defs.defs[i];
        for (SPIPlanPtr plan : {def->update_plan, def->upsert_plan, def->pending_plan, def->fast_plan, def->lock_plan,
                                def->recompute_plan, def->create_plan})
            plans[(*n)++] = plan;
    }
    return plans;
}

SPIPlanPtr *target_plans(TargetEntry *e, int *n)
{
    auto *plans = static_cast<SPIPlanPtr *>(MemoryContextAllocZero(e->context, sizeof(SPIPlanPtr)));
    *n = e->has_init ? 1 : 0;
    plans[0] = e->has_init ? e->init.plan : nullptr;
    return plans;
}

}  // namespace

HTAB *make_oid_hash(const char *name, Size entry_size, MemoryContext context, long size)
{
    HASHCTL ctl;
    memset(&ctl, 0, sizeof ctl);
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = entry_size;
    ctl.hcxt = context;
    return hash_create(name, size, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

// Prepared under a fixed search_path; the plan cache re-uses it on replanning.
SPIPlanPtr prepare_kept(const char *sql, int nargs, Oid *types)
{
    PrepareArgs args{sql, nargs, types, nullptr};
    with_fixed_search_path(prepare_fixed, &args);
    return args.plan;
}

void register_cache_callbacks()
{
    add_relcache_callback(on_relcache_invalidation);
    add_xact_callback(on_xact_end);
}

SourceDefs *source_definitions(Oid root_source)
{
    register_cache_callbacks();
    if (!source_cache) source_cache = make_oid_hash("denorm source definitions", sizeof(SourceEntry), CacheMemoryContext, 32);
    SourceEntry *entry = lookup<SourceEntry>(source_cache, root_source, load_source, source_plans);
    return entry->defs.ndefs > 0 ? &entry->defs : nullptr;
}

TargetInit *target_init(Oid target)
{
    register_cache_callbacks();
    if (!target_cache) target_cache = make_oid_hash("denorm target initialisers", sizeof(TargetEntry), CacheMemoryContext, 32);
    TargetEntry *entry = lookup<TargetEntry>(target_cache, target, load_target, target_plans);
    return entry->has_init ? &entry->init : nullptr;
}

Oid partition_root(Oid relid)
{
    if (!get_rel_relispartition(relid)) return relid;
    List *ancestors = get_partition_ancestors(relid);
    return llast_oid(ancestors);
}

}  // namespace denorm::pg
