-- Count and integer-sum changes written to the target row without an UPDATE statement
-- (README "Design in a page"): only where that is exactly what the statement would do;
-- otherwise the statement runs. Which of the two wrote a row shows in the locks the
-- transaction holds: the statement opens every index of the target, the direct write
-- only the index on the key (and every index when the new row version needs entries).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA direct;
SET search_path = direct, public;
SET denorm.apply = statement;  -- each statement's changes written at its end, locks visible

CREATE TABLE users (id int PRIMARY KEY);
CREATE TABLE stats (user_id int PRIMARY KEY REFERENCES users, n int NOT NULL DEFAULT 0,
                    small smallint NOT NULL DEFAULT 0, big bigint NOT NULL DEFAULT 0, label text);
CREATE INDEX stats_label ON stats (label);
CREATE TABLE items (id int PRIMARY KEY, user_id int, w int);
INSERT INTO users SELECT generate_series(1, 3);
INSERT INTO stats (user_id) VALUES (1), (2), (3);
SELECT denorm.create_counter('d_n', 'stats', 'n', 'items', '{user_id}');
SELECT denorm.create_counter('d_small', 'stats', 'small', 'items', '{user_id}', aggregate => 'sum', value => 'w');
SELECT denorm.create_counter('d_big', 'stats', 'big', 'items', '{user_id}', aggregate => 'sum', value => 'w');
CREATE FUNCTION wrote_by_statement() RETURNS boolean LANGUAGE sql AS $$
  SELECT EXISTS (SELECT FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'direct.stats_label'::regclass)
$$;

-- A plain target (a foreign key to users is fine: the counters are in no key): direct.
BEGIN;
INSERT INTO items VALUES (1, 1, 10), (2, 1, 20), (3, 2, 5);
SELECT wrote_by_statement();
COMMIT;
SELECT user_id, n, small, big FROM stats ORDER BY user_id;
UPDATE items SET user_id = 3 WHERE id = 1;
DELETE FROM items WHERE id = 3;
SELECT user_id, n, small, big FROM stats ORDER BY user_id;

-- The errors are the statement's: the sum leaves the range of the column's type.
INSERT INTO items VALUES (10, 2, 32760);
INSERT INTO items VALUES (11, 2, 10);
SELECT user_id, n, small, big FROM stats WHERE user_id = 2;
SET denorm.apply = commit;
INSERT INTO items VALUES (11, 2, 10);
SET denorm.apply = statement;
DELETE FROM items WHERE id = 10;
ALTER TABLE stats ALTER COLUMN n TYPE int;  -- no-op; counters keep working after it
UPDATE stats SET n = 2147483647 WHERE user_id = 2;
INSERT INTO items VALUES (12, 2, 0);
UPDATE stats SET n = 0, big = 9223372036854775807 WHERE user_id = 2;
INSERT INTO items VALUES (12, 2, 1);
SELECT * FROM denorm.reconcile('d_n', fix => true);
SELECT * FROM denorm.reconcile('d_big', fix => true);

-- An index on a counter column: the new row version gets its index entries.
CREATE INDEX stats_n ON stats (n);
INSERT INTO items VALUES (20, 3, 1), (21, 3, 1);
SET enable_seqscan = off;
SELECT user_id, n FROM stats WHERE n = (SELECT n FROM stats WHERE user_id = 3);
RESET enable_seqscan;
DROP INDEX stats_n;

-- A NULL counter stays NULL, as n + 1 leaves it: the statement writes it.
ALTER TABLE stats ALTER COLUMN n DROP NOT NULL;
UPDATE stats SET n = NULL WHERE user_id = 1;
BEGIN;
INSERT INTO items VALUES (30, 1, 0);
SELECT wrote_by_statement();
COMMIT;
SELECT user_id, n FROM stats WHERE user_id = 1;
SELECT fixed FROM denorm.reconcile('d_n', fix => true);

-- An UPDATE trigger on the target, a CHECK, row security: the statement, which fires,
-- checks and applies them.
CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'stats % now % items', NEW.user_id, NEW.n; RETURN NEW; END $$;
CREATE TRIGGER shout BEFORE UPDATE ON stats FOR EACH ROW EXECUTE FUNCTION shout();
INSERT INTO items VALUES (31, 1, 0);
DROP TRIGGER shout ON stats;
ALTER TABLE stats ADD CHECK (n <= 4);
INSERT INTO items VALUES (32, 1, 0), (33, 1, 0);
BEGIN;
INSERT INTO items VALUES (34, 2, 0);
SELECT wrote_by_statement();
ROLLBACK;
ALTER TABLE stats DROP CONSTRAINT stats_n_check;
ALTER TABLE stats ENABLE ROW LEVEL SECURITY;
BEGIN;
INSERT INTO items VALUES (35, 2, 0);
SELECT wrote_by_statement();
COMMIT;
ALTER TABLE stats DISABLE ROW LEVEL SECURITY;
BEGIN;
INSERT INTO items VALUES (36, 2, 0);
SELECT wrote_by_statement();
COMMIT;

-- A varchar key probing a text key; a published target without a replica identity
-- cannot be updated, directly or not.
CREATE TABLE tally (k text NOT NULL UNIQUE, n bigint NOT NULL DEFAULT 0);
CREATE TABLE words (id int PRIMARY KEY, k varchar(10));
INSERT INTO tally VALUES ('a'), ('b');
SELECT denorm.create_counter('d_words', 'tally', 'n', 'words', '{k}', target_key => '{k}');
INSERT INTO words VALUES (1, 'a'), (2, 'b'), (3, 'b');
SELECT * FROM tally ORDER BY k;
SET client_min_messages = error;
CREATE PUBLICATION direct_pub FOR TABLE tally;
RESET client_min_messages;
INSERT INTO words VALUES (4, 'a');
DROP PUBLICATION direct_pub;
INSERT INTO words VALUES (4, 'a'), (5, 'a');
SELECT * FROM tally ORDER BY k;

SELECT counter, count(*) FROM (SELECT * FROM denorm.reconcile('d_n') UNION ALL SELECT * FROM denorm.reconcile('d_small')
  UNION ALL SELECT * FROM denorm.reconcile('d_big') UNION ALL SELECT * FROM denorm.reconcile('d_words')) r GROUP BY 1;

RESET denorm.apply;
SELECT denorm.drop_counter(name) FROM denorm.counters WHERE name LIKE 'd\_%' ORDER BY name;
DROP SCHEMA direct CASCADE;
