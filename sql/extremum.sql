-- min, max and create_latest (README "min, max and latest-row copies") kept exact
-- through every write kind: an item's lowest and highest active offer price (min/max
-- over numeric, filter 'active'), the first and last time any offer was seen (min/max
-- over timestamptz, no filter), and its latest active offer (price and note of the
-- newest by (seen_at, id)).
-- Meaning checked by the oracle: min/max ignore NULL values and are NULL without a
-- matching row; a latest is the matching row with the greatest order_by tuple (rows with
-- a NULL in it never win), NULL columns when there is none.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA ext;
SET search_path = ext, public;
SET timezone = 'UTC';

CREATE TABLE items (
    id int PRIMARY KEY,
    lowest_price numeric,
    highest_price numeric,
    first_seen_at timestamptz,
    last_seen_at timestamptz,
    latest_price numeric,
    latest_note text,
    prices_changed_at timestamptz);
CREATE TABLE offers (id int PRIMARY KEY, item_id int, price numeric, seen_at timestamptz,
                     active boolean DEFAULT true, note text, vendor text);
INSERT INTO items (id) VALUES (1), (2), (3), (4);
INSERT INTO offers VALUES
    (1, 1, 10,   '2024-01-01 10:00', true,  'one',        NULL),
    (2, 1, 25,   '2024-01-03 10:00', true,  'two',        NULL),
    (3, 1, 5,    '2024-01-02 10:00', false, 'inactive',   NULL),   -- cheapest, but not active
    (4, 2, 7,    '2024-01-05 10:00', true,  'seven',      NULL),
    (5, 2, NULL, '2024-01-06 10:00', true,  'no price',   NULL),   -- newest of item 2, NULL price
    (6, NULL, 1, '2024-01-01 00:00', true,  'no item',    NULL),   -- NULL key: counts for nothing
    (7, 9, 3,    '2024-01-04 00:00', true,  'for item 9', NULL);   -- item 9 has no row yet

-- The recount every definition must equal (the meaning above), and stored EXCEPT ALL
-- recount both ways: empty when exact.
CREATE VIEW item_stored AS
SELECT id, lowest_price, highest_price, first_seen_at, last_seen_at, latest_price, latest_note FROM items;
CREATE VIEW item_expected AS
SELECT i.id,
       (SELECT min(o.price) FROM offers o WHERE o.item_id = i.id AND o.active) AS lowest_price,
       (SELECT max(o.price) FROM offers o WHERE o.item_id = i.id AND o.active) AS highest_price,
       (SELECT min(o.seen_at) FROM offers o WHERE o.item_id = i.id) AS first_seen_at,
       (SELECT max(o.seen_at) FROM offers o WHERE o.item_id = i.id) AS last_seen_at,
       l.price AS latest_price, l.note AS latest_note
  FROM items i
  LEFT JOIN LATERAL (SELECT o.price, o.note FROM offers o
                      WHERE o.item_id = i.id AND o.active AND o.seen_at IS NOT NULL
                      ORDER BY o.seen_at DESC, o.id DESC LIMIT 1) l ON true;
CREATE VIEW item_drift AS
(SELECT 'stored' AS side, * FROM item_stored EXCEPT ALL SELECT 'stored', * FROM item_expected)
UNION ALL
(SELECT 'expected', * FROM item_expected EXCEPT ALL SELECT 'expected', * FROM item_stored);
-- This test's definitions (other tests' definitions live in the same database).
CREATE VIEW ext_definitions AS
SELECT c.* FROM denorm.counters c JOIN pg_class t ON t.oid = c.target
 WHERE t.relnamespace = 'ext'::regnamespace;

-- Creating the definitions backfills existing target rows: item 1 is 10..25 (the
-- inactive 5 does not count), latest 'two'; item 2 is 7..7 (NULL price ignored), latest
-- 'no price' with a NULL price; items 3 and 4 have no offers: all NULL.
SELECT denorm.create_counter('item_lowest_price', 'items', 'lowest_price', 'offers', '{item_id}',
                             aggregate => 'min', value => 'price', filter => 'active',
                             touch => 'prices_changed_at');
