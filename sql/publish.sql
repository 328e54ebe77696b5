-- Publishing counters to Redis (README "Publishing to Redis"), the database's half: the
-- outbox entries writers append in their transaction, what a drain would send, and the
-- settings. test/t/080_redis_publish.pl runs the rest against a real redis-server.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA pub;
SET search_path = pub, public;

CREATE TABLE posts (id int PRIMARY KEY, votes int NOT NULL DEFAULT 0, score numeric NOT NULL DEFAULT 0,
                    best int, grp int NOT NULL DEFAULT 1);
CREATE TABLE groups (id int PRIMARY KEY, votes bigint NOT NULL DEFAULT 0);
CREATE TABLE upvotes (id serial PRIMARY KEY, post_id int, weight numeric);
INSERT INTO posts (id, grp) VALUES (1, 1), (2, 1), (3, 2);
INSERT INTO groups VALUES (1), (2);
SELECT denorm.create_counter('pub_votes', 'posts', 'votes', 'upvotes', '{post_id}');
SELECT denorm.create_counter('pub_score', 'posts', 'score', 'upvotes', '{post_id}', aggregate => 'sum', value => 'weight');
SELECT denorm.create_counter('pub_best', 'posts', 'best', 'upvotes', '{post_id}', aggregate => 'max', value => 'id');
SELECT denorm.create_counter('pub_group', 'groups', 'votes', 'posts', '{grp}', aggregate => 'sum', value => 'votes');
SELECT denorm.publish_counter('pub_votes');
SELECT denorm.publish_counter('pub_score', redis_key => 'app:scores', ttl => '1 hour');
SELECT denorm.publish_counter('pub_best');
SELECT denorm.publish_counter('pub_group');
SELECT counter, redis_key, mode, ttl FROM denorm._publications ORDER BY counter;
CREATE VIEW entries AS SELECT counter, key, delta FROM denorm._outbox ORDER BY id;
-- Publishing queues every current value first (no delta): Redis starts complete.
SELECT counter, count(*) AS values_queued FROM denorm._outbox GROUP BY 1 ORDER BY 1;
DELETE FROM denorm._outbox;

-- One entry per changed target row and counter, in the writer's transaction; a
-- cascade's rows too (groups.votes changes because posts.votes does).
INSERT INTO upvotes (post_id, weight) VALUES (1, 1.5), (1, 2), (2, 1);
SELECT * FROM entries;
DELETE FROM denorm._outbox;
-- Rolled back, in whole or to a savepoint: nothing.
BEGIN;
INSERT INTO upvotes (post_id, weight) VALUES (3, 1);
ROLLBACK;
BEGIN;
INSERT INTO upvotes (post_id, weight) VALUES (2, 1);
SAVEPOINT s;
INSERT INTO upvotes (post_id, weight) VALUES (3, 1);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM entries;
DELETE FROM denorm._outbox;
-- Several statements on one row: one entry per transaction (denorm.apply = commit), one
-- per statement with denorm.apply = statement; a change that nets to zero: none.
BEGIN;
INSERT INTO upvotes (post_id, weight) VALUES (1, 1);
INSERT INTO upvotes (post_id, weight) VALUES (1, 1);
COMMIT;
SELECT counter, key, delta FROM entries WHERE counter = 'pub_votes';
BEGIN;
SET LOCAL denorm.apply = statement;
INSERT INTO upvotes (post_id, weight) VALUES (2, 1);
INSERT INTO upvotes (post_id, weight) VALUES (2, 1);
COMMIT;
SELECT counter, key, delta FROM entries WHERE counter = 'pub_votes';
DELETE FROM denorm._outbox;
UPDATE upvotes SET weight = weight WHERE post_id = 1;
SELECT count(*) AS entries_for_no_change FROM denorm._outbox;

-- What a drain sends: each entry's field (the key's values joined with ':') and the
-- value committed now; NULL for a target row that is gone (Redis: HDEL).
INSERT INTO upvotes (post_id, weight) VALUES (3, 4);
DELETE FROM posts WHERE id = 3;
SELECT counter, redis_key, mode, field, value, delta, ttl_seconds FROM denorm._outbox_batch(100) ORDER BY id;
SELECT pending, oldest_pending_age IS NOT NULL AS aged, last_success_at, last_error, connected FROM denorm.outbox_status;
-- health(): entries waiting more than 10 s warn, more than 5 minutes are critical.
SELECT component, status, detail ~ '^5 entries pending, the oldest for [0-9]+ s: denorm.redis_url is not set' AS detail_ok
  FROM denorm.health() WHERE component = 'redis outbox';
UPDATE denorm._outbox SET created_at = pg_catalog.now() - '1 minute'::interval;
SELECT status FROM denorm.health() WHERE component = 'redis outbox';
UPDATE denorm._outbox SET created_at = pg_catalog.now() - '10 minutes'::interval;
SELECT status FROM denorm.health() WHERE component = 'redis outbox';
-- Publishing is off without denorm.redis_url: the entries wait.
SELECT denorm._publish_pending() AS sent;
SELECT count(*) AS waiting FROM denorm._outbox;

-- redis_resync: an entry for every target row, so that every value is sent again.
DELETE FROM denorm._outbox;
SELECT denorm.redis_resync('pub_votes');
SELECT denorm.redis_resync();
SELECT counter, count(*) FROM denorm._outbox GROUP BY 1 ORDER BY 1;
-- unpublish: its waiting entries go; dropping a counter takes its publication along
-- (a waiting entry of it is deleted by the next drain unsent).
SELECT denorm.unpublish_counter('pub_votes');
SELECT counter, count(*) FROM denorm._outbox GROUP BY 1 ORDER BY 1;
SELECT denorm.drop_counter('pub_best');
SELECT counter FROM denorm._publications ORDER BY 1;
SELECT counter, mode FROM denorm._outbox_batch(1000) WHERE counter = 'pub_best' LIMIT 1;
INSERT INTO upvotes (post_id, weight) VALUES (1, 1);
SELECT DISTINCT counter FROM denorm._outbox ORDER BY 1;

