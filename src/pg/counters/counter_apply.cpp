// counter_apply.cpp — writes a statement batch to the target tables: every
// non-zero change of every definition, sorted into one global order (target row,
// then definition), each applied with its definition's prepared statement as the
// target's owner. Layer: pg glue. Regime: PostgreSQL (C++ containers only behind
// the batch's pointers; see statement_batch.hpp).
#include "pg/counters/statement_batch.hpp"
#include "pg/counters/direct_update.hpp"
#include "pg/counters/latest_carry.hpp"
#include "pg/publish/outbox.hpp"

extern "C" {
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
}

#include <new>
#include <string>

#include "pg/errors.hpp"
#include "pg/counters/key_encoding.hpp"
#include "pg/privileges.hpp"

namespace denorm::pg {
namespace {

bool numeric_is_zero(Datum n)
{
    return DatumGetInt32(DirectFunctionCall2(numeric_cmp, n, DirectFunctionCall1(numeric_in, CStringGetDatum("0")))) == 0;
}

bool is_zero(const CounterDef *def, const Accum &acc)
{
    if (is_extremum(def)) return !acc.has_added && !acc.has_removed;
    if (!def->is_count && def->delta_kind == DeltaKind::Numeric) return acc.nval == 0 || numeric_is_zero(acc.nval);
    return acc.ival == 0 && acc.fval == 0;
}

Datum delta_datum(const CounterDef *def, const Accum &acc)
{
    if (!def->is_count && def->delta_kind == DeltaKind::Float) return Float8GetDatum(acc.fval);
    if (!def->is_count && def->delta_kind == DeltaKind::Numeric) return acc.nval;
    return Int64GetDatum(acc.ival);
}

// (target, key in target-column order): the same target row encodes the same in
// every definition, whatever the order of its source key.
void encode_target_row(core::KeyEncoder *enc, const DefBatch *db, const Accum &acc)
{
    enc->clear();
    Oid target = db->def->target;
    enc->add_part(&target, sizeof target);
    for (int i = 0; i < db->def->nkeys; i++) {
        int k = db->def->key_order[i];
        encode_key_datum(enc, acc.keys[k], db->typlen[k], db->typbyval[k]);
    }
}

// The definitions of all batches by name: the rank of a definition is its place in the
// global order within a target row, and changes of one (rank, row) are one change.
struct Ranked {
    int n;
    CounterDef **defs;  // by name; the latest cache entry of each
};

Ranked rank_definitions(Batch **batches, int nbatches)
{
    Ranked r{0, nullptr};
    int capacity = 0;
    for (int b = 0; b < nbatches; b++) capacity += batches[b]->ndefs;
    r.defs = static_cast<CounterDef **>(palloc(sizeof(CounterDef *) * (capacity + 1)));
    for (int b = 0; b < nbatches; b++)
        for (int i = 0; i < batches[b]->ndefs; i++) {
            CounterDef *def = batches[b]->defs[i].def;
            int at = 0;
            while (at < r.n && strcmp(r.defs[at]->name, def->name) < 0) at++;
            if (at < r.n && strcmp(r.defs[at]->name, def->name) == 0) {
                r.defs[at] = def;  // a later batch holds the newer cache entry
                continue;
            }
            memmove(&r.defs[at + 1], &r.defs[at], sizeof(CounterDef *) * (r.n - at));
            r.defs[at] = def;
            r.n++;
        }
    // Written with the definitions as they are now: a batch kept until commit may hold
    // an entry whose plans name a column renamed since.
    for (int i = 0; i < r.n; i++)
        if (SourceDefs *now = source_definitions(r.defs[i]->source))
            for (int j = 0; j < now->ndefs; j++)
                if (strcmp(now->defs[j].name, r.defs[i]->name) == 0) r.defs[i] = &now->defs[j];
    return r;
}

int rank_of(const Ranked &r, const CounterDef *def)
{
    for (int i = 0; i < r.n; i++)
        if (strcmp(r.defs[i]->name, def->name) == 0) return i;
    return -1;
}

// The entries point to copies of the batches' changes (in `cxt`): merging and marking
// them done must leave the batches as they are — a batch written inside a savepoint
// that rolls back is written again later.
void collect_in_global_order(Batch **batches, int nbatches, const Ranked &ranked, core::KeyEncoder *encoder,
                             core::ApplyOrder<Accum> *order, MemoryContext cxt)
{
    for (int b = 0; b < nbatches; b++)
        for (int i = 0; i < batches[b]->ndefs; i++) {
            DefBatch *db = &batches[b]->defs[i];
            int rank = rank_of(ranked, db->def);
            db->deltas->for_each([db, encoder, order, rank, cxt](Accum &acc) {
                if (is_zero(db->def, acc)) return;
                auto *copy = static_cast<Accum *>(MemoryContextAllocExtended(cxt, sizeof(Accum), MCXT_ALLOC_NO_OOM));
                if (!copy) throw std::bad_alloc();
                *copy = acc;
                encode_target_row(encoder, db, acc);
                order->add(encoder->view(), rank, copy);
            });
        }
    order->sort();
}

// Adds `from` (a later statement's change of the same definition and key) into `into`.
void merge_change(const CounterDef *def, Accum *into, const Accum *from)
{
    bool into_had_added = into->has_added;
    into->has_added = into->has_added || from->has_added;
    if (is_extremum(def)) {
        if (def->kind == core::Aggregate::Latest) {
            into->has_removed = into->has_removed || from->has_removed;
            if (from->carried && (!into->carried || carried_newer(def->carry, *from, *into))) {
                into->carried = from->carried;
                into->carried_null = from->carried_null;
            }
            return;
        }
        // min, max: the best value added and the best removed, over both.
        auto better = [def](Datum a, Datum b) {
            int cmp = DatumGetInt32(FunctionCall2Coll(def->value_cmp, def->value_collation, a, b));
            return def->kind == core::Aggregate::Max ? cmp > 0 : cmp < 0;
        };
        if (from->has_added && (!into_had_added || better(from->added, into->added))) into->added = from->added;
        if (from->has_removed && (!into->has_removed || better(from->removed, into->removed))) into->removed = from->removed;
        into->has_removed = into->has_removed || from->has_removed;
        return;
    }
    if (__builtin_add_overflow(into->ival, from->ival, &into->ival))
        ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                        errmsg("bigint out of range in the change of counter \"%s\"", def->name)));
    into->fval += from->fval;
    if (from->nval) into->nval = into->nval ? DirectFunctionCall2(numeric_add, into->nval, from->nval) : from->nval;
}

