-- W4, 70 % of the transactions (pgbench -f w4_insert.sql@7): one event for a parent
-- uniform over 1..:parents, amount uniform over 1..1000.
\set p random(1, :parents)
\set amount random(1, 1000)
INSERT INTO events (parent_id, amount) VALUES (:p, :amount);
