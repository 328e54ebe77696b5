// type_facts.hpp — what the catalog says about types, as definition checks ask it:
// ordering, assignment, comparison with =. Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace denorm::pg {

// Values of the type have a default btree ordering (what min, max and order_by compare with).
bool orderable(Oid type);
// A value of `from` may be stored in a column of `to` (an assignment cast, as INSERT applies).
bool assignable(Oid from, Oid to);
// Values of the two types can be compared with an = returning boolean.
bool comparable(Oid left, Oid right);

}  // namespace denorm::pg
