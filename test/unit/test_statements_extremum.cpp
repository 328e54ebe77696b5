// GoogleTest for the min/max/latest writer statements of core/statements.hpp: their
// exact text (execution: sql/extremum*.sql and the isolation specs).
#include <gtest/gtest.h>

#include "core/statements.hpp"
#include "definition_fixtures.hpp"

using namespace denorm::core;

namespace {
// In name order, as the loader gives them: best (max), last_post (latest), post_count, score.
TargetDefinitions on_target() { return {fixtures::best(), fixtures::last_post(), fixtures::post_count(), fixtures::score()}; }
}  // namespace

TEST(ExtremumStatements, MaxLocksTheRowByItsKey)
{
    EXPECT_EQ(extremum_statements(on_target(), on_target()[0]).lock,
              "SELECT 1 FROM public.user_stats t WHERE t.user_id OPERATOR(pg_catalog.=) $3 FOR NO KEY UPDATE");
}

TEST(ExtremumStatements, MaxRecomputesTheGroupByProbes)
{
    EXPECT_EQ(extremum_statements(on_target(), on_target()[0]).recompute,
              "UPDATE public.user_stats t SET (best) = (SELECT x.v1 FROM (SELECT 1) _one LEFT JOIN LATERAL "
              "(SELECT GREATEST((SELECT pg_catalog.max(votes) FROM public.posts WHERE true AND author_id "
              "OPERATOR(pg_catalog.=) t.user_id)::integer) AS v1) x ON true) WHERE t.user_id "
              "OPERATOR(pg_catalog.=) $3");
}

TEST(ExtremumStatements, MaxFoldsTheAddedValueUnlessTheRemovedOneMayHaveWon)
{
    EXPECT_EQ(*extremum_statements(on_target(), on_target()[0]).fast,
              "UPDATE public.user_stats t SET best = GREATEST(t.best, $1::integer) WHERE t.user_id "
              "OPERATOR(pg_catalog.=) $3 AND ($2::integer IS NULL OR t.best OPERATOR(pg_catalog.>) "
              "$2::integer) RETURNING 1");
}

TEST(ExtremumStatements, LatestFastPathWritesOnlyANewerTuple)
{
    EXPECT_EQ(*extremum_statements(on_target(), on_target()[1]).fast,
              "WITH x AS (SELECT u.v1, u.v2 FROM ((SELECT (title)::text AS v1, (created_at)::timestamp with "
              "time zone AS v2, created_at AS o1 FROM public.posts WHERE true AND author_id "
              "OPERATOR(pg_catalog.=) $3 AND (created_at) IS NOT NULL ORDER BY o1 DESC LIMIT 1)) u ORDER BY "
              "u.o1 DESC LIMIT 1) UPDATE public.user_stats t SET (last_title, last_at) = ROW(x.v1, x.v2) FROM "
              "x WHERE t.user_id OPERATOR(pg_catalog.=) $3 AND (ROW(t.last_at) < ROW(x.v2) OR t.last_at IS "
              "NULL) RETURNING 1");
}

TEST(ExtremumStatements, CreateMissingInsertsTheKeyOnly)
{
    Definition d = fixtures::best();
    d.create_missing = true;
    EXPECT_EQ(*extremum_statements({d}, d).create,
              "INSERT INTO public.user_stats AS t (user_id) VALUES ($3) ON CONFLICT (user_id) DO NOTHING RETURNING true");
    EXPECT_FALSE(extremum_statements(on_target(), on_target()[0]).create);
}

TEST(ExtremumStatements, LatestWithoutItsOrderAmongTheValuesHasNoFastPath)
{
    Definition d = fixtures::last_post();
    d.order_by = {"id"};
    EXPECT_FALSE(extremum_statements({d}, d).fast);
    // Nor when another definition of the group stores the order elsewhere.
    Definition other = fixtures::last_post();
    other.name = "last_post_2";
    other.source_values = {"created_at", "title"};
    EXPECT_FALSE(extremum_statements({fixtures::last_post(), other}, fixtures::last_post()).fast);
}

TEST(ExtremumStatements, MinTouchChangesOnlyWithTheValue)
{
    Definition d = fixtures::best();
    d.kind = Aggregate::Min;
    d.touch = "seen";
    EXPECT_EQ(*extremum_statements({d}, d).fast,
              "UPDATE public.user_stats t SET best = LEAST(t.best, $1::integer), seen = CASE WHEN LEAST(t.best, "
              "$1::integer) IS DISTINCT FROM t.best THEN pg_catalog.now() ELSE t.seen END WHERE t.user_id "
              "OPERATOR(pg_catalog.=) $3 AND ($2::integer IS NULL OR t.best OPERATOR(pg_catalog.<) $2::integer) RETURNING 1");
}
