-- The statements denorm generates for a definition (src/core/statements.hpp), as
-- denorm._statement returns them to the maintenance functions: names quoted as the
-- catalog spells them, expressions deparsed so they mean the same under any
-- search_path, casts to the target columns' types with their typmods, text keys
-- locked byte by byte. Their execution is what every other regress file checks.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA "Stmts";
SET search_path = "Stmts", public;

CREATE TABLE "Users" (handle text PRIMARY KEY, "Post Count" bigint NOT NULL DEFAULT 0,
                      score numeric(10,2) NOT NULL DEFAULT 0, seen timestamptz);
CREATE TABLE posts (id int PRIMARY KEY, author text, votes int, title text);
SELECT denorm.create_counter('stmt_posts', '"Users"', 'Post Count', 'posts', '{author}',
                             filter => 'title IS NOT NULL', touch => 'seen');
SELECT denorm.create_counter('stmt_score', '"Users"', 'score', 'posts', '{author}', aggregate => 'sum',
                             value => 'abs(votes)', create_missing => true, deferred => true);

SELECT denorm._statement('stmt_posts', 'apply');
SELECT denorm._statement('stmt_score', 'pending_insert');
SELECT denorm._statement('stmt_posts', 'recount_lock');
SELECT denorm._statement('stmt_score', 'adopt') AS adopt_sql \gset
SELECT :'adopt_sql' AS adopt;
-- Under another search_path the text is the same: nothing in it resolves through it.
SET search_path = pg_temp, public;
SELECT denorm._statement('stmt_score', 'adopt') = :'adopt_sql' AS same;
SET search_path = "Stmts", public;

-- NULL where a statement does not apply to the counter.
SELECT denorm._statement('stmt_posts', 'upsert') IS NULL AS no_upsert,
       denorm._statement('stmt_posts', 'fold') IS NULL AS not_deferred,
       denorm._statement('stmt_posts', 'extremum_lock') IS NULL AS not_extremum;

-- Bad input.
SELECT denorm._statement('no_such_counter', 'apply');
SELECT denorm._statement('stmt_posts', 'no_such_purpose');
SELECT denorm._statement(NULL, 'apply');

DROP SCHEMA "Stmts" CASCADE;
