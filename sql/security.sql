-- Least privilege (README "Security"): what each kind of role may do through denorm,
-- what it sees, and attacks that must fail. Roles: the owner of the tables, a writer
-- with rights on the source only, a reader with SELECT on the target only, a role with
-- nothing, a member of pg_monitor, and an attacker with CREATE on the database.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
CREATE ROLE regress_sec_owner;
CREATE ROLE regress_sec_writer;
CREATE ROLE regress_sec_reader;
CREATE ROLE regress_sec_nobody;
CREATE ROLE regress_sec_monitor IN ROLE pg_monitor;
CREATE ROLE regress_sec_mallory;
RESET client_min_messages;
CREATE SCHEMA sec AUTHORIZATION regress_sec_owner;
GRANT USAGE ON SCHEMA sec TO PUBLIC;
SELECT pg_catalog.format('GRANT CREATE ON DATABASE %I TO regress_sec_mallory, regress_sec_writer', current_database()) \gexec
GRANT CREATE ON SCHEMA public TO regress_sec_mallory;

-- Which roles are superusers, before and (at the end) after everything below.
CREATE TABLE sec_roles_before AS SELECT rolname FROM pg_roles WHERE rolsuper;

SET ROLE regress_sec_owner;
SET search_path = sec;
CREATE TABLE projects (id int PRIMARY KEY, votes bigint NOT NULL DEFAULT 0, amount numeric NOT NULL DEFAULT 0);
CREATE TABLE votes (id serial PRIMARY KEY, project_id int, amount numeric NOT NULL DEFAULT 1);
INSERT INTO projects (id) VALUES (1), (2);
SELECT denorm.create_counter('sec_votes', 'projects', 'votes', 'votes', '{project_id}');
SELECT denorm.create_counter('sec_amount', 'projects', 'amount', 'votes', '{project_id}', aggregate => 'sum',
                             value => 'amount', deferred => true);
CREATE MATERIALIZED VIEW project_totals AS SELECT id, votes FROM projects;
CREATE UNIQUE INDEX ON project_totals (id);
SELECT denorm.register_mv('project_totals', debounce => '1 hour', max_delay => '1 hour');
GRANT SELECT, INSERT, UPDATE, DELETE ON votes TO regress_sec_writer;
GRANT USAGE ON SEQUENCE votes_id_seq TO regress_sec_writer;
GRANT SELECT ON projects, project_totals TO regress_sec_reader;
RESET ROLE;

-- A writer with rights on the source only: its writes are counted (the target is
-- written as its owner, as foreign-key checks do) ...
SET ROLE regress_sec_writer;
INSERT INTO sec.votes (project_id, amount) VALUES (1, 10), (1, 20), (2, 5);
UPDATE sec.votes SET project_id = 2 WHERE amount = 20;
DELETE FROM sec.votes WHERE amount = 5;
-- ... but it reads nothing of the target through denorm.
\set VERBOSITY sqlstate
SELECT * FROM sec.projects;
SELECT denorm.counter_value('sec_amount', '1');
SELECT * FROM denorm.reconcile('sec_votes');
\set VERBOSITY default
SELECT denorm.counter_value('sec_votes', '2');
SELECT count(*) AS pending_deltas_seen FROM denorm._pending_deltas;
SELECT component, status FROM denorm.health() WHERE component IN ('privileges', 'counter sec_votes');
SELECT mv FROM denorm.mv_status WHERE mv = 'sec.project_totals'::regclass;
RESET ROLE;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT * FROM sec.projects ORDER BY id;

-- A reader with SELECT on the target: the exact values, the status of the view it may
-- read, no right to change anything.
SET ROLE regress_sec_reader;
SELECT denorm.counter_value('sec_votes', '2') AS votes, denorm.counter_value('sec_amount', '2') AS amount;
SELECT mv, pending FROM denorm.mv_status WHERE mv = 'sec.project_totals'::regclass;
SELECT component, status FROM denorm.health() WHERE component IN ('privileges', 'counter sec_votes', 'counter sec_amount')
 ORDER BY component;
\set VERBOSITY sqlstate
SELECT * FROM denorm.reconcile('sec_votes');
SELECT denorm.refresh_now('sec.project_totals');
\set VERBOSITY default
RESET ROLE;

