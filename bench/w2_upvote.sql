-- W2: one single-row INSERT per transaction, every one on the same hot key (post 1);
-- user_id uniform over 1..1,000,000.
\set uid random(1, 1000000)
INSERT INTO upvotes (post_id, user_id) VALUES (1, :uid);
