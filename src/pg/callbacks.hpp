// callbacks.hpp — the one registry of denorm's transaction, subtransaction and
// relcache callbacks: each is registered with PostgreSQL once per process however often
// it is added (there is no way to unregister), so callers just add what they need
// before they need it. Callbacks must not fail (an ERROR after the commit record is
// written becomes a PANIC). Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "utils/inval.h"
}

namespace denorm::pg {

void add_xact_callback(XactCallback callback);
void add_subxact_callback(SubXactCallback callback);
void add_relcache_callback(RelcacheCallbackFunction callback);

// Whether the event ends the transaction (commit, abort or prepare, parallel or not).
bool transaction_ended(XactEvent event);

}  // namespace denorm::pg
