-- reconcile(): finds drift, reports it (fix => false) or fixes it, logs every run
-- and every mismatch. Drift is injected the ways it happens in production: writes
-- under session_replication_role = replica (pg_restore --disable-triggers, logical
-- replication apply) and direct edits of counter columns.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA rec;
SET search_path = rec, public;

CREATE TABLE users (id int PRIMARY KEY, posts int NOT NULL DEFAULT 0, score numeric NOT NULL DEFAULT 0);
CREATE TABLE posts (id int PRIMARY KEY, user_id int, points numeric, hidden boolean NOT NULL DEFAULT false);
CREATE INDEX ON posts (user_id);
INSERT INTO users SELECT generate_series(1, 20);
INSERT INTO posts SELECT g, 1 + g % 20, (g % 13) * 0.25, g % 7 = 0 FROM generate_series(1, 200) g;
SELECT denorm.create_counter('user_posts', 'users', 'posts', 'posts', '{user_id}', filter => 'NOT hidden');
SELECT denorm.create_counter('user_score', 'users', 'score', 'posts', '{user_id}', aggregate => 'sum', value => 'points');

-- No drift: nothing to report, and the run is logged.
SELECT * FROM denorm.reconcile();
SELECT counter, rows_checked, mismatches, fixed FROM denorm.reconcile_log ORDER BY run_id, counter;

-- Inject drift: writes the triggers do not see, and hand edits.
SET session_replication_role = replica;
INSERT INTO posts VALUES (1001, 3, 10, false), (1002, 3, 5, false), (1003, 4, 1, true);
DELETE FROM posts WHERE id = 5;
RESET session_replication_role;
UPDATE users SET posts = posts + 100 WHERE id IN (7, 11);
UPDATE users SET score = -1 WHERE id = 12;

-- A dry run reports each mismatch as key, stored and expected, and changes nothing.
SELECT * FROM denorm.reconcile(fix => false);
SELECT id, posts, score FROM users WHERE id IN (3, 4, 6, 7, 11, 12) ORDER BY id;

-- Batches of 1 and of 7 find the same mismatches (dry runs).
SELECT count(*) FROM denorm.reconcile('user_posts', fix => false, batch_size => 1);
SELECT count(*) FROM denorm.reconcile('user_posts', fix => false, batch_size => 7);

-- Fix one counter in batches of 1, the other in batches of 7.
SELECT * FROM denorm.reconcile('user_posts', batch_size => 1);
SELECT * FROM denorm.reconcile('user_score', batch_size => 7);
SELECT * FROM denorm.reconcile(fix => false);   -- nothing left
SELECT u.id FROM users u
 WHERE u.posts <> (SELECT count(*) FROM posts p WHERE p.user_id = u.id AND NOT p.hidden)
    OR u.score <> (SELECT coalesce(sum(points), 0) FROM posts p WHERE p.user_id = u.id);

-- The audit trail: one log row per counter per run, one row per mismatch.
SELECT counter, rows_checked, mismatches, fixed FROM denorm.reconcile_log ORDER BY run_id, counter;
SELECT counter, key, stored, expected, fixed FROM denorm.reconcile_mismatches ORDER BY run_id, counter, key;
SELECT count(DISTINCT run_id) AS runs FROM denorm.reconcile_log;

-- A column shared by two definitions with a composite key is checked as their sum.
CREATE TABLE messages (id int PRIMARY KEY, sender_id int, recipient_id int);
CREATE TABLE conversations (user_id int, other_user_id int, total int NOT NULL DEFAULT 0,
                            PRIMARY KEY (user_id, other_user_id));
INSERT INTO conversations VALUES (1, 2), (2, 1), (1, 3);
SELECT denorm.create_counter('conv_sent', 'conversations', 'total', 'messages', '{sender_id,recipient_id}');
SELECT denorm.create_counter('conv_received', 'conversations', 'total', 'messages', '{recipient_id,sender_id}');
INSERT INTO messages VALUES (1, 1, 2), (2, 2, 1), (3, 1, 2);
UPDATE conversations SET total = 0;
SELECT * FROM denorm.reconcile('conv_received');
SELECT * FROM conversations ORDER BY 1, 2;
SELECT * FROM denorm.reconcile('conv_sent', fix => false);

-- Bad input.
\set VERBOSITY sqlstate
SELECT * FROM denorm.reconcile('no_such_counter');
SELECT * FROM denorm.reconcile(batch_size => 0);
SELECT * FROM denorm.reconcile(fix => NULL);
-- Only the target's owner may reconcile a counter.
CREATE ROLE denorm_auditor;
GRANT USAGE ON SCHEMA rec TO denorm_auditor;
SET ROLE denorm_auditor;
SELECT * FROM denorm.reconcile('user_posts');
SELECT count(*) FROM denorm.reconcile();   -- covers only what the caller owns: nothing
INSERT INTO denorm.reconcile_log VALUES (0, 'forged', now(), now(), 0, 0, 0, 0);
RESET ROLE;
\set VERBOSITY default
DROP OWNED BY denorm_auditor;
DROP ROLE denorm_auditor;
