// search_trigger.cpp — the triggers on a search source (and on each partition of one,
// since statement triggers are not cloned): AFTER INSERT/UPDATE/DELETE statement
// triggers read the statement's transition tables, compute the documents of the old and
// the new rows natively for each search source of the table, and write the difference
// (search_writer.hpp) before the statement ends, in the writer's transaction; AFTER
// TRUNCATE removes the documents of the truncated rows.
// Layer: pg glue. Regime: PostgreSQL (palloc'd lists, no C++ objects).
extern "C" {
#include "postgres.h"
#include "access/table.h"
#include "access/tupconvert.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
}

#include "pg/counters/catalog.hpp"
#include "pg/errors.hpp"
#include "pg/search/search_sources.hpp"
#include "pg/search/search_sync.hpp"
#include "pg/stats/stats.hpp"
#include "pg/search/search_writer.hpp"

namespace denorm::pg {
namespace {

TriggerData *trigger_data(FunctionCallInfo fcinfo, const char *name)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("%s can only be called as a trigger", name)));
    return reinterpret_cast<TriggerData *>(fcinfo->context);
}

// The documents of every row of a transition table, one list per source (lists[i] for
// set->defs[i]). A partition's rows are converted to the root's layout first, which the
// expressions were planned for.
void read_documents(Tuplestorestate *store, Relation rel, TupleDesc root_desc, SearchSourceSet *set, DocList *lists)
{
    if (!store) return;
    TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
    TupleConversionMap *map = root_desc ? convert_tuples_by_name(RelationGetDescr(rel), root_desc) : nullptr;
    TupleTableSlot *root_slot = map ? MakeSingleTupleTableSlot(root_desc, &TTSOpsVirtual) : nullptr;
    ExprContext *econtext = CreateStandaloneExprContext();
    int ptr = tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND);
    tuplestore_select_read_pointer(store, ptr);
    tuplestore_rescan(store);
    while (tuplestore_gettupleslot(store, true, false, slot)) {
        TupleTableSlot *row = map ? execute_attr_map_slot(map->attrMap, slot, root_slot) : slot;
        for (int i = 0; i < set->n; i++) compute_document(&set->defs[i], row, econtext, &lists[i]);
    }
    FreeExprContext(econtext, true);
    ExecDropSingleTupleTableSlot(slot);
    if (root_slot) ExecDropSingleTupleTableSlot(root_slot);
}

Datum search_stmt_trigger(FunctionCallInfo fcinfo)
{
    TriggerData *td = trigger_data(fcinfo, "denorm._search_stmt_trigger()");
    if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
        elog(ERROR, "denorm._search_stmt_trigger() must be an AFTER ... FOR EACH STATEMENT trigger");
    Relation rel = td->tg_relation;
    Oid root = partition_root(RelationGetRelid(rel));
    SearchSourceSet *set = search_sources_of(root);
    if (!set || (!td->tg_oldtable && !td->tg_newtable)) return PointerGetDatum(nullptr);
    for (int i = 0; i < set->n; i++) search_source_states(set, &set->defs[i]);

    auto *old_docs = static_cast<DocList *>(palloc0(sizeof(DocList) * set->n));
    auto *new_docs = static_cast<DocList *>(palloc0(sizeof(DocList) * set->n));
    Relation root_rel = root != RelationGetRelid(rel) ? table_open(root, AccessShareLock) : nullptr;
    TupleDesc root_desc = root_rel ? RelationGetDescr(root_rel) : nullptr;
    read_documents(td->tg_oldtable, rel, root_desc, set, old_docs);
    read_documents(td->tg_newtable, rel, root_desc, set, new_docs);
    if (root_rel) table_close(root_rel, NoLock);

    int64 rows = (td->tg_oldtable ? tuplestore_tuple_count(td->tg_oldtable) : 0) +
                 (td->tg_newtable ? tuplestore_tuple_count(td->tg_newtable) : 0);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    for (int i = 0; i < set->n; i++) {
        DocWrites writes{};
        diff_documents(&old_docs[i], &new_docs[i], &writes);
        stat_call(StatKind::Search, set->defs[i].name, rows);
        stat_written(StatKind::Search, set->defs[i].name, writes.upserts.n + writes.ndeletes);
        write_documents(set->defs[i].name, set->defs[i].language, &writes);
    }
    SPI_finish();
    return PointerGetDatum(nullptr);
}

// TRUNCATE fires no row trigger. A plain table or a partition tree's root loses all its
// rows: its sources' documents go. A partition alone: its rows' documents cannot be told
// from its siblings', so its sources are synchronised with what the tree holds now.
Datum search_truncate_trigger(FunctionCallInfo fcinfo)
{
    TriggerData *td = trigger_data(fcinfo, "denorm._search_truncate_trigger()");
    Oid relid = RelationGetRelid(td->tg_relation);
    Oid root = partition_root(relid);
    SearchSourceSet *set = search_sources_of(root);
    if (!set) return PointerGetDatum(nullptr);
    int n = set->n;
    auto **names = static_cast<char **>(palloc(sizeof(char *) * (n + 1)));
    for (int i = 0; i < n; i++) names[i] = pstrdup(set->defs[i].name);
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    if (root == relid)
        delete_source_documents(names, n);
    else
        for (int i = 0; i < n; i++) sync_search_source(names[i], true, nullptr);
    SPI_finish();
    return PointerGetDatum(nullptr);
}

}  // namespace
}  // namespace denorm::pg

DENORM_FUNCTION(denorm_search_stmt_trigger)
{
    return denorm::pg::search_stmt_trigger(fcinfo);
}

DENORM_FUNCTION(denorm_search_truncate_trigger)
{
    return denorm::pg::search_truncate_trigger(fcinfo);
}
