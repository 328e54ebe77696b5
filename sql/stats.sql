-- What an operator watches (README "What an operator watches"): denorm.stats counts, per
-- definition, registered view and publication, what denorm did, in shared memory (the
-- test servers preload denorm); a transaction's counts are added when it ends.
-- denorm.metrics() gives the same in Prometheus' text format.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA st;
SET search_path = st, public;

CREATE TABLE posts (id int PRIMARY KEY, votes int NOT NULL DEFAULT 0, last_voter int);
CREATE TABLE upvotes (id serial PRIMARY KEY, post_id int, voter int);
INSERT INTO posts (id) VALUES (1), (2);
SELECT denorm.create_counter('st_votes', 'posts', 'votes', 'upvotes', '{post_id}');
SELECT denorm.create_latest('st_last', 'posts', '{last_voter}', 'upvotes', '{post_id}', '{voter}', '{id}');
CREATE MATERIALIZED VIEW vote_totals AS SELECT post_id, count(*) AS n FROM upvotes GROUP BY post_id;
SELECT denorm.register_mv('vote_totals', debounce => '1 hour', max_delay => '1 hour');  -- refreshed here only
SELECT denorm.publish_counter('st_votes');
DELETE FROM denorm._outbox;   -- the current values publishing queued (no Redis here)
CREATE TABLE notes (id int PRIMARY KEY, title text);
SELECT denorm.create_search_source('st_notes', 'notes', 'title');
SELECT denorm.stats_reset();

-- Nothing done yet: a row per object, all zero.
SELECT kind, name, calls, rows_seen, target_rows_written, refreshes, failures, avg_refresh_ms, outbox_pending
  FROM denorm.stats WHERE name LIKE 'st%' ORDER BY kind, name;

-- Three statements over 5 source rows; each statement writes the rows it changed.
INSERT INTO upvotes (post_id, voter) VALUES (1, 10), (1, 11), (2, 12);
INSERT INTO upvotes (post_id, voter) VALUES (2, 13);
UPDATE upvotes SET voter = 14 WHERE voter = 13;   -- the latest changes, the count does not
INSERT INTO notes VALUES (1, 'first note'), (2, 'second note');
UPDATE notes SET title = 'second note' WHERE id = 2;   -- the same document: nothing written
SELECT denorm.refresh_now('vote_totals');
SELECT kind, name, calls, rows_seen, target_rows_written, refreshes, failures, outbox_pending
  FROM denorm.stats WHERE name LIKE 'st%' ORDER BY kind, name;
SELECT avg_refresh_ms > 0 AS timed, max_refresh_ms >= avg_refresh_ms AS max_at_least_avg
  FROM denorm.stats WHERE kind = 'view' AND name = 'st.vote_totals';

-- A rolled-back statement was still a call.
BEGIN;
INSERT INTO upvotes (post_id, voter) VALUES (1, 15);
ROLLBACK;
SELECT calls, rows_seen FROM denorm.stats WHERE name = 'st_votes' AND kind = 'counter';

-- The Prometheus text: HELP and TYPE before each metric, one sample per object (the
-- durations and the outbox's age, in seconds, vary from run to run: shown as <s>).
SELECT regexp_replace(line, '(_seconds\w*\{[^}]*\}) [0-9.e+-]+$', '\1 <s>') AS line
  FROM regexp_split_to_table(denorm.metrics(), E'\n') AS line
 WHERE line LIKE '#%' OR line ~ 'name="st' ORDER BY line COLLATE "C";

-- A label is escaped as the format wants it.
SELECT denorm._prometheus_label(E'a"b\\c\nd');

-- Reset: every count back to zero, the time of the reset shown.
SELECT denorm.stats_reset();
SELECT kind, name, calls, rows_seen, target_rows_written, refreshes, stats_reset > now() - interval '1 minute' AS reset_now
  FROM denorm.stats WHERE name LIKE 'st%' ORDER BY kind, name;

-- Only an administrator resets (as pg_stat_reset); anyone reads the rows of the tables
-- they may read.
CREATE ROLE st_reader;
GRANT USAGE ON SCHEMA st TO st_reader;
SET ROLE st_reader;
SELECT count(*) AS visible FROM denorm.stats WHERE name LIKE 'st%';
SELECT denorm.stats_reset();
RESET ROLE;
GRANT SELECT ON posts TO st_reader;
SET ROLE st_reader;
SELECT kind, name FROM denorm.stats WHERE name LIKE 'st%' ORDER BY kind, name;
RESET ROLE;

DROP SCHEMA st CASCADE;
DROP ROLE st_reader;
