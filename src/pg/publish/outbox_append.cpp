// outbox_append.cpp — see outbox.hpp. Layer: pg glue. Regime: PostgreSQL.
#include "pg/publish/outbox.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

#include "pg/shared_state.hpp"

namespace denorm::pg {

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
    Datum values[3] = {CStringGetTextDatum(def->name), PointerGetDatum(key), 0};
    char nulls[4] = "  n";
    if (!is_extremum(def)) {
        nulls[2] = ' ';
        if (def->is_count || def->delta_kind == DeltaKind::Int)
            values[2] = DirectFunctionCall1(int8_numeric, Int64GetDatum(acc->ival));
        else if (def->delta_kind == DeltaKind::Float)
            values[2] = DirectFunctionCall1(float8_numeric, Float8GetDatum(acc->fval));
        else
            values[2] = acc->nval ? acc->nval : DirectFunctionCall1(int8_numeric, Int64GetDatum(0));
    }
    int rc = SPI_execute_plan(def->outbox_plan, values, nulls, false, 0);
    if (rc != SPI_OK_INSERT) elog(ERROR, "denorm: outbox entry of counter \"%s\" failed: %d", def->name, rc);
    wake_at_commit_for_outbox();
}

bool outbox_installed()
{
    Oid schema = get_namespace_oid("denorm", true);
    return OidIsValid(schema) && OidIsValid(get_relname_relid("_outbox", schema));
}

}  // namespace denorm::pg
