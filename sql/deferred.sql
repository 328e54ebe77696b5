-- Deferred (hot-key) counters (README "Deferred counters for hot keys"): a writer
-- appends its statement's net change per key to denorm._pending_deltas instead of
-- updating the target row; a fold (the worker every denorm.fold_interval, or
-- run_pending()) adds them to the column; counter_value() is exact at once.
-- denorm is preloaded here, so the worker may fold at any moment: raw target columns
-- are only shown right after run_pending() (nothing committed is then pending) or
-- inside a transaction whose own deltas the worker cannot see; everything else is
-- compared with a recount (counter_value, and column + pending deltas).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA dfr;
SET search_path = dfr, public;

CREATE TABLE posts (id int PRIMARY KEY, likes int NOT NULL DEFAULT 0, score numeric NOT NULL DEFAULT 0);
CREATE TABLE likes (id int PRIMARY KEY, post_id int, hidden boolean NOT NULL DEFAULT false,
                    weight numeric NOT NULL DEFAULT 1, note text);
INSERT INTO posts (id) VALUES (1), (2), (3);
INSERT INTO likes (id, post_id, weight) VALUES (1, 1, 2), (2, 1, 3), (3, 2, 5);

-- The names this test creates (denorm.counters is shared with other tests).
CREATE TABLE my_counters (name text PRIMARY KEY);
INSERT INTO my_counters VALUES ('post_likes'), ('post_score'), ('tag_uses'), ('day_uses'), ('pair_sent'),
                               ('pair_received'), ('lowest'), ('lowest_deferred');

-- The recount every counter must equal, its aggregate over the current source rows:
-- likes counts the rows that are not hidden, score sums weight.
CREATE VIEW recount AS
SELECT p.id,
       (SELECT count(*) FROM likes l WHERE l.post_id = p.id AND NOT l.hidden) AS likes,
       (SELECT coalesce(sum(l.weight), 0) FROM likes l WHERE l.post_id = p.id) AS score
  FROM posts p;
-- One row per post and counter that is not exact: counter_value() or the column plus
-- the pending deltas (both read in one statement) differs from the recount.
CREATE VIEW drift AS
SELECT r.id, c.counter, c.cv, c.stored_plus_pending, c.recount
  FROM recount r JOIN posts p USING (id),
  LATERAL (VALUES ('post_likes', denorm.counter_value('post_likes', r.id::text),
                   p.likes + coalesce((SELECT sum(d.delta) FROM denorm._pending_deltas d
                                        WHERE d.counter = 'post_likes' AND d.key = ARRAY[p.id::text]), 0),
                   r.likes::numeric),
                  ('post_score', denorm.counter_value('post_score', r.id::text),
                   p.score + coalesce((SELECT sum(d.delta) FROM denorm._pending_deltas d
                                        WHERE d.counter = 'post_score' AND d.key = ARRAY[p.id::text]), 0),
                   r.score)) c(counter, cv, stored_plus_pending, recount)
 WHERE c.cv IS DISTINCT FROM c.recount OR c.stored_plus_pending IS DISTINCT FROM c.recount;
-- counter_value of every post, and the recount next to it (trim_scale: 33.0 and 33 are
-- the same sum).
CREATE VIEW shown AS
SELECT r.id, denorm.counter_value('post_likes', r.id::text) AS likes, r.likes AS likes_recount,
       trim_scale(denorm.counter_value('post_score', r.id::text)) AS score, trim_scale(r.score) AS score_recount
  FROM recount r;
-- Pending deltas of this test's counters, as this session sees them.
CREATE VIEW pending AS
SELECT counter, key, count(*) AS deltas, sum(delta) AS delta
  FROM denorm._pending_deltas WHERE counter IN (SELECT name FROM my_counters) GROUP BY counter, key;

-- Creating a deferred counter backfills the column (nothing is pending yet).
SELECT denorm.create_counter('post_likes', 'posts', 'likes', 'likes', '{post_id}',
                             filter => 'NOT hidden', deferred => true);
SELECT denorm.create_counter('post_score', 'posts', 'score', 'likes', '{post_id}',
                             aggregate => 'sum', value => 'weight', deferred => true);