// The parameters of a count or sum's statements: $1 the delta, $2.. the source key.
void delta_and_key(const CounterDef *def, const Accum *acc, Datum *values)
{
    values[0] = delta_datum(def, *acc);
    for (int k = 0; k < def->nkeys; k++) values[k + 1] = acc->keys[k];
}

// A deferred definition's change: appended, no target row touched.
void append_pending(CounterDef *def, const Accum *acc)
{
    Datum values[INDEX_MAX_KEYS + 1];
    delta_and_key(def, acc, values);
    int rc = SPI_execute_plan(def->pending_plan, values, nullptr, false, 0);
    if (rc != SPI_OK_INSERT) elog(ERROR, "denorm: deferred change of counter \"%s\" failed: %d", def->name, rc);
}

// Applies one change; returns true when create_missing inserted the target row
// (its BEFORE INSERT initialiser then counted the whole statement already).
// What apply_one did: updated the row; created it (create_missing: its initialiser
// counted every change); found it when inserting (another transaction created it in the
// meantime: the upsert added the change); or found no row and created none.
enum class Applied { Updated, Created, FoundOnInsert, NoRow };

Applied update_only(CounterDef *def, Datum *values)
{
    int rc = SPI_execute_plan(def->update_plan, values, nullptr, false, 0);
    if (rc != SPI_OK_UPDATE) elog(ERROR, "denorm: update of counter \"%s\" failed: %d", def->name, rc);
    return SPI_processed > 0 ? Applied::Updated : Applied::NoRow;
}

// row_missing: the row was not there a moment ago (write_row_directly): a create_missing
// definition inserts it straight away (the upsert adds the change if it is there by now).
Applied apply_one(CounterDef *def, const Accum *acc, bool row_missing)
{
    Datum values[INDEX_MAX_KEYS + 1];
    delta_and_key(def, acc, values);
    // A change that only removed rows (a target row deleted with its source rows, in
    // either order) never creates the row.
    bool creates = def->create_missing && acc->has_added;
    Applied updated = row_missing && creates ? Applied::NoRow : update_only(def, values);
    if (updated == Applied::Updated || !creates) return updated;
    int rc = SPI_execute_plan(def->upsert_plan, values, nullptr, false, 0);
    if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
        elog(ERROR, "denorm: insert for counter \"%s\" failed: %d", def->name, rc);
    bool isnull;
    return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) ? Applied::Created
                                                                                                 : Applied::FoundOnInsert;
}

// A change written (or folded into another entry's): is_zero() skips it from then on.
void mark_done(Accum *acc)
{
    acc->has_added = acc->has_removed = false;
    acc->ival = 0;
    acc->fval = 0;
    acc->nval = 0;
}

bool combinable(const CounterDef *def) { return !is_extremum(def) && !def->deferred; }

