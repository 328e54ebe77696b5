// GoogleTest for core/definition_checks: the catalog-dependent rules of a new definition,
// from plain facts — their kinds (SQLSTATEs) and messages, which sql/counters_errors.sql
// and sql/extremum_errors.sql check end to end.
#include <gtest/gtest.h>

#include "core/definition_checks.hpp"
#include "core/error_kind.hpp"

using namespace denorm::core;

TEST(DefinitionChecks, UniqueIndexHintCreatesOne)
{
    auto p = check_unique_index("public.t", {"a b", "c"}, {"\"a b\"", "c"}, false);
    ASSERT_TRUE(p);
    EXPECT_STREQ(sqlstate_of(p->kind), "42P10");
    EXPECT_EQ(p->message, "there is no unique index on public.t(a b, c)");
    EXPECT_EQ(p->hint, "Create one: CREATE UNIQUE INDEX ON public.t (\"a b\", c);");
    EXPECT_FALSE(check_unique_index("public.t", {"a"}, {"a"}, true));
}

TEST(DefinitionChecks, PrimaryKeyMissingOrOfAnotherLength)
{
    EXPECT_STREQ(sqlstate_of(check_primary_key("public.t", std::nullopt, 1)->kind), "42P10");
    auto p = check_primary_key("public.t", 2, 1);
    ASSERT_TRUE(p);
    EXPECT_STREQ(sqlstate_of(p->kind), "22023");
    EXPECT_EQ(p->message, "source_key has 1 columns but the primary key of public.t has 2");
    EXPECT_FALSE(check_primary_key("public.t", 1, 1));
}

TEST(DefinitionChecks, ValueTypes)
{
    EXPECT_FALSE(check_value("c", Aggregate::Sum, ValueFacts{"bigint", true, true, "n", "bigint"}));
    EXPECT_STREQ(sqlstate_of(check_value("c", Aggregate::Sum, ValueFacts{"text", true, true, "n", "bigint"})->kind),
                 "42804");
    EXPECT_TRUE(check_value("c", Aggregate::Max, ValueFacts{"jsonb", false, true, "n", "jsonb"}));
    EXPECT_TRUE(check_value("c", Aggregate::Min, ValueFacts{"text", true, false, "n", "integer"}));
    EXPECT_FALSE(check_value("c", Aggregate::Count, ValueFacts{"whatever", false, false, "n", "integer"}));
}

TEST(DefinitionChecks, WrittenColumnsAreNeitherKeyNorTouch)
{
    EXPECT_EQ(check_written_columns("public.t", {"id"}, {"id"}, std::nullopt)->message,
              "column \"id\" of public.t is part of the target key");
    EXPECT_EQ(check_written_columns("public.t", {"n"}, {"id"}, std::string("n"))->message,
              "touch column \"n\" of public.t is also a key or counter column");
    EXPECT_FALSE(check_written_columns("public.t", {"n"}, {"id"}, std::string("seen")));
}

TEST(DefinitionChecks, SharedColumnsNeedTheSameKeyInAnyOrder)
{
    std::vector<ExistingDefinition> on_target = {{"a", {"n"}, {"x", "y"}, {}}};
    EXPECT_FALSE(check_shared_key("public.t", {"n"}, {"y", "x"}, on_target));
    EXPECT_FALSE(check_shared_key("public.t", {"m"}, {"x"}, on_target));
    auto p = check_shared_key("public.t", {"n"}, {"x"}, on_target);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->message, "column \"n\" of public.t is already written by a counter keyed by other target columns");
}

TEST(DefinitionChecks, LatestShapeAndGroups)
{
    EXPECT_TRUE(check_latest_shape("l", {"a", "b"}, false, 1, 1));
    EXPECT_TRUE(check_latest_shape("l", {"a"}, false, 1, 0));
    EXPECT_EQ(check_latest_shape("l", {"a", "a"}, false, 2, 1)->message, "target_columns of latest \"l\" names a column twice");
    EXPECT_STREQ(sqlstate_of(check_latest_shape("l", {""}, true, 1, 1)->kind), "22023");
    EXPECT_FALSE(check_latest_shape("l", {"a", "b"}, false, 2, 1));

    std::vector<ExistingDefinition> group = {{"first", {"a", "b"}, {"x"}, {"timestamp with time zone", "integer"}}};
    EXPECT_FALSE(check_latest_group("l", {"a", "b"}, {"timestamp with time zone", "integer"}, group));
    auto partial = check_latest_group("l", {"a"}, {"integer"}, group);
    ASSERT_TRUE(partial);
    EXPECT_EQ(partial->hint, "Write the same target_columns as \"first\": {a,b}.");
    auto order = check_latest_group("l", {"a", "b"}, {"integer", "timestamp with time zone"}, group);
    ASSERT_TRUE(order);
    EXPECT_EQ(order->message, "order_by of latest \"l\" ({integer,\"timestamp with time zone\"}) does not match that "
                              "of latest \"first\", which writes the same columns");
}

TEST(DefinitionChecks, ArrayTextQuotesAsArrayOut)
{
    EXPECT_EQ(array_text({}), "{}");
    EXPECT_EQ(array_text({"a", "b c", "", "null", "q\"x", "back\\slash", "{x}"}),
              "{a,\"b c\",\"\",\"null\",\"q\\\"x\",\"back\\\\slash\",\"{x}\"}");
}
