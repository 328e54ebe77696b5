// GoogleTest for the set-based statements of core/statements.hpp: initialiser,
// recount, fold, reconcile, counter_value, adoption: their exact text (execution:
// sql/*.sql, which run each of them).
#include <gtest/gtest.h>

#include "core/statements.hpp"
#include "definition_fixtures.hpp"

using namespace denorm::core;
using fixtures::column;

namespace {
// In name order, as the loader gives them: best (max), last_post (latest), post_count, score.
TargetDefinitions on_target() { return {fixtures::best(), fixtures::last_post(), fixtures::post_count(), fixtures::score()}; }

Definition creating(Definition d)
{
    d.create_missing = true;
    return d;
}

// A deferred count keyed by (user_id, day), with create_missing and touch.
Definition deferred_by_day()
{
    Definition d = creating(fixtures::post_count());
    d.deferred = true;
    d.touch = "seen";
    d.target_key = {column("user_id"), column("day", "date")};
    d.source_key = {"author_id", "posted_on"};
    return d;
}
}  // namespace

TEST(MaintenanceStatements, InitComputesEveryCounterColumnOfANewRow)
{
    EXPECT_EQ(init_query(on_target()).query,
              "SELECT (0 + coalesce((SELECT pg_catalog.count(*) FROM public.posts WHERE true AND author_id "
              "OPERATOR(pg_catalog.=) $1), 0))::bigint, (0 + coalesce((SELECT pg_catalog.sum(votes) FROM "
              "public.posts WHERE (published) IS TRUE AND author_id OPERATOR(pg_catalog.=) $1), "
              "0))::numeric(12,2), g1.v1, g2.v1, g2.v2 FROM (SELECT 1) _one LEFT JOIN LATERAL (SELECT "
              "GREATEST((SELECT pg_catalog.max(votes) FROM public.posts WHERE true AND author_id "
              "OPERATOR(pg_catalog.=) $1)::integer) AS v1) g1 ON true LEFT JOIN LATERAL (SELECT u.v1, u.v2 "
              "FROM ((SELECT (title)::text AS v1, (created_at)::timestamp with time zone AS v2, created_at AS "
              "o1 FROM public.posts WHERE true AND author_id OPERATOR(pg_catalog.=) $1 AND (created_at) IS NOT "
              "NULL ORDER BY o1 DESC LIMIT 1)) u ORDER BY u.o1 DESC LIMIT 1) g2 ON true");
}

TEST(MaintenanceStatements, RecountLocksInKeyOrder)
{
    EXPECT_EQ(recount_statements(on_target(), "score")->lock,
              "SELECT pg_catalog.count(*) FROM (SELECT 1 FROM public.user_stats t ORDER BY t.user_id FOR "
              "UPDATE) l");
}

TEST(MaintenanceStatements, RecountJoinsEveryRowToItsTotal)
{
    EXPECT_EQ(recount_statements(on_target(), "score")->update,
              "WITH x AS (SELECT t.tableoid AS rel, t.ctid AS row_id, coalesce(v.total, 0) AS total FROM "
              "public.user_stats t LEFT JOIN (SELECT k1, pg_catalog.sum(x) AS total FROM (SELECT author_id AS "
              "k1, coalesce(pg_catalog.sum(votes), 0)::pg_catalog.numeric AS x FROM public.posts WHERE "
              "author_id IS NOT NULL AND ((published) IS TRUE) GROUP BY 1) u GROUP BY k1) v ON t.user_id "
              "OPERATOR(pg_catalog.=) v.k1 WHERE t.score IS DISTINCT FROM coalesce(v.total, 0)), u AS (UPDATE "
              "public.user_stats t SET score = x.total FROM x WHERE t.tableoid OPERATOR(pg_catalog.=) x.rel "
              "AND t.ctid OPERATOR(pg_catalog.=) x.row_id RETURNING 1) SELECT pg_catalog.count(*) FROM u");
}

TEST(MaintenanceStatements, FoldCreatesMissingRowsOfPositiveDeltas)
{
    EXPECT_EQ(*fold_statements(deferred_by_day()).create,
              "INSERT INTO public.user_stats AS t (day, user_id) SELECT DISTINCT (p.key[1])::date, "
              "(p.key[2])::integer FROM denorm._pending_deltas p WHERE p.counter OPERATOR(pg_catalog.=) $1 AND "
              "p.delta OPERATOR(pg_catalog.>) 0 AND NOT EXISTS (SELECT 1 FROM public.user_stats t WHERE t.day "
              "OPERATOR(pg_catalog.=) (p.key[1])::date AND t.user_id OPERATOR(pg_catalog.=) "
              "(p.key[2])::integer) ON CONFLICT (day, user_id) DO NOTHING");
}

