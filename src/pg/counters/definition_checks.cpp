// definition_checks.cpp — denorm._check_counter and denorm._check_latest: every check a
// new definition passes, in one place. This file looks the facts up in the catalog;
// the rules, their messages and SQLSTATEs are the core's (core/definition_rules.hpp,
// core/definition_checks.hpp). Both return the resolved target key (the target's
// primary key when target_key is NULL). Called by _create_counter/_create_latest as the
// extension's owner, under the pinned search_path (relations print qualified).
// Layer: pg glue. Regime: PostgreSQL (facts in palloc'd memory; C++ only inside
// raise_problem).
extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
}

#include "core/definition_checks.hpp"
#include "pg/counters/definition_loader.hpp"
#include "pg/counters/expression.hpp"
#include "pg/counters/type_facts.hpp"
#include "pg/errors.hpp"

using namespace denorm;
using denorm::pg::assignable;
using denorm::pg::comparable;
using denorm::pg::orderable;

namespace {

struct Strings {
    int n;
    char **items;
};

Strings text_array_arg(FunctionCallInfo fcinfo, int arg, bool *has_null)
{
    Strings out{0, nullptr};
    if (!PG_ARGISNULL(arg)) out.items = pg::text_strings(PG_GETARG_ARRAYTYPE_P(arg), &out.n, has_null);
    return out;
}

std::vector<std::string> to_vector(const Strings &s)
{
    std::vector<std::string> out;
    for (int i = 0; i < s.n; i++) out.push_back(s.items[i] ? s.items[i] : "");
    return out;
}

const char *rel_text(Oid rel) { return DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(rel))); }

char *text_arg(FunctionCallInfo fcinfo, int arg) { return PG_ARGISNULL(arg) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(arg)); }

// The type of column `name` of rel, or 42703 naming the argument that gave it.
Oid column_type(Oid rel, const char *name, const char *what)
{
    AttrNumber attnum = get_attnum(rel, name);
    if (attnum <= 0) {  // none, or a system column
        const char *relname = rel_text(rel);
        pg::raise_problem([&] { return std::optional<core::Problem>(core::missing_column(name, relname, what)); });
    }
    return get_atttype(rel, attnum);
}

// The type of an expression over a row of source (42601/0A000/42703 from the parser).
Oid expression_type(Oid source, const char *text, const char *what)
{
    Relation rel = table_open(source, AccessShareLock);
    Oid type = exprType(pg::parse_row_expression(rel, text, what));
    table_close(rel, NoLock);
    return type;
}

// The primary key columns of rel, in index order; n = -1 without a primary key.
Strings primary_key(Oid relid)
{
    Strings out{-1, nullptr};
    Relation rel = table_open(relid, AccessShareLock);
    Oid pk = RelationGetPrimaryKeyIndex(rel);
    table_close(rel, NoLock);
    if (!OidIsValid(pk)) return out;
    HeapTuple tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));
    auto *index = reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple));
    out.n = index->indnkeyatts;
    out.items = static_cast<char **>(palloc0(sizeof(char *) * (out.n + 1)));
    for (int i = 0; i < out.n; i++) out.items[i] = get_attname(relid, index->indkey.values[i], false);
    ReleaseSysCache(tuple);
    return out;
}

// Whether a unique index of rel, without predicate or expressions, has exactly the
// columns of key (in any order).
bool has_unique_index(Oid relid, const Strings &key)
{
    Relation rel = table_open(relid, AccessShareLock);
    List *indexes = RelationGetIndexList(rel);
    table_close(rel, NoLock);
    bool found = false;
    ListCell *lc;
    foreach (lc, indexes) {
        HeapTuple tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
        auto *index = reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple));
        bool match = index->indisunique && index->indnkeyatts == key.n &&
                     heap_attisnull(tuple, Anum_pg_index_indpred, nullptr) &&
                     heap_attisnull(tuple, Anum_pg_index_indexprs, nullptr);
        for (int k = 0; match && k < key.n; k++) {
            AttrNumber attnum = get_attnum(relid, key.items[k]);
            bool in_index = false;
            for (int i = 0; i < index->indnkeyatts; i++) in_index = in_index || index->indkey.values[i] == attnum;
            match = in_index;
        }
        ReleaseSysCache(tuple);
        found = found || match;
    }
    return found;
}

