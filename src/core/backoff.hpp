// backoff.hpp — how long to wait after consecutive failures: `first` doubling per
// failure, at most `cap` (a view's refresh, Redis while it is unreachable). Time is a
// number of microseconds, passed in and out, never read.
// Layer: core (pure C++17).
#pragma once

#include <cstdint>

namespace denorm::core {

using Micros = std::int64_t;
constexpr Micros kSecond = 1000000;
constexpr Micros kMillisecond = 1000;

// 0 before the first failure; first, 2 first, 4 first... after the 1st, 2nd, 3rd...
constexpr Micros exponential_backoff(int failures, Micros first, Micros cap)
{
    if (failures < 1) return 0;
    Micros wait = first;
    for (int i = 1; i < failures && wait < cap; i++) wait *= 2;
    return wait < cap ? wait : cap;
}

}  // namespace denorm::core
