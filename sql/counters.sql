-- Counters: count and sum kept exact by the source's statement triggers.
-- The seeds' user_dashboard_stats: project_count, active_projects (soft-delete
-- filter), total_proof_score (sum), with touch and create_missing.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA app;
SET search_path = app, public;

CREATE TABLE users (id int PRIMARY KEY);
CREATE TABLE projects (id int PRIMARY KEY, user_id int, deleted_at timestamptz, proof_score int, title text);
CREATE TABLE user_dashboard_stats (
    user_id int PRIMARY KEY,
    project_count int NOT NULL DEFAULT 0,
    active_projects int NOT NULL DEFAULT 0,
    total_proof_score bigint NOT NULL DEFAULT 0,
    updated_at timestamptz);
INSERT INTO users SELECT generate_series(1, 4);
INSERT INTO user_dashboard_stats (user_id) VALUES (1), (2), (3);
INSERT INTO projects VALUES (1, 1, NULL, 5, 'a'), (2, 1, now(), 7, 'b'), (3, 2, NULL, 1, 'c'), (4, NULL, NULL, 9, 'no owner');

-- The recount every counter must equal: its aggregate over the current source rows.
CREATE VIEW expected AS
SELECT s.user_id,
       (SELECT count(*) FROM projects p WHERE p.user_id = s.user_id)::int AS project_count,
       (SELECT count(*) FROM projects p WHERE p.user_id = s.user_id AND p.deleted_at IS NULL)::int AS active_projects,
       (SELECT coalesce(sum(proof_score), 0) FROM projects p WHERE p.user_id = s.user_id)::bigint AS total_proof_score
  FROM user_dashboard_stats s;
CREATE VIEW drift AS
(SELECT user_id, project_count, active_projects, total_proof_score FROM user_dashboard_stats EXCEPT ALL SELECT * FROM expected)
UNION ALL
(SELECT * FROM expected EXCEPT ALL SELECT user_id, project_count, active_projects, total_proof_score FROM user_dashboard_stats);

-- Creating a counter backfills it from the existing rows.
SELECT denorm.create_counter('project_count', 'user_dashboard_stats', 'project_count', 'projects', '{user_id}');
SELECT denorm.create_counter('active_projects', 'user_dashboard_stats', 'active_projects', 'projects', '{user_id}',
                             filter => 'deleted_at IS NULL', touch => 'updated_at');
SELECT denorm.create_counter('total_proof_score', 'user_dashboard_stats', 'total_proof_score', 'projects', '{user_id}',
                             aggregate => 'sum', value => 'proof_score');
SELECT user_id, project_count, active_projects, total_proof_score FROM user_dashboard_stats ORDER BY 1;
SELECT name, kind, target, target_columns, source, source_key, target_key, value, filter, create_missing, deferred, suspended
  FROM denorm.counters ORDER BY name;

-- Inserts, a key move, a filter flip, a value change, an unrelated update, a delete.
INSERT INTO projects VALUES (5, 3, NULL, 2, 'd'), (6, 3, NULL, 3, 'e');
UPDATE projects SET user_id = 2 WHERE id = 1;
UPDATE projects SET deleted_at = now() WHERE id = 3;
UPDATE projects SET proof_score = 10 WHERE id = 5;
UPDATE projects SET title = 'renamed';
DELETE FROM projects WHERE id = 6;
SELECT user_id, project_count, active_projects, total_proof_score FROM user_dashboard_stats ORDER BY 1;
SELECT count(*) AS drift FROM drift;

-- touch is set when its counter changes, and only then.
UPDATE user_dashboard_stats SET updated_at = NULL;
UPDATE projects SET deleted_at = NULL WHERE id = 2;          -- active_projects of user 1 changes
UPDATE projects SET proof_score = proof_score + 1 WHERE id = 3;  -- only the sum of user 2 changes
SELECT user_id, updated_at IS NOT NULL AS touched FROM user_dashboard_stats ORDER BY 1;

-- A key with no target row changes nothing (create_missing is false) ...
INSERT INTO projects VALUES (7, 4, NULL, 1, 'f');
SELECT count(*) FROM user_dashboard_stats WHERE user_id = 4;
-- ... and a target row inserted later starts at the right value, not the default.
INSERT INTO user_dashboard_stats (user_id, project_count) VALUES (4, 999);
SELECT user_id, project_count, active_projects, total_proof_score FROM user_dashboard_stats WHERE user_id = 4;
SELECT count(*) AS drift FROM drift;

-- Multi-row statements, COPY, ON CONFLICT and MERGE.
INSERT INTO projects SELECT g, 1 + g % 3, NULL, g, 'bulk' FROM generate_series(100, 199) g;
COPY projects FROM stdin;
200	2	\N	4	copied
201	4	2020-01-01	5	copied
\.
INSERT INTO projects VALUES (200, 3, NULL, 6, 'upsert'), (202, 1, NULL, 1, 'new')
    ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, proof_score = EXCLUDED.proof_score;
MERGE INTO projects p USING (VALUES (201, 1), (203, 2), (100, NULL)) AS v(id, uid) ON p.id = v.id
    WHEN MATCHED AND v.uid IS NULL THEN DELETE
    WHEN MATCHED THEN UPDATE SET user_id = v.uid
    WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.uid, NULL, 3, 'merged');
