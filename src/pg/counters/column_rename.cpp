// column_rename.cpp — what a definition's stored expressions need when a column they
// use is renamed (README "Living with the schema": renaming keeps everything working
// under the new names): the column names an expression refers to, and the expression
// with one column name replaced. Expressions are stored deparsed, unqualified
// (expression.cpp); the replacement works on the SQL scanner's tokens, so a string
// constant, a function or a type of the same name is left alone. Layer: pg glue.
// Regime: PostgreSQL.
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "common/keywords.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "parser/scanner.h"
#include "parser/gram.h"  // token codes; needs scanner.h first
#include "utils/array.h"
#include "utils/builtins.h"
}

#include "pg/errors.hpp"

#include <cctype>

namespace {

bool collect_column_refs(Node *node, void *context)
{
    if (!node) return false;
    if (IsA(node, ColumnRef)) {
        auto *ref = reinterpret_cast<ColumnRef *>(node);
        Node *last = static_cast<Node *>(llast(ref->fields));
        if (IsA(last, String)) {
            auto **names = static_cast<List **>(context);
            *names = lappend(*names, makeString(pstrdup(strVal(last))));
        }
        return false;
    }
    // The walker's PostgreSQL 15 type is bool (*)(); the detour through void (*)() is the
    // sanctioned way to convert between function pointer types.
    return raw_expression_tree_walker(
        node, reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(collect_column_refs)), context);
}

struct Token {
    int code;
    int start;
    int end;     // one past the token's last byte (identifiers and keywords only)
    char *name;  // the identifier or keyword it spells, NULL for other tokens
};

// The end of the identifier or keyword starting at `start` (quoted or not).
int identifier_end(const char *sql, int start)
{
    int i = start;
    if (sql[i] == '"') {
        for (i++; sql[i]; i++)
            if (sql[i] == '"') {
                if (sql[i + 1] != '"') return i + 1;
                i++;
            }
        return i;
    }
    while (sql[i] && (isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '_' || sql[i] == '$' ||
                      (static_cast<unsigned char>(sql[i]) & 0x80)))
        i++;
    return i;
}

List *tokens_of(const char *sql)
{
    core_yy_extra_type extra;
    core_yyscan_t scanner = scanner_init(sql, &extra, &ScanKeywords, ScanKeywordTokens);
    List *tokens = NIL;
    for (;;) {
        core_YYSTYPE value;
        YYLTYPE location;
        int code = core_yylex(&value, &location, scanner);
        if (code == 0) break;
        auto *token = static_cast<Token *>(palloc0(sizeof(Token)));
        token->code = code;
        token->start = location;
        if (code == IDENT) {
            token->name = value.str;
        } else if (isalpha(static_cast<unsigned char>(sql[location])) || sql[location] == '_') {
            token->name = pstrdup(value.keyword ? value.keyword : "");  // a keyword used as a name
        }
        if (token->name) token->end = identifier_end(sql, location);
        tokens = lappend(tokens, token);
    }
    scanner_finish(scanner);
    return tokens;
}

}  // namespace

// _column_refs(expr text) -> text[]: the column names the expression refers to.
DENORM_FUNCTION(denorm_column_refs)
{
    char *sql = psprintf("SELECT %s", text_to_cstring(PG_GETARG_TEXT_PP(0)));
    List *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
    List *names = NIL;
    ListCell *cell;
    foreach (cell, raw)
        collect_column_refs(lfirst_node(RawStmt, cell)->stmt, &names);
    int n = list_length(names);
    Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (n + 1)));
    int i = 0;
    foreach (cell, names)
        elems[i++] = CStringGetTextDatum(strVal(lfirst(cell)));
    PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

// _rename_column_in(expr text, old_name text, new_name text) -> text: the expression
// with every reference to column old_name spelled new_name. A name right after '.' or
// '::', or right before '(' or '.', is not a column reference and stays.
DENORM_FUNCTION(denorm_rename_column_in)
{
    char *source = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char *old_name = text_to_cstring(PG_GETARG_TEXT_PP(1));
    const char *new_name = quote_identifier(text_to_cstring(PG_GETARG_TEXT_PP(2)));
    List *tokens = tokens_of(source);
    StringInfoData out;
    initStringInfo(&out);
    int copied = 0;
    int n = list_length(tokens);
    for (int i = 0; i < n; i++) {
        auto *token = static_cast<Token *>(list_nth(tokens, i));
        if (!token->name || strcmp(token->name, old_name) != 0) continue;
        auto *before = i > 0 ? static_cast<Token *>(list_nth(tokens, i - 1)) : nullptr;
        auto *after = i + 1 < n ? static_cast<Token *>(list_nth(tokens, i + 1)) : nullptr;
        if (before && (before->code == '.' || before->code == TYPECAST)) continue;
        if (after && (after->code == '(' || after->code == '.')) continue;
        appendBinaryStringInfo(&out, source + copied, token->start - copied);
        appendStringInfoString(&out, new_name);
        copied = token->end;
    }
    appendStringInfoString(&out, source + copied);
    PG_RETURN_TEXT_P(cstring_to_text(out.data));
}
