// stats.hpp — what denorm did, per definition, registered view and publication, counted
// in shared memory for denorm.stats and denorm.metrics() (README "What an operator
// watches"). Writers add to counters of their own process and add those to the shared
// slots when the transaction ends: no table write and no shared lock per statement.
// Without shared_preload_libraries nothing is counted (the view says so). A slot is a
// (database, kind, name); when all slots are taken, new names are not counted and
// health() says so. Layer: pg glue. Regime: PostgreSQL (plain structs, spinlocks).
#pragma once

extern "C" {
#include "postgres.h"
}

namespace denorm::pg {

enum class StatKind : char { Counter = 'c', Latest = 'l', View = 'v', Publication = 'p', Search = 's' };

// A statement trigger call of a definition that read `rows` source rows.
void stat_call(StatKind kind, const char *name, int64 rows);
// Target rows (documents, Redis entries) a definition or publication wrote.
void stat_written(StatKind kind, const char *name, int64 rows);
// A refresh (of a view) or a drain (of a publication) that succeeded or failed, and how
// long it took.
void stat_refresh(const char *view, bool ok, double ms);
void stat_failure(StatKind kind, const char *name);

void stats_request();  // shmem_request_hook
void stats_startup();  // shmem_startup_hook

}  // namespace denorm::pg
