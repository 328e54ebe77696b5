-- demo.sql — the counter API (README "Counters") on the user_dashboard_stats example.
-- Run by scripts/demo.sh with psql --echo-queries, so every statement is printed
-- before its result.
\set VERBOSITY terse

\echo
\echo '== 1. The extension (it requires pg_trgm, hence CASCADE)'
CREATE EXTENSION denorm CASCADE;

\echo
\echo '== 2. Tables: users, their projects, and a per-user stats row that nobody writes by hand'
CREATE TABLE users (
    id   bigint PRIMARY KEY,
    name text NOT NULL
);
CREATE TABLE projects (
    id          bigint PRIMARY KEY,
    user_id     bigint REFERENCES users,
    deleted_at  timestamptz,
    proof_score int NOT NULL DEFAULT 0
);
CREATE TABLE user_dashboard_stats (
    user_id           bigint PRIMARY KEY,
    project_count     int    NOT NULL DEFAULT 0,
    active_projects   int    NOT NULL DEFAULT 0,
    total_proof_score bigint NOT NULL DEFAULT 0,
    updated_at        timestamptz
);
INSERT INTO users VALUES (1, 'ada'), (2, 'grace');

\echo
\echo '== 3. Three counters, kept exact inside every writing transaction'
\echo '   create_missing: the stats row is inserted on first use; touch: updated_at = now() on change'
SELECT denorm.create_counter(
    name           => 'project_count',
    target         => 'user_dashboard_stats',
    target_column  => 'project_count',
    source         => 'projects',
    source_key     => '{user_id}',
    create_missing => true,
    touch          => 'updated_at');

SELECT denorm.create_counter(
    name           => 'active_projects',
    target         => 'user_dashboard_stats',
    target_column  => 'active_projects',
    source         => 'projects',
    source_key     => '{user_id}',
    filter         => 'deleted_at IS NULL',
    create_missing => true,
    touch          => 'updated_at');

SELECT denorm.create_counter(
    name           => 'total_proof_score',
    target         => 'user_dashboard_stats',
    target_column  => 'total_proof_score',
    source         => 'projects',
    source_key     => '{user_id}',
    aggregate      => 'sum',
    value          => 'proof_score',
    create_missing => true,
    touch          => 'updated_at');

\echo
\echo '== 4. Insert projects: the stats rows appear by themselves'
INSERT INTO projects (id, user_id, proof_score) VALUES
    (1, 1, 10), (2, 1, 20), (3, 1, 5),
    (4, 2, 7);
SELECT user_id, project_count, active_projects, total_proof_score, updated_at IS NOT NULL AS touched
FROM user_dashboard_stats ORDER BY user_id;

\echo
\echo '== 5. Soft-delete project 2: still counted in project_count, no longer active'
UPDATE projects SET deleted_at = now() WHERE id = 2;
SELECT user_id, project_count, active_projects, total_proof_score
FROM user_dashboard_stats ORDER BY user_id;

\echo
\echo '== 6. Move project 3 from user 1 to user 2: both rows change in the same transaction'
UPDATE projects SET user_id = 2 WHERE id = 3;
SELECT user_id, project_count, active_projects, total_proof_score
FROM user_dashboard_stats ORDER BY user_id;

\echo
\echo '== 7. A rolled-back delete leaves the counters as they were'
BEGIN;
DELETE FROM projects WHERE id = 4;
SELECT user_id, project_count, active_projects, total_proof_score
FROM user_dashboard_stats ORDER BY user_id;
ROLLBACK;
SELECT user_id, project_count, active_projects, total_proof_score
FROM user_dashboard_stats ORDER BY user_id;

\echo
\echo '== 8. The counters agree with a full recount (no rows = no drift)'
SELECT user_id, s.project_count, s.active_projects, s.total_proof_score,
       r.project_count AS recount, r.active_projects AS recount_active, r.total_proof_score AS recount_sum
FROM user_dashboard_stats s
FULL JOIN (SELECT user_id,
                  count(*)::int                                  AS project_count,
                  (count(*) FILTER (WHERE deleted_at IS NULL))::int AS active_projects,
                  coalesce(sum(proof_score), 0)::bigint          AS total_proof_score
           FROM projects WHERE user_id IS NOT NULL GROUP BY user_id) r USING (user_id)
WHERE (s.project_count, s.active_projects, s.total_proof_score)
      IS DISTINCT FROM (r.project_count, r.active_projects, r.total_proof_score);

\echo
\echo '== 9. The definitions'
\x on
SELECT * FROM denorm.counters ORDER BY name;
\x off

\echo
\echo '== 10. Drift: a bulk load with triggers off (as pg_restore --disable-triggers does) and a hand edit'
SET session_replication_role = replica;
INSERT INTO projects (id, user_id, proof_score) VALUES (5, 1, 50), (6, 2, 60);
RESET session_replication_role;
UPDATE user_dashboard_stats SET project_count = 100 WHERE user_id = 2;

\echo
\echo '== 11. reconcile(fix => false) reports it; health() flags what was never reconciled'
SELECT * FROM denorm.reconcile(fix => false);
SELECT * FROM denorm.health();

\echo
\echo '== 12. reconcile() fixes it (safe while writers run) and keeps an audit trail'
SELECT * FROM denorm.reconcile();
SELECT counter, rows_checked, mismatches, fixed FROM denorm.reconcile_log ORDER BY run_id, counter;
SELECT * FROM denorm.reconcile(fix => false);

\echo
\echo '== 13. advise(): what to index or repair'
SELECT * FROM denorm.advise();

\echo
\echo '== 14. A materialized view refreshed in the background, debounced'
CREATE TABLE upvotes (id bigserial PRIMARY KEY, project_id bigint NOT NULL);
CREATE MATERIALIZED VIEW project_feed AS
    SELECT p.id, p.proof_score + count(u.id) AS trending
      FROM projects p LEFT JOIN upvotes u ON u.project_id = p.id
     WHERE p.deleted_at IS NULL GROUP BY p.id;
CREATE UNIQUE INDEX ON project_feed (id);
SELECT denorm.register_mv('project_feed', debounce => '1 second', max_delay => '5 seconds');
INSERT INTO upvotes (project_id) VALUES (1);
INSERT INTO upvotes (project_id) VALUES (1);
INSERT INTO upvotes (project_id) VALUES (4);
\echo '   three commits: one pending batch, not refreshed yet'
SELECT mv, pending, requests_pending FROM denorm.mv_status;
SELECT pg_sleep(2.5);
\echo '   a quiet second later the worker refreshed it once, CONCURRENTLY'
SELECT * FROM project_feed ORDER BY trending DESC;
SELECT mv, requests_coalesced, "concurrently", status, round(duration_ms::numeric, 1) AS ms FROM denorm.refresh_log;
SELECT mv, pending, last_status FROM denorm.mv_status;