// The definitions already on target (SPI connected).
struct Existing {
    int n;
    char **names;
    char **kinds;
    Strings *columns;
    Strings *keys;
    Strings *order_types;  // latest: the types of its order_by
};

Strings strings_of(HeapTuple row, TupleDesc desc, int field)
{
    Strings out{0, nullptr};
    bool isnull;
    Datum d = SPI_getbinval(row, desc, field, &isnull);
    if (!isnull) out.items = pg::text_strings(DatumGetArrayTypeP(d), &out.n);
    return out;
}

Existing existing_on(Oid target, bool with_order_types)
{
    Oid types[1] = {OIDOID};
    Datum args[1] = {ObjectIdGetDatum(target)};
    if (SPI_execute_with_args("SELECT name, kind, target_columns, target_key, source::pg_catalog.oid, order_by "
                              "FROM denorm._definitions WHERE target::pg_catalog.oid OPERATOR(pg_catalog.=) $1 "
                              "ORDER BY name",
                              1, types, args, nullptr, true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._definitions");
    SPITupleTable *table = SPI_tuptable;
    Existing e;
    e.n = static_cast<int>(SPI_processed);
    e.names = static_cast<char **>(palloc0(sizeof(char *) * (e.n + 1)));
    e.kinds = static_cast<char **>(palloc0(sizeof(char *) * (e.n + 1)));
    e.columns = static_cast<Strings *>(palloc0(sizeof(Strings) * (e.n + 1)));
    e.keys = static_cast<Strings *>(palloc0(sizeof(Strings) * (e.n + 1)));
    e.order_types = static_cast<Strings *>(palloc0(sizeof(Strings) * (e.n + 1)));
    for (int i = 0; i < e.n; i++) {
        HeapTuple row = table->vals[i];
        bool isnull;
        e.names[i] = SPI_getvalue(row, table->tupdesc, 1);
        e.kinds[i] = SPI_getvalue(row, table->tupdesc, 2);
        e.columns[i] = strings_of(row, table->tupdesc, 3);
        e.keys[i] = strings_of(row, table->tupdesc, 4);
        if (!with_order_types) continue;
        Oid source = DatumGetObjectId(SPI_getbinval(row, table->tupdesc, 5, &isnull));
        Strings order_by = strings_of(row, table->tupdesc, 6);
        e.order_types[i] = Strings{order_by.n, static_cast<char **>(palloc0(sizeof(char *) * (order_by.n + 1)))};
        for (int k = 0; k < order_by.n; k++)
            e.order_types[i].items[k] = format_type_be(expression_type(source, order_by.items[k], "order_by"));
    }
    return e;
}

std::vector<core::ExistingDefinition> to_core(const Existing &e)
{
    std::vector<core::ExistingDefinition> out;
    for (int i = 0; i < e.n; i++)
        out.push_back(core::ExistingDefinition{e.names[i], to_vector(e.columns[i]), to_vector(e.keys[i]),
                                               to_vector(e.order_types[i])});
    return out;
}

// The kinds of the existing definitions writing `column`.
std::vector<core::Aggregate> kinds_writing(const Existing &e, const char *column)
{
    std::vector<core::Aggregate> out;
    for (int i = 0; i < e.n; i++)
        for (int c = 0; c < e.columns[i].n; c++)
            if (strcmp(e.columns[i].items[c], column) == 0)
                out.push_back(core::parse_aggregate(e.kinds[i]).value_or(core::Aggregate::Latest));
    return out;
}

bool name_exists(const char *name)
{
    Oid types[1] = {TEXTOID};
    Datum args[1] = {CStringGetTextDatum(name)};
    if (SPI_execute_with_args("SELECT 1 FROM denorm._definitions WHERE name OPERATOR(pg_catalog.=) $1", 1, types, args,
                              nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._definitions");
    return SPI_processed > 0;
}

// What every definition passes (the former _check_definition): the tables, the keys
// (the target's primary key when target_key is NULL; pairs of types that compare; a
// unique index on the target key), the filter and touch. Returns the target key.
Strings check_common(const char *name, Oid target, Oid source, const Strings &source_key, Strings target_key,
                     bool has_null_key, const char *filter, const char *touch)
{
    bool exists = name_exists(name);
    pg::raise_problem([&] { return core::check_new_name(name, exists); });
    const char *target_text = rel_text(target);
    const char *source_text = rel_text(source);
    char target_kind = get_rel_relkind(target);
    char source_kind = get_rel_relkind(source);
    pg::raise_problem([&] { return core::check_is_table("target", target_text, target_kind == 'r' || target_kind == 'p'); });
    pg::raise_problem([&] { return core::check_is_table("source", source_text, source_kind == 'r' || source_kind == 'p'); });
    pg::raise_problem([&] { return core::check_no_null_keys(has_null_key); });
    if (!target_key.items) {
        target_key = primary_key(target);
        int pk_len = target_key.n;
        pg::raise_problem([&] {
            return core::check_primary_key(target_text, pk_len < 0 ? std::nullopt : std::optional<size_t>(pk_len),
                                           static_cast<size_t>(source_key.n));
        });
    }
    for (int i = 0; i < source_key.n; i++) {
        Oid stype = column_type(source, source_key.items[i], "source_key");
        Oid ttype = column_type(target, target_key.items[i], "target_key");
        bool ok = comparable(stype, ttype);
        const char *sname = format_type_be(stype);
        const char *tname = format_type_be(ttype);
        pg::raise_problem(
            [&] { return core::check_key_types(source_key.items[i], sname, target_key.items[i], tname, ok); });
    }
    bool unique = has_unique_index(target, target_key);
    char **idents = static_cast<char **>(palloc0(sizeof(char *) * (target_key.n + 1)));
    for (int k = 0; k < target_key.n; k++) idents[k] = const_cast<char *>(quote_identifier(target_key.items[k]));
    pg::raise_problem([&] {
        return core::check_unique_index(target_text, to_vector(target_key), to_vector(Strings{target_key.n, idents}), unique);
    });
    if (filter) {
        const char *ftype = format_type_be(expression_type(source, filter, "filter"));
        pg::raise_problem([&] { return core::check_filter_type(name, ftype); });
    }
    if (touch) {
        const char *ttype = format_type_be(column_type(target, touch, "touch"));
        pg::raise_problem([&] { return core::check_touch_type(touch, target_text, ttype); });
    }
    return target_key;
}

Datum key_result(const Strings &key)
{
    Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (key.n + 1)));
    for (int i = 0; i < key.n; i++) elems[i] = CStringGetTextDatum(key.items[i]);
    return PointerGetDatum(construct_array(elems, key.n, TEXTOID, -1, false, TYPALIGN_INT));
}

std::optional<std::string> optional_string(const char *s) { return s ? std::optional<std::string>(s) : std::nullopt; }

}  // namespace

// _check_counter(name, target, target_column, source, source_key, target_key, aggregate,
//                value, filter, touch, deferred) -> text[]
DENORM_FUNCTION(denorm_check_counter)
{
    static const char *const required[] = {"name", "target", "target_column", "source", nullptr, nullptr, "aggregate",
                                           nullptr, nullptr, nullptr, "deferred"};
    pg::require_arguments(fcinfo, required, 11);
    char *name = text_arg(fcinfo, 0);
    Oid target = PG_GETARG_OID(1);
    char *target_column = text_arg(fcinfo, 2);
    Oid source = PG_GETARG_OID(3);
    bool has_null = false;
    Strings source_key = text_array_arg(fcinfo, 4, &has_null);
    Strings target_key = text_array_arg(fcinfo, 5, &has_null);
    char *aggregate = text_arg(fcinfo, 6);
    char *value = text_arg(fcinfo, 7);
    char *filter = text_arg(fcinfo, 8);
    char *touch = text_arg(fcinfo, 9);
    bool deferred = PG_GETARG_BOOL(10);
    pg::raise_problem([&] {
        core::CounterShape shape;
        shape.name = name;
        shape.aggregate = aggregate;
        shape.has_value = value != nullptr;
        shape.source_key_len = source_key.n;
        shape.target_key_len = PG_ARGISNULL(5) ? -1 : target_key.n;
        shape.deferred = deferred;
        return core::check_counter_shape(shape);
    });
    core::Aggregate agg = *core::parse_aggregate(aggregate);

    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Strings key = check_common(name, target, source, source_key, target_key, has_null, filter, touch);
    Oid coltype = column_type(target, target_column, "target_column");
    const char *coltype_text = format_type_be(coltype);
    if (value) {
        Oid vtype = expression_type(source, value, "value");
        const char *vtype_text = format_type_be(vtype);
        bool ordered = orderable(vtype);
        bool fits = assignable(vtype, coltype);
        pg::raise_problem([&] {
            return core::check_value(name, agg, core::ValueFacts{vtype_text, ordered, fits, target_column, coltype_text});
        });
    }
    Existing existing = existing_on(target, false);
    pg::raise_problem([&] {
        return core::check_written_column(target_column, coltype_text, agg, kinds_writing(existing, target_column));
    });
    const char *target_text = rel_text(target);
    pg::raise_problem([&] {
        return core::check_written_columns(target_text, {target_column}, to_vector(key), optional_string(touch));
    });
    pg::raise_problem(
        [&] { return core::check_shared_key(target_text, {target_column}, to_vector(key), to_core(existing)); });
    SPI_finish();
    PG_RETURN_DATUM(key_result(key));
}

// _check_latest(name, target, target_columns, source, source_key, source_values,
//               order_by, target_key, filter, touch) -> text[]
DENORM_FUNCTION(denorm_check_latest)
{
    static const char *const required[] = {"name", "target", nullptr, "source"};
    pg::require_arguments(fcinfo, required, 4);
    char *name = text_arg(fcinfo, 0);
    Oid target = PG_GETARG_OID(1);
    bool has_null = false;
    bool null_column = false;
    Strings columns = text_array_arg(fcinfo, 2, &null_column);
    Oid source = PG_GETARG_OID(3);
    Strings source_key = text_array_arg(fcinfo, 4, &has_null);
    Strings values = text_array_arg(fcinfo, 5, nullptr);
    Strings order_by = text_array_arg(fcinfo, 6, nullptr);
    Strings target_key = text_array_arg(fcinfo, 7, &has_null);
    char *filter = text_arg(fcinfo, 8);
    char *touch = text_arg(fcinfo, 9);
    pg::raise_problem([&] {
        core::CounterShape shape;
        shape.name = name;
        shape.aggregate = "count";
        shape.source_key_len = source_key.n;
        shape.target_key_len = PG_ARGISNULL(7) ? -1 : target_key.n;
        return core::check_counter_shape(shape);
    });
    pg::raise_problem([&] {
        return core::check_latest_shape(name, to_vector(columns), null_column, static_cast<size_t>(values.n),
                                        static_cast<size_t>(order_by.n));
    });

    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Strings key = check_common(name, target, source, source_key, target_key, has_null, filter, touch);
    Existing existing = existing_on(target, true);
    for (int i = 0; i < columns.n; i++) {
        Oid coltype = column_type(target, columns.items[i], "target_columns");
        Oid vtype = expression_type(source, values.items[i], "source value");
        const char *coltype_text = format_type_be(coltype);
        const char *vtype_text = format_type_be(vtype);
        bool fits = assignable(vtype, coltype);
        pg::raise_problem([&] {
            return core::check_latest_value(i + 1, name, vtype_text, columns.items[i], coltype_text, fits);
        });
        pg::raise_problem([&] {
            return core::check_written_column(columns.items[i], coltype_text, core::Aggregate::Latest,
                                              kinds_writing(existing, columns.items[i]));
        });
    }
    Strings order_types{order_by.n, static_cast<char **>(palloc0(sizeof(char *) * (order_by.n + 1)))};
    bool *ordered = static_cast<bool *>(palloc0(sizeof(bool) * (order_by.n + 1)));
    for (int k = 0; k < order_by.n; k++) {
        Oid type = expression_type(source, order_by.items[k], "order_by");
        order_types.items[k] = format_type_be(type);
        ordered[k] = orderable(type);
    }
    pg::raise_problem([&] {
        return core::check_order_types(name, to_vector(order_types), std::vector<bool>(ordered, ordered + order_by.n));
    });
    pg::raise_problem(
        [&] { return core::check_latest_group(name, to_vector(columns), to_vector(order_types), to_core(existing)); });
    const char *target_text = rel_text(target);
    pg::raise_problem([&] {
        return core::check_written_columns(target_text, to_vector(columns), to_vector(key), optional_string(touch));
    });
    pg::raise_problem(
        [&] { return core::check_shared_key(target_text, to_vector(columns), to_vector(key), to_core(existing)); });
    SPI_finish();
    PG_RETURN_DATUM(key_result(key));
}
