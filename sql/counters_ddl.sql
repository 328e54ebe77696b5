-- DDL on a counter's tables: a column a counter uses cannot be dropped or renamed away
-- (2BP01, like a column a view uses); other ALTERs and renaming the tables keep working.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA ddl;
SET search_path = ddl, public;
CREATE TABLE owners (id int PRIMARY KEY, pets int NOT NULL DEFAULT 0, weight numeric NOT NULL DEFAULT 0, seen timestamptz,
                     last_pet int);
CREATE TABLE pets (id int PRIMARY KEY, owner_id int, kg numeric, alive boolean NOT NULL DEFAULT true, name text,
                   adopted date);
INSERT INTO owners VALUES (1), (2);
INSERT INTO pets VALUES (1, 1, 4.5, true, 'rex'), (2, 1, 3, false, 'tom');
SELECT denorm.create_counter('owner_pets', 'owners', 'pets', 'pets', '{owner_id}', filter => 'alive', touch => 'seen');
SELECT denorm.create_counter('owner_weight', 'owners', 'weight', 'pets', '{owner_id}', aggregate => 'sum', value => 'kg');
SELECT denorm.create_latest('owner_last_pet', 'owners', '{last_pet}', 'pets', '{owner_id}', '{id}', '{adopted,id}');

\set VERBOSITY default
ALTER TABLE pets DROP COLUMN owner_id;            -- a source key
ALTER TABLE pets RENAME COLUMN alive TO living;   -- used by a filter
ALTER TABLE pets DROP COLUMN kg;                  -- used by a value
ALTER TABLE pets DROP COLUMN adopted;             -- used by a latest's order_by
ALTER TABLE owners DROP COLUMN pets;              -- a counter column
ALTER TABLE owners RENAME COLUMN seen TO last_seen;  -- the touch column
\set VERBOSITY terse

-- Unrelated DDL and renaming the tables themselves keep working.
ALTER TABLE pets DROP COLUMN name;
ALTER TABLE pets ADD COLUMN born date;
ALTER TABLE pets RENAME TO animals;
ALTER TABLE owners RENAME TO keepers;
INSERT INTO animals (id, owner_id, kg, alive) VALUES (3, 2, 10, true);
UPDATE animals SET owner_id = 2 WHERE id = 1;
SELECT id, pets, weight, seen IS NOT NULL AS touched FROM keepers ORDER BY id;
SELECT name, target, source FROM denorm.counters WHERE name LIKE 'owner_%' ORDER BY name;
SELECT count(*) FROM denorm.reconcile('owner_pets', fix => false);
SELECT count(*) FROM denorm.reconcile('owner_weight', fix => false);
