// outbox.hpp — the writer's half of publishing to Redis (README "Publishing to
// Redis"): an outbox entry for a published counter's changed target row, appended in
// the writer's transaction after the row was written (so each key's entries are in
// commit order). Layer: pg glue. Regime: PostgreSQL.
#pragma once

#include "pg/counters/statement_batch.hpp"

namespace denorm::pg {

// Appends (def, target key of acc, its delta) to denorm._outbox (whoever the current
// role is: the table is the extension's own) and asks for the worker to be woken at
// commit.
void append_outbox(const CounterDef *def, const Accum *acc);

// Whether the extension's SQL has the outbox (it may be older than this library until
// ALTER EXTENSION denorm UPDATE): the worker and run_pending() publish only then.
bool outbox_installed();

}  // namespace denorm::pg