TEST(MaintenanceStatements, FoldLocksDeletesAndAddsInOneStatement)
{
    EXPECT_EQ(fold_statements(deferred_by_day()).fold,
              "WITH l AS (SELECT t.day, t.user_id FROM public.user_stats t WHERE EXISTS (SELECT 1 FROM "
              "denorm._pending_deltas p WHERE p.counter OPERATOR(pg_catalog.=) $1 AND t.day "
              "OPERATOR(pg_catalog.=) (p.key[1])::date AND t.user_id OPERATOR(pg_catalog.=) "
              "(p.key[2])::integer) ORDER BY t.day, t.user_id FOR NO KEY UPDATE), g AS (DELETE FROM "
              "denorm._pending_deltas p USING l WHERE p.counter OPERATOR(pg_catalog.=) $1 AND l.day "
              "OPERATOR(pg_catalog.=) (p.key[1])::date AND l.user_id OPERATOR(pg_catalog.=) "
              "(p.key[2])::integer RETURNING p.key, p.delta), s AS (SELECT g.key, pg_catalog.sum(g.delta) AS "
              "delta FROM g GROUP BY g.key), u AS (UPDATE public.user_stats t SET post_count = t.post_count "
              "OPERATOR(pg_catalog.+) s.delta, seen = pg_catalog.now() FROM s WHERE t.day "
              "OPERATOR(pg_catalog.=) (s.key[1])::date AND t.user_id OPERATOR(pg_catalog.=) "
              "(s.key[2])::integer AND s.delta OPERATOR(pg_catalog.<>) 0 RETURNING "
              "pg_catalog.json_build_array(ARRAY[t.user_id::pg_catalog.text, t.day::pg_catalog.text], s.delta) AS "
              "change) SELECT coalesce(pg_catalog.json_agg(u.change), '[]')::pg_catalog.text FROM u");
}

TEST(MaintenanceStatements, ReconcileReportRecountsEveryKeyAtOnce)
{
    EXPECT_EQ(reconcile_statements(on_target(), on_target()[3]).report,
              "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('key', "
              "pg_catalog.jsonb_build_object('user_id', t.user_id), 'stored', pg_catalog.to_jsonb(t.score), "
              "'expected', pg_catalog.to_jsonb(v.v1)) ORDER BY t.user_id) FROM public.user_stats t LEFT JOIN "
              "(SELECT k1, pg_catalog.sum(x) AS total FROM (SELECT author_id AS k1, "
              "coalesce(pg_catalog.sum(votes), 0)::pg_catalog.numeric AS x FROM public.posts WHERE author_id "
              "IS NOT NULL AND ((published) IS TRUE) GROUP BY 1) u GROUP BY k1) v0 ON t.user_id "
              "OPERATOR(pg_catalog.=) v0.k1 CROSS JOIN LATERAL (SELECT coalesce(v0.total, 0)::numeric(12,2) AS "
              "v1) v WHERE pg_catalog.to_jsonb(t.score) IS DISTINCT FROM pg_catalog.to_jsonb(v.v1)");
}

TEST(MaintenanceStatements, ReconcileCandidates)
{
    EXPECT_EQ(reconcile_statements(on_target(), on_target()[3]).candidates,
              "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('user_id', t.user_id) ORDER BY "
              "t.user_id) FROM public.user_stats t LEFT JOIN (SELECT k1, pg_catalog.sum(x) AS total FROM "
              "(SELECT author_id AS k1, coalesce(pg_catalog.sum(votes), 0)::pg_catalog.numeric AS x FROM "
              "public.posts WHERE author_id IS NOT NULL AND ((published) IS TRUE) GROUP BY 1) u GROUP BY k1) "
              "v0 ON t.user_id OPERATOR(pg_catalog.=) v0.k1 CROSS JOIN LATERAL (SELECT coalesce(v0.total, "
              "0)::numeric(12,2) AS v1) v WHERE pg_catalog.to_jsonb(t.score) IS DISTINCT FROM "
              "pg_catalog.to_jsonb(v.v1)");
}

TEST(MaintenanceStatements, ReconcileLocksABatchOfCandidatesInKeyOrder)
{
    EXPECT_EQ(reconcile_statements(on_target(), on_target()[3]).lock,
              "SELECT pg_catalog.count(*) FROM (SELECT 1 FROM public.user_stats t WHERE (t.user_id) IN (SELECT "
              "(j->>'user_id')::integer FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) j) ORDER BY "
              "t.user_id FOR UPDATE) l");
}

TEST(MaintenanceStatements, ReconcileFixProbesTheLockedRows)
{
    EXPECT_EQ(reconcile_statements(on_target(), on_target()[3]).fix,
              "WITH x AS (SELECT t.ctid AS row_id, t.tableoid AS rel, pg_catalog.jsonb_build_object('user_id', "
              "t.user_id) AS key, pg_catalog.to_jsonb(t.score) AS stored, pg_catalog.to_jsonb(v.v1) AS "
              "expected, v.v1 FROM public.user_stats t CROSS JOIN LATERAL (SELECT (0 + (coalesce((SELECT "
              "pg_catalog.sum(votes) FROM public.posts WHERE (published) IS TRUE AND author_id "
              "OPERATOR(pg_catalog.=) t.user_id), 0))::pg_catalog.numeric)::numeric(12,2) AS v1) v WHERE "
              "(t.user_id) IN (SELECT (j->>'user_id')::integer FROM "
              "pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) j)), d AS (SELECT * FROM x WHERE stored "
              "IS DISTINCT FROM expected), u AS (UPDATE public.user_stats t SET (score) = ROW(d.v1) FROM d "
              "WHERE t.ctid OPERATOR(pg_catalog.=) d.row_id AND t.tableoid OPERATOR(pg_catalog.=) d.rel) "
              "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('key', d.key, 'stored', d.stored, "
              "'expected', d.expected) ORDER BY d.key) FROM d");
}