// Written by write_row_directly (a count or integer sum; a latest that carries its newest
// row and removed none).
bool direct_candidate(const CounterDef *def, const Accum &acc)
{
    if (def->kind == core::Aggregate::Latest) return def->carry && acc.carried && !acc.has_removed;
    return combinable(def) && def->delta_kind == DeltaKind::Int;
}

// The changes to the target row of entry `first` (the row's first entry) that can be
// written without a statement, written so (direct_update.hpp) and then marked done.
DirectResult apply_direct(core::ApplyOrder<Accum> *order, size_t first, const Ranked &ranked, RunAs *as)
{
    CounterDef *defs[kMostChangesPerRow];
    Accum *items[kMostChangesPerRow];
    int n = 0;
    const auto &head = order->at(first);
    for (size_t j = first; j < order->size() && n < kMostChangesPerRow; j++) {
        const auto &entry = order->at(j);
        if (entry.row != head.row) break;
        CounterDef *def = ranked.defs[entry.definition];
        if (is_zero(def, *entry.item) || !direct_candidate(def, *entry.item)) continue;
        defs[n] = def;
        items[n] = entry.item;
        n++;
    }
    if (n == 0) return DirectResult::LeftToStatement;
    run_as_switch(as, defs[0]->target_owner);
    DirectResult result = write_row_directly(defs, items, n, as);
    if (result == DirectResult::Written)
        for (int i = 0; i < n; i++) mark_done(items[i]);
    return result;
}

// The count/sum changes to the target row of entry `first` (and of the entries after it
// with the same row, from the same source) in one UPDATE when there are at least two;
// their entries are then zeroed (done). False when there are fewer, or the row does not
// exist (then each is applied on its own, create_missing included).
bool apply_combined(core::ApplyOrder<Accum> *order, size_t first, const Ranked &ranked)
{
    constexpr int kMost = kMostChangesPerRow;
    CounterDef *defs[kMost];
    Accum *items[kMost];
    int n = 0;
    const auto &head = order->at(first);
    for (size_t j = first; j < order->size() && n < kMost; j++) {
        const auto &entry = order->at(j);
        if (entry.row != head.row) break;
        CounterDef *def = ranked.defs[entry.definition];
        if (!combinable(def) || is_zero(def, *entry.item) || def->owner != ranked.defs[head.definition]->owner) continue;
        defs[n] = def;
        items[n] = entry.item;
        n++;
    }
    if (n < 2) return false;
    Datum values[kMost + INDEX_MAX_KEYS];
    for (int i = 0; i < n; i++) values[i] = delta_datum(defs[i], *items[i]);
    for (int k = 0; k < defs[0]->nkeys; k++) values[n + k] = items[0]->keys[k];
    SPIPlanPtr plan = combined_apply_plan(defs, n);
    int rc = SPI_execute_plan(plan, values, nullptr, false, 0);
    if (rc != SPI_OK_UPDATE) elog(ERROR, "denorm: update of counters of %s failed: %d", defs[0]->target_sql, rc);
    if (SPI_processed == 0) return false;
    for (int i = 0; i < n; i++) mark_done(items[i]);
    return true;
}

// A published counter's change, copied before it is written (and marked done).
struct Published {
    CounterDef *def;
    Accum change;
};

}  // namespace

