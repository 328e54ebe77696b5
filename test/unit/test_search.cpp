// GoogleTest for the pure parts of search: core/search_query (what search() reads from a
// query before websearch_to_tsquery parses it), core/search_rules and the golden text of
// core/search_statements.
#include <gtest/gtest.h>

#include "core/search_query.hpp"
#include "core/search_rules.hpp"
#include "core/search_statements.hpp"

using namespace denorm::core;

TEST(SearchQuery, WordsAndTheWordBeingTyped)
{
    SearchQuery q = parse_search_query("postgres tut", false);
    EXPECT_EQ(q.text, "postgres tut");
    EXPECT_EQ(q.words, (std::vector<std::string>{"postgres", "tut"}));
    EXPECT_TRUE(q.excluded.empty());
    EXPECT_EQ(q.typing, "tut");
}

TEST(SearchQuery, NothingIsTypedAfterASpaceAQuoteOrPunctuation)
{
    EXPECT_FALSE(parse_search_query("postgres ", false).typing);
    EXPECT_FALSE(parse_search_query("\"exact phrase\"", false).typing);
    EXPECT_FALSE(parse_search_query("postgres!", false).typing);
    // An unclosed phrase is still being typed.
    EXPECT_EQ(parse_search_query("\"exact phr", false).typing, "phr");
}

TEST(SearchQuery, ExcludedWordsAreNeitherFuzzyNorTyped)
{
    SearchQuery q = parse_search_query("database -mysql -oracl", false);
    EXPECT_EQ(q.words, (std::vector<std::string>{"database"}));
    EXPECT_EQ(q.excluded, (std::vector<std::string>{"mysql", "oracl"}));
    EXPECT_FALSE(q.typing);
    EXPECT_EQ(q.excluded_text(), "mysql or oracl");
    // A hyphen inside a word joins, it does not exclude; inside a phrase it is no operator.
    SearchQuery h = parse_search_query("full-text \"a -b\"", false);
    EXPECT_EQ(h.words, (std::vector<std::string>{"full", "text", "a", "b"}));
    EXPECT_TRUE(h.excluded.empty());
}

TEST(SearchQuery, OrIsAnOperatorOutsidePhrasesOnly)
{
    SearchQuery q = parse_search_query("cats OR dogs \"this or that\"", false);
    EXPECT_EQ(q.words, (std::vector<std::string>{"cats", "dogs", "this", "or", "that"}));
    // "orange" is a word.
    EXPECT_EQ(parse_search_query("orange", false).words, (std::vector<std::string>{"orange"}));
}

TEST(SearchQuery, GarbageEmptyAndNonAscii)
{
    SearchQuery g = parse_search_query("!!! & | ((", false);
    EXPECT_TRUE(g.words.empty());
    EXPECT_FALSE(g.typing);
    EXPECT_EQ(g.excluded_text(), "");
    EXPECT_TRUE(parse_search_query("", false).words.empty());
    EXPECT_TRUE(parse_search_query(" \t\n", false).words.empty());
    SearchQuery u = parse_search_query("crème brûl", false);
    EXPECT_EQ(u.words, (std::vector<std::string>{"crème", "brûl"}));
    EXPECT_EQ(u.typing, "brûl");
}

TEST(SearchQuery, ACutQueryLosesItsCutLastWord)
{
    SearchQuery q = parse_search_query("alpha beta gam", true);
    EXPECT_EQ(q.text, "alpha beta ");
    EXPECT_EQ(q.words, (std::vector<std::string>{"alpha", "beta"}));
    EXPECT_FALSE(q.typing);
    EXPECT_EQ(parse_search_query("aaaaaaaa", true).text, "");
}