SELECT denorm.create_counter('item_highest_price', 'items', 'highest_price', 'offers', '{item_id}',
                             aggregate => 'max', value => 'price', filter => 'active');
SELECT denorm.create_counter('item_first_seen', 'items', 'first_seen_at', 'offers', '{item_id}',
                             aggregate => 'min', value => 'seen_at');
SELECT denorm.create_counter('item_last_seen', 'items', 'last_seen_at', 'offers', '{item_id}',
                             aggregate => 'max', value => 'seen_at');
SELECT denorm.create_latest('item_latest_offer', 'items', '{latest_price,latest_note}', 'offers', '{item_id}',
                            source_values => '{price,note}', order_by => '{seen_at,id}', filter => 'active');
SELECT * FROM item_stored ORDER BY id;
SELECT * FROM item_drift ORDER BY id, side;
SELECT name, kind, target, target_columns, source, source_key, target_key, value, filter, create_missing, deferred
  FROM ext_definitions ORDER BY name;

-- INSERT: a single row sets every column of an empty item (3); a multi-row insert whose
-- winners are in the middle of the list, with an older offer listed last (it does not
-- become the latest); a new lowest price for item 1 that is also its newest offer.
INSERT INTO offers VALUES (10, 3, 40, '2024-02-01 00:00', true, 'c40', NULL);
SELECT * FROM item_stored WHERE id = 3;
INSERT INTO offers VALUES (11, 3, 45, '2024-02-03 00:00', true, 'c45', NULL),
                          (12, 3, 30, '2024-02-02 00:00', true, 'c30', NULL),
                          (13, 3, 50, '2024-01-31 00:00', true, 'c50 oldest', NULL);
INSERT INTO offers VALUES (14, 1, 8, '2024-01-10 00:00', true, 'eight', NULL);
SELECT * FROM item_stored ORDER BY id;   -- 3: 30..50, 01-31..02-03, latest c45; 1: 8..25, latest eight
SELECT * FROM item_drift ORDER BY id, side;

-- NULL values are ignored: a NULL price changes no min/max (but the row's seen_at
-- counts), a NULL seen_at changes no first/last seen and never makes the latest (the
-- cheapest offer of item 3 below has no seen_at: it is the new minimum, not the latest).
INSERT INTO offers VALUES (15, 3, NULL, '2024-01-15 00:00', true, 'no price, early', NULL),
                          (16, 3, 1, NULL, true, 'no seen_at', NULL);
SELECT * FROM item_stored WHERE id = 3;   -- 1..50, 01-15..02-03, latest still c45
SELECT * FROM item_drift ORDER BY id, side;

-- UPDATE of the value: raising a max winner and lowering a min winner move the
-- column with them; lowering the max winner below another row and raising the min
-- winner above another row recompute it from the other rows.
UPDATE offers SET price = 30 WHERE id = 2;    -- item 1 max 25 -> 30
UPDATE offers SET price = 6 WHERE id = 14;    -- item 1 min 8 -> 6 (and the latest's price)
SELECT * FROM item_stored WHERE id = 1;
UPDATE offers SET price = 9 WHERE id = 2;     -- max winner lowered: max is now 10 (offer 1)
UPDATE offers SET price = 12 WHERE id = 14;   -- min winner raised: min is now 9 (offer 2)
SELECT * FROM item_stored WHERE id = 1;
-- ... of the order_by / timestamptz value: the latest made older falls back to the next
-- newest, an older offer made newest becomes the latest; first/last seen follow.
UPDATE offers SET seen_at = '2023-12-31 00:00' WHERE id = 14;   -- latest -> 'two', first seen 2023-12-31
SELECT * FROM item_stored WHERE id = 1;
UPDATE offers SET seen_at = '2024-03-01 00:00' WHERE id = 1;    -- latest -> 'one', last seen 03-01
SELECT * FROM item_stored WHERE id = 1;
-- ... of every row of one key in one statement.
UPDATE offers SET price = price * 2 WHERE item_id = 1;           -- 18..24, latest 20
SELECT * FROM item_stored WHERE id = 1;
SELECT * FROM item_drift ORDER BY id, side;

-- UPDATE of the key: the row moves to another target. Item 1's latest and last-seen
-- winner (offer 1) moves to item 4 (its first offer); item 3's min winner (offer 16)
-- moves to item 2; the NULL-key offer 6 moves in to item 4; item 3's max winner (offer
-- 13) leaves for a NULL key and counts for nothing.
UPDATE offers SET item_id = 4 WHERE id = 1;
UPDATE offers SET item_id = 2 WHERE id = 16;
UPDATE offers SET item_id = 4 WHERE id = 6;
UPDATE offers SET item_id = NULL WHERE id = 13;
SELECT * FROM item_stored ORDER BY id;
SELECT * FROM item_drift ORDER BY id, side;

