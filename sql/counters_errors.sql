-- Bad input to create_counter/drop_counter: each case is refused with the SQLSTATE
-- README "Counters" lists for it, and leaves no catalog row and no trigger behind.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA errs;
SET search_path = errs, public;
\set VERBOSITY sqlstate
CREATE TABLE parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, label text, seen timestamptz, m int);
CREATE TABLE nokey (id int, n int);
CREATE TABLE child (id int PRIMARY KEY, parent_id int, body text, score int, flag boolean);
CREATE VIEW child_view AS SELECT * FROM child;

-- 42P01 unknown table, 42703 unknown column
SELECT denorm.create_counter('c', 'no_such_table', 'n', 'child', '{parent_id}');
SELECT denorm.create_counter('c', 'parent', 'no_such_column', 'child', '{parent_id}');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{no_such_column}');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', target_key => '{nope}');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', aggregate => 'sum', value => 'nope + 1');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', touch => 'nope');
-- 42704 unknown counter
SELECT denorm.drop_counter('no_such_counter');
-- 42804 wrong types
SELECT denorm.create_counter('c', 'parent', 'label', 'child', '{parent_id}');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', aggregate => 'sum', value => 'body');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', filter => 'score');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{body}');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', touch => 'label');
-- 22023 bad argument values
SELECT denorm.create_counter('Bad Name', 'parent', 'n', 'child', '{parent_id}');
SELECT denorm.create_counter(repeat('x', 64), 'parent', 'n', 'child', '{parent_id}');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', aggregate => 'avg');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', value => 'score');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', aggregate => 'sum');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id,id}', target_key => '{id}');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{}');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', NULL);
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id,id}');
-- 42809 not a table
SELECT denorm.create_counter('c', 'parent', 'n', 'child_view', '{parent_id}');
-- 42P10 no unique index on the target key
SELECT denorm.create_counter('c', 'nokey', 'n', 'child', '{parent_id}');
SELECT denorm.create_counter('c', 'nokey', 'n', 'child', '{parent_id}', target_key => '{id}');
-- 0A000 anything but a single scalar expression over the source row
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', filter => '(SELECT true)');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', aggregate => 'sum', value => 'sum(score)');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', aggregate => 'sum', value => 'row_number() OVER ()');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', aggregate => 'sum', value => 'generate_series(1, score)');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', filter => 'random() > 0.5');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', filter => 'now() > ''2020-01-01''');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', aggregate => 'max', value => 'flag');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', aggregate => 'min', value => 'body');
SELECT denorm.create_counter('c', 'parent', 'm', 'child', '{parent_id}', aggregate => 'max', value => 'score', deferred => true);
-- Expression strings cannot inject SQL: they are parsed as one expression.
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', filter => 'true; DROP TABLE parent');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', filter => 'true FROM pg_class');
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}', filter => 'true) IS TRUE OR (true');
SELECT count(*) AS parent_still_there FROM parent;
-- 42710 name already used (sharing a column across families is refused with 22023: unit-tested in core)
SELECT denorm.create_counter('c', 'parent', 'n', 'child', '{parent_id}');
SELECT denorm.create_counter('c', 'parent', 'm', 'child', '{parent_id}');
-- 42501 not the owner
CREATE ROLE denorm_stranger;
GRANT USAGE ON SCHEMA errs TO denorm_stranger;
GRANT ALL ON parent, child TO denorm_stranger;
SET ROLE denorm_stranger;
SELECT denorm.create_counter('d', 'parent', 'm', 'child', '{parent_id}');
SELECT denorm.drop_counter('c');
RESET ROLE;

-- Nothing was left behind by the refused calls: one definition, one set of triggers.
\set VERBOSITY default
SELECT name, target_columns FROM denorm.counters WHERE target = 'parent'::regclass;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgrelid IN ('parent'::regclass, 'child'::regclass, 'nokey'::regclass)
 ORDER BY 1, 2;
-- Error messages name the bad thing.
SELECT denorm.create_counter('c2', 'parent', 'n', 'child', '{parent_id}', filter => 'score');
SELECT denorm.create_counter('c2', 'nokey', 'n', 'child', '{parent_id}', target_key => '{id}');
DROP OWNED BY denorm_stranger;
DROP ROLE denorm_stranger;