SELECT name, kind, target, target_columns, source, source_key, target_key, value, filter, create_missing, deferred, suspended
  FROM denorm.counters WHERE name IN (SELECT name FROM my_counters) ORDER BY name;
SELECT id, likes, trim_scale(score) AS score FROM posts ORDER BY id;
SELECT * FROM pending ORDER BY counter, key;

-- A write appends deltas and leaves the target row alone: inside the transaction the
-- column is unchanged (the worker cannot fold what it cannot see), the transaction's
-- own changes wait for its commit to be appended (denorm.apply = commit), and
-- counter_value already counts them.
BEGIN;
INSERT INTO likes (id, post_id, weight) VALUES (4, 1, 10);
INSERT INTO likes (id, post_id, weight) VALUES (5, 1, 20), (6, 2, 30), (7, 3, 40), (8, 3, 50);  -- multi-row
SELECT id, likes, trim_scale(score) AS score FROM posts ORDER BY id;
SELECT * FROM pending ORDER BY counter, key;
SELECT * FROM shown ORDER BY id;
COMMIT;
-- counter_value before the fold (whether or not the worker got there first) ...
SELECT * FROM shown ORDER BY id;
SELECT count(*) AS drift FROM drift;
-- ... and after run_pending(): the deltas are in the columns, nothing is pending.
SELECT denorm.run_pending() >= 0 AS folded;
SELECT id, likes, trim_scale(score) AS score FROM posts ORDER BY id;
SELECT * FROM pending ORDER BY counter, key;
SELECT * FROM shown ORDER BY id;

-- Updates of the key (a row moves to another post), of the filter, of the value, of an
-- unrelated column; a delete.
UPDATE likes SET post_id = 2 WHERE id = 1;
UPDATE likes SET hidden = true WHERE id IN (2, 6);
UPDATE likes SET weight = weight + 100 WHERE id = 7;
DELETE FROM likes WHERE id = 8;
SELECT * FROM shown ORDER BY id;
SELECT count(*) AS drift FROM drift;
-- An update of an unrelated column appends no delta.
SELECT denorm.run_pending() >= 0 AS folded;
BEGIN;
UPDATE likes SET note = 'unrelated';
SELECT * FROM pending ORDER BY counter, key;
COMMIT;

-- ON CONFLICT (insert and update arms), COPY, MERGE.
INSERT INTO likes (id, post_id, weight) VALUES (9, 3, 1), (3, 3, 7)
    ON CONFLICT (id) DO UPDATE SET post_id = EXCLUDED.post_id, weight = EXCLUDED.weight;
INSERT INTO likes (id, post_id) VALUES (9, 1) ON CONFLICT (id) DO NOTHING;
COPY likes (id, post_id, hidden, weight) FROM stdin;
10	1	f	0.5
11	2	t	0.25
12	\N	f	1000
\.
MERGE INTO likes l USING (VALUES (10, 2), (11, NULL), (13, 3)) AS v(id, pid) ON l.id = v.id
    WHEN MATCHED AND v.pid IS NULL THEN DELETE
    WHEN MATCHED THEN UPDATE SET post_id = v.pid
    WHEN NOT MATCHED THEN INSERT (id, post_id, weight) VALUES (v.id, v.pid, 4);
SELECT * FROM shown ORDER BY id;
SELECT count(*) AS drift FROM drift;

-- A rolled-back transaction and a rolled-back savepoint leave no delta.
SELECT denorm.run_pending() >= 0 AS folded;
BEGIN;
INSERT INTO likes (id, post_id, weight) VALUES (20, 1, 1000);
DELETE FROM likes WHERE post_id = 3;
ROLLBACK;
BEGIN;
SET LOCAL denorm.apply = statement;  -- the deltas appended statement by statement, for the savepoint to drop
INSERT INTO likes (id, post_id, weight) VALUES (21, 1, 1);
SAVEPOINT sp;
INSERT INTO likes (id, post_id, weight) VALUES (22, 2, 1000);
UPDATE likes SET hidden = NOT hidden WHERE post_id = 1;
ROLLBACK TO SAVEPOINT sp;
DELETE FROM likes WHERE id = 9;
SELECT * FROM pending ORDER BY counter, key;
COMMIT;
SELECT * FROM shown ORDER BY id;
SELECT count(*) AS drift FROM drift;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT id, likes, trim_scale(score) AS score FROM posts ORDER BY id;
SELECT count(*) AS pending FROM pending;

