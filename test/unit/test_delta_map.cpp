// GoogleTest for core::DeltaMap and core::KeyEncoder: accumulation per key,
// net-zero changes, and key encodings that never collide.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/delta_map.hpp"

using denorm::core::DeltaMap;
using denorm::core::KeyEncoder;

namespace {
std::string key_of(std::initializer_list<std::string> parts)
{
    KeyEncoder enc;
    for (const auto &p : parts) enc.add_part(p.data(), p.size());
    return std::string(enc.view());
}
// The non-zero values, in no particular order, summed and counted.
std::pair<int, long> nonzero(DeltaMap<long> &map)
{
    std::pair<int, long> out{0, 0};
    map.for_each([&](long &v) {
        if (v != 0) {
            out.first++;
            out.second += v;
        }
    });
    return out;
}
}  // namespace

TEST(DeltaMap, EmptyMapHasNothingToApply)
{
    DeltaMap<long> map;
    EXPECT_TRUE(map.empty());
    EXPECT_EQ(nonzero(map).first, 0);
}

TEST(DeltaMap, AccumulatesPerKeyAndReportsFirstUse)
{
    DeltaMap<long> map;
    auto [a, created_a] = map.slot("k1");
    EXPECT_TRUE(created_a);
    a += 1;
    auto [b, created_b] = map.slot("k1");
    EXPECT_FALSE(created_b);
    b += 2;
    EXPECT_EQ(map.size(), 1u);
    EXPECT_EQ(nonzero(map), std::make_pair(1, 3L));
}

TEST(DeltaMap, NetZeroChangesCancel)
{
    // An UPDATE that leaves a row on its key adds -1 and +1: no target write.
    DeltaMap<long> map;
    map.slot("a").first += 1;
    map.slot("a").first -= 1;
    map.slot("b").first += 1;
    EXPECT_EQ(nonzero(map), std::make_pair(1, 1L));
}

TEST(DeltaMap, ForEachVisitsEveryEntry)
{
    DeltaMap<long> map;
    map.slot("x").first = 1;
    map.slot("y").first = 0;
    int visited = 0;
    map.for_each([&](long &) { visited++; });
    EXPECT_EQ(visited, 2);
}

TEST(KeyEncoder, LengthPrefixesKeepCompositeKeysApart)
{
    EXPECT_NE(key_of({"ab", "c"}), key_of({"a", "bc"}));
    EXPECT_NE(key_of({"", "x"}), key_of({"x", ""}));
    EXPECT_EQ(key_of({"ab", "c"}), key_of({"ab", "c"}));
}

TEST(KeyEncoder, EmbeddedZeroBytesAreKept)
{
    std::string with_nul("a\0b", 3);
    EXPECT_NE(key_of({with_nul}), key_of({"a"}));
}

TEST(KeyEncoder, ClearStartsAFreshKey)
{
    KeyEncoder enc;
    enc.add_part("abc", 3);
    enc.clear();
    enc.add_part("x", 1);
    EXPECT_EQ(std::string(enc.view()), key_of({"x"}));
}

// Rows keyed by integers are locked in numeric order, the order ORDER BY gives.
TEST(KeyEncoder, OrderedIntegersSortNumerically)
{
    for (int width : {2, 4, 8}) {
        long long limit = width == 2 ? 32767 : width == 4 ? 2147483647LL : 9223372036854775807LL;
        std::vector<long long> values = {-limit - 1, -65536, -256, -1, 0, 1, 255, 256, 65535, limit};
        std::vector<std::string> encoded;
        for (long long v : values) {
            if (width == 2 && (v < -32768 || v > 32767)) continue;
            KeyEncoder enc;
            enc.add_ordered_int(v, width);
            encoded.emplace_back(enc.view());
        }
        for (std::size_t i = 1; i < encoded.size(); i++)
            EXPECT_LT(encoded[i - 1], encoded[i]) << "width " << width << ", element " << i;
    }
}

TEST(KeyEncoder, OrderedIntegersKeepCompositeOrder)
{
    // (1, 300) < (2, 1): the first part decides, as in ORDER BY a, b.
    KeyEncoder a, b;
    a.add_ordered_int(1, 4);
    a.add_ordered_int(300, 4);
    b.add_ordered_int(2, 4);
    b.add_ordered_int(1, 4);
    EXPECT_LT(std::string(a.view()), std::string(b.view()));
}

TEST(KeyEncoder, OrderedBytesSortLikeMemcmpWithTheShorterFirst)
{
    // The order of COLLATE "C" (and bytea): what lockers use for text keys.
    std::vector<std::string> values = {"", std::string("a\0", 2), "a", "ab", "b", "abc", std::string("\0", 1), "\xff"};
    std::vector<std::string> encoded;
    for (const std::string &v : values) {
        KeyEncoder enc;
        enc.add_ordered_bytes(v.data(), v.size());
        enc.add_ordered_int(7, 4);  // a following part must not change the order
        encoded.emplace_back(enc.view());
    }
    for (size_t i = 0; i < values.size(); i++)
        for (size_t j = 0; j < values.size(); j++) {
            int bytes = values[i].compare(values[j]);
            int enc = encoded[i].compare(encoded[j]);
            EXPECT_EQ(bytes < 0, enc < 0) << i << " vs " << j;
            EXPECT_EQ(bytes == 0, enc == 0) << i << " vs " << j;
        }
}
