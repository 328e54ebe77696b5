// GoogleTest for core/definition (the key order) and core/statement_parts: the pieces
// every generated statement is made of.
#include <gtest/gtest.h>

#include "core/statement_parts.hpp"
#include "definition_fixtures.hpp"

using namespace denorm::core;
using fixtures::column;

TEST(KeyOrder, ByColumnNameBytes)
{
    // "post_id" < "postal" byte by byte ('_' is 0x5F, 'a' 0x61), though a linguistic
    // collation that skips punctuation would put "postal" first.
    std::vector<Column> key = {column("postal"), column("post_id"), column("Zone")};
    EXPECT_EQ(key_order(key), (std::vector<size_t>{2, 1, 0}));
}

TEST(KeyOrder, SingleColumnAndAlreadySorted)
{
    EXPECT_EQ(key_order({column("a")}), (std::vector<size_t>{0}));
    EXPECT_EQ(key_order({column("a"), column("b")}), (std::vector<size_t>{0, 1}));
}

TEST(StatementParts, LiteralQuotesLikeQuoteLiteral)
{
    EXPECT_EQ(parts::literal("plain"), "'plain'");
    EXPECT_EQ(parts::literal("it's"), "'it''s'");
    EXPECT_EQ(parts::literal("a\\b"), "E'a\\\\b'");
}

TEST(StatementParts, LockOrderFollowsKeyOrder)
{
    std::vector<Column> key = {column("user_id"), column("day")};
    EXPECT_EQ(parts::lock_order("t", key), "t.day, t.user_id");
    EXPECT_EQ(parts::key_join(key, "t", "v"), "t.user_id OPERATOR(pg_catalog.=) v.k1 AND t.day OPERATOR(pg_catalog.=) v.k2");
}

TEST(StatementParts, PendingKeyElementCountsPositionsInKeyOrder)
{
    Definition d = fixtures::post_count();
    d.target_key = {column("user_id"), column("day", "date")};
    EXPECT_EQ(parts::pending_key_element(d, "p", "day"), "(p.key[1])::date");
    EXPECT_EQ(parts::pending_key_element(d, "p", "user_id"), "(p.key[2])::integer");
    EXPECT_THROW(parts::pending_key_element(d, "p", "nope"), std::logic_error);
}

TEST(StatementParts, ProbeOfACountAndOfAFilteredSum)
{
    EXPECT_EQ(parts::probe_sql(fixtures::post_count(), {"$1"}),
              "coalesce((SELECT pg_catalog.count(*) FROM public.posts WHERE true AND author_id OPERATOR(pg_catalog.=) $1), 0)");
    EXPECT_EQ(parts::probe_sql(fixtures::score(), {"t.user_id"}),
              "coalesce((SELECT pg_catalog.sum(votes) FROM public.posts WHERE (published) IS TRUE AND author_id "
              "OPERATOR(pg_catalog.=) t.user_id), 0)");
}

TEST(StatementParts, DeferredContributionSubtractsPendingDeltas)
{
    Definition d = fixtures::post_count();
    d.deferred = true;
    EXPECT_EQ(parts::contribution_sql(d, {"$1"}),
              "coalesce((SELECT pg_catalog.count(*) FROM public.posts WHERE true AND author_id OPERATOR(pg_catalog.=) $1), 0)"
              " - coalesce((SELECT pg_catalog.sum(p.delta) FROM denorm._pending_deltas p WHERE p.counter "
              "OPERATOR(pg_catalog.=) 'post_count' AND p.key OPERATOR(pg_catalog.=) "
              "ARRAY[(($1)::integer)::pg_catalog.text]::pg_catalog.text[]), 0)");
}

TEST(StatementParts, AdoptionKeysOfEachKind)
{
    Definition count = fixtures::post_count();
    EXPECT_EQ(parts::adoption_keys_sql(count),
              "SELECT DISTINCT s.author_id AS user_id FROM public.posts s WHERE s.author_id IS NOT NULL AND true AND true");
    EXPECT_EQ(parts::adoption_keys_sql(fixtures::score()),
              "SELECT DISTINCT s.author_id AS user_id FROM public.posts s WHERE s.author_id IS NOT NULL AND (published) IS "
              "TRUE AND (votes) OPERATOR(pg_catalog.<>) 0");
    EXPECT_EQ(parts::adoption_keys_sql(fixtures::best()),
              "SELECT DISTINCT s.author_id AS user_id FROM public.posts s WHERE s.author_id IS NOT NULL AND true AND "
              "(votes) IS NOT NULL");
}

TEST(StatementParts, GroupsAndSharedColumns)
{
    TargetDefinitions on_target = {fixtures::best(), fixtures::last_post(), fixtures::post_count(), fixtures::score()};
    EXPECT_EQ(parts::group_of(on_target, fixtures::last_post().target_columns).size(), 1u);
    EXPECT_EQ(parts::additive_on(on_target, "post_count").size(), 1u);
    EXPECT_TRUE(parts::additive_on(on_target, "best").empty());
}

TEST(StatementParts, TextKeysLockInByteOrder)
{
    std::vector<Column> key = {Column{"handle", "handle", "text", true}, column("id")};
    EXPECT_EQ(parts::lock_order("t", key), "t.handle COLLATE \"C\", t.id");
}