-- A key without a target row (create_missing is false): counter_value is NULL, the
-- deltas wait (a fold leaves them) ...
INSERT INTO likes (id, post_id, weight) VALUES (40, 4, 4), (41, 4, 6), (42, 4, 9);
UPDATE likes SET hidden = true WHERE id = 42;
SELECT denorm.counter_value('post_likes', '4') AS likes, denorm.counter_value('post_score', '4') AS score;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT * FROM pending ORDER BY counter, key;
-- ... and a target row inserted later starts at the recount minus those deltas, so that
-- counter_value is exact at once and the fold then lands on the recount.
INSERT INTO posts (id, likes, score) VALUES (4, 999, 999);
SELECT * FROM shown WHERE id = 4;
SELECT count(*) AS drift FROM drift;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT id, likes, trim_scale(score) AS score FROM posts WHERE id = 4;
SELECT * FROM pending ORDER BY counter, key;

-- create_missing: counter_value of a missing row is the recount, and the fold creates
-- the row with it. tag_uses has a text key, day_uses an integer key.
CREATE TABLE tags (tag text PRIMARY KEY, uses bigint NOT NULL DEFAULT 0);
CREATE TABLE days (day int PRIMARY KEY, uses bigint NOT NULL DEFAULT 0);
CREATE TABLE taggings (id int PRIMARY KEY, tag text, day int);
INSERT INTO tags VALUES ('old', 0);
INSERT INTO days VALUES (1, 0);
INSERT INTO taggings VALUES (1, 'old', 1), (2, 'old', 1);
SELECT denorm.create_counter('tag_uses', 'tags', 'uses', 'taggings', '{tag}', create_missing => true, deferred => true);
SELECT denorm.create_counter('day_uses', 'days', 'uses', 'taggings', '{day}', create_missing => true, deferred => true);
INSERT INTO taggings VALUES (3, 'new', 2), (4, 'new', 2), (5, 'old', 1), (6, 'newer', 3);
DELETE FROM taggings WHERE id = 6;
SELECT t.tag, denorm.counter_value('tag_uses', t.tag) AS uses,
       (SELECT count(*) FROM taggings g WHERE g.tag = t.tag) AS recount
  FROM (VALUES ('old'), ('new'), ('newer'), ('never')) t(tag) ORDER BY 1;
SELECT d.day, denorm.counter_value('day_uses', d.day::text) AS uses,
       (SELECT count(*) FROM taggings g WHERE g.day = d.day) AS recount
  FROM generate_series(1, 4) d(day) ORDER BY 1;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT tag, uses FROM tags ORDER BY tag;
SELECT day, uses FROM days ORDER BY day;
SELECT * FROM pending ORDER BY counter, key;

