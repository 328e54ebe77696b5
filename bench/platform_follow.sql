-- bench/platform_follow.sql — the discovery platform (bench/platform.sh): a user follows a
-- chain (popular chains more often); one transaction in five instead unfollows one of the
-- chains a random user follows. pgbench -D users=N -D chains=N.
\set uid random(1, :users)
\set cid 1 + (int(:chains * pow(random(0, 999999) / 1000000.0, 2)) * 7919 + 17) % :chains
\set undo random(1, 5)
\if :undo = 1
DELETE FROM chain_followers
 WHERE (chain_id, user_id) = (SELECT chain_id, user_id FROM chain_followers WHERE user_id = :uid ORDER BY chain_id LIMIT 1);
\else
INSERT INTO chain_followers (chain_id, user_id) VALUES (:cid, :uid) ON CONFLICT DO NOTHING;
\endif
