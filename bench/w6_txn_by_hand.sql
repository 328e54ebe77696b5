-- W6 by hand (bench/hotkeys.sh variant e): the statements of w6_txn.sql, each also
-- updating the parents it changes in the same statement (no trigger).
\set p1 random(1, :parents)
\set p2 random(1, :parents)
\set p3 random(1, :parents)
\set p4 random(1, :parents)
\set amount random(1, 100)
\set victim random(1, 10 * :parents)
BEGIN;
WITH i AS (INSERT INTO w6_children (parent_id, amount) VALUES (:p1, :amount) RETURNING parent_id, amount)
UPDATE w6_parents p SET n = n + 1, total = total + i.amount FROM i WHERE p.id = i.parent_id;
-- FOR UPDATE: the old parent as of the row's latest version (another transaction may
-- have moved it since this statement's snapshot).
WITH o AS (SELECT id, parent_id, amount FROM w6_children WHERE id = :victim FOR UPDATE),
     m AS (UPDATE w6_children c SET parent_id = :p2 FROM o WHERE c.id = o.id
           RETURNING o.parent_id AS old_p, c.parent_id AS new_p, c.amount)
UPDATE w6_parents p SET n = n + CASE WHEN p.id = m.new_p THEN 1 ELSE -1 END,
                        total = total + CASE WHEN p.id = m.new_p THEN m.amount ELSE -m.amount END
  FROM m WHERE p.id IN (m.old_p, m.new_p) AND m.old_p <> m.new_p;
WITH i AS (INSERT INTO w6_children (parent_id, amount) VALUES (:p3, :amount) RETURNING parent_id, amount)
UPDATE w6_parents p SET n = n + 1, total = total + i.amount FROM i WHERE p.id = i.parent_id;
WITH d AS (DELETE FROM w6_children WHERE id = :victim + 1 RETURNING parent_id, amount)
UPDATE w6_parents p SET n = n - 1, total = total - d.amount FROM d WHERE p.id = d.parent_id;
WITH i AS (INSERT INTO w6_children (parent_id, amount) VALUES (:p4, 1) RETURNING parent_id, amount)
UPDATE w6_parents p SET n = n + 1, total = total + i.amount FROM i WHERE p.id = i.parent_id;
COMMIT;
