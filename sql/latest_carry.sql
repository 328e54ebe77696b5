-- A latest whose writer keeps the newest row it added (README "Design in a page"):
-- the target row is written once, with the row's counts, and holds exactly what the
-- latest's statements would have written: the greatest order_by tuple among the rows
-- added that pass the filter and have no NULL in it, if newer than the stored one.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA carry;
SET search_path = carry, public;

CREATE TABLE msgs (id int PRIMARY KEY, s int, r int, body text, at int, hidden boolean NOT NULL DEFAULT false);
CREATE TABLE convs (u int, o int, total int NOT NULL DEFAULT 0, last_id int, last_at int, preview text,
                    PRIMARY KEY (u, o));
SELECT denorm.create_counter('c_out', 'convs', 'total', 'msgs', '{s,r}', '{u,o}', create_missing => true);
SELECT denorm.create_counter('c_in', 'convs', 'total', 'msgs', '{r,s}', '{u,o}', create_missing => true);
SELECT denorm.create_latest('l_out', 'convs', '{last_id,last_at,preview}', 'msgs', '{s,r}',
       '{id,at,"left(body, 5)"}', '{at,id}', target_key => '{u,o}', filter => 'NOT hidden', create_missing => true);
SELECT denorm.create_latest('l_in', 'convs', '{last_id,last_at,preview}', 'msgs', '{r,s}',
       '{id,at,"left(body, 5)"}', '{at,id}', target_key => '{u,o}', filter => 'NOT hidden', create_missing => true);
CREATE EXTENSION IF NOT EXISTS pageinspect;
CREATE FUNCTION row_versions_written() RETURNS bigint LANGUAGE sql AS $$  -- by this transaction
  SELECT count(*) FROM heap_page_items(get_raw_page('carry.convs', 0))
   WHERE t_xmin = pg_current_xact_id()::text::xid
$$;
CREATE VIEW expected AS
  WITH m AS (SELECT s AS u, r AS o, * FROM msgs UNION ALL SELECT r, s, * FROM msgs),
  l AS (SELECT DISTINCT ON (u, o) u, o, id, at, left(body, 5) AS preview FROM m
         WHERE NOT hidden AND at IS NOT NULL ORDER BY u, o, at DESC, id DESC)
  SELECT u, o, count(*)::int AS total, l.id AS last_id, l.at AS last_at, l.preview
    FROM m LEFT JOIN l USING (u, o) GROUP BY u, o, l.id, l.at, l.preview;
CREATE FUNCTION drift() RETURNS TABLE (u int, o int, stored text, expected text) LANGUAGE sql AS $$
  SELECT coalesce(c.u, e.u), coalesce(c.o, e.o), ROW(c.total, c.last_id, c.last_at, c.preview)::text,
         ROW(e.total, e.last_id, e.last_at, e.preview)::text
    FROM convs c FULL JOIN expected e ON (c.u, c.o) = (e.u, e.o)
   WHERE ROW(c.total, c.last_id, c.last_at, c.preview) IS DISTINCT FROM ROW(e.total, e.last_id, e.last_at, e.preview)
$$;

-- New conversations are created; then each message writes each of its two rows once:
-- the count and the latest together.
INSERT INTO msgs VALUES (1, 1, 2, 'hello there', 10), (2, 2, 1, 'hi back', 20);
SELECT * FROM convs ORDER BY u, o;
BEGIN;
SET LOCAL denorm.apply = statement;  -- written at the statement's end, countable before commit
INSERT INTO msgs VALUES (3, 1, 2, 'third one', 30);
SELECT row_versions_written();
COMMIT;
SELECT * FROM convs ORDER BY u, o;

-- An older message (a smaller order tuple) counts but leaves the newest where it is; of
-- several rows in one statement the newest wins; the same `at` is decided by the id.
INSERT INTO msgs VALUES (4, 1, 2, 'late delivery', 5);
INSERT INTO msgs VALUES (5, 2, 1, 'five', 40), (6, 2, 1, 'six', 41), (7, 1, 2, 'seven', 39);
INSERT INTO msgs VALUES (8, 1, 2, 'eight', 41);
SELECT * FROM convs ORDER BY u, o;
-- Several statements of one transaction (applied at commit): the newest of them all.
BEGIN;
INSERT INTO msgs VALUES (9, 1, 2, 'nine', 50);
INSERT INTO msgs VALUES (10, 2, 1, 'ten', 45);
INSERT INTO msgs VALUES (11, 1, 2, 'eleven', 49);
COMMIT;
SELECT * FROM convs ORDER BY u, o;
-- Rolled back inside a savepoint: its newer row is not the latest.
BEGIN;
INSERT INTO msgs VALUES (12, 1, 2, 'twelve', 55);
SAVEPOINT s;
INSERT INTO msgs VALUES (13, 1, 2, 'thirteen', 60);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM convs ORDER BY u, o;

-- Rows the latest skips: filtered out, or with a NULL in the order tuple. Counted still.
INSERT INTO msgs VALUES (14, 1, 2, 'hidden', 70, true), (15, 1, 2, 'no time', NULL, false);
SELECT * FROM convs WHERE (u, o) = (1, 2);
-- A stored row without a latest (NULL at) takes the new one.
UPDATE convs SET last_id = NULL, last_at = NULL, preview = NULL WHERE (u, o) = (1, 2);
INSERT INTO msgs VALUES (16, 1, 2, 'sixteen', 1);
SELECT * FROM convs WHERE (u, o) = (1, 2);
SELECT * FROM denorm.reconcile('l_out', fix => true);
SELECT * FROM convs WHERE (u, o) = (1, 2);

-- A message to oneself: both latests and both counts write the one row.
INSERT INTO msgs VALUES (17, 3, 3, 'note to self', 5);
SELECT * FROM convs WHERE u = 3;

-- An UPDATE of a column the definitions read that changes no row's contribution (the
-- body of a hidden message) writes nothing (no recomputation); one that changes the
-- newest row's values, or hides it, recomputes.
BEGIN;
SET LOCAL denorm.apply = statement;
UPDATE msgs SET body = 'still hidden' WHERE id = 14;
SELECT row_versions_written();
COMMIT;
UPDATE msgs SET body = 'edited text' WHERE id = 12;
UPDATE msgs SET hidden = true WHERE id = 11;
SELECT * FROM convs WHERE (u, o) = (1, 2);
DELETE FROM msgs WHERE id = 12;
SELECT * FROM convs WHERE (u, o) = (1, 2);

-- A target column of another type or length than the value: the statements write it.
CREATE TABLE convs2 (u int PRIMARY KEY, last_id bigint, last_at int, preview varchar(3));
SELECT denorm.create_latest('l2', 'convs2', '{last_id,last_at,preview}', 'msgs', '{s}',
       '{id,at,"left(body, 5)"}', '{at,id}', target_key => '{u}', create_missing => true);
INSERT INTO msgs VALUES (18, 4, 1, 'abcdef', 100);
SELECT * FROM convs2 ORDER BY u;

SELECT * FROM drift();
SELECT * FROM denorm.reconcile();
SELECT denorm.drop_counter(name) FROM denorm.counters WHERE name IN ('c_out', 'c_in', 'l_out', 'l_in', 'l2') ORDER BY name;
-- (reconcile.sql reads the whole log)
DELETE FROM denorm.reconcile_mismatches WHERE counter IN ('c_out', 'c_in', 'l_out', 'l_in', 'l2');
DELETE FROM denorm.reconcile_log WHERE counter IN ('c_out', 'c_in', 'l_out', 'l_in', 'l2');
SET client_min_messages = warning;
DROP SCHEMA carry CASCADE;
