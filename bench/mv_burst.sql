-- bench/mv_burst.sql — one upvote per transaction (pgbench -D projects=N), then, once it has
-- committed, its acknowledgement in a second transaction (burst_ack.acked_at: an upper
-- bound of the upvote's commit time; upvotes.created_at is a lower bound).
\set pid random(1, :projects)
INSERT INTO upvotes (project_id) VALUES (:pid) RETURNING id AS upvote_id \gset
INSERT INTO burst_ack (upvote_id) VALUES (:upvote_id);
