// search_statements.hpp — every statement denorm runs for search (README "Search"): the
// writers' upsert and delete of documents, the recomputation of a source's documents
// that backfill and search_reconcile compare with what is stored, and the two queries of
// search(). Names come quoted, expressions deparsed (they mean the same under any
// search_path), every operator and function schema-qualified. Golden texts:
// test/unit/test_search_statements.cpp. Layer: core (pure C++17).
#pragma once

#include <optional>
#include <string>

namespace denorm::core {

// A search source as its statements use it.
struct SearchSource {
    std::string name;
    std::string table;                  // schema-qualified, quoted
    std::string doc_key;                // expressions over a row of table, deparsed
    std::string title;
    std::optional<std::string> body;
    std::optional<std::string> filter;  // boolean
    std::optional<std::string> boost;   // numeric
};

// A document's text search vector: the title weighted A, the body B, in language
// `language` (SQL giving a regconfig). A tsvector holds at most 1 MB of lexemes: only the
// first 50,000 characters of a title and 200,000 of a body are indexed.
std::string search_vector_sql(const std::string &language, const std::string &title, const std::string &body);

// $1 source name, $2 language (regconfig), $3 keys, $4 titles, $5 bodies (text[]),
// $6 boosts (real[]): each document inserted, or rewritten when its text or boost changed.
std::string search_upsert_statement();
// $1 source name, $2 keys (text[]).
std::string search_delete_statement();
// $1 source names (text[]): every document of those sources.
std::string search_delete_sources_statement();

// The documents of `s` as its rows give them now — doc_key, title, body, boost (0 when
// NULL) of each row whose filter is true and whose key is not NULL — ordered by key
// byte by byte. Run as the table's owner.
std::string search_recompute_query(const SearchSource &s);
// $1 source name, $2 its language: the stored documents, in the same order, with whether
// each one's vector is the one its title and body give.
std::string search_stored_query();

// search(): $1 source names (text[]), $2 the query (tsquery), $3 how many: the full-text
// matches, best first (rank plus boost; ties by source and key).
std::string search_fulltext_query();
// $1 source names, $2 the query text, $3 the full-text query, $4 the excluded words
// (tsquery), $5 how many: titles similar to the text by trigram word similarity (pg_trgm's
// <% operator, which the title's GIN trigram index serves) that are no full-text match
// and contain no excluded word, best first among the first kFuzzyCandidates the index
// gives (core/search_query.hpp). trgm_schema: pg_trgm's schema, quoted.
std::string search_fuzzy_query(const std::string &trgm_schema);

}  // namespace denorm::core
