-- W4, 30 % of the transactions (pgbench -f w4_delete.sql@3): delete one existing event of
-- a random parent — the one with the smallest amount >= a random threshold, else the one
-- with the greatest amount. Both lookups use the index events (parent_id, amount). Two
-- clients picking the same row: the second deletes nothing.
\set p random(1, :parents)
\set a random(1, 1000)
DELETE FROM events WHERE id = coalesce(
    (SELECT id FROM events WHERE parent_id = :p AND amount >= :a ORDER BY amount LIMIT 1),
    (SELECT id FROM events WHERE parent_id = :p ORDER BY amount DESC LIMIT 1));