-- UPDATE of the filter's input: deactivating a min winner, and the max winner that is
-- also the latest, recomputes them (first/last seen have no filter and stay);
-- activating an inactive offer makes it the min; active set to NULL is not true: the
-- row stops counting.
UPDATE offers SET active = false WHERE id = 12;   -- item 3: min 30 -> 40
UPDATE offers SET active = false WHERE id = 11;   -- item 3: max 45 -> 40, latest c45 -> c40
UPDATE offers SET active = true WHERE id = 3;     -- item 1: min 18 -> 10, not the latest (older)
UPDATE offers SET active = NULL WHERE id = 4;     -- item 2: max 7 -> 1
SELECT * FROM item_stored ORDER BY id;
SELECT * FROM item_drift ORDER BY id, side;

-- touch is set when its definition's value changes, and only then: only
-- item_lowest_price has touch; an unrelated column, a change of highest_price alone and
-- an offer above the current minimum (the minimum stays) touch nothing.
UPDATE items SET prices_changed_at = NULL;
UPDATE offers SET vendor = 'acme';                                     -- unrelated column
INSERT INTO offers VALUES (17, 4, 1000, '2024-01-20 00:00', true, 'expensive', NULL);  -- item 4: max only
INSERT INTO offers VALUES (18, 3, 41, '2024-01-20 00:00', true, 'above min', NULL);    -- item 3: min stays
UPDATE offers SET price = 0.5 WHERE id = 3;                            -- item 1: min 10 -> 0.5
SELECT id, prices_changed_at IS NOT NULL AS touched FROM items ORDER BY id;
SELECT * FROM item_drift ORDER BY id, side;

-- DELETE of a non-winner changes nothing; DELETE of the current winner recomputes from
-- the remaining rows (min, max, first/last seen and latest); DELETE of the last row
-- leaves NULL.
DELETE FROM offers WHERE id = 18;                 -- item 3: not a winner of anything
SELECT * FROM item_stored WHERE id = 3;
DELETE FROM offers WHERE id = 17;                 -- item 4: max 1000 -> 20
DELETE FROM offers WHERE id = 3;                  -- item 1: min 0.5 -> 18
DELETE FROM offers WHERE id = 10;                 -- item 3: its last priced active offer: min and max
                                                  -- NULL, latest c40 -> 'no price, early' (NULL price)
SELECT * FROM item_stored ORDER BY id;
DELETE FROM offers WHERE item_id = 4;             -- item 4: its last rows: all NULL
SELECT * FROM item_stored WHERE id = 4;
SELECT * FROM item_drift ORDER BY id, side;

-- Latest: last write wins by the order_by tuple whatever the arrival order. An older
-- offer arriving after a newer one does not replace it; on equal seen_at the greater
-- id wins, whichever arrives first; deleting the latest falls back to the next newest.
INSERT INTO offers VALUES (20, 4, 70, '2024-05-01 00:00', true, 'newest', NULL);
INSERT INTO offers VALUES (21, 4, 60, '2024-04-01 00:00', true, 'older, late', NULL);
SELECT id, latest_price, latest_note FROM items WHERE id = 4;    -- newest
INSERT INTO offers VALUES (23, 4, 80, '2024-06-01 00:00', true, 'tie, id 23', NULL);
INSERT INTO offers VALUES (22, 4, 90, '2024-06-01 00:00', true, 'tie, id 22', NULL);
SELECT id, latest_price, latest_note FROM items WHERE id = 4;    -- tie, id 23
DELETE FROM offers WHERE id = 23;
SELECT id, latest_price, latest_note FROM items WHERE id = 4;    -- tie, id 22
INSERT INTO offers VALUES (25, 4, 85, '2024-06-01 00:00', true, 'tie, id 25', NULL);
SELECT id, latest_price, latest_note FROM items WHERE id = 4;    -- tie, id 25
DELETE FROM offers WHERE id IN (22, 25);
SELECT id, latest_price, latest_note FROM items WHERE id = 4;    -- newest
UPDATE offers SET note = 'newest, edited' WHERE id = 20;         -- the latest's source value
UPDATE offers SET note = 'older, edited' WHERE id = 21;          -- not the latest: no change
SELECT id, latest_price, latest_note FROM items WHERE id = 4;
SELECT * FROM item_drift ORDER BY id, side;

