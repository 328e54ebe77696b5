// expression.hpp — user expressions (filter, value) parsed once against a source
// relation, as CHECK constraints are. Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
#include "nodes/primnodes.h"
#include "utils/rel.h"
}

namespace denorm::pg {

// Parses `text` as exactly one scalar expression over a row of `rel` (Vars have
// varno 1). Raises 42601 for a syntax error, 0A000 for anything but a lone expression,
// 42703 for an unknown column, 0A000 for subqueries, aggregates, window,
// set-returning or volatile functions. `what` names the argument in messages.
Node *parse_row_expression(Relation rel, const char *text, const char *what);

// The expression as SQL text that means the same under any search_path.
char *deparse_row_expression(Relation rel, Node *expr);

// A parsed expression planned (constant-folded) for a writer's trigger, copied into
// `into` (NULL for NULL). Planning may fold calls of the expression's functions: as the
// source's owner, who defined them, never as the extension's owner.
Expr *planned_expression(Node *parsed, Oid source_owner, MemoryContext into);

}  // namespace denorm::pg
