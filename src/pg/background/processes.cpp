// processes.cpp — see processes.hpp. Layer: pg glue. Regime: PostgreSQL.
#include "pg/background/processes.hpp"

extern "C" {
#include "storage/spin.h"
#include "utils/timestamp.h"
}

namespace denorm::pg {

DbSlot *slot_of(Oid dbid)
{
    SharedState *state = shared_state();
    for (auto &slot : state->slots)
        if (slot.state != DbState::Free && slot.dbid == dbid) return &slot;
    return nullptr;
}

void set_state(Oid dbid, DbState value, int procno)
{
    SharedState *state = shared_state();
    SpinLockAcquire(&state->mutex);
    if (DbSlot *slot = slot_of(dbid)) {
        slot->state = value;
        slot->worker_procno = procno;
        slot->probed_at = GetCurrentTimestamp();
    }
    SpinLockRelease(&state->mutex);
}

}  // namespace denorm::pg
