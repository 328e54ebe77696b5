-- bench/platform_badge.sql — the discovery platform (bench/platform.sh): a validator awards
-- a badge of one of the five kinds to a project (popular ones more often; a kind the project
-- has already is skipped) and the owner is notified. pgbench -D users=N -D projects=N.
\set pid 1 + (int(:projects * pow(random(0, 999999) / 1000000.0, 2)) * 7919 + 17) % :projects
\set k random(1, 5)
\set validator 1 + 1000 * random(0, (:users - 1) / 1000)
BEGIN;
INSERT INTO validation_badges (project_id, kind, points, awarded_by)
VALUES (:pid, (ARRAY['code_verified', 'demo_live', 'team_verified', 'traction', 'security_review'])[:k],
        (ARRAY[10, 5, 15, 25, 40])[:k], :validator)
ON CONFLICT DO NOTHING;
INSERT INTO notifications (user_id, kind, actor_id, project_id)
SELECT user_id, 'badge', :validator, id FROM projects WHERE id = :pid;
END;
