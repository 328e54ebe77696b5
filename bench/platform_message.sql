-- bench/platform_message.sql — the discovery platform (bench/platform.sh), direct messages:
-- 70 % a reply in an existing conversation (that of a random message), 10 % a first
-- message to a random user, 20 % the recipient of a random message reads its conversation
-- (every unread message from that sender). pgbench -D users=N -D messages=N (the generated
-- messages' ids are 1..N).
\set mid random(1, :messages)
\set kind random(1, 10)
\if :kind <= 7
INSERT INTO messages (sender_id, recipient_id, body)
SELECT recipient_id, sender_id, 'Thanks, sounds good. Let us talk tomorrow.' FROM messages WHERE id = :mid;
\elif :kind = 8
\set s random(1, :users)
\set r random(1, :users - 1)
\set r CASE WHEN :r >= :s THEN :r + 1 ELSE :r END
INSERT INTO messages (sender_id, recipient_id, body) VALUES (:s, :r, 'Hi! Loved your project, can we talk?');
\else
UPDATE messages m SET read_at = now()
  FROM (SELECT sender_id, recipient_id FROM messages WHERE id = :mid) c
 WHERE m.recipient_id = c.recipient_id AND m.sender_id = c.sender_id AND m.read_at IS NULL;
\endif
