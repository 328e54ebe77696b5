// search_sources.hpp — the per-backend cache of search sources, keyed by the root table
// they read: loaded from denorm._search_sources on first use, their expressions parsed,
// typed (search_expressions.hpp) and planned as the table's owner; dropped by a relcache
// invalidation of the table (create/drop_search_source send one). A replaced entry's
// memory is handed to the transaction, so a trigger further up the stack that still uses
// it keeps it until the transaction ends. Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
#include "nodes/execnodes.h"
}

#include "pg/search/search_expressions.hpp"

namespace denorm::pg {

struct SearchSourceDef {
    char *name;
    Oid language;                      // regconfig
    Expr *exprs[kSearchParts];         // planned, indexed by SearchPart; NULL when not given
    ExprState *states[kSearchParts];   // built on first use, kept with the entry
    bool states_built;
};

struct SearchSourceSet {
    Oid root;
    int n;
    SearchSourceDef *defs;  // in name order
    MemoryContext context;  // the entry's
};

// The search sources reading `root` (a plain table or the root of a partition tree), or
// NULL when none. Valid until the end of the transaction.
SearchSourceSet *search_sources_of(Oid root);

// Builds the expression states of def (once; they are kept with its entry).
void search_source_states(SearchSourceSet *set, SearchSourceDef *def);

}  // namespace denorm::pg
