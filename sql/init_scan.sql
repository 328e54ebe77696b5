-- A target row inserted after its source rows starts at the right values. With an
-- index on a definition's source key, the values are counted in C through that index
-- (README "Design in a page"); without one, the initialiser's query computes them.
-- Both ways must give the same row, whatever the aggregate, filter or key order.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA init_scan;
SET search_path = init_scan, public;

-- Two copies of one source, one with an index on the key and one without; each feeds
-- every kind of definition on its own target.
CREATE TABLE items_indexed (id int PRIMARY KEY, owner_id int, w int, at timestamptz, title text);
CREATE INDEX ON items_indexed (owner_id);
CREATE TABLE items_plain (id int PRIMARY KEY, owner_id int, w int, at timestamptz, title text);
CREATE TABLE stats_indexed (owner_id int PRIMARY KEY, n int NOT NULL DEFAULT 0, heavy int NOT NULL DEFAULT 0,
                            total smallint NOT NULL DEFAULT 0, lo int, hi int, last_title text, last_at timestamptz,
                            last_id int);
CREATE TABLE stats_plain (LIKE stats_indexed INCLUDING ALL);
DO $$
DECLARE s text;
BEGIN
  FOREACH s IN ARRAY ARRAY['indexed', 'plain'] LOOP
    PERFORM denorm.create_counter(s || '_n', 'stats_' || s, 'n', 'items_' || s, '{owner_id}');
    PERFORM denorm.create_counter(s || '_heavy', 'stats_' || s, 'heavy', 'items_' || s, '{owner_id}', filter => 'w > 5');
    PERFORM denorm.create_counter(s || '_total', 'stats_' || s, 'total', 'items_' || s, '{owner_id}',
                                  aggregate => 'sum', value => 'w');
    PERFORM denorm.create_counter(s || '_lo', 'stats_' || s, 'lo', 'items_' || s, '{owner_id}', aggregate => 'min', value => 'w');
    PERFORM denorm.create_counter(s || '_hi', 'stats_' || s, 'hi', 'items_' || s, '{owner_id}', aggregate => 'max', value => 'w');
    PERFORM denorm.create_latest(s || '_last', 'stats_' || s, '{last_title,last_at,last_id}', 'items_' || s,
                                 '{owner_id}', '{title,at,id}', '{at,id}');
  END LOOP;
END $$;

-- Owner 1: several rows, one with a NULL value (sum, min and max skip it) and one with a
-- NULL order column (a latest skips it); owner 2: one row; owner 3: rows that all fail
-- the filter; owner 4: none; NULL owner: counts for nothing.
INSERT INTO items_indexed VALUES
  (1, 1, 10, '2026-01-01', 'first'), (2, 1, 3, '2026-01-03', 'newest'), (3, 1, NULL, '2026-01-02', 'middle'),
  (4, 1, 7, NULL, 'undated'), (5, 2, 6, '2026-02-01', 'only'), (6, 3, 1, '2026-03-01', 'light'),
  (7, 3, 2, '2026-03-01', 'light too'), (8, NULL, 100, '2026-04-01', 'nobody');
INSERT INTO items_plain SELECT * FROM items_indexed;

-- The target rows arrive after their source rows.
INSERT INTO stats_indexed (owner_id) VALUES (1), (2), (3), (4);
INSERT INTO stats_plain (owner_id) VALUES (1), (2), (3), (4);
SELECT * FROM stats_indexed ORDER BY owner_id;
-- The same values without the index:
SELECT * FROM stats_indexed EXCEPT ALL SELECT * FROM stats_plain;
SELECT * FROM stats_plain EXCEPT ALL SELECT * FROM stats_indexed;
-- and what reconcile expects:
SELECT count(*) AS mismatches FROM denorm.reconcile(fix => false);

-- The row a statement inserts sees the statement's own earlier source rows, and a value
-- given for a counter column is replaced by the count.
BEGIN;
INSERT INTO items_indexed VALUES (9, 5, 9, '2026-05-01', 'five');
INSERT INTO stats_indexed (owner_id, n, lo) VALUES (5, 42, -1);
SELECT * FROM stats_indexed WHERE owner_id = 5;
ROLLBACK;

-- The sum leaves the range of the column's type: the same error both ways. An error
-- of the initialiser's query names that query as its CONTEXT; the count through the
-- index has none.
INSERT INTO items_indexed VALUES (10, 6, 32767, '2026-06-01', 'big'), (11, 6, 1, '2026-06-02', 'one more');
INSERT INTO items_plain VALUES (10, 6, 32767, '2026-06-01', 'big'), (11, 6, 1, '2026-06-02', 'one more');
INSERT INTO stats_indexed (owner_id) VALUES (6);
INSERT INTO stats_plain (owner_id) VALUES (6);

-- Row security on the source: the index is not read directly, the query decides (as the
-- target's owner, who owns the source and so is not subject to it: every row counts).
ALTER TABLE items_indexed ENABLE ROW LEVEL SECURITY;
INSERT INTO stats_indexed (owner_id) VALUES (6);
DELETE FROM items_indexed WHERE id = 10;
DELETE FROM items_plain WHERE id = 10;
INSERT INTO stats_indexed (owner_id) VALUES (6);
SELECT * FROM stats_indexed WHERE owner_id = 6;
ALTER TABLE items_indexed DISABLE ROW LEVEL SECURITY;

-- A conversation: a pair row counted from both directions of one source (the source key
-- in the index order and reversed), the target key of another integer type.
CREATE TABLE messages (id int PRIMARY KEY, sender int, recipient int, unread boolean);
CREATE INDEX ON messages (sender, recipient);
CREATE TABLE pairs (a bigint, b bigint, total int NOT NULL DEFAULT 0, unread int NOT NULL DEFAULT 0, PRIMARY KEY (a, b));
SELECT denorm.create_counter('pair_out', 'pairs', 'total', 'messages', '{sender,recipient}', '{a,b}');
SELECT denorm.create_counter('pair_in', 'pairs', 'total', 'messages', '{recipient,sender}', '{a,b}');
SELECT denorm.create_counter('pair_unread', 'pairs', 'unread', 'messages', '{recipient,sender}', '{a,b}', filter => 'unread');
INSERT INTO messages VALUES (1, 1, 2, true), (2, 2, 1, true), (3, 1, 2, false), (4, 1, 3, true), (5, 3, 1, NULL);
INSERT INTO pairs (a, b) VALUES (1, 2), (2, 1), (1, 3), (3, 1), (2, 3);
SELECT * FROM pairs ORDER BY a, b;
SELECT count(*) AS mismatches FROM denorm.reconcile(fix => false);

-- A suspended definition on the target: counted by the query (it covers suspended ones).
SELECT denorm.suspend('items_indexed');
INSERT INTO stats_indexed (owner_id) VALUES (7);
SELECT denorm.resume('items_indexed');
SELECT count(*) AS mismatches FROM denorm.reconcile(fix => false);

DROP SCHEMA init_scan CASCADE;
