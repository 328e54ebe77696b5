// definition_fixtures.hpp — definitions as the loader would give them, for the golden
// statement tests (test_statements_*.cpp): a users/posts schema with names that need
// no quoting, plus helpers to vary them.
#pragma once

#include <string>
#include <vector>

#include "core/definition.hpp"

namespace fixtures {

using denorm::core::Aggregate;
using denorm::core::Column;
using denorm::core::Definition;

inline Column column(const std::string &name, const std::string &type = "integer")
{
    return Column{name, name, type};
}

// user_stats.post_count = count(posts) by posts.author_id -> user_stats.user_id.
inline Definition post_count()
{
    Definition d;
    d.name = "post_count";
    d.kind = Aggregate::Count;
    d.target = "public.user_stats";
    d.source = "public.posts";
    d.target_columns = {column("post_count", "bigint")};
    d.target_key = {column("user_id")};
    d.source_key = {"author_id"};
    return d;
}

// user_stats.score = sum(posts.votes) of published posts.
inline Definition score()
{
    Definition d = post_count();
    d.name = "score";
    d.kind = Aggregate::Sum;
    d.target_columns = {column("score", "numeric(12,2)")};
    d.value = "votes";
    d.filter = "published";
    return d;
}

// user_stats.best = max(posts.votes).
inline Definition best()
{
    Definition d = post_count();
    d.name = "best";
    d.kind = Aggregate::Max;
    d.target_columns = {column("best")};
    d.value = "votes";
    return d;
}

// user_stats.(last_title, last_at) = the newest post's (title, created_at).
inline Definition last_post()
{
    Definition d = post_count();
    d.name = "last_post";
    d.kind = Aggregate::Latest;
    d.target_columns = {column("last_title", "text"), column("last_at", "timestamp with time zone")};
    d.source_values = {"title", "created_at"};
    d.order_by = {"created_at"};
    return d;
}

}  // namespace fixtures
