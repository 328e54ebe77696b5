// expression.cpp — parse, validate and deparse filter/value expressions, and the
// SQL-callable checks create_counter uses. Layer: pg glue. Regime: PostgreSQL.
#include "pg/counters/expression.hpp"

extern "C" {
#include "access/table.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "miscadmin.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_oper.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

#include "core/definition_rules.hpp"
#include "pg/errors.hpp"
#include "pg/privileges.hpp"

namespace denorm::pg {

namespace {

[[noreturn]] void refuse_shape(const char *what, const char *text, const char *why)
{
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("%s \"%s\" is not a single expression", what, text),
                    errdetail("%s", why),
                    errhint("Write one expression over the source row's columns, e.g. deleted_at IS NULL.")));
    pg_unreachable();
}

[[noreturn]] void refuse_feature(const char *what, const char *text, const char *feature)
{
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("%s \"%s\" uses %s", what, text, feature),
                    errdetail("A filter or value is evaluated on each source row alone: it may use the row's "
                              "columns and immutable functions only.")));
    pg_unreachable();
}

// The creator of a definition must be allowed to call every function its
// expressions call (operators and casts included), as when it writes them in a query.
bool remember_unexecutable(Oid func, void *context)
{
    if (pg_proc_aclcheck(func, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK) return false;
    *static_cast<Oid *>(context) = func;
    return true;
}

bool find_unexecutable(Node *node, Oid *func)
{
    if (!node) return false;
    if (check_functions_in_node(node, remember_unexecutable, func)) return true;
    // (through void (*)(): the walker's PostgreSQL 15 type is bool (*)())
    return expression_tree_walker(node, reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(find_unexecutable)),
                                  func);
}

}  // namespace

Node *parse_row_expression(Relation rel, const char *text, const char *what)
{
    // Parsed as the target of a SELECT so that the grammar, not string checks,
    // decides what the text is; anything beyond one bare target is refused.
    char *sql = psprintf("SELECT %s", text);
    List *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
    if (list_length(raw) != 1) refuse_shape(what, text, "It contains more than one statement.");
    Node *stmt = linitial_node(RawStmt, raw)->stmt;
    if (!IsA(stmt, SelectStmt)) refuse_shape(what, text, "It is not an expression.");
    auto *select = reinterpret_cast<SelectStmt *>(stmt);
    if (select->op != SETOP_NONE || select->fromClause || select->whereClause || select->groupClause ||
        select->havingClause || select->windowClause || select->sortClause || select->limitCount ||
        select->limitOffset || select->distinctClause || select->intoClause || select->withClause ||
        select->valuesLists || select->lockingClause || list_length(select->targetList) != 1)
        refuse_shape(what, text, "It has clauses besides one expression.");
    auto *target = linitial_node(ResTarget, select->targetList);
    if (target->name) refuse_shape(what, text, "It has an alias.");

    ParseState *pstate = make_parsestate(nullptr);
    pstate->p_sourcetext = sql;
    ParseNamespaceItem *nsitem =
        addRangeTableEntryForRelation(pstate, rel, AccessShareLock, nullptr, false, true);
    addNSItemToQuery(pstate, nsitem, true, true, true);
    Node *expr = transformExpr(pstate, target->val, EXPR_KIND_SELECT_TARGET);
    assign_expr_collations(pstate, expr);

    if (pstate->p_hasAggs || contain_aggs_of_level(expr, 0)) refuse_feature(what, text, "an aggregate function");
    if (pstate->p_hasWindowFuncs || contain_windowfuncs(expr)) refuse_feature(what, text, "a window function");
    if (pstate->p_hasTargetSRFs || expression_returns_set(expr))
        refuse_feature(what, text, "a set-returning function");
    if (pstate->p_hasSubLinks || checkExprHasSubLink(expr)) refuse_feature(what, text, "a subquery");
    if (contain_volatile_functions(expr)) refuse_feature(what, text, "a volatile function");
    // A stable function (now(), a cast to timestamptz) may give another value when a row is
    // removed than when it was added: the counter would drift. Only immutable ones.
    if (contain_mutable_functions(expr)) refuse_feature(what, text, "a function that is not immutable");
    if (IsA(expr, Var) && reinterpret_cast<Var *>(expr)->varattno == InvalidAttrNumber)
        refuse_feature(what, text, "the whole row");
    Oid func = InvalidOid;
    if (find_unexecutable(expr, &func))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied for function %s", get_func_name(func)),
                        errdetail("The %s \"%s\" calls it.", what, text)));
    free_parsestate(pstate);
    return expr;
}

namespace {
struct DeparseArgs {
    Relation rel;
    Node *expr;
    char *out;
};
void deparse_fixed(void *arg)
{
    auto *args = static_cast<DeparseArgs *>(arg);
    List *context = deparse_context_for(RelationGetRelationName(args->rel), RelationGetRelid(args->rel));
    args->out = deparse_expression(args->expr, context, false, false);
}
}  // namespace

char *deparse_row_expression(Relation rel, Node *expr)
{
    DeparseArgs args{rel, expr, nullptr};
    with_fixed_search_path(deparse_fixed, &args);
    return args.out;
}


}  // namespace denorm::pg

using namespace denorm;

// _expression_type(source regclass, expr text, what text) -> regtype
DENORM_FUNCTION(denorm_expression_type)
{
    Relation rel = table_open(PG_GETARG_OID(0), AccessShareLock);
    char *what = text_to_cstring(PG_GETARG_TEXT_PP(2));
    Node *expr = pg::parse_row_expression(rel, text_to_cstring(PG_GETARG_TEXT_PP(1)), what);
    Oid type = exprType(expr);
    table_close(rel, NoLock);
    PG_RETURN_OID(type);
}

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
    Oid source_type = PG_GETARG_OID(1);
    Oid target_type = PG_GETARG_OID(3);
    Operator op = oper(nullptr, list_make1(makeString(pstrdup("="))), source_type, target_type, true, -1);
    bool ok = op != nullptr && reinterpret_cast<Form_pg_operator>(GETSTRUCT(op))->oprresult == BOOLOID;
    if (op) ReleaseSysCache(op);
    if (!ok)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("source key column \"%s\" (%s) cannot be compared with target key column \"%s\" (%s)",
                               text_to_cstring(PG_GETARG_TEXT_PP(0)), format_type_be(source_type),
                               text_to_cstring(PG_GETARG_TEXT_PP(2)), format_type_be(target_type))));
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
    Oid from = PG_GETARG_OID(0);
    Oid to = PG_GETARG_OID(1);
    PG_RETURN_BOOL(can_coerce_type(1, &from, &to, COERCION_ASSIGNMENT));
}

// _orderable(type regtype) -> boolean: whether values of the type have a default btree
// ordering (what min, max and a latest's order_by compare with).
DENORM_FUNCTION(denorm_orderable)
{
    TypeCacheEntry *tce = lookup_type_cache(PG_GETARG_OID(0), TYPECACHE_CMP_PROC);
    PG_RETURN_BOOL(OidIsValid(tce->cmp_proc));
}

// _is_counter_type(type regtype) -> boolean: whether a sum's value may be of the type
// (the list of core/definition_rules).
DENORM_FUNCTION(denorm_is_counter_type)
{
    PG_RETURN_BOOL(core::is_counter_column_type(format_type_be(PG_GETARG_OID(0))));
}
