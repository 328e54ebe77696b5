-- The message_conversations example (README "min, max and latest-row copies"): one row
-- per (user, other user) with the message count of both directions, the unread count
-- of the messages received, and the last message of both directions (two create_latest
-- definitions sharing their three target columns), all created on the first message.
-- Explicit created_at values keep the output deterministic.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA conv;
SET search_path = conv, public;
SET timezone = 'UTC';

CREATE TABLE messages (
    id bigserial PRIMARY KEY,
    sender_id int,
    recipient_id int,
    body text,
    created_at timestamptz,
    read_at timestamptz);
CREATE TABLE message_conversations (
    user_id int,
    other_user_id int,
    total_messages int NOT NULL DEFAULT 0,
    unread_count int NOT NULL DEFAULT 0,
    last_message_id bigint,
    last_message_at timestamptz,
    last_message_preview text,
    PRIMARY KEY (user_id, other_user_id));

SELECT denorm.create_counter('conv_total_sent', 'message_conversations', 'total_messages', 'messages',
                             '{sender_id,recipient_id}', target_key => '{user_id,other_user_id}', create_missing => true);
SELECT denorm.create_counter('conv_total_received', 'message_conversations', 'total_messages', 'messages',
                             '{recipient_id,sender_id}', target_key => '{user_id,other_user_id}', create_missing => true);
SELECT denorm.create_counter('conv_unread', 'message_conversations', 'unread_count', 'messages',
                             '{recipient_id,sender_id}', target_key => '{user_id,other_user_id}',
                             filter => 'read_at IS NULL', create_missing => true);
SELECT denorm.create_latest('conv_last_sent', 'message_conversations',
                            '{last_message_id,last_message_at,last_message_preview}', 'messages',
                            '{sender_id,recipient_id}', source_values => '{id,created_at,"left(body, 20)"}',
                            order_by => '{created_at,id}', target_key => '{user_id,other_user_id}', create_missing => true);
SELECT denorm.create_latest('conv_last_received', 'message_conversations',
                            '{last_message_id,last_message_at,last_message_preview}', 'messages',
                            '{recipient_id,sender_id}', source_values => '{id,created_at,"left(body, 20)"}',
                            order_by => '{created_at,id}', target_key => '{user_id,other_user_id}', create_missing => true);
SELECT name, kind, target_columns, source_key, target_key, filter, create_missing
  FROM denorm.counters WHERE target = 'message_conversations'::regclass ORDER BY name;

-- The oracle: every conversation row against a recount over both directions, stored
-- EXCEPT ALL expected both ways (empty when exact); and every pair that has messages
-- has its row (create_missing).
CREATE VIEW conversation_expected AS
SELECT c.user_id, c.other_user_id,
       (SELECT count(*) FROM messages m
         WHERE (m.sender_id, m.recipient_id) IN ((c.user_id, c.other_user_id), (c.other_user_id, c.user_id)))::int
       AS total_messages,
       (SELECT count(*) FROM messages m
         WHERE m.recipient_id = c.user_id AND m.sender_id = c.other_user_id AND m.read_at IS NULL)::int AS unread_count,
       l.id AS last_message_id, l.created_at AS last_message_at, left(l.body, 20) AS last_message_preview
  FROM message_conversations c
  LEFT JOIN LATERAL (SELECT m.id, m.created_at, m.body FROM messages m
                      WHERE (m.sender_id, m.recipient_id) IN ((c.user_id, c.other_user_id), (c.other_user_id, c.user_id))
                        AND m.created_at IS NOT NULL
                      ORDER BY m.created_at DESC, m.id DESC LIMIT 1) l ON true;
CREATE VIEW conversation_drift AS
(SELECT 'stored' AS side, * FROM message_conversations EXCEPT ALL SELECT 'stored', * FROM conversation_expected)
UNION ALL
(SELECT 'expected', * FROM conversation_expected EXCEPT ALL SELECT 'expected', * FROM message_conversations)
UNION ALL
(SELECT DISTINCT 'missing row', p.u, p.o, NULL::int, NULL::int, NULL::bigint, NULL::timestamptz, NULL::text
   FROM messages m CROSS JOIN LATERAL (VALUES (m.sender_id, m.recipient_id), (m.recipient_id, m.sender_id)) AS p(u, o)
  WHERE p.u IS NOT NULL AND p.o IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM message_conversations c WHERE c.user_id = p.u AND c.other_user_id = p.o));

-- The first message creates both rows: the sender's (total 1, nothing unread) and the
-- recipient's (total 1, unread 1), each with the message as the last one.
INSERT INTO messages (sender_id, recipient_id, body, created_at)
VALUES (1, 2, 'Hi Bob, are you coming to the party tonight?', '2024-03-01 09:00');
SELECT * FROM message_conversations ORDER BY user_id, other_user_id;
SELECT * FROM conversation_drift ORDER BY 1, 2, 3;

-- Replies: the newest message of either direction is the last one of both rows; the
-- unread count is per recipient.
INSERT INTO messages (sender_id, recipient_id, body, created_at)
VALUES (2, 1, 'Yes! What should I bring?', '2024-03-01 09:05');
INSERT INTO messages (sender_id, recipient_id, body, created_at)
VALUES (1, 2, 'Just yourself.', '2024-03-01 09:07'),
       (1, 2, 'And maybe some chips', '2024-03-01 09:08');
