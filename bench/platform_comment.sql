-- bench/platform_comment.sql — the discovery platform (bench/platform.sh): a comment on a
-- project (popular ones more often) with a notification of its owner; one transaction in
-- twenty instead hides one of the newest comments (moderation: a soft delete).
-- pgbench -D users=N -D projects=N.
\set uid random(1, :users)
\set pid 1 + (int(:projects * pow(random(0, 999999) / 1000000.0, 2)) * 7919 + 17) % :projects
\set hide random(1, 20)
\if :hide = 1
UPDATE comments SET deleted_at = now() WHERE id = (SELECT max(id) FROM comments) - :uid % 100 AND deleted_at IS NULL;
\else
BEGIN;
INSERT INTO comments (project_id, user_id, body) VALUES (:pid, :uid, 'Nice work, how does it scale?');
INSERT INTO notifications (user_id, kind, actor_id, project_id)
SELECT user_id, 'comment', :uid, id FROM projects WHERE id = :pid;
END;
\endif
