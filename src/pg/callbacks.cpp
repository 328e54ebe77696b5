// callbacks.cpp — see callbacks.hpp. Layer: pg glue. Regime: PostgreSQL.
#include "pg/callbacks.hpp"

namespace denorm::pg {

namespace {

// Few enough to search (one per subsystem); the arrays only ever grow.
constexpr int kMaxCallbacks = 8;

template <typename Fn>
bool add_once(Fn *list, int *n, Fn callback)
{
    for (int i = 0; i < *n; i++)
        if (list[i] == callback) return false;
    if (*n == kMaxCallbacks) elog(ERROR, "denorm: too many callbacks");
    list[(*n)++] = callback;
    return true;
}

XactCallback xact_callbacks[kMaxCallbacks];
int nxact = 0;
SubXactCallback subxact_callbacks[kMaxCallbacks];
int nsubxact = 0;
RelcacheCallbackFunction relcache_callbacks[kMaxCallbacks];
int nrelcache = 0;

}  // namespace

void add_xact_callback(XactCallback callback)
{
    if (add_once(xact_callbacks, &nxact, callback)) RegisterXactCallback(callback, nullptr);
}

void add_subxact_callback(SubXactCallback callback)
{
    if (add_once(subxact_callbacks, &nsubxact, callback)) RegisterSubXactCallback(callback, nullptr);
}

void add_relcache_callback(RelcacheCallbackFunction callback)
{
    if (add_once(relcache_callbacks, &nrelcache, callback)) CacheRegisterRelcacheCallback(callback, (Datum) 0);
}

bool transaction_ended(XactEvent event)
{
    return event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
           event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT;
}

}  // namespace denorm::pg
