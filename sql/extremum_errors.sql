-- Bad input to create_counter(aggregate => 'min'/'max') and create_latest: each case is
-- refused with the SQLSTATE the README documents for it and changes nothing (no catalog
-- row, no trigger, no target value written by a backfill).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA exterr;
SET search_path = exterr, public;
SET timezone = 'UTC';
\set VERBOSITY sqlstate
CREATE TABLE parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, lo int, hi int, label text, doc json,
                     seen timestamptz, last_id int, last_at timestamptz, last_body text);
CREATE TABLE nokey (id int, lo int, last_id int, last_at timestamptz);
CREATE TABLE child (id int PRIMARY KEY, parent_id int, score int, body text, at timestamptz, flag boolean, doc json);
CREATE VIEW child_view AS SELECT * FROM child;
INSERT INTO parent (id, lo, hi, last_id) VALUES (1, -1, -1, -1), (2, -2, -2, -2);
INSERT INTO child VALUES (1, 1, 5, 'a', '2024-01-01 00:00', true, '{}'), (2, 1, 7, 'b', '2024-01-02 00:00', false, '{}');

-- Definitions the refused ones collide with: a count on n, a min on lo, a latest on
-- (last_id, last_at) ordered by (at, id).
SELECT denorm.create_counter('parent_n', 'parent', 'n', 'child', '{parent_id}');
SELECT denorm.create_counter('parent_lo', 'parent', 'lo', 'child', '{parent_id}', aggregate => 'min', value => 'score');
SELECT denorm.create_latest('parent_last', 'parent', '{last_id,last_at}', 'child', '{parent_id}',
                            source_values => '{id,at}', order_by => '{at,id}');
SELECT * FROM parent ORDER BY id;

-- 22023 min/max without a value
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'min');
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'max');
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'max', value => NULL);
-- 22023 only count and sum may be deferred (README "Deferred counters for hot keys")
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'min', value => 'score', deferred => true);
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'max', value => 'score', deferred => true);
-- 22023 create_latest: target_columns and source_values of different lengths, empty
-- lists, key lists of different lengths, a bad name
SELECT denorm.create_latest('e', 'parent', '{last_id,last_at}', 'child', '{parent_id}', source_values => '{id}', order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{last_id}', 'child', '{parent_id}', source_values => '{id,at}', order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{}', 'child', '{parent_id}', source_values => '{}', order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => '{}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => NULL);
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id,id}', source_values => '{body}', order_by => '{at}',
                            target_key => '{id}');
SELECT denorm.create_latest('Bad Name', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => '{at}');
-- 0A000 an order_by, source_value or min/max value that is not a single scalar
-- expression over the source row
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}',
                            order_by => '{"(SELECT max(at) FROM child)"}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}',
                            order_by => '{at,random()}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}',
                            order_by => '{"row_number() OVER ()"}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{"(SELECT ''x'')"}',
                            order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{"max(body)"}',
                            order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{"body || random()"}',
                            order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}',
                            order_by => '{at}', filter => '(SELECT true)');
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'max', value => '(SELECT 1)');
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'max', value => 'max(score)');
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'min', value => '(random() * 10)::int');
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'min', value => 'generate_series(1, score)');
-- Expression strings cannot inject SQL, and an order_by entry is an expression, not a
-- sort clause (the greatest tuple always wins).
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{"body; DROP TABLE parent"}',
                            order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}',
                            order_by => '{"at DESC"}');
