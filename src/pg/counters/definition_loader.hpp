// definition_loader.hpp — the one place that turns rows of denorm._definitions into
// definitions: it resolves names against the catalog (quoted identifiers, column
// types), parses the stored expressions against the source (for the writers' planned
// expressions) and deparses them (for every generated statement, core/statements.hpp).
// Layer: pg glue. Regime: PostgreSQL — everything is palloc'd in the current memory
// context; to_core() gives the plain core value, inside a guarded() section.
#pragma once

extern "C" {
#include "postgres.h"
#include "nodes/nodes.h"
#include "utils/array.h"
}

#include "core/definition.hpp"

namespace denorm::pg {

struct LoadedColumn {
    char *name;
    char *ident;  // quoted
    char *type;   // format_type with typmod
    Oid type_oid;
    int32 typmod;
    Oid collation;
    bool collatable;
};

struct LoadedDefinition {
    char *name;
    core::Aggregate kind;
    Oid target;
    Oid source;
    char *target_sql;            // schema-qualified, quoted
    char *source_sql;
    int ncolumns;
    LoadedColumn *target_columns;
    int nkeys;
    LoadedColumn *target_key;
    LoadedColumn *source_key;    // parallel to target_key; types of the source columns
    Node *value;                 // parsed over the source row (varno 1); NULL when none
    Node *filter;
    char *value_sql;             // deparsed; NULL when none
    char *filter_sql;
    int nvalues;
    char **source_values_sql;    // latest
    Node **source_values;        // latest, parsed
    int norder;
    char **order_by_sql;         // latest
    char *touch;                 // quoted; NULL when none
    bool create_missing;
    bool deferred;
    bool published;              // publish_counter'd (82_publish.sql)
};

struct LoadedDefinitions {
    int n;
    LoadedDefinition *defs;      // in name order
};

// The elements of a text[] as C strings (palloc'd; a NULL element is a null pointer and
// sets *has_null when given); *n = the number of elements.
char **text_strings(ArrayType *array, int *n, bool *has_null = nullptr);

// SPI must be connected. Every definition on `target`, suspended ones included
// (recounts and the min/max/latest groups cover them all).
LoadedDefinitions load_definitions_on(Oid target);
// The definitions fed by `source` that are not suspended (what its writers apply).
LoadedDefinitions load_definitions_from(Oid source);
// The definition named `name`, or NULL.
LoadedDefinition *find_definition(const LoadedDefinitions &set, const char *name);

// The core value of a loaded definition, or of a whole set. Pure copies: call inside
// guarded(), no PostgreSQL call is made.
core::Definition to_core(const LoadedDefinition &loaded);
core::TargetDefinitions to_core(const LoadedDefinitions &set);

}  // namespace denorm::pg
