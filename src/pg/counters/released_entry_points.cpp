// released_entry_points.cpp — C functions that only the install scripts of released
// versions declare (denorm 0.1: src/sql/released). The current version checks
// definitions in src/pg/counters/definition_checks.cpp and generates statements in the
// core; these stay so that an old version still installs and updates to this one
// (test/t/060_upgrade.pl). Each is the old behaviour, over the current rules.
// Layer: pg glue. Regime: PostgreSQL.
extern "C" {
#include "postgres.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
}

#include <string>
#include <vector>

#include "core/definition_checks.hpp"
#include "pg/counters/expression.hpp"
#include "pg/counters/type_facts.hpp"
#include "pg/errors.hpp"

using namespace denorm;

// _deparse_expression(source regclass, expr text) -> text
DENORM_FUNCTION(denorm_deparse_expression)
{
    Relation rel = table_open(PG_GETARG_OID(0), AccessShareLock);
    Node *expr = pg::parse_row_expression(rel, text_to_cstring(PG_GETARG_TEXT_PP(1)), "expression");
    char *sql = pg::deparse_row_expression(rel, expr);
    table_close(rel, NoLock);
    PG_RETURN_TEXT_P(cstring_to_text(sql));
}

// _check_key_types(source_column, source_type, target_column, target_type)
DENORM_FUNCTION(denorm_check_key_types)
{
    char *source_column = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char *target_column = text_to_cstring(PG_GETARG_TEXT_PP(2));
    const char *source_type = format_type_be(PG_GETARG_OID(1));
    const char *target_type = format_type_be(PG_GETARG_OID(3));
    bool ok = pg::comparable(PG_GETARG_OID(1), PG_GETARG_OID(3));
    pg::raise_problem([&] { return core::check_key_types(source_column, source_type, target_column, target_type, ok); });
    PG_RETURN_VOID();
}

// _check_counter_shape(name, aggregate, has_value, source_key_len, target_key_len, deferred)
DENORM_FUNCTION(denorm_check_counter_shape)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(5))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("name, aggregate and deferred must not be NULL")));
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char *aggregate = text_to_cstring(PG_GETARG_TEXT_PP(1));
    pg::PgProblem *problem;
    {
        core::CounterShape shape;
        shape.name = name;
        shape.aggregate = aggregate;
        shape.has_value = PG_GETARG_BOOL(2);
        shape.source_key_len = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
        shape.target_key_len = PG_ARGISNULL(4) ? -1 : PG_GETARG_INT32(4);
        shape.deferred = PG_GETARG_BOOL(5);
        problem = pg::copy_problem(core::check_counter_shape(shape));
    }
    pg::raise_if(problem);
    PG_RETURN_VOID();
}

// _check_column_sharing(target_column, column_type, aggregate, existing text[])
DENORM_FUNCTION(denorm_check_column_sharing)
{
    char *column = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char *type = text_to_cstring(PG_GETARG_TEXT_PP(1));
    char *aggregate = text_to_cstring(PG_GETARG_TEXT_PP(2));
    Datum *elems;
    bool *nulls;
    int n;
    deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
    char **existing = static_cast<char **>(palloc(sizeof(char *) * (n + 1)));
    for (int i = 0; i < n; i++) existing[i] = TextDatumGetCString(elems[i]);

    // 'latest' is not an aggregate create_counter accepts, but shares columns by the same rule.
    auto parsed = core::parse_aggregate(aggregate);
    core::Aggregate incoming = parsed ? *parsed : core::Aggregate::Latest;
    pg::PgProblem *problem = nullptr;
    if (core::family_of(incoming) == core::Family::Additive)
        problem = pg::copy_problem(core::check_counter_column_type(std::string("counter column \"") + column + "\"", type));
    pg::raise_if(problem);
    {
        std::vector<core::Aggregate> kinds;
        for (int i = 0; i < n; i++)
            if (auto kind = core::parse_aggregate(existing[i])) kinds.push_back(*kind);
            else kinds.push_back(core::Aggregate::Latest);
        problem = pg::copy_problem(core::check_family_sharing(column, incoming, kinds));
    }
    pg::raise_if(problem);
    PG_RETURN_VOID();
}

// _assignable(from regtype, to regtype) -> boolean: whether a value of `from` may be
// stored in a column of `to` (an assignment cast, as INSERT would apply).
DENORM_FUNCTION(denorm_assignable)
{
    PG_RETURN_BOOL(pg::assignable(PG_GETARG_OID(0), PG_GETARG_OID(1)));
}

// _orderable(type regtype) -> boolean: whether values of the type have a default btree
// ordering (what min, max and a latest's order_by compare with).
DENORM_FUNCTION(denorm_orderable)
{
    PG_RETURN_BOOL(pg::orderable(PG_GETARG_OID(0)));
}
