// refresh_scheduler.cpp — the debounce rule, backoff and refresh order. Layer: core.
#include "core/refresh_scheduler.hpp"

#include <algorithm>

namespace denorm::core {

std::optional<Micros> refresh_due_at(const ViewTiming &view)
{
    if (!view.first_change || !view.last_change) return std::nullopt;
    Micros due = std::min(*view.last_change + view.debounce, *view.first_change + view.max_delay);
    if (view.consecutive_failures > 0 && view.next_attempt) due = std::max(due, *view.next_attempt);
    return due;
}

bool refresh_is_due(const ViewTiming &view, Micros now)
{
    auto due = refresh_due_at(view);
    return due && now >= *due;
}

Micros failure_backoff(int consecutive_failures)
{
    return exponential_backoff(consecutive_failures, kSecond, 300 * kSecond);
}

Micros sleep_until_next(const std::vector<ViewTiming> &views, Micros now, Micros longest)
{
    Micros sleep = longest;
    for (const auto &view : views)
        if (auto due = refresh_due_at(view)) sleep = std::min(sleep, std::max<Micros>(0, *due - now));
    return std::max<Micros>(0, sleep);
}

std::optional<std::vector<int>> refresh_order(const std::vector<std::vector<int>> &reads)
{
    const int n = static_cast<int>(reads.size());
    std::vector<int> state(n, 0);  // 0 new, 1 visiting, 2 done
    std::vector<int> order;
    order.reserve(n);
    bool cycle = false;
    // Depth-first, views visited in index order so the result is deterministic.
    std::vector<std::pair<int, std::size_t>> stack;
    for (int start = 0; start < n && !cycle; start++) {
        if (state[start]) continue;
        stack.push_back({start, 0});
        state[start] = 1;
        while (!stack.empty() && !cycle) {
            auto &[node, next] = stack.back();
            if (next < reads[node].size()) {
                int dep = reads[node][next++];
                if (dep < 0 || dep >= n || dep == node) {
                    cycle = dep == node;
                    continue;
                }
                if (state[dep] == 1) cycle = true;
                else if (state[dep] == 0) {
                    state[dep] = 1;
                    stack.push_back({dep, 0});
                }
            } else {
                state[node] = 2;
                order.push_back(node);
                stack.pop_back();
            }
        }
    }
    if (cycle) return std::nullopt;
    return order;
}

}  // namespace denorm::core
