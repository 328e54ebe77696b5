-- Registered materialized views: the API, change capture and every refused input.
-- The worker runs in this cluster, so views here use a one-hour debounce: nothing
-- falls due by itself and every refresh below is one this file asks for.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA mvs;
SET search_path = mvs, public;

CREATE TABLE projects (id int PRIMARY KEY, title text, score int NOT NULL DEFAULT 0);
CREATE TABLE upvotes (id serial PRIMARY KEY, project_id int);
CREATE VIEW votes_per_project AS SELECT project_id, count(*) AS votes FROM upvotes GROUP BY project_id;
CREATE MATERIALIZED VIEW feed AS
    SELECT p.id, p.title, p.score + coalesce(v.votes, 0) AS trending
      FROM projects p LEFT JOIN votes_per_project v ON v.project_id = p.id;
CREATE UNIQUE INDEX ON feed (id);
CREATE MATERIALIZED VIEW leaders AS SELECT id FROM feed ORDER BY trending DESC LIMIT 3;
INSERT INTO projects SELECT g, 'project ' || g, g FROM generate_series(1, 5) g;

-- Sources are found through plain views (upvotes via votes_per_project); a view that
-- reads another materialized view depends on it.
SELECT denorm.register_mv('feed', debounce => '1 hour', max_delay => '1 hour');
SELECT denorm.register_mv('leaders', debounce => '1 hour', max_delay => '2 hours');   -- WARNING: no unique index
SELECT mv, debounce, max_delay, "concurrently", depends_on, pending, requests_pending, last_status, consecutive_failures
  FROM denorm.mv_status ORDER BY mv::text;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname = 'denorm_mv_capture' ORDER BY 1;

-- One request per transaction and view, however many statements; none on rollback.
BEGIN;
INSERT INTO upvotes (project_id) VALUES (1), (1);
UPDATE projects SET score = score + 10 WHERE id = 2;
COMMIT;
BEGIN;
DELETE FROM upvotes;
ROLLBACK;
SELECT mv, pending, requests_pending FROM denorm.mv_status ORDER BY mv::text;
-- Not due for an hour: run_pending does nothing.
SELECT denorm.run_pending();

-- refresh_now refreshes at once, returns the row count, logs it, claims the requests,
-- and counts as a change of the views that read it.
SELECT denorm.refresh_now('feed');
SELECT * FROM feed ORDER BY id;
SELECT mv, requests_coalesced, "concurrently", row_count, status, error FROM denorm.refresh_log ORDER BY id;
SELECT mv, pending, requests_pending, last_status FROM denorm.mv_status ORDER BY mv::text;
SELECT denorm.refresh_now('leaders');
SELECT * FROM leaders ORDER BY id;

-- request_refresh: as if a source had changed.
SELECT denorm.request_refresh('feed');
SELECT mv, requests_pending FROM denorm.mv_status WHERE mv = 'feed'::regclass;

-- A failing refresh: logged with its error, the view keeps its contents, backoff starts.
CREATE TABLE divisors (d int);
INSERT INTO divisors VALUES (1);
CREATE MATERIALIZED VIEW ratios AS SELECT 10 / d AS r FROM divisors;
SELECT denorm.register_mv('ratios', debounce => '1 hour', max_delay => '1 hour', concurrently => false);
UPDATE divisors SET d = 0;
SELECT denorm.refresh_now('ratios');
SELECT * FROM ratios;
SELECT status, error, requests_coalesced FROM denorm.refresh_log WHERE mv = 'ratios'::regclass;
SELECT last_status, consecutive_failures, next_attempt_at > now() AS backing_off, pending
  FROM denorm.mv_status WHERE mv = 'ratios'::regclass;
UPDATE divisors SET d = 2;
SELECT denorm.refresh_now('ratios');
SELECT last_status, consecutive_failures, next_attempt_at, pending FROM denorm.mv_status WHERE mv = 'ratios'::regclass;

-- Bad input.
\set VERBOSITY sqlstate
SELECT denorm.register_mv('projects');                                        -- a table
SELECT denorm.register_mv('votes_per_project');                               -- a plain view
SELECT denorm.register_mv('feed');                                            -- already registered
CREATE MATERIALIZED VIEW extra AS SELECT 1 AS one;
SELECT denorm.register_mv('extra', debounce => '-1 second');
SELECT denorm.register_mv('extra', debounce => '10 seconds', max_delay => '5 seconds');
SELECT denorm.register_mv('extra', concurrently => true);                     -- no unique index
SELECT denorm.request_refresh('extra');                                       -- not registered
SELECT denorm.refresh_now('extra');
SELECT denorm.unregister_mv('extra');
SELECT denorm.register_mv('no_such_view');
CREATE ROLE denorm_viewer;
GRANT USAGE ON SCHEMA mvs TO denorm_viewer;
SET ROLE denorm_viewer;
SELECT denorm.register_mv('extra');
SELECT denorm.refresh_now('feed');
SELECT denorm.run_pending();
RESET ROLE;
\set VERBOSITY default
SELECT count(*) AS registered FROM denorm.mv_status;

-- Unregistering drops the capture triggers no view needs any more; dropping a
-- registered view unregisters it.
SELECT denorm.unregister_mv('extra', if_exists => true);
SELECT denorm.unregister_mv('leaders');
DROP MATERIALIZED VIEW ratios;
SELECT mv FROM denorm.mv_status ORDER BY mv::text;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname = 'denorm_mv_capture' ORDER BY 1;
DROP OWNED BY denorm_viewer;
DROP ROLE denorm_viewer;
