// GoogleTest for core definition rules: names, aggregates, key lists, column
// types and family sharing, each mapped to the SQLSTATE README "Counters" documents.
#include <gtest/gtest.h>

#include <string>

#include "core/definition_rules.hpp"

using namespace denorm::core;

namespace {
CounterShape shape(std::string_view name, std::string_view agg = "count", bool has_value = false, int nsk = 1,
                   int ntk = -1, bool deferred = false)
{
    CounterShape s;
    s.name = name;
    s.aggregate = agg;
    s.has_value = has_value;
    s.source_key_len = nsk;
    s.target_key_len = ntk;
    s.deferred = deferred;
    return s;
}
std::string state(const std::optional<Problem> &p) { return p ? sqlstate_of(p->kind) : "ok"; }
}  // namespace

TEST(CounterName, AcceptsLowerSnakeCase)
{
    EXPECT_EQ(state(check_counter_name("project_count")), "ok");
    EXPECT_EQ(state(check_counter_name("_x9")), "ok");
    EXPECT_EQ(state(check_counter_name(std::string(63, 'a'))), "ok");
}

TEST(CounterName, RefusesEverythingElseWith22023)
{
    for (const char *bad : {"", "Project", "9lives", "a-b", "a b", "é", "a;drop"})
        EXPECT_EQ(state(check_counter_name(bad)), "22023") << bad;
    EXPECT_EQ(state(check_counter_name(std::string(64, 'a'))), "22023");
}

TEST(CounterShape, AggregateMustBeKnown)
{
    EXPECT_EQ(state(check_counter_shape(shape("c", "avg", true))), "22023");
    EXPECT_EQ(state(check_counter_shape(shape("c", "latest", true))), "22023");
    EXPECT_EQ(state(check_counter_shape(shape("c", "COUNT"))), "22023");
}

TEST(CounterShape, ValueIsRefusedForCountAndRequiredOtherwise)
{
    EXPECT_EQ(state(check_counter_shape(shape("c", "count", true))), "22023");
    EXPECT_EQ(state(check_counter_shape(shape("c", "sum", false))), "22023");
    EXPECT_EQ(state(check_counter_shape(shape("c", "max", false))), "22023");
    EXPECT_EQ(state(check_counter_shape(shape("c", "sum", true))), "ok");
}

TEST(CounterShape, KeyListsMustMatchInLength)
{
    EXPECT_EQ(state(check_counter_shape(shape("c", "count", false, 0))), "22023");
    EXPECT_EQ(state(check_counter_shape(shape("c", "count", false, 2, 1))), "22023");
    EXPECT_EQ(state(check_counter_shape(shape("c", "count", false, 2, 2))), "ok");
    EXPECT_EQ(state(check_counter_shape(shape("c", "count", false, 2, -1))), "ok");
}

TEST(CounterShape, OnlyCountAndSumMayBeDeferred)
{
    EXPECT_EQ(state(check_counter_shape(shape("c", "count", false, 1, -1, true))), "ok");
    EXPECT_EQ(state(check_counter_shape(shape("c", "sum", true, 1, -1, true))), "ok");
    EXPECT_EQ(state(check_counter_shape(shape("c", "min", true, 1, -1, true))), "22023");
}

TEST(CounterShape, NameIsCheckedFirst)
{
    auto p = check_counter_shape(shape("Bad", "avg"));
    ASSERT_TRUE(p);
    EXPECT_NE(p->message.find("name"), std::string::npos);
}

TEST(ColumnType, NumericTypesOnly)
{
    for (const char *ok : {"smallint", "integer", "bigint", "numeric", "real", "double precision"})
        EXPECT_TRUE(is_counter_column_type(ok)) << ok;
    for (const char *bad : {"text", "boolean", "timestamp with time zone", "int", "money"})
        EXPECT_FALSE(is_counter_column_type(bad)) << bad;
}

TEST(ColumnType, OtherTypesAre42804WithTheListAsHint)
{
    EXPECT_EQ(state(check_counter_column_type("counter column \"n\"", "bigint")), "ok");
    auto problem = check_counter_column_type("counter column \"n\"", "text");
    ASSERT_TRUE(problem);
    EXPECT_EQ(state(problem), "42804");
    EXPECT_EQ(problem->message, "counter column \"n\" is of type text");
    EXPECT_EQ(problem->hint, "A count or sum column is smallint, integer, bigint, numeric, real or double precision.");
}

TEST(FamilySharing, CountAndSumAddIntoOneColumn)
{
    EXPECT_EQ(state(check_family_sharing("n", Aggregate::Sum, {Aggregate::Count, Aggregate::Sum})), "ok");
    EXPECT_EQ(state(check_family_sharing("n", Aggregate::Count, {})), "ok");
}

TEST(FamilySharing, OtherFamiliesAreRefusedWith22023)
{
    EXPECT_EQ(state(check_family_sharing("n", Aggregate::Min, {Aggregate::Count})), "22023");
    EXPECT_EQ(state(check_family_sharing("n", Aggregate::Count, {Aggregate::Max})), "22023");
    EXPECT_EQ(state(check_family_sharing("n", Aggregate::Max, {Aggregate::Max})), "ok");
}

TEST(ErrorKind, EverySpecStateIsMapped)
{
    EXPECT_STREQ(sqlstate_of(ErrorKind::UndefinedTable), "42P01");
    EXPECT_STREQ(sqlstate_of(ErrorKind::UndefinedColumn), "42703");
    EXPECT_STREQ(sqlstate_of(ErrorKind::UndefinedObject), "42704");
    EXPECT_STREQ(sqlstate_of(ErrorKind::DuplicateObject), "42710");
    EXPECT_STREQ(sqlstate_of(ErrorKind::DatatypeMismatch), "42804");
    EXPECT_STREQ(sqlstate_of(ErrorKind::InvalidParameter), "22023");
    EXPECT_STREQ(sqlstate_of(ErrorKind::WrongObjectType), "42809");
    EXPECT_STREQ(sqlstate_of(ErrorKind::InvalidColumnRef), "42P10");
    EXPECT_STREQ(sqlstate_of(ErrorKind::InsufficientPrivilege), "42501");
    EXPECT_STREQ(sqlstate_of(ErrorKind::FeatureNotSupported), "0A000");
}