-- Audit trail and logs: rows about a table only for those who may read it. The owner
-- drifts a counter and reconciles; the refresh is logged.
SET ROLE regress_sec_owner;
UPDATE sec.projects SET votes = 99 WHERE id = 1;
SELECT counter, key, stored, expected, fixed FROM denorm.reconcile('sec_votes');
SELECT denorm.refresh_now('sec.project_totals');
RESET ROLE;
CREATE VIEW sec.rows_seen WITH (security_invoker) AS
SELECT (SELECT count(*) FROM denorm.reconcile_mismatches WHERE counter = 'sec_votes') AS mismatches,
       (SELECT count(*) FROM denorm.reconcile_log WHERE counter = 'sec_votes') AS reconcile_runs,
       (SELECT count(*) FROM denorm.refresh_log WHERE mv = 'sec.project_totals'::regclass) AS refreshes,
       (SELECT count(*) FROM denorm.mv_status WHERE mv = 'sec.project_totals'::regclass) AS views,
       (SELECT count(*) FROM denorm._mv_registry WHERE mv = 'sec.project_totals'::regclass) AS registry;
GRANT SELECT ON sec.rows_seen TO PUBLIC;
SET ROLE regress_sec_owner;
SELECT 'owner' AS role, * FROM sec.rows_seen;
SET ROLE regress_sec_reader;
SELECT 'reader' AS role, * FROM sec.rows_seen;
SET ROLE regress_sec_monitor;
SELECT 'pg_monitor' AS role, * FROM sec.rows_seen;
SET ROLE regress_sec_writer;
SELECT 'writer' AS role, * FROM sec.rows_seen;
SET ROLE regress_sec_nobody;
SELECT 'nobody' AS role, * FROM sec.rows_seen;
RESET ROLE;
-- health() and advise() work for every role, reporting only what it may read.
SET ROLE regress_sec_nobody;
SELECT component, status FROM denorm.health() WHERE component IN ('shared_preload_libraries', 'privileges', 'counter sec_votes');
SELECT count(*) AS advice_seen FROM denorm.advise() WHERE object LIKE 'sec.%';
RESET ROLE;
SET ROLE regress_sec_monitor;
SELECT component, status FROM denorm.health() WHERE component IN ('privileges', 'counter sec_votes', 'counter sec_amount')
 ORDER BY component;
RESET ROLE;

-- Roles that do not own the tables may not define, drop, suspend, resume, reconcile,
-- register, unregister or refresh anything on them (42501).
SET ROLE regress_sec_writer;
\set VERBOSITY sqlstate
SELECT denorm.create_counter('sec_steal', 'sec.projects', 'votes', 'sec.votes', '{project_id}');
SELECT denorm.drop_counter('sec_votes');
SELECT denorm.suspend('sec.votes');
SELECT denorm.resume('sec.votes');
SELECT denorm.register_mv('sec.project_totals');
SELECT denorm.unregister_mv('sec.project_totals');
SELECT denorm.request_refresh('sec.project_totals');
SELECT denorm.refresh_now('sec.project_totals');
SELECT denorm.run_pending();
\set VERBOSITY default
RESET ROLE;
SELECT name FROM denorm.counters WHERE name LIKE 'sec\_%' ORDER BY name;