TEST(MaintenanceStatements, CounterValueReadsTheStoredColumnPlusTheTransactionsOwnChange)
{
    // $1[2], after the one key column: the caller's unwritten change (denorm.apply = commit).
    EXPECT_EQ(counter_value_statement(on_target(), on_target()[2]),
              "SELECT CASE WHEN r.present THEN r.v + 0 + (($1::pg_catalog.text[])[2])::pg_catalog.numeric  END FROM "
              "(SELECT 1) _one LEFT JOIN LATERAL (SELECT "
              "t.post_count::pg_catalog.numeric AS v, true AS present FROM public.user_stats t WHERE t.user_id "
              "OPERATOR(pg_catalog.=) (($1::pg_catalog.text[])[1])::integer) r ON true");
}

TEST(MaintenanceStatements, AdoptInsertsTheKeysOfContributingRows)
{
    EXPECT_EQ(*adopt_statement(creating(fixtures::post_count())),
              "WITH i AS (INSERT INTO public.user_stats AS t (user_id) SELECT k.* FROM (SELECT DISTINCT "
              "s.author_id AS user_id FROM public.posts s WHERE s.author_id IS NOT NULL AND true AND true) k "
              "ON CONFLICT (user_id) DO NOTHING RETURNING 1) SELECT pg_catalog.count(*) FROM i");
}

TEST(MaintenanceStatements, InitParametersAreTheKeyColumnsInFirstSeenOrder)
{
    InitQuery init = init_query(on_target());
    EXPECT_EQ(init.key_columns, (std::vector<std::string>{"user_id"}));
    EXPECT_EQ(init.counter_columns, (std::vector<std::string>{"post_count", "score", "best", "last_title", "last_at"}));
}

TEST(MaintenanceStatements, RecountOfAMinMaxLatestColumnRecomputesItsGroup)
{
    std::optional<RecountStatements> r = recount_statements(on_target(), "last_at");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->update.rfind("WITH x AS (SELECT t.tableoid AS rel, t.ctid AS row_id, g.* FROM public.user_stats t "
                              "LEFT JOIN LATERAL (",
                              0),
              0u);
    // Only rows whose values differ are written: adopting a table that is right already
    // creates no row versions.
    EXPECT_NE(r->update.find(") g ON true WHERE ROW(t.last_title, t.last_at) IS DISTINCT FROM ROW(g.v1, g.v2)), "
                             "u AS (UPDATE public.user_stats t SET (last_title, last_at) = ROW(x.v1, x.v2) FROM x "),
              std::string::npos);
    EXPECT_FALSE(recount_statements(on_target(), "no_such_column"));
}

TEST(MaintenanceStatements, ReconcileReportsMissingRowsOnlyWithCreateMissing)
{
    EXPECT_FALSE(reconcile_statements(on_target(), on_target()[2]).missing_report);
    TargetDefinitions creates = {creating(fixtures::post_count())};
    ReconcileStatements s = reconcile_statements(creates, creates[0]);
    ASSERT_TRUE(s.missing_report);
    EXPECT_NE(s.missing_report->find("WHERE NOT EXISTS (SELECT 1 FROM public.user_stats x WHERE x.user_id "
                                     "OPERATOR(pg_catalog.=) m.user_id)"),
              std::string::npos);
    EXPECT_NE(s.missing_fix->find("ON CONFLICT (user_id) DO NOTHING RETURNING t.*"), std::string::npos);
}

TEST(MaintenanceStatements, CounterValueOfADeferredCreatingCounter)
{
    Definition d = creating(fixtures::post_count());
    d.deferred = true;
    std::string sql = counter_value_statement({d}, d);
    EXPECT_NE(sql.find("THEN r.v + 0 + coalesce((SELECT pg_catalog.sum(p.delta)"), std::string::npos);
    EXPECT_NE(sql.find("ELSE 0 + coalesce((SELECT pg_catalog.count(*) FROM public.posts"), std::string::npos);
}

TEST(MaintenanceStatements, AdoptionOnlyWithCreateMissing)
{
    EXPECT_FALSE(adopt_statement(fixtures::post_count()));
}

TEST(MaintenanceStatements, AdoptValuesGroupsTheSourceInOneInsert)
{
    EXPECT_EQ(adopt_values_statement(creating(fixtures::score())),
              "WITH i AS (INSERT INTO public.user_stats AS t (user_id, score) SELECT s.author_id, pg_catalog.sum(votes) "
              "FROM public.posts s WHERE s.author_id IS NOT NULL AND (published) IS TRUE AND (votes) OPERATOR(pg_catalog.<>) 0 "
              "GROUP BY 1 ON CONFLICT (user_id) DO NOTHING RETURNING 1) SELECT pg_catalog.count(*) FROM i");
}
