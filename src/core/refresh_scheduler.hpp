// refresh_scheduler.hpp — when a registered materialized view is due for a refresh
// (README "Materialized views, refreshed in the background", Debounce): its pending
// batch starts refreshing at the first moment when now >= last_change + debounce or
// now >= first_change + max_delay, but not before the backoff after failures allows;
// and in which order views refresh (a view after the views it reads). Time is passed
// in (microseconds), never read.
// Layer: core (pure C++17).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/backoff.hpp"

namespace denorm::core {

struct ViewTiming {
    std::optional<Micros> first_change;  // oldest pending request; nullopt = nothing pending
    std::optional<Micros> last_change;   // newest pending request
    Micros debounce = kSecond;
    Micros max_delay = 5 * kSecond;
    int consecutive_failures = 0;
    std::optional<Micros> next_attempt;  // set after a failure
};

// When the pending batch may start refreshing; nullopt when nothing is pending.
std::optional<Micros> refresh_due_at(const ViewTiming &view);

bool refresh_is_due(const ViewTiming &view, Micros now);

// Wait after the n-th consecutive failure (n >= 1): 1 s doubling, at most 5 minutes.
Micros failure_backoff(int consecutive_failures);

// How long to sleep: until the earliest due time, at most `longest` (naptime), never negative.
Micros sleep_until_next(const std::vector<ViewTiming> &views, Micros now, Micros longest);

// Views ordered so that each comes after every view it reads. reads[i] lists the
// indexes of the views view i reads. Returns nullopt on a cycle.
std::optional<std::vector<int>> refresh_order(const std::vector<std::vector<int>> &reads);

}  // namespace denorm::core
