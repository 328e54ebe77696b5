-- When counter changes are applied (README "When changes are applied"): with
-- denorm.apply = commit (the default) a transaction's changes from all its statements
-- are added up and written once, just before it commits; rolled-back savepoints take
-- theirs with them; denorm.apply = statement writes each statement's at its end.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA apply;
SET search_path = apply, public;
SHOW denorm.apply;

CREATE TABLE users (id int PRIMARY KEY, name text);
CREATE TABLE stats (user_id int PRIMARY KEY REFERENCES users DEFERRABLE INITIALLY DEFERRED,
                    posts bigint NOT NULL DEFAULT 0, score numeric NOT NULL DEFAULT 0, best int,
                    last_title text, seen timestamptz);
CREATE TABLE posts (id int PRIMARY KEY, user_id int, score numeric, title text);
INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
INSERT INTO stats (user_id) VALUES (1), (2);
SELECT denorm.create_counter('ap_posts', 'stats', 'posts', 'posts', '{user_id}', create_missing => true);
SELECT denorm.create_counter('ap_score', 'stats', 'score', 'posts', '{user_id}', aggregate => 'sum', value => 'score');
SELECT denorm.create_counter('ap_best', 'stats', 'best', 'posts', '{user_id}', aggregate => 'max', value => 'id');
SELECT denorm.create_latest('ap_last', 'stats', '{last_title}', 'posts', '{user_id}', '{title}', '{id}');
CREATE VIEW drift AS
SELECT s.user_id, s.posts, count(p.id) AS recount, s.score, coalesce(sum(p.score), 0) AS rescore
  FROM stats s LEFT JOIN posts p ON p.user_id = s.user_id GROUP BY s.user_id
HAVING s.posts <> count(p.id) OR s.score <> coalesce(sum(p.score), 0);

-- Several statements: inside the transaction the columns keep their values and
-- counter_value includes the transaction's own changes; at commit all are written.
BEGIN;
INSERT INTO posts VALUES (1, 1, 10, 'a1'), (2, 2, 5, 'b1');
INSERT INTO posts VALUES (3, 1, 1, 'a2');
UPDATE posts SET user_id = 2 WHERE id = 3;
SELECT user_id, posts, score FROM stats ORDER BY user_id;
SELECT denorm.counter_value('ap_posts', '1') AS ann_posts, denorm.counter_value('ap_score', '2') AS bob_score;
COMMIT;
SELECT user_id, posts, score, best, last_title FROM stats ORDER BY user_id;

-- A rolled-back savepoint drops its changes; a released one keeps them.
BEGIN;
INSERT INTO posts VALUES (4, 1, 2, 'a3');
SAVEPOINT s;
INSERT INTO posts VALUES (5, 1, 100, 'a4'), (6, 2, 100, 'b3');
ROLLBACK TO SAVEPOINT s;
SAVEPOINT t;
DELETE FROM posts WHERE id = 2;
RELEASE SAVEPOINT t;
COMMIT;
SELECT user_id, posts, score, best, last_title FROM stats ORDER BY user_id;
SELECT * FROM drift;

-- create_missing creates a row for a net positive change only: a user whose new rows
-- are all deleted in the same transaction gets none.
BEGIN;
INSERT INTO posts VALUES (7, 3, 1, 'c1');
DELETE FROM posts WHERE id = 7;
COMMIT;
SELECT count(*) AS rows_for_cy FROM stats WHERE user_id = 3;
INSERT INTO posts VALUES (8, 3, 1, 'c2');
SELECT user_id, posts, score, best, last_title FROM stats WHERE user_id = 3;

-- As an ORM deletes a user: the stats row first, then the posts, then the user; the
-- foreign key from stats to users is checked at commit. Nothing re-creates the row.
BEGIN;
DELETE FROM stats WHERE user_id = 3;
DELETE FROM posts WHERE user_id = 3;
DELETE FROM users WHERE id = 3;
COMMIT;
SELECT count(*) AS rows_for_cy FROM stats WHERE user_id = 3;