SELECT count(*) AS parent_still_there FROM parent;
-- 42703 unknown column: target column, source value, order_by, min/max value
SELECT denorm.create_counter('e', 'parent', 'nope', 'child', '{parent_id}', aggregate => 'max', value => 'score');
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'max', value => 'nope + 1');
SELECT denorm.create_latest('e', 'parent', '{last_body,nope}', 'child', '{parent_id}', source_values => '{body,id}', order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{nope}', order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => '{at,nope}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{nope}', source_values => '{body}', order_by => '{at}');
-- 42P01 unknown table, 42809 not a table, 42P10 no unique index on the target key
SELECT denorm.create_latest('e', 'no_such_table', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child_view', '{parent_id}', source_values => '{body}', order_by => '{at}');
SELECT denorm.create_latest('e', 'nokey', '{last_id}', 'child', '{parent_id}', source_values => '{id}', order_by => '{at}');
SELECT denorm.create_counter('e', 'nokey', 'lo', 'child', '{parent_id}', aggregate => 'min', value => 'score');
-- 42710 name already used (by a count, a min, a latest)
SELECT denorm.create_latest('parent_n', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => '{at}');
SELECT denorm.create_counter('parent_last', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'max', value => 'score');
SELECT denorm.create_latest('parent_lo', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => '{at}');
-- 22023 a column already written by a definition of another family: a min on the
-- count's column, a max on the min's column, a count/sum on the min's column, a latest
-- on the min's column or the count's, a min or a count on a latest's column.
SELECT denorm.create_counter('e', 'parent', 'n', 'child', '{parent_id}', aggregate => 'min', value => 'score');
SELECT denorm.create_counter('e', 'parent', 'lo', 'child', '{parent_id}', aggregate => 'max', value => 'score');
SELECT denorm.create_counter('e', 'parent', 'lo', 'child', '{parent_id}');
SELECT denorm.create_counter('e', 'parent', 'lo', 'child', '{parent_id}', aggregate => 'sum', value => 'score');
SELECT denorm.create_latest('e', 'parent', '{lo}', 'child', '{parent_id}', source_values => '{score}', order_by => '{at}');
SELECT denorm.create_latest('e', 'parent', '{n}', 'child', '{parent_id}', source_values => '{score}', order_by => '{at}');
SELECT denorm.create_counter('e', 'parent', 'last_id', 'child', '{parent_id}', aggregate => 'min', value => 'score');
SELECT denorm.create_counter('e', 'parent', 'last_id', 'child', '{parent_id}');
-- 22023 a latest sharing some but not all of another latest's target_columns: a
-- subset, an overlap, a superset, and (the lists must be identical) the same columns
-- in another order.
SELECT denorm.create_latest('e', 'parent', '{last_id}', 'child', '{parent_id}', source_values => '{id}', order_by => '{at,id}');
SELECT denorm.create_latest('e', 'parent', '{last_id,last_body}', 'child', '{parent_id}', source_values => '{id,body}',
                            order_by => '{at,id}');
SELECT denorm.create_latest('e', 'parent', '{last_id,last_at,last_body}', 'child', '{parent_id}', source_values => '{id,at,body}',
                            order_by => '{at,id}');
SELECT denorm.create_latest('e', 'parent', '{last_at,last_id}', 'child', '{parent_id}', source_values => '{at,id}',
                            order_by => '{at,id}');
-- 42804 two latests on the same columns whose order_by types differ: swapped types,
-- another type, another length.
SELECT denorm.create_latest('e', 'parent', '{last_id,last_at}', 'child', '{parent_id}', source_values => '{id,at}',
                            order_by => '{id,at}');
SELECT denorm.create_latest('e', 'parent', '{last_id,last_at}', 'child', '{parent_id}', source_values => '{id,at}',
                            order_by => '{id::bigint,id}');
SELECT denorm.create_latest('e', 'parent', '{last_id,last_at}', 'child', '{parent_id}', source_values => '{id,at}',
                            order_by => '{at}');
-- 42804 wrong types: a value that cannot be assigned to the column (text into int,
-- timestamptz into int, for a latest text into timestamptz), a type without an ordering
-- for min/max or order_by (json), a filter that is not boolean, a touch column that is
-- not a timestamp, key types that cannot be compared.
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'max', value => 'body');
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'min', value => 'at');
SELECT denorm.create_latest('e', 'parent', '{seen}', 'child', '{parent_id}', source_values => '{body}', order_by => '{at}');
SELECT denorm.create_counter('e', 'parent', 'doc', 'child', '{parent_id}', aggregate => 'max', value => 'doc');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => '{doc}');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => '{at}',
                            filter => 'score');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => '{at}',
                            touch => 'label');
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'max', value => 'score', touch => 'last_id');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{body}', source_values => '{body}', order_by => '{at}');
-- 42501 not the owner: creating a min or a latest, dropping one.
CREATE ROLE denorm_ext_stranger;
GRANT USAGE ON SCHEMA exterr TO denorm_ext_stranger;
GRANT ALL ON parent, child TO denorm_ext_stranger;
SET ROLE denorm_ext_stranger;
SELECT denorm.create_counter('e', 'parent', 'hi', 'child', '{parent_id}', aggregate => 'max', value => 'score');
SELECT denorm.create_latest('e', 'parent', '{last_body}', 'child', '{parent_id}', source_values => '{body}', order_by => '{at}');
SELECT denorm.drop_counter('parent_last');
SELECT denorm.drop_counter('parent_lo');
RESET ROLE;

-- Nothing was left behind by the refused calls: the three definitions, their
-- triggers, and the target values they wrote (no refused backfill ran).
\set VERBOSITY default
SELECT name, kind, target_columns FROM denorm.counters WHERE target = 'parent'::regclass ORDER BY name;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgrelid IN ('parent'::regclass, 'child'::regclass, 'nokey'::regclass)
 ORDER BY 1, 2;
SELECT * FROM parent ORDER BY id;
-- Error messages name the bad thing.
SELECT denorm.create_latest('e', 'parent', '{last_id,last_body}', 'child', '{parent_id}', source_values => '{id,body}',
                            order_by => '{at,id}');
SELECT denorm.create_latest('e', 'parent', '{last_id,last_at}', 'child', '{parent_id}', source_values => '{id,at}',
                            order_by => '{id,at}');
SELECT denorm.create_counter('e', 'parent', 'n', 'child', '{parent_id}', aggregate => 'min', value => 'score');
SELECT denorm.create_latest('e', 'parent', '{last_id,last_at}', 'child', '{parent_id}', source_values => '{id}', order_by => '{at}');

SET client_min_messages = warning;
DROP SCHEMA exterr CASCADE;
RESET client_min_messages;
DROP OWNED BY denorm_ext_stranger;
DROP ROLE denorm_ext_stranger;
