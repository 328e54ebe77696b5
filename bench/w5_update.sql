-- W5: single-row UPDATE of a column no counter reads (proof_score), id uniform over
-- the :rows pre-filled rows (pgbench -D rows=100000).
\set id random(1, :rows)
UPDATE projects SET proof_score = proof_score + 1 WHERE id = :id;
