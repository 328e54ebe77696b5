-- bench/mv_upvote.sql — (a) on the feed's source: one single-row upvote per transaction
-- (pgbench -D projects=N).
\set pid random(1, :projects)
INSERT INTO upvotes (project_id) VALUES (:pid);
