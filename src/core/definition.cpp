// definition.cpp — see definition.hpp. Layer: core (pure C++17).
#include "core/definition.hpp"

#include <algorithm>
#include <numeric>

namespace denorm::core {

std::vector<size_t> key_order(const std::vector<Column> &key)
{
    std::vector<size_t> order(key.size());
    std::iota(order.begin(), order.end(), 0);
    // std::string compares as unsigned bytes, as strcmp and COLLATE "C" do.
    std::stable_sort(order.begin(), order.end(), [&key](size_t a, size_t b) { return key[a].name < key[b].name; });
    return order;
}

}  // namespace denorm::core
