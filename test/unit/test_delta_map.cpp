// GoogleTest for core::DeltaMap and core::KeyEncoder: accumulation, zero
// skipping, and the key order that makes concurrent flushes deadlock-free.
#include <gtest/gtest.h>

#include <string>

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
auto is_zero = [](const long &v) { return v == 0; };
}  // namespace

TEST(DeltaMap, EmptyMapHasNothingToApply)
{
    DeltaMap<long> map;
    EXPECT_TRUE(map.empty());
    EXPECT_TRUE(map.sorted_nonzero(is_zero).empty());
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
    ASSERT_EQ(map.sorted_nonzero(is_zero).size(), 1u);
    EXPECT_EQ(*map.sorted_nonzero(is_zero)[0], 3);
}

TEST(DeltaMap, NetZeroChangesAreSkipped)
{
    // An UPDATE that leaves a row on its key adds -1 and +1: no target write.
    DeltaMap<long> map;
    map.slot("a").first += 1;
    map.slot("a").first -= 1;
    map.slot("b").first += 1;
    const auto &out = map.sorted_nonzero(is_zero);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(*out[0], 1);
}

TEST(DeltaMap, VisitsKeysInByteOrderWhateverTheArrivalOrder)
{
    DeltaMap<long> forward, backward;
    const char *keys[] = {"c", "a", "b", "aa", ""};
    for (int i = 0; i < 5; i++) forward.slot(keys[i]).first = i + 1;
    for (int i = 4; i >= 0; i--) backward.slot(keys[i]).first = i + 1;
    const auto f = forward.sorted_nonzero(is_zero);
    const auto b = backward.sorted_nonzero(is_zero);
    ASSERT_EQ(f.size(), 5u);
    ASSERT_EQ(b.size(), 5u);
    for (size_t i = 0; i < f.size(); i++) EXPECT_EQ(*f[i], *b[i]);
    // "" < "a" < "aa" < "b" < "c"
    EXPECT_EQ(*f[0], 5);
    EXPECT_EQ(*f[1], 2);
    EXPECT_EQ(*f[2], 4);
    EXPECT_EQ(*f[3], 3);
    EXPECT_EQ(*f[4], 1);
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
