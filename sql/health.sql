-- schedule_reconcile(), health() and advise().
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA hl;
SET search_path = hl, public;
DELETE FROM denorm.reconcile_log;   -- earlier tests' runs
CREATE TABLE teams (id int PRIMARY KEY, members int NOT NULL DEFAULT 0, tasks int NOT NULL DEFAULT 0);
CREATE TABLE members (id int PRIMARY KEY, team_id int);
CREATE TABLE tasks (id int PRIMARY KEY, team_id int);
CREATE INDEX ON tasks (team_id);
INSERT INTO teams VALUES (1), (2);
INSERT INTO members VALUES (1, 1), (2, 1), (3, 2);
SELECT denorm.create_counter('team_members', 'teams', 'members', 'members', '{team_id}');
SELECT denorm.create_counter('team_tasks', 'teams', 'tasks', 'tasks', '{team_id}');

-- pg_cron lives in another database here: the error says where and what to run.
SELECT denorm.schedule_reconcile('0 3 * * *', 'team_members');
SELECT denorm.schedule_reconcile(name => 'no_such_counter');

-- Never reconciled: a warning with the call to make.
SELECT component, status, detail FROM denorm.health() WHERE component IN ('counter team_members', 'counter team_tasks', 'session_replication_role');
SELECT count(*) FROM denorm.reconcile('team_tasks');
UPDATE teams SET members = 9 WHERE id = 2;
SELECT count(*) FROM denorm.reconcile('team_members');
SELECT component, status, regexp_replace(detail, '\d+ s ago', 'N s ago') AS detail
  FROM denorm.health() WHERE component IN ('counter team_members', 'counter team_tasks');

-- advise(): the missing index on members(team_id).
SELECT * FROM denorm.advise() WHERE object LIKE 'hl.%' OR object LIKE '% on hl.%';
CREATE INDEX ON members (team_id);
SELECT * FROM denorm.advise() WHERE object LIKE 'hl.%' OR object LIKE '% on hl.%';
-- ... and for a max and a latest, the index their per-key recompute reads.
ALTER TABLE teams ADD COLUMN last_task int, ADD COLUMN top_member int;
SELECT denorm.create_counter('team_top_member', 'teams', 'top_member', 'members', '{team_id}', aggregate => 'max', value => 'id');
SELECT denorm.create_latest('team_last_task', 'teams', '{last_task}', 'tasks', '{team_id}', '{id}', '{id}');
SELECT * FROM denorm.advise() WHERE object LIKE 'hl.%' OR object LIKE '% on hl.%';
CREATE INDEX ON members (team_id, id);
CREATE INDEX ON tasks (team_id, id);
SELECT * FROM denorm.advise() WHERE object LIKE 'hl.%' OR object LIKE '% on hl.%';
SELECT denorm.drop_counter('team_top_member'), denorm.drop_counter('team_last_task');

-- Counter updates that cannot be HOT: an index on a counter column (every update writes
-- every index), and, from the table's statistics, mostly non-HOT updates on full pages.
CREATE INDEX teams_by_members ON teams (members);
SELECT * FROM denorm.advise() WHERE object = 'hl.teams';
DROP INDEX teams_by_members;
CREATE TABLE crowded (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0, pad text);
ALTER TABLE crowded ALTER COLUMN pad SET STORAGE PLAIN;  -- kept in the row, uncompressed
CREATE TABLE crowd (id int PRIMARY KEY, crowded_id int);
CREATE INDEX ON crowd (crowded_id);
INSERT INTO crowded SELECT g, 0, repeat('x', 5000) FROM generate_series(1, 8) g;  -- no room for a 2nd version
SELECT denorm.create_counter('crowd_n', 'crowded', 'n', 'crowd', '{crowded_id}');
INSERT INTO crowd SELECT g, 1 + g % 8 FROM generate_series(1, 200) g;
DO $$ BEGIN FOR i IN 1 .. 200 LOOP UPDATE crowd SET crowded_id = 1 + crowded_id % 8 WHERE id = i; COMMIT; END LOOP; END $$;
SELECT pg_stat_force_next_flush();
SELECT * FROM denorm.advise() WHERE object = 'hl.crowded';
ALTER TABLE crowded SET (fillfactor = 50);
SELECT count(*) AS advice FROM denorm.advise() WHERE object = 'hl.crowded';
SELECT denorm.drop_counter('crowd_n');
DROP TABLE crowd, crowded;

-- A disabled trigger is critical, and advise() gives the statements that repair it.
ALTER TABLE tasks DISABLE TRIGGER denorm_counter_insert;
SELECT component, status, detail FROM denorm.health() WHERE status = 'critical' AND component = 'counter team_tasks';
SELECT * FROM denorm.advise() WHERE object LIKE 'hl.%' OR object LIKE '% on hl.%';
ALTER TABLE tasks ENABLE TRIGGER denorm_counter_insert;
SELECT count(*) FROM denorm.health() WHERE status = 'critical' AND component = 'counter team_tasks';

-- session_replication_role = replica silences the triggers: health says so.
SET session_replication_role = replica;
SELECT component, status, detail FROM denorm.health() WHERE component = 'session_replication_role';
RESET session_replication_role;

-- Registered views: a failing refresh is a warning; a view without a unique index
-- (every refresh locks out its readers) gets advice.
CREATE MATERIALIZED VIEW team_load AS SELECT t.id, 100 / t.tasks AS per_task FROM teams t WITH NO DATA;
SELECT denorm.register_mv('team_load', debounce => '1 hour', max_delay => '1 hour');
SELECT component, status FROM denorm.health() WHERE component = 'view hl.team_load';
SELECT denorm.refresh_now('team_load');   -- teams have no tasks: division by zero
SELECT component, status, regexp_replace(detail, 'at .*', 'at ...') AS detail
  FROM denorm.health() WHERE component = 'view hl.team_load';
SELECT * FROM denorm.advise() WHERE object = 'hl.team_load';
