-- W1: one single-row INSERT per transaction into the counter's source table,
-- user_id uniform over 1..:keys (pgbench -D keys=10000).
\set uid random(1, :keys)
INSERT INTO projects (user_id) VALUES (:uid);