-- Stream mode: an entry per transaction and key, each with the key's value after its
-- transaction and its delta (README "Publishing to Redis"), in commit order.
CREATE TABLE tags (tag text PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE tagged (id serial PRIMARY KEY, tag text);
INSERT INTO tags VALUES ('red'), ('blue');
SELECT denorm.create_counter('pub_tags', 'tags', 'n', 'tagged', '{tag}');
SELECT denorm.publish_counter('pub_tags', 'app:tag-events', mode => 'stream', ttl => '7 days');
DELETE FROM denorm._outbox;
INSERT INTO tagged (tag) VALUES ('red');
INSERT INTO tagged (tag) VALUES ('red'), ('red'), ('blue');
DELETE FROM tagged WHERE id = 2;
SELECT redis_key, mode, field, value, delta, ttl_seconds FROM denorm._outbox_batch(100) ORDER BY id;
-- (its later entries found by key through an index that exists while a stream does)
SELECT pg_catalog.to_regclass('denorm._outbox_stream_keys') IS NOT NULL AS stream_index;
SELECT denorm.unpublish_counter('pub_tags');
SELECT pg_catalog.to_regclass('denorm._outbox_stream_keys') IS NOT NULL AS stream_index;

-- Bad input changes nothing.
SELECT denorm.publish_counter('pub_score');
SELECT denorm.publish_counter('nope');
SELECT denorm.unpublish_counter('pub_votes');
SELECT denorm.publish_counter('pub_votes', mode => 'list');
SELECT denorm.create_counter('pub_max', 'posts', 'best', 'upvotes', '{post_id}', aggregate => 'max', value => 'id');
SELECT denorm.publish_counter('pub_max', mode => 'stream');
SELECT denorm.publish_counter('pub_votes', ttl => '-1 s');
SELECT denorm.redis_resync('pub_votes');

-- A deferred counter is published from its folds: its writers append nothing (their
-- change is not in the target yet); each fold appends one entry per row it changed, with
-- the delta it added, after it wrote the row.
DELETE FROM denorm._outbox;
CREATE TABLE d_t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO d_t VALUES (1), (2), (3);
SELECT denorm.create_counter('pub_deferred', 'd_t', 'n', 'upvotes', '{post_id}', deferred => true);
SELECT denorm.publish_counter('pub_deferred', mode => 'stream');
DELETE FROM denorm._outbox;   -- the current values publishing queued
INSERT INTO upvotes (post_id, weight) VALUES (1, 1), (1, 1), (3, 1);
DELETE FROM upvotes WHERE post_id = 2;
SELECT count(*) AS entries_before_the_fold FROM denorm._outbox WHERE counter = 'pub_deferred';
SELECT denorm._fold('pub_deferred') AS rows_folded;
SELECT * FROM entries WHERE counter = 'pub_deferred' ORDER BY key;
SELECT field, value, delta FROM denorm._outbox_batch(100) WHERE counter = 'pub_deferred' ORDER BY field;
SELECT id, n FROM d_t ORDER BY id;
DELETE FROM denorm._outbox;
SELECT denorm.unpublish_counter('pub_deferred');

-- A fix by reconcile of a published counter is published too: an entry per fixed row,
-- the fix as its delta (here a row counted while the triggers did not fire).
DELETE FROM denorm._outbox;
SET session_replication_role = replica;
INSERT INTO upvotes (post_id, weight) VALUES (1, 2.5);
RESET session_replication_role;
SELECT counter, key, stored, expected, fixed FROM denorm.reconcile('pub_score');
SELECT * FROM entries WHERE counter = 'pub_score';
DELETE FROM denorm._outbox;
DELETE FROM denorm.reconcile_mismatches WHERE counter = 'pub_score';  -- (sql/reconcile.sql reads the
DELETE FROM denorm.reconcile_log WHERE counter = 'pub_score';         -- whole audit trail)

-- The settings: a URL that names no server is refused with the reason; the password is
-- a superuser's to set and to see.
SET denorm.redis_url = 'http://localhost:6379';
SET denorm.redis_url = 'redis://:secret@localhost:6379';
SET denorm.redis_url = 'redis://localhost:99999';
SET denorm.redis_url = 'redis://127.0.0.1:6379/2';
SHOW denorm.redis_url;
RESET denorm.redis_url;
SHOW denorm.redis_timeout;
SET denorm.redis_password = 'pw';
CREATE ROLE regress_denorm_pub;
SET ROLE regress_denorm_pub;
SET denorm.redis_password = 'mine';
SHOW denorm.redis_password;
SELECT count(*) AS password_rows FROM pg_settings WHERE name = 'denorm.redis_password';
SET denorm.redis_url = 'redis://localhost';
SELECT * FROM denorm.outbox_status WHERE false;
SELECT denorm.publish_counter('pub_votes');
RESET ROLE;
SHOW denorm.redis_password;
RESET denorm.redis_password;
DROP ROLE regress_denorm_pub;

SELECT denorm.drop_counter(name) FROM denorm.counters WHERE name LIKE 'pub\_%' ORDER BY name;
DELETE FROM denorm._outbox;
SET client_min_messages = warning;
DROP SCHEMA pub CASCADE;
