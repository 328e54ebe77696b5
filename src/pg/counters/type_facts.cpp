// type_facts.cpp — see type_facts.hpp. Layer: pg glue. Regime: PostgreSQL.
#include "pg/counters/type_facts.hpp"

extern "C" {
#include "access/stratnum.h"
#include "catalog/pg_operator.h"
#include "utils/lsyscache.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parse_oper.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

namespace denorm::pg {

bool orderable(Oid type) { return OidIsValid(lookup_type_cache(type, TYPECACHE_CMP_PROC)->cmp_proc); }

bool assignable(Oid from, Oid to) { return can_coerce_type(1, &from, &to, COERCION_ASSIGNMENT); }

bool comparable(Oid left, Oid right)
{
    Operator op = oper(nullptr, list_make1(makeString(pstrdup("="))), left, right, true, -1);
    bool ok = op != nullptr && reinterpret_cast<Form_pg_operator>(GETSTRUCT(op))->oprresult == BOOLOID;
    if (op) ReleaseSysCache(op);
    return ok;
}

bool integer_type(Oid type) { return type == INT2OID || type == INT4OID || type == INT8OID; }

Datum integer_datum(int64 v, Oid type)
{
    if (type == INT2OID) {
        if (v < PG_INT16_MIN || v > PG_INT16_MAX)
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("smallint out of range")));
        return Int16GetDatum(static_cast<int16>(v));
    }
    if (type == INT4OID) {
        if (v < PG_INT32_MIN || v > PG_INT32_MAX)
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("integer out of range")));
        return Int32GetDatum(static_cast<int32>(v));
    }
    return Int64GetDatum(v);
}

RegProcedure index_equality(Oid opfamily, Oid column_type, Oid *value_type)
{
    Oid op = get_opfamily_member(opfamily, column_type, *value_type, BTEqualStrategyNumber);
    if (!OidIsValid(op) && IsBinaryCoercible(*value_type, column_type)) {
        *value_type = column_type;
        op = get_opfamily_member(opfamily, column_type, column_type, BTEqualStrategyNumber);
    }
    return OidIsValid(op) ? get_opcode(op) : InvalidOid;
}

}  // namespace denorm::pg
