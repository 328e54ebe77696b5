// apply_order.hpp — the one global order in which a statement's counter changes
// are written: by target row (target id + key in target-column order), then by
// definition. Every session writing the same rows locks them in this order, so
// statements over shared targets cannot deadlock, whichever definitions they feed.
// Layer: core (pure C++17).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace denorm::core {

template <typename Item>
class ApplyOrder {
public:
    struct Entry {
        std::string row;  // encoded target row
        int definition;   // position of the definition (name order)
        Item *item;
    };

    void add(std::string_view row, int definition, Item *item) { entries_.push_back({std::string(row), definition, item}); }

    // Sorts by (row, definition); stable, so equal pairs keep their arrival order.
    void sort()
    {
        std::stable_sort(entries_.begin(), entries_.end(), [](const Entry &a, const Entry &b) {
            return a.row != b.row ? a.row < b.row : a.definition < b.definition;
        });
    }

    std::size_t size() const { return entries_.size(); }
    const Entry &at(std::size_t i) const { return entries_[i]; }
    void clear() { entries_.clear(); }

private:
    std::vector<Entry> entries_;
};

}  // namespace denorm::core