-- A target row inserted after its source rows starts at the right values, not the ones
-- given nor the defaults; one inserted with no source rows starts with NULLs.
INSERT INTO items (id, lowest_price, latest_note) VALUES (9, 999, 'bogus');
INSERT INTO items (id, highest_price, first_seen_at) VALUES (10, 5, '2000-01-01');
SELECT * FROM item_stored WHERE id IN (9, 10) ORDER BY id;
SELECT * FROM item_drift ORDER BY id, side;

-- Multi-row INSERT ... ON CONFLICT DO UPDATE (lowers item 4's max winner, moves an offer
-- of item 2 to item 9, inserts a new latest for item 9), ON CONFLICT DO NOTHING, COPY
-- and MERGE (updates a winner, deletes the latest, inserts).
INSERT INTO offers VALUES (20, 4, 1, '2024-05-01 00:00', true, 'newest, cut', NULL),
                          (5, 9, 100, '2024-01-06 10:00', true, 'moved by upsert', NULL),
                          (24, 9, 2, '2024-07-01 00:00', true, 'upserted', NULL)
    ON CONFLICT (id) DO UPDATE SET item_id = EXCLUDED.item_id, price = EXCLUDED.price, note = EXCLUDED.note;
INSERT INTO offers VALUES (24, 9, 0, '2030-01-01 00:00', true, 'ignored', NULL) ON CONFLICT DO NOTHING;
SELECT * FROM item_stored ORDER BY id;
SELECT * FROM item_drift ORDER BY id, side;
COPY offers FROM stdin;
30	10	4.5	2024-08-01 00:00:00+00	t	copied low	\N
31	10	\N	2024-08-02 00:00:00+00	t	copied null price	\N
32	10	99	\N	t	copied no seen_at	\N
33	3	200	2024-08-03 00:00:00+00	f	copied inactive	\N
\.
SELECT * FROM item_stored WHERE id IN (3, 10) ORDER BY id;
SELECT * FROM item_drift ORDER BY id, side;
MERGE INTO offers o USING (VALUES (30, 50.0, NULL::int), (24, NULL, 1), (34, 3.0, NULL)) AS v(id, price, del)
   ON o.id = v.id
 WHEN MATCHED AND v.del IS NOT NULL THEN DELETE
 WHEN MATCHED THEN UPDATE SET price = v.price
 WHEN NOT MATCHED THEN INSERT VALUES (v.id, 9, v.price, '2024-06-15 00:00', true, 'merged', NULL);
SELECT * FROM item_stored WHERE id IN (9, 10) ORDER BY id;
SELECT * FROM item_drift ORDER BY id, side;

-- Rolled-back savepoints and transactions leave no trace; inside the transaction the
-- values are already exact.
BEGIN;
SET LOCAL denorm.apply = statement;  -- each statement written at once: exact in between
DELETE FROM offers WHERE id = 34;                                    -- item 9's latest
SAVEPOINT s1;
INSERT INTO offers VALUES (40, 9, -1, '2099-01-01 00:00', true, 'rolled back', NULL);
UPDATE offers SET price = 1000 WHERE id = 7;                         -- item 9's max
DELETE FROM offers WHERE item_id = 2;
SELECT * FROM item_drift ORDER BY id, side;
ROLLBACK TO SAVEPOINT s1;
SELECT * FROM item_drift ORDER BY id, side;
UPDATE offers SET price = price + 1 WHERE id = 7;
COMMIT;
BEGIN;
DELETE FROM offers;
INSERT INTO offers VALUES (41, 1, -5, '2099-01-01 00:00', true, 'rolled back', NULL);
ROLLBACK;
SELECT * FROM item_stored ORDER BY id;
SELECT * FROM item_drift ORDER BY id, side;

