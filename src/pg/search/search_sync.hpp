// search_sync.hpp — a search source's documents compared with a recomputation from its
// table and, when asked, made equal to it: the backfill of create_search_source, the
// TRUNCATE of one partition, and denorm.search_reconcile(). The recomputation is set-based
// SQL over the table, run as its owner and ordered by key; the stored documents are read
// in the same order and both are merged key by key, so memory stays bounded.
// Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/tupdesc.h"
#include "utils/tuplestore.h"
}

namespace denorm::pg {

// Where search_reconcile's rows go: (source, doc_key, stored jsonb, expected jsonb, fixed).
struct SyncReport {
    Tuplestorestate *store;
    TupleDesc desc;
};

// Compares the documents of source `name` with its rows and, with fix, writes the
// difference (holding a SHARE lock on the table until the transaction ends, so that no
// writer changes a row meanwhile). Each difference goes to report when given. Returns the
// number of differences. SPI must be connected.
int64 sync_search_source(const char *name, bool fix, SyncReport *report);

}  // namespace denorm::pg
