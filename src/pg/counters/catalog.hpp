// catalog.hpp — the per-backend cache of counter definitions, keyed by the root
// source table (and by target table for the row-initialising trigger). Built
// from denorm._definitions on first use, dropped by relcache invalidation of the
// source or target (create/drop_counter send one). Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
#include "executor/spi.h"
#include "nodes/execnodes.h"
#include "utils/hsearch.h"
#include "fmgr.h"
#include "nodes/primnodes.h"
}

#include "core/definition_rules.hpp"
#include "pg/stats/stats.hpp"

namespace denorm::pg {

// How a count or sum accumulates: its delta travels to SQL as int8, numeric or float8.
enum class DeltaKind { Int, Numeric, Float };

struct CounterDef {
    char *name;
    Oid source;                 // the root source
    core::Aggregate kind;
    bool is_count;              // count; else sum of `value` (count and sum only)
    Oid target;
    Oid target_owner;
    char *target_column;
    int nkeys;
    AttrNumber *source_attnums;  // key columns in the root source's descriptor
    char **target_key;          // the target columns they match, in the same order
    // For one UPDATE of several definitions' changes to a row (combined_apply_plan):
    const char *target_sql;     // quoted, schema-qualified
    const char *column_ident;   // quoted target column
    const char *touch_ident;    // quoted touch column, or NULL
    const char **key_idents;    // quoted target key columns, in the order of target_key
    struct SourceDefs *owner;   // the entry this definition belongs to
    Oid *key_types;
    int16 *key_typlen;          // of the key types (looked up once, not per statement)
    bool *key_byval;
    int *key_order;             // key positions sorted by target column name: the
                                // same target row has the same key in every definition
    Expr *filter;               // planned; NULL = every row
    Expr *value;                // planned; NULL for count
    DeltaKind delta_kind;
    bool create_missing;
    SPIPlanPtr update_plan;     // UPDATE target SET col = col + $1 WHERE key = $2..
    SPIPlanPtr upsert_plan;     // INSERT .. ON CONFLICT DO UPDATE (create_missing only)
    bool deferred;              // the change goes to denorm._pending_deltas instead:
    SPIPlanPtr pending_plan;    // INSERT of ($1 delta, $2.. source key)
    Oid pending_owner;          // as the extension's owner

    // min, max and latest: values are recomputed, not added (core::extremum_statements).
    char *group;                // target columns written, joined: definitions with the same
                                // group on one target share one recomputation
    FmgrInfo *value_cmp;        // min, max: btree comparison of values
    Oid value_collation;
    int16 value_typlen;
    bool value_byval;
    SPIPlanPtr fast_plan;       // min, max: fold an added value in unless a removed one may have won
    SPIPlanPtr lock_plan;       // lock the target row
    SPIPlanPtr recompute_plan;  // recompute the group's columns by index probes
    SPIPlanPtr create_plan;     // insert a missing target row (create_missing only)
    struct LatestCarry *carry;  // latest: the writer keeps its newest added row (latest_carry.hpp);
                                // NULL when it cannot

    bool published;             // each target row it changes gets an outbox entry (82_publish.sql)
    struct DirectPlan *direct;  // count/sum: how to write the row without a statement
                                // (direct_update.cpp); built on first use
    struct InitScan *init_scan; // how a new target row counts this definition's source rows
                                // by an index scan (init_scan.cpp); built on first use
    // The expression states of filter, value and a latest's carried values, built on first
    // use in the entry's context and kept with it (row_contribution.cpp): building them
    // per statement cost the writers more than evaluating them.
    bool states_built;
    ExprState *filter_state;
    ExprState *value_state;
    ExprState **carry_states;
};

inline bool is_extremum(const CounterDef *def) { return core::family_of(def->kind) != core::Family::Additive; }

// How denorm.stats lists a definition: 'counter' or 'latest' (stats.hpp).
inline StatKind stat_kind_of(const CounterDef *def)
{
    return def->kind == core::Aggregate::Latest ? StatKind::Latest : StatKind::Counter;
}

struct CombinedPlan {
    char *names;                // the definitions it writes, comma-separated, in apply order
    SPIPlanPtr plan;
    CombinedPlan *next;
};

struct SourceDefs {
    Oid source;                 // root of the partition tree
    int ndefs;
    CounterDef *defs;           // ordered by name: the global order of target writes
    MemoryContext context;      // the entry's
    CombinedPlan *combined;     // prepared on first use
};

// The UPDATE writing the changes of defs[0..n-1] (count/sum, not deferred, one target row,
// all from one source) at once: $1..$n their deltas, then the key of defs[0] in the
// order of its target_key. Prepared on first use and kept with the definitions.
SPIPlanPtr combined_apply_plan(CounterDef **defs, int n);

// Definitions fed by `root_source`, or NULL if none. Valid until the next call
// that may process invalidations (any catalog access); callers copy what they need
// or finish before that.
SourceDefs *source_definitions(Oid root_source);

struct TargetInit {
    Oid target;
    Oid owner;
    int nkeys;
    char **key_columns;         // target columns passed as $1..$n
    Oid *key_types;
    int ncounters;
    char **counter_columns;     // output columns of the query, in order
    SPIPlanPtr plan;
    int ndefs;                  // every definition on the target, suspended ones included
    int nsources;               // their sources (roots), each once
    Oid *sources;
};

// How to start a new row of `target` at the right values, or NULL if no counter writes it.
TargetInit *target_init(Oid target);

// Root of rel's partition tree (rel itself when not a partition).
Oid partition_root(Oid relid);

void register_cache_callbacks();

// A hash table keyed by Oid, in `context`.
HTAB *make_oid_hash(const char *name, Size entry_size, MemoryContext context, long size);

// A plan prepared under search_path = pg_catalog, pg_temp and kept for the backend's
// life (SPI must be connected).
SPIPlanPtr prepare_kept(const char *sql, int nargs, Oid *types);

}  // namespace denorm::pg
