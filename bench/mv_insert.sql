-- bench/mv_insert.sql — (a): one single-row INSERT per transaction into the source table
-- (pgbench -D keys=N).
\set k random(1, :keys)
INSERT INTO events (k) VALUES (:k);
