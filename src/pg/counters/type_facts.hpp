// type_facts.hpp — what denorm needs to know of types: what the definition checks ask
// (ordering, assignment, comparison with =) and the integer columns written without a
// statement. Layer: pg glue. Regime: PostgreSQL.
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

// The = of btree operator family `opfamily` between an index column of `column_type` and a
// value of `*value_type` (a binary-coercible value type is compared as the column's type,
// and *value_type says so), as the function the scan key calls; InvalidOid when none.
RegProcedure index_equality(Oid opfamily, Oid column_type, Oid *value_type);

// smallint, integer or bigint: what a count or integer sum is written into without a statement.
bool integer_type(Oid type);
// `v` as a datum of integer type `type`; out of its range, the error the cast to it raises
// ("smallint out of range", "integer out of range").
Datum integer_datum(int64 v, Oid type);

}  // namespace denorm::pg
