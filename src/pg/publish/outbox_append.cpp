// outbox_append.cpp — see outbox.hpp. The entry is inserted into denorm._outbox as the
// table access method and its indexes take it, without an INSERT statement: a prepared
// INSERT cost a published counter's writer an executor start and end per target row
// (bench/redis.sh, write overhead). denorm._outbox is the extension's own table — no
// trigger, no row security, no constraint but NOT NULL and its keys — so nothing an
// INSERT would do is skipped. Layer: pg glue. Regime: PostgreSQL.
#include "pg/publish/outbox.hpp"

extern "C" {
#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

#include "pg/shared_state.hpp"

namespace denorm::pg {
namespace {

// denorm._outbox's columns, by name (the install script's order is not relied on).
struct Columns {
    AttrNumber id, counter, key, delta, created_at;
};

bool find_columns(TupleDesc desc, Columns *c)
{
    *c = Columns{0, 0, 0, 0, 0};
    for (int a = 0; a < desc->natts; a++) {
        Form_pg_attribute att = TupleDescAttr(desc, a);
        if (att->attisdropped) continue;
        const char *name = NameStr(att->attname);
        AttrNumber n = static_cast<AttrNumber>(a + 1);
        if (strcmp(name, "id") == 0) c->id = n;
        else if (strcmp(name, "counter") == 0) c->counter = n;
        else if (strcmp(name, "key") == 0) c->key = n;
        else if (strcmp(name, "delta") == 0) c->delta = n;
        else if (strcmp(name, "created_at") == 0) c->created_at = n;
        else if (att->attnotnull) return false;  // a column this code does not know to fill
    }
    return c->id && c->counter && c->key && c->delta && c->created_at;
}

// The entry's index entries, as the executor would add them (plain columns only).
void insert_index_entries(Relation rel, TupleTableSlot *slot)
{
    ListCell *lc;
    foreach (lc, RelationGetIndexList(rel)) {
        Relation index = index_open(lfirst_oid(lc), RowExclusiveLock);
        IndexInfo *info = BuildIndexInfo(index);
        Datum values[INDEX_MAX_KEYS];
        bool isnull[INDEX_MAX_KEYS];
        FormIndexDatum(info, slot, nullptr, values, isnull);
        index_insert(index, values, isnull, &slot->tts_tid, rel,
                     index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO, false, info);
        index_close(index, NoLock);
    }
}

}  // namespace

void append_outbox(const CounterDef *def, const Accum *acc)
{
    Datum *texts = static_cast<Datum *>(palloc(sizeof(Datum) * (def->nkeys + 1)));
    for (int k = 0; k < def->nkeys; k++) {
        Oid output;
        bool varlena;
        getTypeOutputInfo(def->key_types[k], &output, &varlena);
        texts[k] = CStringGetTextDatum(OidOutputFunctionCall(output, acc->keys[k]));
    }
    ArrayType *key = construct_array(texts, def->nkeys, TEXTOID, -1, false, TYPALIGN_INT);
    Datum delta = 0;
    bool delta_null = is_extremum(def);
    if (!delta_null) {
        if (def->is_count || def->delta_kind == DeltaKind::Int)
            delta = DirectFunctionCall1(int8_numeric, Int64GetDatum(acc->ival));
        else if (def->delta_kind == DeltaKind::Float)
            delta = DirectFunctionCall1(float8_numeric, Float8GetDatum(acc->fval));
        else
            delta = acc->nval ? acc->nval : DirectFunctionCall1(int8_numeric, Int64GetDatum(0));
    }

    Oid schema = get_namespace_oid("denorm", false);
    Oid relid = get_relname_relid("_outbox", schema);
    Oid sequence = get_relname_relid("_outbox_id_seq", schema);
    if (!OidIsValid(relid) || !OidIsValid(sequence)) elog(ERROR, "denorm: denorm._outbox is missing");
    Relation rel = table_open(relid, RowExclusiveLock);
    Columns c;
    if (!find_columns(RelationGetDescr(rel), &c)) elog(ERROR, "denorm: denorm._outbox has columns this library does not know");
    TupleTableSlot *slot = table_slot_create(rel, nullptr);
    ExecClearTuple(slot);
    for (int a = 0; a < slot->tts_tupleDescriptor->natts; a++) slot->tts_isnull[a] = true;
    auto set = [slot](AttrNumber column, Datum value) {
        slot->tts_values[column - 1] = value;
        slot->tts_isnull[column - 1] = false;
    };
    set(c.id, Int64GetDatum(nextval_internal(sequence, false)));
    set(c.counter, CStringGetTextDatum(def->name));
    set(c.key, PointerGetDatum(key));
    if (!delta_null) set(c.delta, delta);
    set(c.created_at, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));  // now()
    ExecStoreVirtualTuple(slot);
    table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, nullptr);
    insert_index_entries(rel, slot);
    ExecDropSingleTupleTableSlot(slot);
    table_close(rel, NoLock);
    wake_at_commit_for_outbox();
}

bool outbox_installed()
{
    Oid schema = get_namespace_oid("denorm", true);
    return OidIsValid(schema) && OidIsValid(get_relname_relid("_outbox", schema));
}

}  // namespace denorm::pg
