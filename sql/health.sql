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
