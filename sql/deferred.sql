-- Deferred (hot-key) counters (SPEC §1.3): a writer appends its statement's net change
-- per key to denorm._pending_deltas instead of updating the target row; a fold (the
-- worker every denorm.fold_interval, or run_pending()) adds them to the column;
-- counter_value() is exact at once.
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
INSERT INTO my_counters VALUES ('post_likes'), ('post_score'), ('tag_uses'), ('pair_sent'), ('pair_received'),
                               ('lowest'), ('lowest_deferred');

-- The recount every counter must equal (SPEC §1 "Meaning"): likes counts the rows that
-- are not hidden, score sums weight.
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
-- counter_value of every post, and the recount next to it.
CREATE VIEW shown AS
SELECT r.id, denorm.counter_value('post_likes', r.id::text) AS likes, r.likes AS likes_recount,
       denorm.counter_value('post_score', r.id::text) AS score, r.score AS score_recount
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
SELECT id, likes, score FROM posts ORDER BY id;
SELECT * FROM pending ORDER BY counter, key;

-- A write appends deltas and leaves the target row alone: inside the transaction the
-- column is unchanged (the worker cannot fold what it cannot see), the session's own
-- deltas are pending, and counter_value already counts them.
BEGIN;
INSERT INTO likes (id, post_id, weight) VALUES (4, 1, 10);
INSERT INTO likes (id, post_id, weight) VALUES (5, 1, 20), (6, 2, 30), (7, 3, 40), (8, 3, 50);  -- multi-row
SELECT id, likes, score FROM posts ORDER BY id;
SELECT * FROM pending ORDER BY counter, key;
SELECT * FROM shown ORDER BY id;
COMMIT;
-- counter_value before the fold (whether or not the worker got there first) ...
SELECT * FROM shown ORDER BY id;
SELECT count(*) AS drift FROM drift;
-- ... and after run_pending(): the deltas are in the columns, nothing is pending.
SELECT denorm.run_pending() >= 0 AS folded;
SELECT id, likes, score FROM posts ORDER BY id;
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
SELECT p.id, p.likes, p.score FROM posts p ORDER BY id;
SELECT count(*) AS pending FROM pending;
SELECT count(*) AS drift FROM drift;
