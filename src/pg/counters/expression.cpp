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

Expr *planned_expression(Node *parsed, Oid source_owner, MemoryContext into)
{
    if (!parsed) return nullptr;
    RunAs as_definer;
    run_as_begin(&as_definer, source_owner);
    Expr *planned = expression_planner(reinterpret_cast<Expr *>(parsed));
    run_as_end(&as_definer);
    MemoryContext old = MemoryContextSwitchTo(into);
    Expr *copy = static_cast<Expr *>(copyObjectImpl(planned));
    MemoryContextSwitchTo(old);
    return copy;
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
