// search_expressions.hpp — the five expressions of a search source (doc_key, title, body,
// filter, boost) parsed against its table by the counters' parser (one scalar immutable
// expression over the row, counters/expression.hpp) and typed for the writers: doc_key,
// title and body as text (their conversion must be immutable too: a timestamptz's text
// depends on TimeZone), filter boolean, boost real. One rule for creation, loading and the
// checks after an ALTER TABLE. Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
#include "nodes/primnodes.h"
#include "utils/rel.h"
}

namespace denorm::pg {

enum class SearchPart { DocKey, Title, Body, Filter, Boost };
constexpr int kSearchParts = 5;

// The argument's name, as messages use it ("doc_key", "title", ...).
const char *search_part_name(SearchPart part);

// `text` parsed over a row of rel and converted to the part's type; NULL for NULL. With
// `deparsed`, also the expression as text that means the same under any search_path (what
// the catalog stores). Raises 42601, 42703, 0A000 (the parser's), 42804 (a filter that is
// not boolean, a boost that is not a number), 0A000 (a conversion to text that is not
// immutable).
Node *search_expression(Relation rel, SearchPart part, const char *text, char **deparsed = nullptr);

}  // namespace denorm::pg
