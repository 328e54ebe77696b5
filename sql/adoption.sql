-- Adopting existing rows (README "Counters", create_missing): a definition created with
-- create_missing and backfill on a source that already has rows leaves the target as if
-- every one of them had been inserted afterwards — including the target rows runtime
-- create_missing would have created, and only those.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA adopt;
SET search_path = adopt, public;

-- A count: one row per key that has rows; existing target rows are recounted, not
-- duplicated; source rows with a NULL key make nothing.
CREATE TABLE p2 (id int PRIMARY KEY, user_id int);
CREATE TABLE st2 (user_id int PRIMARY KEY, n int NOT NULL DEFAULT 0, seen timestamptz);
INSERT INTO p2 SELECT g, g % 3 FROM generate_series(1, 10) g;
INSERT INTO p2 VALUES (11, NULL);
INSERT INTO st2 (user_id, n) VALUES (1, 99), (7, 5);
SELECT denorm.create_counter('p2n', 'st2', 'n', 'p2', '{user_id}', create_missing => true, touch => 'seen');
SELECT user_id, n, seen IS NOT NULL AS touched FROM st2 ORDER BY user_id;
SELECT count(*) AS mismatches FROM denorm.reconcile('p2n', fix => false);

-- Without create_missing nothing is inserted.
CREATE TABLE st3 (user_id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
SELECT denorm.create_counter('p3n', 'st3', 'n', 'p2', '{user_id}');
SELECT count(*) AS rows_created FROM st3;

-- A sum creates a row for a key with a non-zero value (as a write of such a row would),
-- not for one whose values are all zero or NULL; a filter keeps its rule.
CREATE TABLE orders (id int PRIMARY KEY, shop int, amount numeric, paid boolean NOT NULL DEFAULT true);
CREATE TABLE shops (shop int PRIMARY KEY, revenue numeric NOT NULL DEFAULT 0, paid_orders int NOT NULL DEFAULT 0);
INSERT INTO orders VALUES (1, 1, 10, true), (2, 1, 5, false), (3, 2, 0, true), (4, 3, NULL, true), (5, 4, 7, false);
SELECT denorm.create_counter('shop_revenue', 'shops', 'revenue', 'orders', '{shop}', aggregate => 'sum',
                             value => 'amount', create_missing => true);
SELECT * FROM shops ORDER BY shop;
SELECT denorm.create_counter('shop_paid', 'shops', 'paid_orders', 'orders', '{shop}', filter => 'paid',
                             create_missing => true);
SELECT * FROM shops ORDER BY shop;

-- Two definitions sharing a composite target (a conversation counted both ways) and a
-- latest: each adopts the rows of its own direction, in either creation order.
CREATE TABLE messages (id int PRIMARY KEY, sender int, recipient int, body text);
CREATE TABLE conversations (me int, other int, total int NOT NULL DEFAULT 0, last_body text, last_id int,
                            PRIMARY KEY (me, other));
INSERT INTO messages VALUES (1, 1, 2, 'hi'), (2, 2, 1, 'hello'), (3, 1, 3, 'yo'), (4, 1, 2, 'again');
SELECT denorm.create_latest('conv_last_in', 'conversations', '{last_body,last_id}', 'messages', '{recipient,sender}',
                            '{body,id}', '{id}', target_key => '{me,other}', create_missing => true);
SELECT denorm.create_counter('conv_sent', 'conversations', 'total', 'messages', '{sender,recipient}',
                             target_key => '{me,other}', create_missing => true);
SELECT denorm.create_counter('conv_received', 'conversations', 'total', 'messages', '{recipient,sender}',
                             target_key => '{me,other}', create_missing => true);
SELECT * FROM conversations ORDER BY me, other;
SELECT count(*) AS mismatches FROM denorm.reconcile(fix => false) WHERE counter LIKE 'conv\_%';

-- Writes afterwards keep them exact.
INSERT INTO messages VALUES (5, 3, 4, 'new pair');
DELETE FROM messages WHERE id = 3;
SELECT * FROM conversations ORDER BY me, other;

-- reconcile() reports a target row create_missing should have created and that is
-- missing (stored NULL) and a fix inserts it; a key without contributing rows is not
-- missing (shop 2's revenue is 0, but its paid order makes its row due). A row missing
-- for two column groups (conversation 2-1) is inserted once, by the first reconciled,
-- with every column's value.
DELETE FROM st2 WHERE user_id = 2;
DELETE FROM conversations WHERE (me, other) IN ((2, 1), (3, 4));
DELETE FROM shops WHERE shop IN (2, 4);
SELECT * FROM denorm.reconcile(fix => false) WHERE counter IN ('p2n', 'conv_received', 'conv_last_in', 'shop_revenue', 'shop_paid')
 ORDER BY counter, key::text;
SELECT * FROM denorm.reconcile() WHERE counter IN ('p2n', 'conv_received', 'conv_last_in', 'shop_revenue', 'shop_paid')
 ORDER BY counter, key::text;
SELECT count(*) AS mismatches FROM denorm.reconcile(fix => false) WHERE counter IN ('p2n', 'conv_received', 'conv_last_in',
                                                                                    'shop_revenue', 'shop_paid');
SELECT * FROM shops ORDER BY shop;

-- resume() after a bulk load creates the rows of the new keys.
SELECT denorm.suspend('p2');
INSERT INTO p2 VALUES (20, 8), (21, 8), (22, 9);
SELECT denorm.resume('p2');
SELECT user_id, n FROM st2 ORDER BY user_id;

-- A change that only removes rows never creates a target row: deleting a user's
-- statistics row and its projects in one transaction, in either order, leaves no row.
BEGIN;
DELETE FROM st2 WHERE user_id = 0;
DELETE FROM p2 WHERE user_id = 0;
COMMIT;
BEGIN;
DELETE FROM p2 WHERE user_id = 8;
DELETE FROM st2 WHERE user_id = 8;
COMMIT;
SELECT user_id, n FROM st2 ORDER BY user_id;

-- A deferred counter's fold creates a missing row only for a key that gained rows: the
-- row deleted with its source rows stays deleted.
CREATE TABLE likes (id int PRIMARY KEY, post int);
CREATE TABLE posts (post int PRIMARY KEY, likes int NOT NULL DEFAULT 0, top_like int);
SELECT denorm.create_counter('post_likes', 'posts', 'likes', 'likes', '{post}', deferred => true, create_missing => true);
INSERT INTO likes VALUES (1, 1), (2, 1), (3, 2);
SELECT denorm.run_pending() >= 0 AS folded;
SELECT * FROM posts ORDER BY post;
BEGIN;
DELETE FROM posts WHERE post = 1;
DELETE FROM likes WHERE post = 1;
COMMIT;
SELECT denorm.run_pending() >= 0 AS folded;
SELECT * FROM posts ORDER BY post;

-- resume() reconciles every kind of definition fed by the source, a max too.
SELECT denorm.create_counter('post_top', 'posts', 'top_like', 'likes', '{post}', aggregate => 'max', value => 'id');
SELECT denorm.suspend('likes');
INSERT INTO likes VALUES (4, 2);
SELECT denorm.resume('likes');
SELECT * FROM posts ORDER BY post;

RESET search_path;
SET client_min_messages = warning;
SELECT denorm.drop_counter(name) FROM denorm.counters WHERE target::text LIKE 'adopt.%' ORDER BY name;
DROP SCHEMA adopt CASCADE;