-- An expression may only call functions its creator may execute.
CREATE FUNCTION sec.private_check(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 > 0';
REVOKE EXECUTE ON FUNCTION sec.private_check(int) FROM PUBLIC;
SET ROLE regress_sec_owner;
SELECT denorm.create_counter('sec_private', 'sec.projects', 'votes', 'sec.votes', '{project_id}',
                             filter => 'sec.private_check(project_id)');
RESET ROLE;

-- SET ROLE between writes in one transaction: each write is checked against the role
-- that makes it, and every committed write is counted.
BEGIN;
SET LOCAL ROLE regress_sec_writer;
INSERT INTO sec.votes (project_id) VALUES (1);
SET LOCAL ROLE regress_sec_reader;
SAVEPOINT s;
\set VERBOSITY sqlstate
INSERT INTO sec.votes (project_id) VALUES (1);
\set VERBOSITY default
ROLLBACK TO s;
SET LOCAL ROLE regress_sec_writer;
INSERT INTO sec.votes (project_id) VALUES (2);
COMMIT;
SELECT count(*) FROM denorm.reconcile('sec_votes', fix => false);

-- Attack A: a role with CREATE on public owns a deferred counter whose target has a
-- trigger that makes it superuser when it runs as one. The fold (run_pending, as the
-- worker would, and drop_counter) runs as the target's owner: the trigger runs as
-- regress_sec_mallory.
SET ROLE regress_sec_mallory;
CREATE TABLE public.m_tgt (k int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
CREATE TABLE public.m_src (k int);
CREATE TABLE public.m_log (who name, su boolean);
CREATE FUNCTION public.m_escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.m_log SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE regress_sec_mallory SUPERUSER;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER m_escalate BEFORE UPDATE ON public.m_tgt FOR EACH ROW EXECUTE FUNCTION public.m_escalate();
INSERT INTO public.m_tgt VALUES (42);
SELECT denorm.create_counter('m_cnt', 'public.m_tgt', 'n', 'public.m_src', '{k}', deferred => true);
INSERT INTO public.m_src VALUES (42);
RESET ROLE;
SELECT denorm.run_pending() >= 0 AS folded;
SET ROLE regress_sec_mallory;
BEGIN;
INSERT INTO public.m_src VALUES (42);
SELECT denorm.drop_counter('m_cnt');
COMMIT;
RESET ROLE;
SELECT who, su, count(*) FROM public.m_log GROUP BY who, su;
SELECT * FROM public.m_tgt;

-- Attack B: a writer with rights on a source only puts its own schema first in
-- search_path, with operators and functions that make it superuser when they run as
-- one. No statement denorm runs for it (or for the owner, or the worker) resolves a
-- name through that schema: the functions are never called.
SET ROLE regress_sec_owner;
CREATE TABLE sec.boards (k varchar(10) PRIMARY KEY, posts bigint NOT NULL DEFAULT 0, likes numeric NOT NULL DEFAULT 0,
                         best int, last_title text, last_at int, seen_at timestamptz);
CREATE TABLE sec.posts (id int PRIMARY KEY, k varchar(10), likes int NOT NULL DEFAULT 0, title text, at int);
SELECT denorm.create_counter('sec_board_posts', 'sec.boards', 'posts', 'sec.posts', '{k}', create_missing => true,
                             touch => 'seen_at');
SELECT denorm.create_counter('sec_board_likes', 'sec.boards', 'likes', 'sec.posts', '{k}', aggregate => 'sum',
                             value => 'likes', filter => 'likes > 0', deferred => true);
SELECT denorm.create_counter('sec_board_best', 'sec.boards', 'best', 'sec.posts', '{k}', aggregate => 'max', value => 'likes');
SELECT denorm.create_latest('sec_board_last', 'sec.boards', '{last_title,last_at}', 'sec.posts', '{k}',
                            '{title,at}', '{at,id}');
CREATE MATERIALIZED VIEW sec.board_view AS SELECT k, posts FROM sec.boards;
CREATE UNIQUE INDEX ON sec.board_view (k);
SELECT denorm.register_mv('sec.board_view', debounce => '1 hour', max_delay => '1 hour');
GRANT INSERT, UPDATE, DELETE, SELECT ON sec.posts TO regress_sec_writer;
RESET ROLE;
GRANT CREATE ON SCHEMA public TO regress_sec_writer;
SET ROLE regress_sec_writer;
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE TABLE evil.calls (who name, what text);
GRANT INSERT ON evil.calls TO PUBLIC;
CREATE FUNCTION evil.trap(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.calls VALUES (current_user, what);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE regress_sec_writer SUPERUSER;
    END IF;
    RETURN true;
END $$;
CREATE FUNCTION evil.eq(varchar, varchar) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.trap('=') AND $1::text OPERATOR(pg_catalog.=) $2::text $$;
CREATE OPERATOR evil.= (FUNCTION = evil.eq, LEFTARG = varchar, RIGHTARG = varchar);
CREATE FUNCTION evil.eq(int, int) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.trap('=') AND $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR evil.= (FUNCTION = evil.eq, LEFTARG = int, RIGHTARG = int);
CREATE FUNCTION evil.gt(int, int) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.trap('>') AND $1 OPERATOR(pg_catalog.>) $2 $$;
CREATE OPERATOR evil.> (FUNCTION = evil.gt, LEFTARG = int, RIGHTARG = int);
CREATE FUNCTION evil.plus(bigint, bigint) RETURNS bigint LANGUAGE sql AS $$ SELECT CASE WHEN evil.trap('+') THEN $1 OPERATOR(pg_catalog.+) $2 END $$;
CREATE OPERATOR evil.+ (FUNCTION = evil.plus, LEFTARG = bigint, RIGHTARG = bigint);
CREATE FUNCTION evil.count(varchar) RETURNS bigint LANGUAGE sql AS $$ SELECT CASE WHEN evil.trap('count') THEN 1::bigint END $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT CASE WHEN evil.trap('now') THEN pg_catalog.now() END $$;
-- The same operators in public (for roles whose search_path has public before pg_catalog).
CREATE OPERATOR public.= (FUNCTION = evil.eq, LEFTARG = varchar, RIGHTARG = varchar);
SET search_path = evil, pg_catalog, public;
-- Every write kind (the varchar key: a new board row, an existing one, a key moved) ...
INSERT INTO sec.posts VALUES (1, 'a', 3, 'first', 1), (2, 'a', 0, 'second', 2), (3, 'b', 1, 'third', 3);
UPDATE sec.posts SET likes = 4;
UPDATE sec.posts SET k = 'c' WHERE id OPERATOR(pg_catalog.=) 3;
DELETE FROM sec.posts WHERE id OPERATOR(pg_catalog.=) 2;
INSERT INTO sec.posts VALUES (4, 'a', 2, 'fourth', 4) ON CONFLICT (id) DO UPDATE SET likes = 9;
-- ... with the default search_path (public.= is then the best match for varchar = varchar)
-- and with operators of pg_temp first (which PostgreSQL never searches for operators).
RESET search_path;
INSERT INTO sec.posts VALUES (5, 'a', 1, 'fifth', 5);
CREATE FUNCTION pg_temp.eq(varchar, varchar) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.trap('pg_temp.=') $$;
CREATE OPERATOR pg_temp.= (FUNCTION = pg_temp.eq, LEFTARG = varchar, RIGHTARG = varchar);
SET search_path = pg_temp, pg_catalog, public;
INSERT INTO sec.posts VALUES (6, 'b', 1, 'sixth', 6);
RESET ROLE;
-- ... and every path that runs as someone else, each under the same search_path:
-- a new target row (its initialiser), reconcile, suspend/resume, a column rename,
-- TRUNCATE's recount, a backfill, the fold, a refresh, counter_value, health and advise.
SET search_path = evil, pg_catalog, public;
SET ROLE regress_sec_owner;
INSERT INTO sec.boards (k) VALUES ('z');
SELECT count(*) FROM denorm.reconcile();
SELECT denorm.suspend('sec.posts');
SELECT denorm.resume('sec.posts');
SELECT denorm.counter_value('sec_board_likes', 'a');
SELECT count(*) >= 0 FROM denorm.health();
SELECT count(*) >= 0 FROM denorm.advise();
SELECT denorm.refresh_now('sec.board_view');
ALTER TABLE sec.posts RENAME COLUMN title TO heading;
SELECT denorm.drop_counter('sec_board_best');
SELECT denorm.create_counter('sec_board_best', 'sec.boards', 'best', 'sec.posts', '{k}', aggregate => 'max', value => 'likes');
RESET ROLE;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT k, posts, likes, best, last_title, last_at FROM sec.boards ORDER BY k;
SELECT count(*) AS mismatches FROM denorm.reconcile(fix => false) WHERE counter LIKE 'sec\_%';
SET ROLE regress_sec_owner;
TRUNCATE sec.posts;
RESET ROLE;
RESET search_path;
SELECT who, what, count(*) FROM evil.calls GROUP BY who, what ORDER BY who, what;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT k, posts, likes, best, last_title, last_at FROM sec.boards ORDER BY k;
SELECT count(*) AS mismatches FROM denorm.reconcile(fix => false) WHERE counter LIKE 'sec\_%';

-- A refresh runs the view's functions as the view's owner, whoever asks for it.
CREATE FUNCTION sec.who_refreshes() RETURNS name LANGUAGE sql STABLE AS 'SELECT current_user';
ALTER FUNCTION sec.who_refreshes() OWNER TO regress_sec_owner;
SET ROLE regress_sec_owner;
CREATE MATERIALIZED VIEW sec.refreshed_by AS SELECT 1 AS id, sec.who_refreshes() AS who;
CREATE UNIQUE INDEX ON sec.refreshed_by (id);
SELECT denorm.register_mv('sec.refreshed_by', debounce => '0', max_delay => '0');
RESET ROLE;
SELECT denorm.request_refresh('sec.refreshed_by');
SELECT denorm.run_pending() >= 0 AS refreshed;
SELECT who FROM sec.refreshed_by;

-- No role became a superuser.
SELECT rolname FROM pg_roles WHERE rolsuper EXCEPT SELECT rolname FROM sec_roles_before;

-- Clean up (the roles are cluster-wide).
SET client_min_messages = warning;
SELECT denorm.drop_counter(name) FROM denorm.counters WHERE name LIKE 'sec\_%' ORDER BY name;
SELECT denorm.unregister_mv(mv) FROM denorm.mv_status WHERE mv::text LIKE 'sec.%';
DROP OPERATOR public.= (varchar, varchar);
DROP OPERATOR pg_temp.= (varchar, varchar);
DROP FUNCTION pg_temp.eq(varchar, varchar);
DROP SCHEMA sec CASCADE;
DROP SCHEMA evil CASCADE;
DROP TABLE public.m_tgt, public.m_src, public.m_log, sec_roles_before;
DROP FUNCTION public.m_escalate();
SELECT pg_catalog.format('REVOKE CREATE ON DATABASE %I FROM regress_sec_mallory, regress_sec_writer', current_database()) \gexec
REVOKE CREATE ON SCHEMA public FROM regress_sec_mallory, regress_sec_writer;
DROP ROLE regress_sec_owner, regress_sec_writer, regress_sec_reader, regress_sec_nobody, regress_sec_monitor,
          regress_sec_mallory;
RESET client_min_messages;