void apply_batches(Batch **batches, int nbatches)
{
    Ranked ranked = rank_definitions(batches, nbatches);
    core::KeyEncoder *encoder = nullptr;
    core::ApplyOrder<Accum> *order = nullptr;
    // The order's entries point into the batches; the containers live until the end of
    // this function, or of the (sub)transaction if it fails (a reset callback deletes them).
    MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "denorm apply", ALLOCSET_SMALL_SIZES);
    auto *callback = static_cast<MemoryContextCallback *>(MemoryContextAllocZero(cxt, sizeof(MemoryContextCallback)));
    struct Owned {
        core::KeyEncoder *encoder;
        core::ApplyOrder<Accum> *order;
    };
    auto *owned = static_cast<Owned *>(MemoryContextAllocZero(cxt, sizeof(Owned)));
    callback->func = [](void *arg) {
        auto *o = static_cast<Owned *>(arg);
        delete o->encoder;
        delete o->order;
    };
    callback->arg = owned;
    MemoryContextRegisterResetCallback(cxt, callback);
    // Called from the ExecutorFinish hook too: no C++ exception may leave here.
    guarded([&] {
        owned->encoder = encoder = new core::KeyEncoder();
        owned->order = order = new core::ApplyOrder<Accum>();
        collect_in_global_order(batches, nbatches, ranked, encoder, order, cxt);
    });
    if (order->size() == 0) {
        MemoryContextDelete(cxt);
        return;
    }
    // One change per (row, definition): the later entries of a pair fold into the first.
    for (size_t i = 0, first = 0; i < order->size(); i++) {
        const auto &entry = order->at(i);
        const auto &head = order->at(first);
        if (i > first && entry.row == head.row && entry.definition == head.definition) {
            merge_change(ranked.defs[entry.definition], head.item, entry.item);
            mark_done(entry.item);
        } else {
            first = i;
        }
    }
    // The changes of published counters, kept before writing them marks them done: each
    // written row gets its outbox entry once all are written.
    int npublished = 0;
    auto *published = static_cast<Published *>(palloc(sizeof(Published) * (order->size() + 1)));
    for (size_t i = 0; i < order->size(); i++) {
        const auto &entry = order->at(i);
        CounterDef *def = ranked.defs[entry.definition];
        if (is_zero(def, *entry.item)) continue;
        stat_written(stat_kind_of(def), def->name, 1);
        // (A deferred counter's entries come from its folds: its change is not in the target yet.)
        if (def->published && !def->deferred) published[npublished++] = Published{def, *entry.item};
    }
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    // Each change is written as its target's owner (a deferred one, into our own
    // table, as the extension's owner); on error the (sub)transaction abort restores.
    RunAs as;
    run_as_begin_unpinned(&as, GetUserId());  // each entry switches to its owner, and pins
                                              // search_path before its first statement
    // Entries of one target row are adjacent. Once a row was inserted by
    // create_missing, its initialiser counted everything, so the other changes to it
    // are skipped; once a group of min/max/latest columns was recomputed, the other
    // definitions of that group are covered too.
    // A count/sum change that found no row and may not create it waits in `missed`: if
    // a create_missing definition of the same row then finds the row created by another
    // transaction meanwhile (its insert was not visible to the first UPDATE), the change
    // is written to it after all.
    const std::string *created_row = nullptr;
    const std::string *recomputed_row = nullptr;
    const char *recomputed_group = nullptr;
    const std::string *missed_row = nullptr;
    int nmissed = 0;
    bool row_missing = false;  // write_row_directly found no row for the current row
    auto **missed_defs = static_cast<CounterDef **>(palloc(sizeof(CounterDef *) * (order->size() + 1)));
    auto **missed_items = static_cast<Accum **>(palloc(sizeof(Accum *) * (order->size() + 1)));
    for (size_t i = 0; i < order->size(); i++) {
        const auto &entry = order->at(i);
        if (!missed_row || *missed_row != entry.row) {
            missed_row = &entry.row;
            nmissed = 0;
            // First what needs no statement: then the row is written once for all of them.
            row_missing = apply_direct(order, i, ranked, &as) == DirectResult::NoRow;
        }
        if (created_row && *created_row == entry.row) continue;
        CounterDef *def = ranked.defs[entry.definition];
        if (is_zero(def, *entry.item)) continue;  // folded into an earlier entry, or netted out
        bool extremum = is_extremum(def);
        if (extremum && recomputed_row && *recomputed_row == entry.row && strcmp(recomputed_group, def->group) == 0)
            continue;
        run_as_switch(&as, def->deferred ? def->pending_owner : def->target_owner);
        run_as_pin(&as);
        // All count/sum changes to this row in one statement, when there are several.
        if (combinable(def) && !row_missing && apply_combined(order, i, ranked)) continue;
        bool created = false;
        if (def->deferred) {
            append_pending(def, entry.item);
        } else if (extremum) {
            ExtremumResult result = apply_extremum(def, entry.item, row_missing);
            created = result == ExtremumResult::Created;
            if (result == ExtremumResult::Recomputed) {
                recomputed_row = &entry.row;
                recomputed_group = def->group;
            }
        } else {
            Applied result = apply_one(def, entry.item, row_missing);
            created = result == Applied::Created;
            if (result == Applied::NoRow) {
                missed_defs[nmissed] = def;
                missed_items[nmissed++] = entry.item;
            } else if (result == Applied::FoundOnInsert) {
                for (int m = 0; m < nmissed; m++) {
                    Datum values[INDEX_MAX_KEYS + 1];
                    delta_and_key(missed_defs[m], missed_items[m], values);
                    run_as_switch(&as, missed_defs[m]->target_owner);
                    update_only(missed_defs[m], values);
                }
                nmissed = 0;
            }
        }
        created_row = created ? &entry.row : nullptr;
    }
    if (npublished > 0) {
        run_as_switch(&as, extension_owner());
        for (int i = 0; i < npublished; i++) append_outbox(published[i].def, &published[i].change);
    }
    run_as_end(&as);
    SPI_finish();
    MemoryContextDelete(cxt);
}

}  // namespace denorm::pg
