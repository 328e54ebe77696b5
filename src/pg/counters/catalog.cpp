// catalog.cpp — per-backend cache of counter definitions and target initialisers.
// Layer: pg glue. Regime: PostgreSQL (plain structs in MemoryContexts, no C++ objects).
// An entry is rebuilt after a relcache invalidation of its source or target; the
// replaced entry is retired, not freed, until the transaction ends, because a
// trigger further up the stack (a cascade) may still be using it.
#include "pg/counters/catalog.hpp"

extern "C" {
#include "access/table.h"
#include "access/xact.h"
#include "lib/stringinfo.h"
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

#include "core/statements.hpp"
#include "pg/callbacks.hpp"
#include "pg/errors.hpp"
#include "pg/counters/definition_loader.hpp"
#include "pg/counters/expression.hpp"
#include "pg/counters/latest_carry.hpp"
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

// Parameter types of a writer's statements: `first` leading ones, then the source key.
Oid *parameter_types(const CounterDef *def, std::initializer_list<Oid> first)
{
    Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (first.size() + def->nkeys + 1)));
    int n = 0;
    for (Oid t : first) types[n++] = t;
    for (int k = 0; k < def->nkeys; k++) types[n++] = def->key_types[k];
    return types;
}

// The statements of a count or sum (core/statements): its UPDATE and, for
// create_missing, its upsert; or, deferred, its pending insert. $1 the delta.
void prepare_additive_plans(CounterDef *def, const LoadedDefinition &loaded)
{
    Oid *types = parameter_types(def, {delta_type_of(def->delta_kind)});
    int nargs = def->nkeys + 1;
    if (def->deferred) {
        char *sql = guarded_string([&] { return core::pending_insert_statement(to_core(loaded)); });
        def->pending_plan = prepare_kept(sql, nargs, types);
        def->pending_owner = extension_owner();
        return;
    }
    char *update_sql = guarded_string([&] { return core::apply_statement(to_core(loaded)); });
    def->update_plan = prepare_kept(update_sql, nargs, types);
    // The target's BEFORE INSERT trigger computes a created row's counters from the
    // sources, so the inserted value is overwritten; on conflict the delta applies.
    if (def->create_missing) {
        char *upsert_sql = guarded_string([&] { return core::upsert_statement(to_core(loaded)); });
        def->upsert_plan = prepare_kept(upsert_sql, nargs, types);
    }
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

// The statements of a min, max or latest (core/statements): parameters $1, $2 of the
// value's type (the best added and removed value), then the source key. The group's
// recompute reads every definition on the target.
void prepare_extremum_plans(CounterDef *def, const LoadedDefinition &loaded)
{
    LoadedDefinitions on_target = load_definitions_on(def->target);
    char *sql[4] = {nullptr, nullptr, nullptr, nullptr};
    guarded([&] {
        core::ExtremumStatements s = core::extremum_statements(to_core(on_target), to_core(loaded));
        sql[0] = palloc_string(s.lock);
        sql[1] = palloc_string(s.recompute);
        if (s.create) sql[2] = palloc_string(*s.create);
        if (s.fast) sql[3] = palloc_string(*s.fast);
    });
    Oid value_type = def->value ? exprType(reinterpret_cast<Node *>(def->value)) : INT4OID;
    Oid *types = parameter_types(def, {value_type, value_type});
    int nargs = def->nkeys + 2;
    def->lock_plan = prepare_kept(sql[0], nargs, types);
    def->recompute_plan = prepare_kept(sql[1], nargs, types);
    if (sql[2]) def->create_plan = prepare_kept(sql[2], nargs, types);
    if (sql[3]) def->fast_plan = prepare_kept(sql[3], nargs, types);
}

void load_source(SourceEntry *entry)
{
    LoadedDefinitions loaded = load_definitions_from(entry->key);
    MemoryContext cxt = entry->context;
    int n = loaded.n;
    entry->defs.source = entry->key;
    entry->defs.ndefs = n;
    entry->defs.context = cxt;
    entry->defs.combined = nullptr;
    entry->defs.defs = static_cast<CounterDef *>(MemoryContextAllocZero(cxt, sizeof(CounterDef) * (n + 1)));
    Oid source_owner = owner_of(entry->key);
    for (int i = 0; i < n; i++) {
        const LoadedDefinition &l = loaded.defs[i];
        CounterDef *def = &entry->defs.defs[i];
        def->name = MemoryContextStrdup(cxt, l.name);
        def->source = entry->key;
        def->owner = &entry->defs;
        def->target_sql = MemoryContextStrdup(cxt, l.target_sql);
        def->column_ident = MemoryContextStrdup(cxt, l.target_columns[0].ident);
        def->touch_ident = l.touch ? MemoryContextStrdup(cxt, l.touch) : nullptr;
        def->key_idents = static_cast<const char **>(MemoryContextAlloc(cxt, sizeof(char *) * (l.nkeys + 1)));
        for (int k = 0; k < l.nkeys; k++) def->key_idents[k] = MemoryContextStrdup(cxt, l.target_key[k].ident);
        def->kind = l.kind;
        def->is_count = def->kind == core::Aggregate::Count;
        def->target = l.target;
        def->target_owner = owner_of(def->target);
        def->target_column = MemoryContextStrdup(cxt, l.target_columns[0].name);
        def->nkeys = l.nkeys;
        def->source_attnums = static_cast<AttrNumber *>(MemoryContextAlloc(cxt, sizeof(AttrNumber) * (l.nkeys + 1)));
        def->key_types = static_cast<Oid *>(MemoryContextAlloc(cxt, sizeof(Oid) * (l.nkeys + 1)));
        def->key_order = static_cast<int *>(MemoryContextAlloc(cxt, sizeof(int) * (l.nkeys + 1)));
        def->key_typlen = static_cast<int16 *>(MemoryContextAlloc(cxt, sizeof(int16) * (l.nkeys + 1)));
        def->key_byval = static_cast<bool *>(MemoryContextAlloc(cxt, sizeof(bool) * (l.nkeys + 1)));
        def->target_key = static_cast<char **>(MemoryContextAlloc(cxt, sizeof(char *) * (l.nkeys + 1)));
        for (int k = 0; k < l.nkeys; k++) {
            def->target_key[k] = MemoryContextStrdup(cxt, l.target_key[k].name);
            def->source_attnums[k] = get_attnum(entry->key, l.source_key[k].name);
            def->key_types[k] = l.source_key[k].type_oid;
            get_typlenbyval(def->key_types[k], &def->key_typlen[k], &def->key_byval[k]);
        }
        // The same target row has the same key in every definition (core::key_order).
        guarded([&] {
            std::vector<size_t> order = core::key_order(to_core(l).target_key);
            for (int k = 0; k < l.nkeys; k++) def->key_order[k] = static_cast<int>(order[k]);
        });
        def->create_missing = l.create_missing;
        def->published = l.published;
        def->filter = planned_expression(l.filter, source_owner, cxt);
        def->value = planned_expression(l.value, source_owner, cxt);
        if (is_extremum(def)) {
            StringInfoData group;
            initStringInfo(&group);
            for (int c = 0; c < l.ncolumns; c++) appendStringInfo(&group, "%s%s", c ? "," : "", l.target_columns[c].name);
            def->group = MemoryContextStrdup(cxt, group.data);
            if (def->value) set_value_comparison(def, cxt);
            prepare_extremum_plans(def, l);
            if (def->kind == core::Aggregate::Latest && def->fast_plan && !def->touch_ident) {
                auto **values = static_cast<Expr **>(MemoryContextAllocZero(cxt, sizeof(Expr *) * (l.nvalues + 1)));
                for (int v = 0; v < l.nvalues; v++) values[v] = planned_expression(l.source_values[v], source_owner, cxt);
                def->carry = latest_carry(l, values, cxt);
            }
        } else {
            def->delta_kind = def->value ? delta_kind_of(exprType(reinterpret_cast<Node *>(def->value))) : DeltaKind::Int;
            def->deferred = l.deferred;
            prepare_additive_plans(def, l);
        }
    }
}

void load_target(TargetEntry *entry)
{
    LoadedDefinitions loaded = load_definitions_on(entry->key);
    TargetInit *init = &entry->init;
    init->target = entry->key;
    init->owner = owner_of(entry->key);
    char *query = nullptr;
    // The arrays are made in the entry's context, inside the guarded section with
    // allocations that cannot raise an error.
    MemoryContext old = MemoryContextSwitchTo(entry->context);
    guarded([&] {
        core::InitQuery q = core::init_query(to_core(loaded));
        query = palloc_string(q.query);
        init->nkeys = static_cast<int>(q.key_columns.size());
        init->ncounters = static_cast<int>(q.counter_columns.size());
        init->key_columns = palloc_strings(q.key_columns);
        init->counter_columns = palloc_strings(q.counter_columns);
    });
    init->key_types = static_cast<Oid *>(palloc(sizeof(Oid) * (init->nkeys + 1)));
    init->ndefs = loaded.n;
    init->sources = static_cast<Oid *>(palloc(sizeof(Oid) * (loaded.n + 1)));
    for (int i = 0; i < loaded.n; i++) {
        int s = 0;
        while (s < init->nsources && init->sources[s] != loaded.defs[i].source) s++;
        if (s == init->nsources) init->sources[init->nsources++] = loaded.defs[i].source;
    }
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
    int ncombined = 0;
    for (CombinedPlan *c = e->defs.combined; c; c = c->next) ncombined++;
    auto *plans = static_cast<SPIPlanPtr *>(
        MemoryContextAllocZero(e->context, sizeof(SPIPlanPtr) * (8 * e->defs.ndefs + ncombined + 1)));
    *n = 0;
    for (CombinedPlan *c = e->defs.combined; c; c = c->next) plans[(*n)++] = c->plan;
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

SPIPlanPtr combined_apply_plan(CounterDef **defs, int n)
{
    SourceDefs *owner = defs[0]->owner;
    StringInfoData names;
    initStringInfo(&names);
    for (int i = 0; i < n; i++) appendStringInfo(&names, "%s%s", i ? "," : "", defs[i]->name);
    for (CombinedPlan *c = owner->combined; c; c = c->next)
        if (strcmp(c->names, names.data) == 0) return c->plan;
    char *sql = guarded_string([&] {
        std::vector<core::ColumnChange> changes;
        for (int i = 0; i < n; i++) {
            core::ColumnChange change{defs[i]->column_ident, std::nullopt};
            if (defs[i]->touch_ident) change.touch = std::string(defs[i]->touch_ident);
            changes.push_back(change);
        }
        return core::combined_apply_statement(defs[0]->target_sql,
                                              std::vector<std::string>(defs[0]->key_idents, defs[0]->key_idents + defs[0]->nkeys),
                                              changes);
    });
    Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (n + defs[0]->nkeys + 1)));
    for (int i = 0; i < n; i++) types[i] = delta_type_of(defs[i]->delta_kind);
    for (int k = 0; k < defs[0]->nkeys; k++) types[n + k] = defs[0]->key_types[k];
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    SPIPlanPtr plan = prepare_kept(sql, n + defs[0]->nkeys, types);
    SPI_finish();
    auto *c = static_cast<CombinedPlan *>(MemoryContextAllocZero(owner->context, sizeof(CombinedPlan)));
    c->names = MemoryContextStrdup(owner->context, names.data);
    c->plan = plan;
    c->next = owner->combined;
    owner->combined = c;
    return plan;
}

Oid partition_root(Oid relid)
{
    if (!get_rel_relispartition(relid)) return relid;
    List *ancestors = get_partition_ancestors(relid);
    return llast_oid(ancestors);
}

}  // namespace denorm::pg
