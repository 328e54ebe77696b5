// search_expressions.cpp — see search_expressions.hpp. Layer: pg glue. Regime: PostgreSQL.
#include "pg/search/search_expressions.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

#include "core/search_rules.hpp"
#include "pg/counters/expression.hpp"
#include "pg/errors.hpp"

namespace denorm::pg {

namespace {

// expr converted to `type` as an explicit cast would (expr::type); NULL when no cast exists.
Node *cast_to(Node *expr, Oid type)
{
    Oid from = exprType(expr);
    if (from == type) return expr;
    return coerce_to_target_type(nullptr, expr, from, type, -1, COERCION_EXPLICIT, COERCE_EXPLICIT_CAST, -1);
}

Node *as_text(Node *expr, SearchPart part, const char *text)
{
    Oid from = exprType(expr);
    Node *converted = cast_to(expr, TEXTOID);
    if (!converted)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("%s \"%s\" of type %s cannot be converted to text", search_part_name(part), text,
                               format_type_be(from))));
    if (contain_mutable_functions(converted))
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("%s \"%s\" uses a function that is not immutable once converted to text",
                               search_part_name(part), text),
                        errdetail("The text of a %s depends on settings such as DateStyle or TimeZone.",
                                  format_type_be(from)),
                        errhint("Convert it yourself with an immutable function, e.g. to_char(created_at AT TIME "
                                "ZONE 'UTC', 'YYYY-MM-DD').")));
    return converted;
}

}  // namespace

const char *search_part_name(SearchPart part)
{
    switch (part) {
    case SearchPart::DocKey: return "doc_key";
    case SearchPart::Title: return "title";
    case SearchPart::Body: return "body";
    case SearchPart::Filter: return "filter";
    case SearchPart::Boost: return "boost";
    }
    return "expression";
}

Node *search_expression(Relation rel, SearchPart part, const char *text, char **deparsed)
{
    if (deparsed) *deparsed = nullptr;
    if (!text) return nullptr;
    Node *expr = parse_row_expression(rel, text, search_part_name(part));
    if (deparsed) *deparsed = deparse_row_expression(rel, expr);
    Oid type = exprType(expr);
    Oid base = getBaseType(type);
    switch (part) {
    case SearchPart::DocKey:
    case SearchPart::Title:
    case SearchPart::Body: return as_text(expr, part, text);
    case SearchPart::Filter: {
        const char *type_name = format_type_be(type);
        raise_problem([&] { return core::check_search_filter_type(type_name, base == BOOLOID); });
        return expr;
    }
    case SearchPart::Boost: {
        char category;
        bool preferred;
        get_type_category_preferred(base, &category, &preferred);
        Node *real = category == TYPCATEGORY_NUMERIC ? cast_to(expr, FLOAT4OID) : nullptr;
        const char *type_name = format_type_be(type);
        raise_problem([&] { return core::check_search_boost_type(type_name, real != nullptr); });
        if (contain_mutable_functions(real))
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("boost \"%s\" uses a function that is not immutable once converted to real", text)));
        return real;
    }
    }
    return expr;
}

}  // namespace denorm::pg
