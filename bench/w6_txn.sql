-- W6 (bench/hotkeys.sh): one transaction of four statements over parents chosen at random
-- (1..:parents), in random order: two new children, a move of a child between two
-- parents, a deletion. Two such transactions lock their parents' rows in different
-- orders statement by statement.
\set p1 random(1, :parents)
\set p2 random(1, :parents)
\set p3 random(1, :parents)
\set p4 random(1, :parents)
\set amount random(1, 100)
\set victim random(1, 10 * :parents)
BEGIN;
INSERT INTO w6_children (parent_id, amount) VALUES (:p1, :amount);
UPDATE w6_children SET parent_id = :p2 WHERE id = :victim;
INSERT INTO w6_children (parent_id, amount) VALUES (:p3, :amount);
DELETE FROM w6_children WHERE id = :victim + 1;
INSERT INTO w6_children (parent_id, amount) VALUES (:p4, 1);
COMMIT;
