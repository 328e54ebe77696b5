-- W1, reference variant (e): no trigger; the application keeps the counter itself, in
-- the same statement (one round trip, the cheapest exact synchronous maintenance):
-- the INSERT plus the UPDATE of the user's user_stats row.
\set uid random(1, :keys)
WITH i AS (INSERT INTO projects (user_id) VALUES (:uid) RETURNING user_id)
UPDATE user_stats SET project_count = project_count + 1 WHERE user_id = :uid;