-- A deferred and a non-deferred definition adding into one column: a conversation
-- (a, b) counts the messages of both directions. pair_sent (deferred, target key given
-- as {b,a}) counts a -> b, pair_received (maintained in the writer's transaction)
-- counts b -> a. counter_value takes the key in the definition's target_key order.
CREATE TABLE pairs (a int, b int, msgs int NOT NULL DEFAULT 0, PRIMARY KEY (a, b));
CREATE TABLE messages (id int PRIMARY KEY, sender int, recipient int);
INSERT INTO pairs (a, b) VALUES (1, 2), (2, 1), (1, 3);
INSERT INTO messages VALUES (1, 1, 2), (2, 2, 1), (3, 2, 1);
SELECT denorm.create_counter('pair_sent', 'pairs', 'msgs', 'messages', '{recipient,sender}',
                             target_key => '{b,a}', deferred => true);
SELECT denorm.create_counter('pair_received', 'pairs', 'msgs', 'messages', '{recipient,sender}');
CREATE VIEW pair_shown AS
SELECT a, b, denorm.counter_value('pair_sent', b::text, a::text) AS msgs,
       denorm.counter_value('pair_received', a::text, b::text) AS msgs_too,
       (SELECT count(*) FROM messages m
         WHERE (m.sender, m.recipient) IN ((p.a, p.b), (p.b, p.a))) AS recount
  FROM pairs p;
SELECT * FROM pair_shown ORDER BY a, b;
SELECT denorm.run_pending() >= 0 AS folded;
BEGIN;
SET LOCAL denorm.apply = statement;             -- each statement's changes written at once
INSERT INTO messages VALUES (4, 1, 2), (5, 3, 1), (6, 1, 3);
UPDATE messages SET recipient = 3 WHERE id = 1;
SELECT a, b, msgs FROM pairs ORDER BY a, b;     -- pair_received's changes only
SELECT * FROM pending ORDER BY counter, key;    -- pair_sent's: key {a,b} (by column name)
SELECT * FROM pair_shown ORDER BY a, b;
COMMIT;
SELECT * FROM pair_shown ORDER BY a, b;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT a, b, msgs FROM pairs ORDER BY a, b;
SELECT r.counter, r.key, r.stored, r.expected, r.fixed
  FROM denorm.reconcile(fix => false) r WHERE r.counter IN (SELECT name FROM my_counters);

-- TRUNCATE discards the truncated source's pending deltas (committed or not, with or
-- without a target row) and recounts: the columns hold 0, nothing of it is pending.
-- Other sources' deltas stay.
SELECT denorm.run_pending() >= 0 AS folded;
INSERT INTO likes (id, post_id, weight) VALUES (50, 5, 1);   -- waits: no post 5
BEGIN;
INSERT INTO likes (id, post_id, weight) VALUES (51, 1, 1), (52, 2, 2);
INSERT INTO taggings VALUES (7, 'old', 1);
INSERT INTO messages VALUES (7, 1, 2), (8, 2, 1);
SELECT * FROM pending ORDER BY counter, key;
TRUNCATE likes, messages;
SELECT * FROM pending ORDER BY counter, key;
SELECT id, likes, trim_scale(score) AS score FROM posts ORDER BY id;
SELECT a, b, msgs FROM pairs ORDER BY a, b;
COMMIT;
SELECT * FROM shown ORDER BY id;
SELECT * FROM pair_shown ORDER BY a, b;
SELECT count(*) AS drift FROM drift;
-- Committed deltas (the worker may or may not have folded them) and a TRUNCATE.
INSERT INTO likes (id, post_id, weight) VALUES (53, 1, 5), (54, 2, 6), (55, 5, 7);
INSERT INTO messages VALUES (9, 1, 2);
TRUNCATE likes;
SELECT * FROM shown ORDER BY id;
SELECT * FROM pair_shown ORDER BY a, b;
SELECT count(*) AS drift FROM drift;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT id, likes, trim_scale(score) AS score FROM posts ORDER BY id;
SELECT * FROM pending ORDER BY counter, key;

-- reconcile: nothing to report while deltas are pending (the column plus the deltas is
-- right). Drift injected with session_replication_role = replica (no trigger fires) is
-- reported and fixed: the column is set to the recount minus the pending deltas, so the
-- later fold lands on the recount.
INSERT INTO likes (id, post_id, weight) VALUES (60, 1, 1), (61, 2, 2), (62, 3, 3);
SELECT r.counter, r.key, r.stored, r.expected, r.fixed
  FROM denorm.reconcile(fix => false) r WHERE r.counter IN (SELECT name FROM my_counters);
SELECT denorm.run_pending() >= 0 AS folded;
BEGIN;
INSERT INTO likes (id, post_id, weight) VALUES (63, 1, 10), (64, 2, 20);
SET LOCAL session_replication_role = replica;
INSERT INTO likes (id, post_id, weight) VALUES (65, 1, 100), (66, 3, 300);
UPDATE likes SET hidden = true WHERE id = 61;
SET LOCAL session_replication_role = origin;
SELECT * FROM pending ORDER BY counter, key;
SELECT r.counter, r.key, r.stored, r.expected, r.fixed
  FROM denorm.reconcile() r WHERE r.counter IN (SELECT name FROM my_counters) ORDER BY r.counter, r.key::text;
SELECT id, likes, trim_scale(score) AS score FROM posts ORDER BY id;
SELECT * FROM pending ORDER BY counter, key;
COMMIT;
SELECT * FROM shown ORDER BY id;
SELECT count(*) AS drift FROM drift;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT id, likes, trim_scale(score) AS score FROM posts ORDER BY id;
SELECT r.counter, r.key, r.stored, r.expected, r.fixed
  FROM denorm.reconcile(fix => false) r WHERE r.counter IN (SELECT name FROM my_counters);

