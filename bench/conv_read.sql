-- CONV, 10 % of the transactions (pgbench -f conv_read.sql@1): mark one of the :window
-- newest messages read, if it is still unread (primary-key lookups only).
\set off random(0, :window - 1)
UPDATE messages SET read_at = now()
 WHERE id = (SELECT max(id) FROM messages) - :off AND read_at IS NULL;
