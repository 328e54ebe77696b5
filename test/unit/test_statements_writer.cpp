// GoogleTest for the writer statements of core/statements.hpp (count, sum, deferred):
// their exact text (their execution is covered by the regress tests in sql/).
#include <gtest/gtest.h>

#include "core/statements.hpp"
#include "definition_fixtures.hpp"

using namespace denorm::core;
using fixtures::column;

TEST(WriterStatements, ApplyAddsTheDeltaToTheKeyedRow)
{
    EXPECT_EQ(apply_statement(fixtures::post_count()),
              "UPDATE public.user_stats AS t SET post_count = t.post_count OPERATOR(pg_catalog.+) $1 "
              "WHERE t.user_id OPERATOR(pg_catalog.=) $2");
}

TEST(WriterStatements, CompositeKeysTakeParametersInKeyOrder)
{
    Definition d = fixtures::post_count();
    d.target = "app.\"Conversations\"";
    d.target_columns = {column("total", "bigint")};
    d.target_key = {column("user_id"), Column{"other user", "\"other user\"", "integer"}};
    d.source_key = {"sender", "recipient"};
    EXPECT_EQ(apply_statement(d),
              "UPDATE app.\"Conversations\" AS t SET total = t.total OPERATOR(pg_catalog.+) $1 "
              "WHERE t.user_id OPERATOR(pg_catalog.=) $2 AND t.\"other user\" OPERATOR(pg_catalog.=) $3");
}

TEST(WriterStatements, TouchIsSetWithTheCounter)
{
    Definition d = fixtures::post_count();
    d.touch = "updated_at";
    EXPECT_EQ(apply_statement(d),
              "UPDATE public.user_stats AS t SET post_count = t.post_count OPERATOR(pg_catalog.+) $1, "
              "updated_at = pg_catalog.now() WHERE t.user_id OPERATOR(pg_catalog.=) $2");
}

TEST(WriterStatements, UpsertInsertsTheKeyOrAddsOnConflict)
{
    EXPECT_EQ(upsert_statement(fixtures::post_count()),
              "INSERT INTO public.user_stats AS t (user_id, post_count) VALUES ($2, $1) ON CONFLICT (user_id) "
              "DO UPDATE SET post_count = t.post_count OPERATOR(pg_catalog.+) $1 "
              "RETURNING (t.xmax::pg_catalog.text OPERATOR(pg_catalog.=) '0')");
}

TEST(WriterStatements, UpsertWithCompositeKeyAndTouch)
{
    Definition d = fixtures::post_count();
    d.target_key = {column("a"), column("b")};
    d.source_key = {"x", "y"};
    d.touch = "seen";
    EXPECT_EQ(upsert_statement(d),
              "INSERT INTO public.user_stats AS t (a, b, post_count, seen) VALUES ($2, $3, $1, pg_catalog.now()) "
              "ON CONFLICT (a, b) DO UPDATE SET post_count = t.post_count OPERATOR(pg_catalog.+) $1, "
              "seen = pg_catalog.now() RETURNING (t.xmax::pg_catalog.text OPERATOR(pg_catalog.=) '0')");
}

TEST(WriterStatements, PendingInsertKeysTheDeltaByColumnNameOrder)
{
    Definition d = fixtures::post_count();
    d.deferred = true;
    // Key columns (user_id, day): the pending key lists day first, byte order of the names.
    d.target_key = {column("user_id"), column("day", "date")};
    d.source_key = {"author_id", "posted_on"};
    EXPECT_EQ(pending_insert_statement(d),
              "INSERT INTO denorm._pending_deltas (counter, key, delta) VALUES ('post_count', "
              "ARRAY[(($3)::date)::pg_catalog.text, (($2)::integer)::pg_catalog.text]::pg_catalog.text[], $1)");
}

TEST(WriterStatements, CombinedApplyWritesEveryDefinitionOfTheRowAtOnce)
{
    // Two definitions into total (two directions of one conversation), one into unread,
    // one touch column named twice.
    EXPECT_EQ(combined_apply_statement("public.conv", {"user_id", "other_id"},
                                       {{"total", std::string("seen")}, {"unread", std::nullopt}, {"total", std::string("seen")}}),
              "UPDATE public.conv AS t SET total = t.total OPERATOR(pg_catalog.+) $1 OPERATOR(pg_catalog.+) $3, "
              "unread = t.unread OPERATOR(pg_catalog.+) $2, seen = pg_catalog.now() "
              "WHERE t.user_id OPERATOR(pg_catalog.=) $4 AND t.other_id OPERATOR(pg_catalog.=) $5");
}
