// mv_refresh.hpp — deciding which registered views are due (core/refresh_scheduler)
// and refreshing one; shared by the worker and denorm.run_pending().
// Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
}

#include <vector>

#include "core/refresh_scheduler.hpp"

namespace denorm::pg {

// The views due now, in refresh order (a view after those it reads); *sleep is how
// long until the next one falls due, at most `longest`; *pending whether any view has
// requests waiting. SPI must be connected.
Oid *due_views(int *n, core::Micros longest, core::Micros *sleep, bool *pending = nullptr);

// Refreshes one view (denorm._refresh) with lock_timeout = denorm.refresh_lock_timeout,
// as the current user (superuser or the extension owner). SPI must be connected.
// Returns false when the refresh failed (logged, backed off).
bool refresh_one(Oid mv, int64 *row_count);

}  // namespace denorm::pg
