-- DDL on a counter's tables: a column a counter uses cannot be dropped (2BP01, like a
-- column a view uses: PostgreSQL's own error for a column the source's update trigger
-- watches, denorm's for the others); renaming it, other ALTERs and renaming the tables
-- keep working.
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
ALTER TABLE pets DROP COLUMN alive;               -- used by a filter
ALTER TABLE pets DROP COLUMN kg;                  -- used by a value
ALTER TABLE pets DROP COLUMN adopted;             -- used by a latest's order_by
ALTER TABLE owners DROP COLUMN pets;              -- a counter column
ALTER TABLE owners DROP COLUMN seen;              -- the touch column
ALTER TABLE pets DROP COLUMN kg CASCADE;          -- CASCADE drops the update trigger, then is refused
\set VERBOSITY terse

-- Renaming a column a definition uses keeps it working under the new name (README
-- "Living with the schema"): keys, a filter, a value, a latest's order_by and source
-- value, counter and touch columns; a string constant or a function of the same name
-- is left alone.
ALTER TABLE pets RENAME COLUMN alive TO living;
ALTER TABLE pets RENAME COLUMN owner_id TO keeper_id;
ALTER TABLE pets RENAME COLUMN kg TO weight_kg;
ALTER TABLE pets RENAME COLUMN adopted TO adopted_on;
ALTER TABLE pets RENAME COLUMN id TO pet_id;
ALTER TABLE owners RENAME COLUMN pets TO pet_count;
ALTER TABLE owners RENAME COLUMN seen TO last_seen;
ALTER TABLE owners RENAME COLUMN id TO owner_id;
SELECT name, source_key, target_key, target_columns, value, filter, source_values, order_by
  FROM denorm.counters WHERE name LIKE 'owner_%' ORDER BY name;
SELECT denorm._rename_column_in($$(lower('kg'::text) = kg) AND kg(kg) > x.kg AND kg::text IS NOT NULL$$, 'kg', 'Weight Kg');
INSERT INTO pets (pet_id, keeper_id, weight_kg, living, adopted_on) VALUES (10, 1, 2, true, '2024-05-01');
UPDATE pets SET living = false WHERE pet_id = 1;
SELECT owner_id, pet_count, weight, last_seen IS NOT NULL AS touched, last_pet FROM owners ORDER BY owner_id;
SELECT count(*) FROM denorm.reconcile(fix => false) WHERE counter LIKE 'owner_%';

-- Unrelated DDL and renaming the tables themselves keep working.
ALTER TABLE pets DROP COLUMN name;
ALTER TABLE pets ADD COLUMN born date;
ALTER TABLE pets RENAME TO animals;
ALTER TABLE owners RENAME TO keepers;
INSERT INTO animals (pet_id, keeper_id, weight_kg, living) VALUES (3, 2, 10, true);
UPDATE animals SET keeper_id = 2 WHERE pet_id = 1;
SELECT owner_id, pet_count, weight, last_seen IS NOT NULL AS touched FROM keepers ORDER BY owner_id;
SELECT name, target, source FROM denorm.counters WHERE name LIKE 'owner_%' ORDER BY name;
SELECT count(*) FROM denorm.reconcile('owner_pets', fix => false);
SELECT count(*) FROM denorm.reconcile('owner_weight', fix => false);
