-- bench/platform_upvote.sql — the discovery platform (bench/platform.sh): a user upvotes a
-- project, popular projects more often (the generator's skew), and its owner is notified;
-- one transaction in ten instead takes back one of the newest upvotes.
-- pgbench -D users=N -D projects=N.
\set uid random(1, :users)
\set pid 1 + (int(:projects * pow(random(0, 999999) / 1000000.0, 2)) * 7919 + 17) % :projects
\set undo random(1, 10)
\if :undo = 1
DELETE FROM upvotes WHERE id = (SELECT max(id) FROM upvotes) - :uid % 100;
\else
BEGIN;
INSERT INTO upvotes (project_id, user_id) VALUES (:pid, :uid) ON CONFLICT DO NOTHING;
INSERT INTO notifications (user_id, kind, actor_id, project_id)
SELECT user_id, 'upvote', :uid, id FROM projects WHERE id = :pid;
END;
\endif