SELECT user_id, project_count, active_projects, total_proof_score FROM user_dashboard_stats ORDER BY 1;
SELECT count(*) AS drift FROM drift;

-- Rolled-back transactions and savepoints leave no trace.
BEGIN;
INSERT INTO projects VALUES (300, 1, NULL, 100, 'x');
SAVEPOINT s1;
DELETE FROM projects WHERE user_id = 2;
UPDATE projects SET user_id = 3 WHERE user_id = 1;
ROLLBACK TO SAVEPOINT s1;
UPDATE projects SET proof_score = proof_score + 1 WHERE id = 300;
COMMIT;
BEGIN;
DELETE FROM projects;
ROLLBACK;
SELECT user_id, project_count, active_projects, total_proof_score FROM user_dashboard_stats ORDER BY 1;
SELECT count(*) AS drift FROM drift;

-- TRUNCATE fires no row trigger: the counters are recomputed.
TRUNCATE projects;
SELECT user_id, project_count, active_projects, total_proof_score FROM user_dashboard_stats ORDER BY 1;
INSERT INTO projects VALUES (1, 1, NULL, 5, 'again');
SELECT count(*) AS drift FROM drift;

-- The writer needs no right on the target: updates run as the target's owner.
CREATE ROLE denorm_writer;
GRANT USAGE ON SCHEMA app TO denorm_writer;
GRANT INSERT, UPDATE, DELETE, SELECT ON projects TO denorm_writer;
SET ROLE denorm_writer;
INSERT INTO projects VALUES (2, 2, NULL, 3, 'by writer');
DELETE FROM projects WHERE id = 1;
SELECT * FROM user_dashboard_stats;  -- the writer cannot read it
RESET ROLE;
SELECT user_id, project_count, active_projects, total_proof_score FROM user_dashboard_stats ORDER BY 1;
SELECT count(*) AS drift FROM drift;

-- Trigger code does not depend on search_path (pg_restore runs with an empty one).
SET search_path = '';
INSERT INTO app.projects VALUES (3, 3, NULL, 1, 'no path');
RESET search_path;
SET search_path = app, public;
SELECT count(*) AS drift FROM drift;

-- backfill => false leaves existing values; drop_counter stops maintenance and
-- removes the triggers with the last definition.
CREATE TABLE tags (id int PRIMARY KEY, project_id int);
ALTER TABLE projects ADD COLUMN tag_count int NOT NULL DEFAULT 0;
INSERT INTO tags VALUES (1, 2);
SELECT denorm.create_counter('tag_count', 'projects', 'tag_count', 'tags', '{project_id}', backfill => false);
SELECT id, tag_count FROM projects ORDER BY id;
INSERT INTO tags VALUES (2, 2);
SELECT id, tag_count FROM projects ORDER BY id;
SELECT denorm.drop_counter('tag_count');
INSERT INTO tags VALUES (3, 2);
SELECT id, tag_count FROM projects ORDER BY id;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'tags'::regclass;
SELECT denorm.drop_counter('tag_count', if_exists => true);
SELECT name FROM denorm.counters ORDER BY 1;

-- One statement updating two plain sources (a data-modifying CTE): each source's UPDATE
-- row trigger keeps its own expression states in the statement's batch; an UPDATE of a
-- column no definition reads passes the WHEN clause of neither.
CREATE TABLE shelf (id int PRIMARY KEY, books int NOT NULL DEFAULT 0, toys int NOT NULL DEFAULT 0);
CREATE TABLE book (id int PRIMARY KEY, shelf_id int, title text);
CREATE TABLE toy (id int PRIMARY KEY, shelf_id int, color text);
INSERT INTO shelf VALUES (1), (2);
INSERT INTO book VALUES (1, 1, 'a'), (2, 1, 'b');
INSERT INTO toy VALUES (1, 1, 'red'), (2, 2, 'blue');
SELECT denorm.create_counter('shelf_books', 'shelf', 'books', 'book', '{shelf_id}');
SELECT denorm.create_counter('shelf_toys', 'shelf', 'toys', 'toy', '{shelf_id}');
SELECT tgname, pg_get_triggerdef(oid) LIKE '%FOR EACH ROW WHEN ((old.shelf_id IS DISTINCT FROM new.shelf_id))%' AS row_trigger_when_key_changes
  FROM pg_trigger WHERE tgrelid = 'book'::regclass AND tgname = 'denorm_counter_update';
WITH b AS (UPDATE book SET shelf_id = 2 WHERE id = 1 RETURNING 1),
     t AS (UPDATE toy SET shelf_id = 1 WHERE id = 2 RETURNING 1)
UPDATE book SET title = upper(title) WHERE id = 2;
SELECT id, books, toys FROM shelf ORDER BY id;
SELECT count(*) FROM denorm.reconcile('shelf_books', fix => false);
SELECT count(*) FROM denorm.reconcile('shelf_toys', fix => false);
DROP TABLE book, toy, shelf;

DROP OWNED BY denorm_writer;
DROP ROLE denorm_writer;
