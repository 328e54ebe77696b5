// delta_map.hpp — per-statement net changes keyed by an encoded target key.
// Layer: core (pure C++17). Callers add a change per source row; at statement end
// they visit the entries and queue the non-zero ones in core::ApplyOrder.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace denorm::core {

// Value must be default-constructible; the caller merges into it through the
// reference returned by slot(). is_zero(const Value&) decides what is skipped.
template <typename Value>
class DeltaMap {
public:
    // The accumulator of `key`, created (default value) on first use. The bool
    // says whether it was created by this call, so the caller can copy the key's
    // datums once.
    std::pair<Value &, bool> slot(std::string_view key)
    {
        auto [it, inserted] = entries_.try_emplace(std::string(key));
        return {it->second, inserted};
    }

    // The accumulator of `key`, or nullptr.
    Value *find(std::string_view key)
    {
        auto it = entries_.find(std::string(key));
        return it == entries_.end() ? nullptr : &it->second;
    }

    // Visits every accumulator (in no particular order).
    template <typename Visit>
    void for_each(Visit visit)
    {
        for (auto &entry : entries_) visit(entry.second);
    }

    std::size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }

private:
    std::unordered_map<std::string, Value> entries_;
};

// Builds the byte string that identifies a key tuple: each part is length-prefixed
// so ("ab","c") and ("a","bc") never collide. A NULL part is refused by callers
// (source rows with a NULL key count for nothing), so it has no encoding.
class KeyEncoder {
public:
    void clear() { bytes_.clear(); }
    void add_part(const void *data, std::size_t len)
    {
        unsigned char prefix[4] = {static_cast<unsigned char>(len >> 24), static_cast<unsigned char>(len >> 16),
                                   static_cast<unsigned char>(len >> 8), static_cast<unsigned char>(len)};
        bytes_.append(reinterpret_cast<const char *>(prefix), 4);
        bytes_.append(static_cast<const char *>(data), len);
    }
    // A signed integer of `width` bytes (1, 2, 4 or 8), big-endian with the sign bit
    // flipped, so that byte order is numeric order: rows keyed by integers are then
    // locked in the order `ORDER BY key` gives (reconcile, TRUNCATE's recount and folds
    // lock that way too), and those lockers cannot deadlock with a writer.
    void add_ordered_int(long long value, int width)
    {
        unsigned long long bits = static_cast<unsigned long long>(value);
        bits ^= 1ULL << (width * 8 - 1);
        unsigned char bytes[8];
        for (int i = 0; i < width; i++) bytes[i] = static_cast<unsigned char>(bits >> (8 * (width - 1 - i)));
        add_part(bytes, static_cast<std::size_t>(width));
    }
    // Bytes compared as memcmp compares them, the shorter first on a tie (what ORDER BY
    // under COLLATE "C" and bytea's order do): each 0x00 is written 0x00 0x01 and the
    // part ends with 0x00 0x00, so the encoding sorts in that order and stays
    // unambiguous when further parts follow.
    void add_ordered_bytes(const void *data, std::size_t len)
    {
        const auto *p = static_cast<const unsigned char *>(data);
        for (std::size_t i = 0; i < len; i++) {
            bytes_.push_back(static_cast<char>(p[i]));
            if (p[i] == 0) bytes_.push_back('\x01');
        }
        bytes_.append("\0\0", 2);
    }
    std::string_view view() const { return bytes_; }

private:
    std::string bytes_;
};

}  // namespace denorm::core