-- TRUNCATE fires no row trigger: everything is recomputed (NULL), then maintained again.
TRUNCATE offers;
SELECT * FROM item_stored ORDER BY id;
INSERT INTO offers VALUES (50, 1, 3, '2024-09-01 00:00', true, 'after truncate', NULL),
                          (51, 1, 4, '2024-09-02 00:00', true, 'after truncate, newer', NULL);
SELECT * FROM item_stored WHERE id = 1;
SELECT * FROM item_drift ORDER BY id, side;

-- create_missing: the first source row creates the target row with every value
-- already right; a multi-row insert for new keys creates each row once; a NULL key
-- creates nothing; deleting all of a key's rows leaves the row with NULLs.
CREATE TABLE visitors (visitor_id int PRIMARY KEY, first_visit_at timestamptz, last_visit_at timestamptz,
                       last_page text, last_page_at timestamptz);
CREATE TABLE visits (id int PRIMARY KEY, visitor_id int, page text, at timestamptz);
SELECT denorm.create_counter('visitor_first', 'visitors', 'first_visit_at', 'visits', '{visitor_id}',
                             aggregate => 'min', value => 'at', create_missing => true);
SELECT denorm.create_counter('visitor_last', 'visitors', 'last_visit_at', 'visits', '{visitor_id}',
                             aggregate => 'max', value => 'at', create_missing => true);
SELECT denorm.create_latest('visitor_last_page', 'visitors', '{last_page,last_page_at}', 'visits', '{visitor_id}',
                            source_values => '{page,at}', order_by => '{at,id}', create_missing => true);
CREATE VIEW visitor_drift AS
WITH stored AS (SELECT * FROM visitors),
     expected AS (SELECT v.visitor_id, (SELECT min(at) FROM visits s WHERE s.visitor_id = v.visitor_id),
                         (SELECT max(at) FROM visits s WHERE s.visitor_id = v.visitor_id), l.page, l.at
                    FROM visitors v
                    LEFT JOIN LATERAL (SELECT s.page, s.at FROM visits s
                                        WHERE s.visitor_id = v.visitor_id AND s.at IS NOT NULL
                                        ORDER BY s.at DESC, s.id DESC LIMIT 1) l ON true)
(SELECT 'stored' AS side, * FROM stored EXCEPT ALL SELECT 'stored', * FROM expected)
UNION ALL
(SELECT 'expected', * FROM expected EXCEPT ALL SELECT 'expected', * FROM stored);
INSERT INTO visits VALUES (1, 1, '/home', '2024-01-01 12:00');
SELECT * FROM visitors ORDER BY visitor_id;
INSERT INTO visits VALUES (2, 2, '/b', '2024-01-02 12:00'), (3, 3, '/c', '2024-01-03 12:00'),
                          (4, 2, '/a', '2024-01-01 12:00'), (5, NULL, '/anon', '2024-01-04 12:00');
INSERT INTO visits VALUES (6, 1, '/pricing', '2024-01-05 12:00');
SELECT * FROM visitors ORDER BY visitor_id;
UPDATE visits SET visitor_id = 4 WHERE id = 3;      -- moves visitor 3's only visit: creates visitor 4
DELETE FROM visits WHERE visitor_id = 1;
SELECT * FROM visitors ORDER BY visitor_id;
SELECT * FROM visitor_drift ORDER BY visitor_id, side;

