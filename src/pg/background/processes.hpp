// processes.hpp — what the launcher and the per-database processes share: which role
// a started process has (passed in bgw_extra), and each database's slot in shared memory
// (shared_state.hpp). Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
}

#include "pg/shared_state.hpp"

namespace denorm::pg {

enum class Role : uint32 { Probe = 1, Worker = 2 };

// The slot of dbid, nullptr when it has none; the caller holds the state's mutex.
DbSlot *slot_of(Oid dbid);

// Sets the slot's state and worker, and when it was last looked at.
void set_state(Oid dbid, DbState value, int procno);

}  // namespace denorm::pg