-- suspend/resume of a deferred source: while suspended no delta is appended
-- (counter_value keeps the value of before); resume recounts (one row per counter and
-- changed post) and writes are maintained again.
SELECT denorm.run_pending() >= 0 AS folded;
SELECT denorm.suspend('likes');
SELECT name, suspended FROM denorm.counters WHERE source = 'likes'::regclass ORDER BY name;
INSERT INTO likes (id, post_id, weight) VALUES (70, 1, 1), (71, 2, 2);
UPDATE likes SET hidden = true WHERE id = 71;
SELECT * FROM pending ORDER BY counter, key;
SELECT * FROM shown ORDER BY id;
SELECT denorm.resume('likes');
SELECT name, suspended FROM denorm.counters WHERE source = 'likes'::regclass ORDER BY name;
SELECT * FROM shown ORDER BY id;
DELETE FROM likes WHERE id = 70;
SELECT * FROM shown ORDER BY id;
SELECT count(*) AS drift FROM drift;

-- drop_counter of a deferred counter folds its pending deltas first (here the
-- session's own, uncommitted): the column it leaves behind is right.
SELECT denorm.run_pending() >= 0 AS folded;
BEGIN;
INSERT INTO likes (id, post_id, weight) VALUES (80, 1, 1000), (81, 3, 2000);
SELECT * FROM pending ORDER BY counter, key;
SELECT denorm.drop_counter('post_score');
SELECT * FROM pending ORDER BY counter, key;
SELECT p.id, trim_scale(p.score) AS score, trim_scale(r.score) AS recount FROM posts p JOIN recount r USING (id) ORDER BY id;
COMMIT;
SELECT p.id, trim_scale(p.score) AS score, trim_scale(r.score) AS recount FROM posts p JOIN recount r USING (id) ORDER BY id;
SELECT name FROM denorm.counters WHERE name IN (SELECT name FROM my_counters) ORDER BY name;

-- Refused input.
CREATE TABLE lows (id int PRIMARY KEY, low int);
CREATE TABLE readings (id int PRIMARY KEY, low_id int, v int);
SELECT denorm.create_counter('lowest', 'lows', 'low', 'readings', '{low_id}', aggregate => 'min', value => 'v');
\set VERBOSITY sqlstate
SELECT denorm.counter_value('no_such_counter', '1');                 -- 42704
SELECT denorm.counter_value('lowest', '1');                          -- 22023: not a count or sum
SELECT denorm.counter_value('post_likes', '1', '2');                 -- 22023: one key column
SELECT denorm.counter_value('pair_sent', '1');                       -- 22023: two key columns
SELECT denorm.counter_value('post_likes', VARIADIC '{}'::text[]);    -- 22023
SELECT denorm.create_counter('lowest_deferred', 'lows', 'low', 'readings', '{low_id}',
                             aggregate => 'min', value => 'v', deferred => true);   -- 22023
SELECT denorm.create_counter('lowest_deferred', 'lows', 'low', 'readings', '{low_id}',
                             aggregate => 'max', value => 'v', deferred => true);   -- 22023
\set VERBOSITY default
SELECT name FROM denorm.counters WHERE name IN (SELECT name FROM my_counters) ORDER BY name;

-- Dropping the tables drops their definitions and their pending deltas (post 6 has
-- no row: its delta waits): leave nothing for later tests.
SELECT denorm.run_pending() >= 0 AS folded;
INSERT INTO likes (id, post_id) VALUES (90, 6);
SELECT * FROM pending ORDER BY counter, key;
CREATE TEMP TABLE my_names AS SELECT name FROM my_counters;
SET client_min_messages = warning;
DROP SCHEMA dfr CASCADE;
RESET client_min_messages;
DELETE FROM denorm.reconcile_mismatches WHERE counter IN (SELECT name FROM my_names);
DELETE FROM denorm.reconcile_log WHERE counter IN (SELECT name FROM my_names);
SELECT count(*) AS left_behind FROM denorm.counters WHERE name IN (SELECT name FROM my_names);
SELECT count(*) AS pending_left_behind FROM denorm._pending_deltas WHERE counter IN (SELECT name FROM my_names);
DROP TABLE my_names;