-- Partitioned source: DML through the root and aimed at a partition, a cross-partition
-- move of a winner to another key, a partition created after the definitions, TRUNCATE
-- of one partition and DELETE of a winner from a partition.
CREATE TABLE sensors (id int PRIMARY KEY, low numeric, high numeric, last_value numeric, last_at timestamptz);
INSERT INTO sensors (id) VALUES (1), (2);
CREATE TABLE readings (id int, sensor_id int, region text, value numeric, taken_at timestamptz) PARTITION BY LIST (region);
CREATE TABLE readings_eu PARTITION OF readings FOR VALUES IN ('eu');
CREATE TABLE readings_us (taken_at timestamptz, value numeric, region text, id int, sensor_id int);  -- other column order
ALTER TABLE readings ATTACH PARTITION readings_us FOR VALUES IN ('us');
INSERT INTO readings VALUES (1, 1, 'eu', 10, '2024-01-01 00:00'), (2, 1, 'us', 20, '2024-01-02 00:00');
SELECT denorm.create_counter('sensor_low', 'sensors', 'low', 'readings', '{sensor_id}', aggregate => 'min', value => 'value');
SELECT denorm.create_counter('sensor_high', 'sensors', 'high', 'readings', '{sensor_id}', aggregate => 'max', value => 'value');
SELECT denorm.create_latest('sensor_last', 'sensors', '{last_value,last_at}', 'readings', '{sensor_id}',
                            source_values => '{value,taken_at}', order_by => '{taken_at,id}');
CREATE VIEW sensor_drift AS
WITH expected AS (SELECT s.id, (SELECT min(value) FROM readings r WHERE r.sensor_id = s.id),
                         (SELECT max(value) FROM readings r WHERE r.sensor_id = s.id), l.value, l.taken_at
                    FROM sensors s
                    LEFT JOIN LATERAL (SELECT r.value, r.taken_at FROM readings r
                                        WHERE r.sensor_id = s.id AND r.taken_at IS NOT NULL
                                        ORDER BY r.taken_at DESC, r.id DESC LIMIT 1) l ON true)
(SELECT 'stored' AS side, * FROM sensors EXCEPT ALL SELECT 'stored', * FROM expected)
UNION ALL
(SELECT 'expected', * FROM expected EXCEPT ALL SELECT 'expected', * FROM sensors);
SELECT * FROM sensors ORDER BY id;
INSERT INTO readings_us VALUES ('2024-01-03 00:00', 5, 'us', 3, 1);            -- aimed at a partition: new min, latest
SELECT * FROM sensors ORDER BY id;                                              -- 1: 5..20, latest 5
UPDATE readings SET region = 'eu', sensor_id = 2 WHERE id = 2;                  -- us -> eu, sensor 1's max leaves
SELECT * FROM sensors ORDER BY id;                                              -- 1: 5..10; 2: 20..20
UPDATE readings SET region = 'eu', sensor_id = 2 WHERE id = 3;                  -- us -> eu, sensor 1's min and latest leave
SELECT * FROM sensors ORDER BY id;                                              -- 1: 10..10; 2: 5..20, latest 5
CREATE TABLE readings_asia PARTITION OF readings FOR VALUES IN ('asia');
INSERT INTO readings_asia VALUES (4, 1, 'asia', 99, '2024-02-01 00:00'), (5, 2, 'asia', -1, '2023-01-01 00:00');
SELECT * FROM sensors ORDER BY id;                                              -- 1: max and latest 99; 2: min -1
TRUNCATE readings_asia;
SELECT * FROM sensors ORDER BY id;                                              -- back to 1: 10..10; 2: 5..20
DELETE FROM readings_eu WHERE id = 2;                                           -- sensor 2's max: 5..5
SELECT * FROM sensors ORDER BY id;
SELECT * FROM sensor_drift ORDER BY id, side;

