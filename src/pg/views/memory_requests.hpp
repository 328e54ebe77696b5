// memory_requests.hpp — refresh requests kept in shared memory. A writing
// transaction records its request for a view when it commits, in the view's slot
// (a spinlock, no WAL, no row that writers share); the worker moves them into
// denorm._mv_requests at the start of every pass (run_pending() too), where the
// scheduler and refreshes read them. A request still in memory is lost in a restart
// or crash, so the first pass after shared memory is created requests every
// registered view once. Without shared memory (not preloaded), or when the slots are
// all taken, writers insert the durable row themselves.
// Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace denorm::pg {

// Records, at this transaction's commit, a request for each view in memory; returns
// false (nothing recorded) when there is no shared memory or no free slot: the caller
// then inserts the durable rows.
bool request_in_memory_at_commit(const Oid *views, int n);

// Moves this database's requests from memory into denorm._mv_requests (SPI connected,
// in a transaction); they count as moved when that transaction commits. One flush at
// a time: a second waits for the first to commit, or, with wait = false (the worker's
// pass), leaves the requests where they are for its next pass — so a refresh that
// flushed and then waits for its view's locks never holds the worker's flush back
// behind it, and status readers keep seeing those requests in memory meanwhile. The
// first call after shared memory was created requests every registered view.
void flush_memory_requests(bool wait = true);

}  // namespace denorm::pg
