// GoogleTest for core/counter_statements: the exact text of the statements a writer
// runs for a count or sum (their execution is covered by the regress tests in sql/).
#include <gtest/gtest.h>

#include "core/counter_statements.hpp"

using namespace denorm::core;

namespace {
AdditiveTarget user_stats()
{
    AdditiveTarget t;
    t.table = "public.user_stats";
    t.column = "project_count";
    t.key = {"user_id"};
    return t;
}
}  // namespace

TEST(CounterStatements, ApplyAddsTheDeltaToTheKeyedRow)
{
    EXPECT_EQ(apply_statement(user_stats()),
              "UPDATE public.user_stats AS t SET project_count = t.project_count OPERATOR(pg_catalog.+) $1 "
              "WHERE t.user_id OPERATOR(pg_catalog.=) $2");
}

TEST(CounterStatements, CompositeKeysTakeParametersInKeyOrder)
{
    AdditiveTarget t = user_stats();
    t.table = "app.\"Conversations\"";
    t.column = "total";
    t.key = {"user_id", "\"other user\""};
    EXPECT_EQ(apply_statement(t),
              "UPDATE app.\"Conversations\" AS t SET total = t.total OPERATOR(pg_catalog.+) $1 "
              "WHERE t.user_id OPERATOR(pg_catalog.=) $2 AND t.\"other user\" OPERATOR(pg_catalog.=) $3");
}

TEST(CounterStatements, TouchIsSetWithTheCounter)
{
    AdditiveTarget t = user_stats();
    t.touch = "updated_at";
    EXPECT_EQ(apply_statement(t),
              "UPDATE public.user_stats AS t SET project_count = t.project_count OPERATOR(pg_catalog.+) $1, "
              "updated_at = pg_catalog.now() WHERE t.user_id OPERATOR(pg_catalog.=) $2");
}

TEST(CounterStatements, UpsertInsertsTheKeyOrAddsOnConflict)
{
    EXPECT_EQ(upsert_statement(user_stats()),
              "INSERT INTO public.user_stats AS t (user_id, project_count) VALUES ($2, $1) ON CONFLICT (user_id) "
              "DO UPDATE SET project_count = t.project_count OPERATOR(pg_catalog.+) $1 "
              "RETURNING (t.xmax::pg_catalog.text OPERATOR(pg_catalog.=) '0')");
}

TEST(CounterStatements, UpsertWithCompositeKeyAndTouch)
{
    AdditiveTarget t = user_stats();
    t.key = {"a", "b"};
    t.touch = "seen";
    EXPECT_EQ(upsert_statement(t),
              "INSERT INTO public.user_stats AS t (a, b, project_count, seen) VALUES ($2, $3, $1, pg_catalog.now()) "
              "ON CONFLICT (a, b) DO UPDATE SET project_count = t.project_count OPERATOR(pg_catalog.+) $1, "
              "seen = pg_catalog.now() RETURNING (t.xmax::pg_catalog.text OPERATOR(pg_catalog.=) '0')");
}
