// search_statements.cpp — see search_statements.hpp. Layer: core (pure C++17).
#include "core/search_statements.hpp"

#include "core/search_query.hpp"

namespace denorm::core {

namespace {

constexpr const char *kDocuments = "denorm.search_documents";

}  // namespace

std::string search_vector_sql(const std::string &language, const std::string &title, const std::string &body)
{
    return "pg_catalog.setweight(pg_catalog.to_tsvector(" + language + ", pg_catalog.\"left\"(coalesce(" + title +
           ", ''), 50000)), 'A') OPERATOR(pg_catalog.||) pg_catalog.setweight(pg_catalog.to_tsvector(" + language +
           ", pg_catalog.\"left\"(coalesce(" + body + ", ''), 200000)), 'B')";
}

std::string search_upsert_statement()
{
    return std::string("INSERT INTO ") + kDocuments +
           " AS d (source, doc_key, title, body, boost, document) "
           "SELECT $1, u.k, u.t, u.b, u.w, " +
           search_vector_sql("$2", "u.t", "u.b") +
           " FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[]), "
           "pg_catalog.unnest($5::pg_catalog.text[]), pg_catalog.unnest($6::pg_catalog.float4[])) AS u(k, t, b, w) "
           "ON CONFLICT (source, doc_key) DO UPDATE SET title = excluded.title, body = excluded.body, "
           "boost = excluded.boost, document = excluded.document "
           "WHERE (d.title, d.body, d.boost) IS DISTINCT FROM (excluded.title, excluded.body, excluded.boost)";
}

std::string search_delete_statement()
{
    return std::string("DELETE FROM ") + kDocuments +
           " d WHERE d.source OPERATOR(pg_catalog.=) $1 AND d.doc_key OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])";
}

std::string search_delete_sources_statement()
{
    return std::string("DELETE FROM ") + kDocuments +
           " d WHERE d.source OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])";
}

std::string search_recompute_query(const SearchSource &s)
{
    std::string body = s.body ? "(" + *s.body + ")::pg_catalog.text" : "NULL::pg_catalog.text";
    std::string boost = s.boost ? "coalesce((" + *s.boost + ")::pg_catalog.float4, 0)" : "0::pg_catalog.float4";
    std::string filter = s.filter ? " WHERE (" + *s.filter + ") IS TRUE" : "";
    return "SELECT r.k, r.t, r.b, r.w FROM (SELECT (" + s.doc_key + ")::pg_catalog.text AS k, (" + s.title +
           ")::pg_catalog.text AS t, " + body + " AS b, " + boost + " AS w FROM " + s.table + filter +
           ") r WHERE r.k IS NOT NULL ORDER BY r.k COLLATE \"C\"";
}

std::string search_stored_query()
{
    return std::string("SELECT d.doc_key, d.title, d.body, d.boost, d.document OPERATOR(pg_catalog.=) (") +
           search_vector_sql("$2", "d.title", "d.body") + ") FROM " + kDocuments +
           " d WHERE d.source OPERATOR(pg_catalog.=) $1 ORDER BY d.doc_key COLLATE \"C\"";
}

std::string search_fulltext_query()
{
    return std::string("SELECT d.source, d.doc_key, d.title, "
                       "pg_catalog.ts_rank(d.document, $2) OPERATOR(pg_catalog.+) d.boost AS score FROM ") +
           kDocuments +
           " d WHERE d.document OPERATOR(pg_catalog.@@) $2 AND d.source OPERATOR(pg_catalog.=) ANY ($1) "
           "ORDER BY score DESC, d.source COLLATE \"C\", d.doc_key LIMIT $3";
}

std::string search_fuzzy_query(const std::string &trgm_schema)
{
    return "SELECT c.source, c.doc_key, c.title, " + trgm_schema +
           ".word_similarity($2, c.title) OPERATOR(pg_catalog.+) c.boost AS score FROM (SELECT d.source, d.doc_key, "
           "d.title, d.boost FROM " + kDocuments + " d WHERE $2 OPERATOR(" + trgm_schema +
           ".<%) d.title AND d.source OPERATOR(pg_catalog.=) ANY ($1) AND NOT d.document OPERATOR(pg_catalog.@@) $3 "
           "AND NOT d.document OPERATOR(pg_catalog.@@) $4 LIMIT " + std::to_string(kFuzzyCandidates) +
           ") c ORDER BY score DESC, c.source COLLATE \"C\", c.doc_key LIMIT $5";
}

}  // namespace denorm::core
