-- CONV, 90 % of the transactions (pgbench -f conv_send.sql@9): a message between two
-- different users uniform over 1..:users; the body is longer than the 80-character preview.
\set s random(1, :users)
\set r random(1, :users - 1)
\set r CASE WHEN :r >= :s THEN :r + 1 ELSE :r END
INSERT INTO messages (sender_id, recipient_id, body)
VALUES (:s, :r, 'message from ' || :s::text || ' to ' || :r::text || ': ' || repeat('lorem ipsum ', 10));
