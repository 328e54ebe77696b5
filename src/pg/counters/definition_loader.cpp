// definition_loader.cpp — see definition_loader.hpp. Layer: pg glue. Regime: PostgreSQL.
#include "pg/counters/definition_loader.hpp"

extern "C" {
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

#include "pg/counters/expression.hpp"
#include "pg/privileges.hpp"

namespace denorm::pg {

namespace {

// Columns of the SELECT below.
enum Field {
    kName = 1, kKind, kTarget, kTargetColumns, kSource, kSourceKey, kTargetKey, kValue, kSourceValues, kFilter,
    kOrderBy, kCreateMissing, kTouch, kDeferred, kPublished
};
constexpr const char *kSelect =
    "SELECT name, kind, target::pg_catalog.oid, target_columns, source::pg_catalog.oid, source_key, target_key, value, "
    "source_values, filter, order_by, create_missing, touch, deferred, %s FROM denorm._definitions ";
// Whether a definition is published (82_publish.sql); the extension's SQL may be older
// than this library until ALTER EXTENSION denorm UPDATE, without the table.
constexpr const char *kPublishedColumn =
    "EXISTS (SELECT 1 FROM denorm._publications p WHERE p.counter OPERATOR(pg_catalog.=) name)";

char *qualified_name(Oid relid)
{
    return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

char **text_array(HeapTuple row, TupleDesc desc, int field, int *n)
{
    bool isnull;
    Datum array = SPI_getbinval(row, desc, field, &isnull);
    *n = 0;
    return isnull ? nullptr : text_strings(DatumGetArrayTypeP(array), n);
}

char *text_field(HeapTuple row, TupleDesc desc, int field)
{
    bool isnull;
    Datum d = SPI_getbinval(row, desc, field, &isnull);
    return isnull ? nullptr : TextDatumGetCString(d);
}

LoadedColumn *columns_of(Oid rel, char **names, int n, const char *counter, const char *what)
{
    auto *out = static_cast<LoadedColumn *>(palloc0(sizeof(LoadedColumn) * (n + 1)));
    for (int i = 0; i < n; i++) {
        AttrNumber attnum = get_attnum(rel, names[i]);
        if (attnum == InvalidAttrNumber)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                            errmsg("%s column \"%s\" of counter \"%s\" does not exist", what, names[i], counter)));
        Oid type;
        int32 typmod;
        Oid collation;
        get_atttypetypmodcoll(rel, attnum, &type, &typmod, &collation);
        out[i].name = names[i];
        out[i].ident = const_cast<char *>(quote_identifier(names[i]));
        out[i].type = format_type_with_typemod(type, typmod);
        out[i].type_oid = type;
        out[i].typmod = typmod;
        out[i].collation = collation;
        out[i].collatable = type_is_collatable(type);
    }
    return out;
}

struct ParseArgs {
    Relation rel;
    const char *text;
    const char *what;
    Node *expr;
    char *sql;
};
void parse_and_deparse(void *arg)
{
    auto *a = static_cast<ParseArgs *>(arg);
    a->expr = parse_row_expression(a->rel, a->text, a->what);
    a->sql = deparse_row_expression(a->rel, a->expr);
}

// Parsed and deparsed under the pinned search_path, so the text names what the
// definition named when it was created, whoever loads it.
char *deparsed(Relation rel, const char *text, const char *what, Node **parsed)
{
    if (!text) return nullptr;
    ParseArgs args{rel, text, what, nullptr, nullptr};
    with_fixed_search_path(parse_and_deparse, &args);
    if (parsed) *parsed = args.expr;
    return args.sql;
}

void load_row(LoadedDefinition *d, HeapTuple row, TupleDesc desc)
{
    bool isnull;
    d->name = text_field(row, desc, kName);
    // 'latest' is made by create_latest, never named as an aggregate.
    d->kind = core::parse_aggregate(text_field(row, desc, kKind)).value_or(core::Aggregate::Latest);
    d->target = DatumGetObjectId(SPI_getbinval(row, desc, kTarget, &isnull));
    d->source = DatumGetObjectId(SPI_getbinval(row, desc, kSource, &isnull));
    d->target_sql = qualified_name(d->target);
    d->source_sql = qualified_name(d->source);
    char **names = text_array(row, desc, kTargetColumns, &d->ncolumns);
    d->target_columns = columns_of(d->target, names, d->ncolumns, d->name, "target");
    int nsource;
    char **source_key = text_array(row, desc, kSourceKey, &nsource);
    char **target_key = text_array(row, desc, kTargetKey, &d->nkeys);
    if (nsource != d->nkeys) elog(ERROR, "counter \"%s\" has %d source and %d target key columns", d->name, nsource, d->nkeys);
    d->target_key = columns_of(d->target, target_key, d->nkeys, d->name, "target key");
    d->source_key = columns_of(d->source, source_key, nsource, d->name, "source key");
    char *touch = text_field(row, desc, kTouch);
    d->touch = touch ? const_cast<char *>(quote_identifier(touch)) : nullptr;
    d->create_missing = DatumGetBool(SPI_getbinval(row, desc, kCreateMissing, &isnull));
    d->deferred = DatumGetBool(SPI_getbinval(row, desc, kDeferred, &isnull));
    d->published = DatumGetBool(SPI_getbinval(row, desc, kPublished, &isnull));

    Relation rel = table_open(d->source, AccessShareLock);
    d->value_sql = deparsed(rel, text_field(row, desc, kValue), "value", &d->value);
    d->filter_sql = deparsed(rel, text_field(row, desc, kFilter), "filter", &d->filter);
    char **values = text_array(row, desc, kSourceValues, &d->nvalues);
    char **order_by = text_array(row, desc, kOrderBy, &d->norder);
    d->source_values_sql = static_cast<char **>(palloc0(sizeof(char *) * (d->nvalues + 1)));
    d->source_values = static_cast<Node **>(palloc0(sizeof(Node *) * (d->nvalues + 1)));
    d->order_by_sql = static_cast<char **>(palloc0(sizeof(char *) * (d->norder + 1)));
    for (int i = 0; i < d->nvalues; i++) d->source_values_sql[i] = deparsed(rel, values[i], "source_values", &d->source_values[i]);
    for (int i = 0; i < d->norder; i++) d->order_by_sql[i] = deparsed(rel, order_by[i], "order_by", nullptr);
    table_close(rel, NoLock);
}

LoadedDefinitions load(const char *where, Oid rel)
{
    Oid types[1] = {OIDOID};
    Datum args[1] = {ObjectIdGetDatum(rel)};
    Oid schema = get_namespace_oid("denorm", true);
    bool publications = OidIsValid(schema) && OidIsValid(get_relname_relid("_publications", schema));
    char *sql = psprintf("%s%s ORDER BY name", psprintf(kSelect, publications ? kPublishedColumn : "false"), where);
    if (SPI_execute_with_args(sql, 1, types, args, nullptr, true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._definitions");
    // The rows outlive the next SPI call: keep the table.
    SPITupleTable *table = SPI_tuptable;
    LoadedDefinitions set;
    set.n = static_cast<int>(SPI_processed);
    set.defs = static_cast<LoadedDefinition *>(palloc0(sizeof(LoadedDefinition) * (set.n + 1)));
    for (int i = 0; i < set.n; i++) load_row(&set.defs[i], table->vals[i], table->tupdesc);
    return set;
}

std::vector<core::Column> core_columns(const LoadedColumn *columns, int n)
{
    std::vector<core::Column> out;
    for (int i = 0; i < n; i++) out.push_back(core::Column{columns[i].name, columns[i].ident, columns[i].type, columns[i].collatable});
    return out;
}

std::optional<std::string> optional_text(const char *text)
{
    return text ? std::optional<std::string>(text) : std::nullopt;
}

}  // namespace

char **text_strings(ArrayType *array, int *n, bool *has_null)
{
    Datum *elems;
    bool *nulls;
    deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
    char **out = static_cast<char **>(palloc0(sizeof(char *) * (*n + 1)));
    for (int i = 0; i < *n; i++) {
        if (nulls[i]) {
            if (has_null) *has_null = true;
            continue;
        }
        out[i] = TextDatumGetCString(elems[i]);
    }
    return out;
}

LoadedDefinitions load_definitions_on(Oid target)
{
    return load("WHERE target::pg_catalog.oid OPERATOR(pg_catalog.=) $1", target);
}

LoadedDefinitions load_definitions_from(Oid source)
{
    return load("WHERE source::pg_catalog.oid OPERATOR(pg_catalog.=) $1 AND NOT suspended", source);
}

LoadedDefinition *find_definition(const LoadedDefinitions &set, const char *name)
{
    for (int i = 0; i < set.n; i++)
        if (strcmp(set.defs[i].name, name) == 0) return &set.defs[i];
    return nullptr;
}

core::Definition to_core(const LoadedDefinition &loaded)
{
    core::Definition d;
    d.name = loaded.name;
    d.kind = loaded.kind;
    d.target = loaded.target_sql;
    d.source = loaded.source_sql;
    d.target_columns = core_columns(loaded.target_columns, loaded.ncolumns);
    d.target_key = core_columns(loaded.target_key, loaded.nkeys);
    for (int i = 0; i < loaded.nkeys; i++) d.source_key.push_back(loaded.source_key[i].ident);
    d.value = optional_text(loaded.value_sql);
    d.filter = optional_text(loaded.filter_sql);
    d.source_values.assign(loaded.source_values_sql, loaded.source_values_sql + loaded.nvalues);
    d.order_by.assign(loaded.order_by_sql, loaded.order_by_sql + loaded.norder);
    d.touch = optional_text(loaded.touch);
    d.create_missing = loaded.create_missing;
    d.deferred = loaded.deferred;
    return d;
}

core::TargetDefinitions to_core(const LoadedDefinitions &set)
{
    core::TargetDefinitions out;
    for (int i = 0; i < set.n; i++) out.push_back(to_core(set.defs[i]));
    return out;
}

}  // namespace denorm::pg