TEST(SearchRules, NamesTypesAndKeys)
{
    EXPECT_FALSE(check_search_source_name("projects"));
    EXPECT_EQ(check_search_source_name("Projects")->kind, ErrorKind::InvalidParameter);
    EXPECT_EQ(check_search_source_name("")->kind, ErrorKind::InvalidParameter);
    EXPECT_EQ(check_search_source_name(std::string(64, 'x'))->kind, ErrorKind::InvalidParameter);
    EXPECT_EQ(check_new_search_source("p", true)->kind, ErrorKind::DuplicateObject);
    EXPECT_FALSE(check_new_search_source("p", false));
    EXPECT_EQ(check_search_table("v", false)->kind, ErrorKind::WrongObjectType);
    EXPECT_EQ(check_search_row_security("t", true)->kind, ErrorKind::FeatureNotSupported);
    EXPECT_EQ(check_search_doc_key("t", false, false)->kind, ErrorKind::InvalidColumnRef);
    EXPECT_FALSE(check_search_doc_key("t", true, false));
    EXPECT_EQ(check_search_filter_type("integer", false)->kind, ErrorKind::DatatypeMismatch);
    EXPECT_EQ(check_search_boost_type("text", false)->kind, ErrorKind::DatatypeMismatch);
    EXPECT_EQ(primary_key_doc_key({"id"}), "id");
    EXPECT_EQ(primary_key_doc_key({"org", "\"Slug\""}), "(org)::text || ',' || (\"Slug\")::text");
}

TEST(SearchStatements, RecomputeQueryOfAFullSource)
{
    SearchSource s{"projects", "public.projects", "id", "name", std::string("description"),
                   std::string("deleted_at IS NULL"), std::string("stars")};
    EXPECT_EQ(search_recompute_query(s),
              "SELECT r.k, r.t, r.b, r.w FROM (SELECT (id)::pg_catalog.text AS k, (name)::pg_catalog.text AS t, "
              "(description)::pg_catalog.text AS b, coalesce((stars)::pg_catalog.float4, 0) AS w FROM public.projects "
              "WHERE (deleted_at IS NULL) IS TRUE) r WHERE r.k IS NOT NULL ORDER BY r.k COLLATE \"C\"");
}

TEST(SearchStatements, RecomputeQueryOfATitleOnlySource)
{
    SearchSource s{"users", "app.\"User\"", "id", "login", std::nullopt, std::nullopt, std::nullopt};
    EXPECT_EQ(search_recompute_query(s),
              "SELECT r.k, r.t, r.b, r.w FROM (SELECT (id)::pg_catalog.text AS k, (login)::pg_catalog.text AS t, "
              "NULL::pg_catalog.text AS b, 0::pg_catalog.float4 AS w FROM app.\"User\") r WHERE r.k IS NOT NULL "
              "ORDER BY r.k COLLATE \"C\"");
}

TEST(SearchStatements, WritersAndQueries)
{
    EXPECT_EQ(search_vector_sql("$2", "t", "b"),
              "pg_catalog.setweight(pg_catalog.to_tsvector($2, pg_catalog.\"left\"(coalesce(t, ''), 50000)), 'A') "
              "OPERATOR(pg_catalog.||) pg_catalog.setweight(pg_catalog.to_tsvector($2, "
              "pg_catalog.\"left\"(coalesce(b, ''), 200000)), 'B')");
    EXPECT_EQ(search_delete_statement(),
              "DELETE FROM denorm.search_documents d WHERE d.source OPERATOR(pg_catalog.=) $1 AND d.doc_key "
              "OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])");
    std::string upsert = search_upsert_statement();
    EXPECT_NE(upsert.find("ON CONFLICT (source, doc_key) DO UPDATE"), std::string::npos);
    EXPECT_NE(upsert.find("IS DISTINCT FROM (excluded.title, excluded.body, excluded.boost)"), std::string::npos);
    // The trigram tier ranks at most kFuzzyCandidates titles the index gives.
    EXPECT_EQ(search_fuzzy_query("public"),
              "SELECT c.source, c.doc_key, c.title, public.word_similarity($2, c.title) OPERATOR(pg_catalog.+) c.boost "
              "AS score FROM (SELECT d.source, d.doc_key, d.title, d.boost FROM denorm.search_documents d WHERE $2 "
              "OPERATOR(public.<%) d.title AND d.source OPERATOR(pg_catalog.=) ANY ($1) AND NOT d.document "
              "OPERATOR(pg_catalog.@@) $3 AND NOT d.document OPERATOR(pg_catalog.@@) $4 LIMIT 1000) c ORDER BY score "
              "DESC, c.source COLLATE \"C\", c.doc_key LIMIT $5");
    EXPECT_NE(search_fulltext_query().find("d.document OPERATOR(pg_catalog.@@) $2"), std::string::npos);
}