-- What reads or recounts the targets sees the transaction's changes written first:
-- reconcile in the writing transaction finds nothing to fix, and nothing is counted twice.
BEGIN;
INSERT INTO posts VALUES (9, 1, 3, 'a5');
SELECT count(*) AS mismatches FROM denorm.reconcile();
SELECT user_id, posts FROM stats WHERE user_id = 1;
INSERT INTO posts VALUES (10, 1, 3, 'a6');
COMMIT;
SELECT * FROM drift;
-- TRUNCATE recounts after the earlier changes of its transaction are written.
BEGIN;
INSERT INTO posts VALUES (11, 2, 1, 'b4');
TRUNCATE posts;
INSERT INTO posts VALUES (12, 2, 7, 'b5');
COMMIT;
SELECT user_id, posts, score, best, last_title FROM stats ORDER BY user_id;

-- Written inside a savepoint that rolls back (TRUNCATE and reconcile write the
-- transaction's earlier changes first), those writes are undone with it but the changes
-- are not lost: they are written again at commit.
BEGIN;
INSERT INTO posts VALUES (19, 1, 1, 'a11');
SAVEPOINT r;                                     -- a second batch for the same row
INSERT INTO posts VALUES (20, 1, 2, 'a12');
RELEASE SAVEPOINT r;
SAVEPOINT s;
TRUNCATE posts;
ROLLBACK TO SAVEPOINT s;
SAVEPOINT t;
SELECT count(*) AS mismatches FROM denorm.reconcile(fix => false);
ROLLBACK TO SAVEPOINT t;
COMMIT;
SELECT user_id, posts, score, best, last_title FROM stats ORDER BY user_id;
SELECT * FROM drift;

-- Cascades: a target that is itself a source is written at the same commit.
CREATE TABLE teams (id int PRIMARY KEY, total_posts bigint NOT NULL DEFAULT 0);
CREATE TABLE members (user_id int PRIMARY KEY, team_id int, posts bigint NOT NULL DEFAULT 0);
INSERT INTO teams VALUES (1);
INSERT INTO members VALUES (1, 1), (2, 1);
SELECT denorm.create_counter('ap_member_posts', 'members', 'posts', 'posts', '{user_id}');
SELECT denorm.create_counter('ap_team_posts', 'teams', 'total_posts', 'members', '{team_id}',
                             aggregate => 'sum', value => 'posts');
BEGIN;
INSERT INTO posts VALUES (13, 1, 1, 'a7'), (14, 2, 1, 'b6');
INSERT INTO posts VALUES (15, 1, 1, 'a8');
SELECT total_posts FROM teams;
COMMIT;
SELECT (SELECT total_posts FROM teams) AS team_total, (SELECT count(*) FROM posts) AS posts;

-- SET CONSTRAINTS ALL IMMEDIATE: the changes are written no later than at commit.
BEGIN;
SET CONSTRAINTS ALL IMMEDIATE;
INSERT INTO posts VALUES (16, 1, 1, 'a9');
INSERT INTO posts VALUES (17, 1, 1, 'a10');
COMMIT;
SELECT * FROM drift;

-- denorm.apply = statement: each statement's changes are visible at once.
BEGIN;
SET LOCAL denorm.apply = statement;
INSERT INTO posts VALUES (18, 2, 4, 'b7');
SELECT user_id, posts, score FROM stats WHERE user_id = 2;
COMMIT;
SET denorm.apply = 'sometimes';
SELECT count(*) AS mismatches FROM denorm.reconcile(fix => false);

-- Two-phase commit: PREPARE TRANSACTION writes the changes (as it fires deferred
-- constraints); COMMIT PREPARED makes them visible, ROLLBACK PREPARED undoes them.
BEGIN;
INSERT INTO posts VALUES (101, 2, 1, 'b8');
INSERT INTO posts VALUES (102, 1, 1, 'a11');
PREPARE TRANSACTION 'denorm_2pc';
SELECT user_id, posts, score, last_title FROM stats WHERE user_id IN (1, 2) ORDER BY user_id;
COMMIT PREPARED 'denorm_2pc';
SELECT user_id, posts, score, last_title FROM stats WHERE user_id IN (1, 2) ORDER BY user_id;
BEGIN;
DELETE FROM posts WHERE id = 102;
INSERT INTO posts VALUES (103, 2, 5, 'b9');
PREPARE TRANSACTION 'denorm_2pc';
ROLLBACK PREPARED 'denorm_2pc';
SELECT user_id, posts, score, last_title FROM stats WHERE user_id IN (1, 2) ORDER BY user_id;
SELECT * FROM drift;

DROP SCHEMA apply CASCADE;