-- Shared columns. Two max definitions on one column hold the greatest of both (an
-- account's last activity: its last login or its last post), two min definitions the
-- least; deleting the overall winner falls back to the other definition's value.
CREATE TABLE accounts (id int PRIMARY KEY, first_activity_at timestamptz, last_activity_at timestamptz);
CREATE TABLE logins (id int PRIMARY KEY, account_id int, at timestamptz);
CREATE TABLE posts (id int PRIMARY KEY, account_id int, at timestamptz);
INSERT INTO accounts (id) VALUES (1), (2);
INSERT INTO logins VALUES (1, 1, '2024-01-01 00:00'), (2, 1, '2024-01-05 00:00');
INSERT INTO posts VALUES (1, 1, '2024-01-03 00:00');
SELECT denorm.create_counter('account_last_login', 'accounts', 'last_activity_at', 'logins', '{account_id}',
                             aggregate => 'max', value => 'at');
SELECT denorm.create_counter('account_last_post', 'accounts', 'last_activity_at', 'posts', '{account_id}',
                             aggregate => 'max', value => 'at');
SELECT denorm.create_counter('account_first_login', 'accounts', 'first_activity_at', 'logins', '{account_id}',
                             aggregate => 'min', value => 'at');
SELECT denorm.create_counter('account_first_post', 'accounts', 'first_activity_at', 'posts', '{account_id}',
                             aggregate => 'min', value => 'at');
CREATE VIEW account_drift AS
WITH expected AS (
    SELECT a.id,
           least((SELECT min(at) FROM logins l WHERE l.account_id = a.id),
                 (SELECT min(at) FROM posts p WHERE p.account_id = a.id)) AS first_activity_at,
           greatest((SELECT max(at) FROM logins l WHERE l.account_id = a.id),
                    (SELECT max(at) FROM posts p WHERE p.account_id = a.id)) AS last_activity_at
      FROM accounts a)
(SELECT 'stored' AS side, * FROM accounts EXCEPT ALL SELECT 'stored', * FROM expected)
UNION ALL
(SELECT 'expected', * FROM expected EXCEPT ALL SELECT 'expected', * FROM accounts);
SELECT * FROM accounts ORDER BY id;                                       -- 01-01 .. 01-05 (logins)
INSERT INTO posts VALUES (2, 1, '2024-01-04 00:00');                      -- below the login: no change
INSERT INTO posts VALUES (3, 1, '2023-12-31 00:00'), (4, 2, '2024-02-01 00:00');  -- a post is now first
SELECT * FROM accounts ORDER BY id;
DELETE FROM logins WHERE id = 2;                                          -- last falls back to post 2 (01-04)
SELECT * FROM accounts ORDER BY id;
UPDATE logins SET at = '2024-03-01 00:00' WHERE id = 1;                   -- login wins again
SELECT * FROM accounts ORDER BY id;
TRUNCATE logins;                                                          -- posts alone
SELECT * FROM accounts ORDER BY id;
UPDATE posts SET account_id = 2 WHERE account_id = 1;                     -- account 1: nothing left
SELECT * FROM accounts ORDER BY id;
SELECT * FROM account_drift ORDER BY id, side;

-- Two latest definitions on the same target_columns hold the newest of both (a
-- ticket's last event: a comment or a status change, ordered by their timestamptz).
CREATE TABLE tickets (id int PRIMARY KEY, last_event_at timestamptz, last_event text);
CREATE TABLE comments (id int PRIMARY KEY, ticket_id int, at timestamptz, body text);
CREATE TABLE status_changes (id int PRIMARY KEY, ticket_id int, at timestamptz, status text);
INSERT INTO tickets (id) VALUES (1), (2);
SELECT denorm.create_latest('ticket_last_comment', 'tickets', '{last_event_at,last_event}', 'comments',
                            '{ticket_id}', source_values => '{at,body}', order_by => '{at}');
SELECT denorm.create_latest('ticket_last_status', 'tickets', '{last_event_at,last_event}', 'status_changes',
                            '{ticket_id}', source_values => '{at,''status: '' || status}', order_by => '{at}');
CREATE VIEW ticket_drift AS
WITH expected AS (
    SELECT t.id, e.at, e.what FROM tickets t
      LEFT JOIN LATERAL (SELECT at, what FROM (SELECT at, body AS what FROM comments c WHERE c.ticket_id = t.id
                                               UNION ALL
                                               SELECT at, 'status: ' || status FROM status_changes s
                                                WHERE s.ticket_id = t.id) ev
                          WHERE at IS NOT NULL ORDER BY at DESC LIMIT 1) e ON true)
(SELECT 'stored' AS side, * FROM tickets EXCEPT ALL SELECT 'stored', * FROM expected)
UNION ALL
(SELECT 'expected', * FROM expected EXCEPT ALL SELECT 'expected', * FROM tickets);
INSERT INTO comments VALUES (1, 1, '2024-01-01 00:00', 'opened');
INSERT INTO status_changes VALUES (1, 1, '2024-01-02 00:00', 'triaged');
SELECT * FROM tickets ORDER BY id;                                        -- status: triaged
INSERT INTO comments VALUES (2, 1, '2024-01-01 12:00', 'late comment');   -- older: no change
SELECT * FROM tickets ORDER BY id;
INSERT INTO comments VALUES (3, 1, '2024-01-03 00:00', 'newest comment');
SELECT * FROM tickets ORDER BY id;                                        -- newest comment
DELETE FROM comments WHERE id = 3;                                        -- back to the status change
SELECT * FROM tickets ORDER BY id;
UPDATE status_changes SET status = 'closed' WHERE id = 1;                 -- the latest's value
UPDATE status_changes SET ticket_id = 2 WHERE id = 1;                     -- moves: ticket 1 falls back to late comment
SELECT * FROM tickets ORDER BY id;
DELETE FROM comments;                                                     -- ticket 1: nothing left
SELECT * FROM tickets ORDER BY id;
SELECT * FROM ticket_drift ORDER BY id, side;

-- reconcile() finds nothing after all that.
SELECT r.* FROM denorm.reconcile() r WHERE r.counter IN (SELECT name FROM ext_definitions)
 ORDER BY r.counter, r.key::text;

-- Drift injected behind the triggers' back: reconcile(fix => false) reports each
-- mismatch with stored/expected as jsonb (for a latest, an object keyed by target
-- column) and changes nothing; reconcile() fixes them.
SET session_replication_role = replica;
DELETE FROM offers WHERE id = 51;                             -- item 1: max, last seen and latest stale
UPDATE items SET first_seen_at = '2000-01-01 00:00' WHERE id = 1;
UPDATE items SET latest_price = 42, latest_note = 'forged' WHERE id = 3;
RESET session_replication_role;
UPDATE sensors SET low = -100 WHERE id = 2;                   -- a plain hand edit
SELECT r.counter, r.key, r.stored, r.expected, r.fixed
  FROM denorm.reconcile(fix => false) r WHERE r.counter IN (SELECT name FROM ext_definitions)
 ORDER BY r.counter, r.key::text;
SELECT * FROM item_stored WHERE id IN (1, 3) ORDER BY id;     -- unchanged by the dry run
SELECT r.counter, r.key, r.stored, r.expected, r.fixed
  FROM denorm.reconcile() r WHERE r.counter IN (SELECT name FROM ext_definitions)
 ORDER BY r.counter, r.key::text;
SELECT * FROM item_drift ORDER BY id, side;
SELECT * FROM sensor_drift ORDER BY id, side;
SELECT r.* FROM denorm.reconcile(fix => false) r WHERE r.counter IN (SELECT name FROM ext_definitions);

-- backfill => false leaves the existing values (reconcile then fixes them).
CREATE TABLE bids (id int PRIMARY KEY, item_id int, amount numeric);
ALTER TABLE items ADD COLUMN top_bid numeric;
INSERT INTO bids VALUES (1, 1, 5), (2, 1, 7);
SELECT denorm.create_counter('item_top_bid', 'items', 'top_bid', 'bids', '{item_id}',
                             aggregate => 'max', value => 'amount', backfill => false);
SELECT id, top_bid FROM items WHERE id = 1;                   -- still NULL
SELECT r.counter, r.key, r.stored, r.expected, r.fixed FROM denorm.reconcile('item_top_bid') r;
SELECT id, top_bid FROM items WHERE id = 1;                   -- 7

-- denorm.counters shows each definition's kind.
SELECT name, kind, target_columns FROM ext_definitions ORDER BY name;

-- Dropping the tables drops their definitions: leave nothing for later tests.
CREATE TEMP TABLE ext_names AS SELECT name FROM ext_definitions;
SET client_min_messages = warning;
DROP SCHEMA ext CASCADE;
RESET client_min_messages;
SELECT count(*) AS left_behind FROM denorm.counters WHERE name IN (SELECT name FROM ext_names);
