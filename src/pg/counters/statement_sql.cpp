// statement_sql.cpp — denorm._statement(counter, purpose): the SQL face of
// core/statements for the set-based maintenance functions of the install script
// (recount, adoption, reconcile, fold, counter_value), which run the text it returns
// through denorm._as_owner. NULL when the statement does not apply to the counter
// (an upsert without create_missing...). Layer: pg glue. Regime: PostgreSQL.
#include <cstring>

extern "C" {
#include "postgres.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
}

#include "core/statements.hpp"
#include "pg/counters/definition_loader.hpp"
#include "pg/errors.hpp"
#include "pg/privileges.hpp"

using namespace denorm;

namespace {

using Text = std::optional<std::string>;

// The statement of `purpose`; `known` is false for a purpose that does not exist.
Text statement_for(const core::TargetDefinitions &on_target, const core::Definition &d, const char *purpose, bool *known)
{
    *known = true;
    auto is = [purpose](const char *p) { return strcmp(purpose, p) == 0; };
    bool additive = core::family_of(d.kind) == core::Family::Additive;
    if (is("apply")) return additive ? Text(core::apply_statement(d)) : std::nullopt;
    if (is("upsert")) return additive && d.create_missing ? Text(core::upsert_statement(d)) : std::nullopt;
    if (is("pending_insert")) return d.deferred ? Text(core::pending_insert_statement(d)) : std::nullopt;
    if (strncmp(purpose, "extremum_", 9) == 0) {
        if (additive) return std::nullopt;
        core::ExtremumStatements s = core::extremum_statements(on_target, d);
        if (is("extremum_lock")) return s.lock;
        if (is("extremum_recompute")) return s.recompute;
        if (is("extremum_create")) return s.create;
        if (is("extremum_fast")) return s.fast;
    }
    if (is("init")) return core::init_query(on_target).query;
    if (is("recount_lock") || is("recount")) {
        auto s = core::recount_statements(on_target, d.target_columns[0].name);
        if (!s) return std::nullopt;
        return is("recount") ? s->update : s->lock;
    }
    if (is("adopt")) return core::adopt_statement(d);
    if (is("adopt_values"))
        return d.create_missing && d.kind != core::Aggregate::Latest ? Text(core::adopt_values_statement(d)) : std::nullopt;
    if (is("counter_value")) return additive ? Text(core::counter_value_statement(on_target, d)) : std::nullopt;
    if (is("fold_create") || is("fold")) {
        if (!d.deferred) return std::nullopt;
        core::FoldStatements s = core::fold_statements(d);
        return is("fold") ? Text(s.fold) : s.create;
    }
    if (strncmp(purpose, "reconcile_", 10) == 0) {
        core::ReconcileStatements s = core::reconcile_statements(on_target, d);
        if (is("reconcile_report")) return s.report;
        if (is("reconcile_candidates")) return s.candidates;
        if (is("reconcile_lock")) return s.lock;
        if (is("reconcile_fix")) return s.fix;
        if (is("reconcile_missing_report")) return s.missing_report;
        if (is("reconcile_missing_fix")) return s.missing_fix;
    }
    *known = false;
    return std::nullopt;
}

}  // namespace

// _statement(counter text, purpose text) -> text
DENORM_FUNCTION(denorm_statement)
{
    static const char *const required[] = {"counter", "purpose"};
    pg::require_arguments(fcinfo, required, 2);
    char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char *purpose = text_to_cstring(PG_GETARG_TEXT_PP(1));
    MemoryContext caller = CurrentMemoryContext;
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    Oid types[1] = {TEXTOID};
    Datum args[1] = {PointerGetDatum(cstring_to_text(name))};
    if (SPI_execute_with_args("SELECT target::pg_catalog.oid FROM denorm._definitions WHERE name OPERATOR(pg_catalog.=) $1",
                              1, types, args, nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not read denorm._definitions");
    if (SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("counter \"%s\" does not exist", name)));
    bool isnull;
    Oid target = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    pg::LoadedDefinitions on_target = pg::load_definitions_on(target);
    pg::LoadedDefinition *loaded = pg::find_definition(on_target, name);

    // The text is copied into the caller's context: SPI_finish frees the loaded rows.
    char *sql = nullptr;
    bool known = true;
    MemoryContext spi = MemoryContextSwitchTo(caller);
    pg::guarded([&] {
        Text text = statement_for(pg::to_core(on_target), pg::to_core(*loaded), purpose, &known);
        if (text) sql = pg::palloc_string(*text);
    });
    MemoryContextSwitchTo(spi);
    SPI_finish();
    if (!known) ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown statement purpose \"%s\"", purpose)));
    if (!sql) PG_RETURN_NULL();
    PG_RETURN_TEXT_P(cstring_to_text(sql));
}