SELECT * FROM message_conversations ORDER BY user_id, other_user_id;
SELECT * FROM conversation_drift ORDER BY 1, 2, 3;

-- A third user writes to user 1: two more rows; user 1's row with user 2 is untouched.
INSERT INTO messages (sender_id, recipient_id, body, created_at)
VALUES (3, 1, 'Long time no see', '2024-03-01 10:00');
SELECT * FROM message_conversations ORDER BY user_id, other_user_id;
SELECT * FROM conversation_drift ORDER BY 1, 2, 3;

-- Reading messages: user 2 reads one of three (unread 3 -> 2), then all; reading changes
-- neither the totals nor the last message.
UPDATE messages SET read_at = '2024-03-01 09:30' WHERE id = 3;
SELECT user_id, other_user_id, total_messages, unread_count, last_message_id FROM message_conversations
 ORDER BY user_id, other_user_id;
UPDATE messages SET read_at = '2024-03-01 09:40' WHERE recipient_id = 2 AND read_at IS NULL;
SELECT user_id, other_user_id, total_messages, unread_count, last_message_id FROM message_conversations
 ORDER BY user_id, other_user_id;
-- ... and marking one unread again counts it again.
UPDATE messages SET read_at = NULL WHERE id = 4;
SELECT user_id, other_user_id, total_messages, unread_count, last_message_id FROM message_conversations
 ORDER BY user_id, other_user_id;
SELECT * FROM conversation_drift ORDER BY 1, 2, 3;

-- Deleting the last message: both rows fall back to the previous one (message 3), the
-- totals drop by one, and the recipient's unread count drops if it was unread.
DELETE FROM messages WHERE id = 4;
SELECT * FROM message_conversations WHERE user_id IN (1, 2) AND other_user_id IN (1, 2) ORDER BY user_id, other_user_id;
SELECT * FROM conversation_drift ORDER BY 1, 2, 3;

-- A message with an explicit older created_at arriving late (a sync from an offline
-- client) counts, but does not replace the newer last message; one newer than all does.
INSERT INTO messages (sender_id, recipient_id, body, created_at)
VALUES (2, 1, 'Sent from the subway, delivered late', '2024-03-01 09:06');
SELECT * FROM message_conversations WHERE user_id IN (1, 2) AND other_user_id IN (1, 2) ORDER BY user_id, other_user_id;
INSERT INTO messages (sender_id, recipient_id, body, created_at)
VALUES (2, 1, 'See you at 8', '2024-03-01 11:00');
SELECT * FROM message_conversations WHERE user_id IN (1, 2) AND other_user_id IN (1, 2) ORDER BY user_id, other_user_id;
SELECT * FROM conversation_drift ORDER BY 1, 2, 3;

-- Two messages with the same created_at: the greater id is the last one, whatever the
-- direction; deleting it falls back to the other.
INSERT INTO messages (sender_id, recipient_id, body, created_at)
VALUES (1, 3, 'Same second, first', '2024-03-01 12:00'),
       (3, 1, 'Same second, second', '2024-03-01 12:00');
SELECT * FROM message_conversations WHERE 3 IN (user_id, other_user_id) ORDER BY user_id, other_user_id;
DELETE FROM messages WHERE body = 'Same second, second';
SELECT * FROM message_conversations WHERE 3 IN (user_id, other_user_id) ORDER BY user_id, other_user_id;
SELECT * FROM conversation_drift ORDER BY 1, 2, 3;

-- Editing the body of the last message updates the preview (first 20 characters) of
-- both rows; editing an older message changes nothing.
UPDATE messages SET body = 'See you at 8:30 then, bye' WHERE body = 'See you at 8';
UPDATE messages SET body = 'Hi Bob!' WHERE id = 1;
SELECT user_id, other_user_id, last_message_id, last_message_preview FROM message_conversations
 WHERE user_id IN (1, 2) AND other_user_id IN (1, 2) ORDER BY user_id, other_user_id;
SELECT * FROM conversation_drift ORDER BY 1, 2, 3;

-- A message without a created_at counts but is never the last message.
INSERT INTO messages (sender_id, recipient_id, body, created_at) VALUES (3, 1, 'No timestamp', NULL);
SELECT * FROM message_conversations WHERE 3 IN (user_id, other_user_id) ORDER BY user_id, other_user_id;
SELECT * FROM conversation_drift ORDER BY 1, 2, 3;

-- Deleting every message between two users leaves their rows at 0, 0 and NULLs.
DELETE FROM messages WHERE 3 IN (sender_id, recipient_id);
SELECT * FROM message_conversations ORDER BY user_id, other_user_id;
SELECT * FROM conversation_drift ORDER BY 1, 2, 3;

-- reconcile() agrees (the shared columns are checked as one value).
SELECT r.* FROM denorm.reconcile(fix => false) r
 WHERE r.counter IN (SELECT name FROM denorm.counters WHERE target = 'message_conversations'::regclass);

-- Leave nothing for later tests (they list every definition): dropping the tables
-- drops the definitions.
CREATE TEMP TABLE conv_names AS
    SELECT name FROM denorm.counters WHERE target = 'message_conversations'::regclass;
SET client_min_messages = warning;
DROP SCHEMA conv CASCADE;
RESET client_min_messages;
SELECT count(*) AS left_behind FROM denorm.counters WHERE name IN (SELECT name FROM conv_names);
