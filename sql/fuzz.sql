-- Fuzz of the public SQL API (every function in schema denorm not starting with "_",
-- listed from pg_proc): NULL for each argument in turn, empty arrays, arrays holding
-- NULL, 1 MB strings, quoted and unicode identifiers, expressions with ";", subqueries,
-- volatile calls, aggregates, set-returning functions, zero and negative numbers,
-- invalid OIDs, and calls by a role that owns nothing.
-- Not randomized: it enumerates its cases. Each case prints one line, "<call>: <SQLSTATE>"
-- ("ok" when it raised nothing); this file holds the SQLSTATE the README documents, so a
-- case the extension gets wrong fails the test. Message texts are never printed.
-- Around the whole run, a fingerprint of denorm's catalog proves that no refused call
-- left anything behind.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
CREATE SCHEMA fuzz;
SET search_path = fuzz, public;

-- A small valid schema, so that calls with one bad argument reach the deep checks:
-- a target with a primary key, a source, a plain table nothing reads, a table whose
-- names need quoting, a view, a registered materialized view with a unique index and
-- three unregistered ones (with and without a unique index, one with the source's columns).
CREATE TABLE fz_target (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, n2 bigint NOT NULL DEFAULT 0,
    "a""b" int NOT NULL DEFAULT 0, label text, seen timestamptz,
    last_body text, last_at timestamptz, last_score int);
CREATE TABLE fz_source (id int PRIMARY KEY, target_id int, body text, score int, at timestamptz, "Ünïcødé" int);
CREATE INDEX ON fz_source (target_id, at, id);
CREATE TABLE fz_plain (id int PRIMARY KEY, n int);
CREATE TABLE "Ünïcødé" (id int PRIMARY KEY, "a""b" int, total int NOT NULL DEFAULT 0);
CREATE VIEW fz_view AS SELECT * FROM fz_source;
CREATE MATERIALIZED VIEW fz_mv AS SELECT target_id, count(*) AS c FROM fz_source GROUP BY target_id;
CREATE UNIQUE INDEX ON fz_mv (target_id);
CREATE MATERIALIZED VIEW fz_mv2 AS SELECT id, n FROM fz_target;
CREATE UNIQUE INDEX ON fz_mv2 (id);
CREATE MATERIALIZED VIEW fz_mv_nouniq AS SELECT n FROM fz_target;
CREATE MATERIALIZED VIEW fz_mv_all AS SELECT * FROM fz_source;   -- every column of the source
INSERT INTO fz_target (id) SELECT generate_series(1, 3);
INSERT INTO fz_source VALUES (1, 1, 'a', 5, '2024-01-01', 1), (2, 1, 'b', 7, '2024-01-02', 2),
                             (3, 2, NULL, -1, '2024-01-03', 3);
INSERT INTO "Ünïcødé" VALUES (1, 1), (2, 1);
SELECT denorm.create_counter('fz_count', 'fz_target', 'n', 'fz_source', '{target_id}');
SELECT denorm.create_counter('fz_spare', 'fz_target', 'a"b', 'fz_source', '{target_id}');   -- drop_counter's
SELECT denorm.publish_counter('fz_spare');   -- unpublish_counter's and redis_resync's
SELECT denorm.create_latest('fz_latest', 'fz_target', '{last_body,last_at}', 'fz_source', '{target_id}',
                            '{body,at}', '{at,id}');
-- A one-hour debounce: the worker running in this cluster never refreshes it by itself.
SELECT denorm.register_mv('fz_mv', debounce => '1 hour', max_delay => '1 hour');
SELECT denorm.create_search_source('fz_search', 'fz_source', 'body');   -- drop_search_source's
CREATE ROLE regress_denorm_fuzz;

-- fuzz_try: run sql; return "label: <SQLSTATE>", or "label: ok". With undo (only for
-- cases whose correct outcome is success), a successful call is rolled back, so that
-- valid calls leave the catalog as it was too.
CREATE FUNCTION fuzz_try(label text, sql text, undo boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
BEGIN
    BEGIN
        EXECUTE sql;
        IF undo THEN
            RAISE SQLSTATE 'FZUND';
        END IF;
        state := 'ok';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
        IF state = 'FZUND' THEN
            state := 'ok';
        END IF;
    END;
    RETURN label || ': ' || state;
END $$;

-- One valid call per public function (an SQL expression per parameter, in order), and
-- what it gives. Every case below is such a call with some arguments replaced.
CREATE TABLE fuzz_baseline (fn text PRIMARY KEY, args text[] NOT NULL, expect text NOT NULL);
INSERT INTO fuzz_baseline VALUES
    ('create_counter', ARRAY[$$'fz_new'$$, $$'fz_target'$$, $$'n2'$$, $$'fz_source'$$, $$'{target_id}'$$,
                             $$'{id}'$$, $$'sum'$$, $$'score'$$, $$'body IS NOT NULL'$$, 'false', $$'seen'$$,
                             'false', 'true'], 'ok'),
    ('create_latest', ARRAY[$$'fz_new_latest'$$, $$'fz_target'$$, $$'{last_score}'$$, $$'fz_source'$$,
                            $$'{target_id}'$$, $$'{score}'$$, $$'{at,id}'$$, $$'{id}'$$, $$'score > 0'$$,
                            'false', $$'seen'$$, 'true'], 'ok'),
    ('drop_counter', ARRAY[$$'fz_spare'$$, 'false'], 'ok'),
    ('counter_value', ARRAY[$$'fz_count'$$, $$ARRAY['1']$$], 'ok'),
    ('suspend', ARRAY[$$'fz_source'$$], 'ok'),
    ('resume', ARRAY[$$'fz_source'$$, 'true'], 'ok'),
    ('register_mv', ARRAY[$$'fz_mv2'$$, $$'1 hour'$$, $$'2 hours'$$, 'NULL', 'true'], 'ok'),
    ('unregister_mv', ARRAY[$$'fz_mv'$$, 'false'], 'ok'),
    ('request_refresh', ARRAY[$$'fz_mv'$$], 'ok'),
    ('refresh_now', ARRAY[$$'fz_mv'$$], 'ok'),
    ('run_pending', '{}', 'ok'),
    ('reconcile', ARRAY[$$'fz_count'$$, 'false', '100'], 'ok'),
    -- pg_cron is not installed in this database: 55000, after the argument checks
    -- (README "Reconciliation: find and fix drift").
    ('schedule_reconcile', ARRAY[$$'0 3 * * *'$$, $$'fz_count'$$], '55000'),
    ('health', '{}', 'ok'),
    ('advise', '{}', 'ok'),
    ('publish_counter', ARRAY[$$'fz_count'$$, 'NULL', $$'hash'$$, 'NULL'], 'ok'),
    ('unpublish_counter', ARRAY[$$'fz_spare'$$], 'ok'),
    ('redis_resync', ARRAY[$$'fz_spare'$$], 'ok'),
    ('metrics', '{}', 'ok'),
    ('stats_reset', '{}', 'ok'),
    ('create_search_source', ARRAY[$$'fz_new_search'$$, $$'fz_source'$$, $$'body'$$, $$'score::text'$$, 'NULL',
                                   $$'score > 0'$$, $$'score'$$, $$'english'$$], 'ok'),
    ('drop_search_source', ARRAY[$$'fz_search'$$, 'false'], 'ok'),
    ('search', ARRAY[$$'fz body'$$, 'NULL', '20', 'true'], 'ok'),
    ('search_reconcile', ARRAY[$$'fz_search'$$, 'true'], 'ok');

-- The call: the baseline of fn with the parameters named in overrides (name, expression,
-- name, expression, ...) replaced, in named notation.
CREATE FUNCTION fuzz_call(fn text, overrides text[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    p pg_proc;
    b text[];
    args text[] := '{}';
    v text;
BEGIN
    SELECT * INTO STRICT p FROM pg_proc WHERE pronamespace = 'denorm'::regnamespace AND proname = fn;
    SELECT f.args INTO STRICT b FROM fuzz_baseline f WHERE f.fn = fuzz_call.fn;
    IF cardinality(b) <> p.pronargs THEN
        RAISE EXCEPTION 'fuzz_baseline has % arguments for %, which takes %', cardinality(b), fn, p.pronargs;
    END IF;
    FOR j IN 1 .. coalesce(cardinality(overrides), 0) BY 2 LOOP
        IF NOT overrides[j] = ANY (p.proargnames[1:p.pronargs]) THEN
            RAISE EXCEPTION '% has no parameter %', fn, overrides[j];
        END IF;
    END LOOP;
    FOR i IN 1 .. p.pronargs LOOP
        v := b[i];
        FOR j IN 1 .. coalesce(cardinality(overrides), 0) BY 2 LOOP
            IF overrides[j] = p.proargnames[i] THEN
                v := overrides[j + 1];
            END IF;
        END LOOP;
        args := args || format('%s%I => %s', CASE WHEN i = p.pronargs AND p.provariadic <> 0 THEN 'VARIADIC ' END,
                               p.proargnames[i], v);
    END LOOP;
    RETURN format('SELECT denorm.%I(%s)', fn, array_to_string(args, ', '));
END $$;

CREATE FUNCTION fuzz_label(fn text, overrides text[]) RETURNS text
LANGUAGE sql AS $$
    SELECT fn || '(' || coalesce((SELECT string_agg(format('%s => %s', overrides[j], overrides[j + 1]), ', ' ORDER BY j)
                                    FROM generate_series(1, cardinality(overrides), 2) j),
                                 CASE WHEN (SELECT pronargs FROM pg_proc WHERE pronamespace = 'denorm'::regnamespace
                                               AND proname = fn) > 0 THEN 'baseline' ELSE '' END) || ')'
$$;

-- The cases, in the order they run; expect is the SQLSTATE the README documents.
CREATE TABLE fuzz_plan (ord serial PRIMARY KEY, non_owner boolean NOT NULL DEFAULT false,
                        fn text NOT NULL, o text[] NOT NULL, expect text NOT NULL, got text);

-- 1. Each function's baseline, then NULL for each argument in turn: 22023, except where
-- NULL is the parameter's documented default (then the baseline's outcome).
INSERT INTO fuzz_plan (fn, o, expect) SELECT fn, '{}', expect FROM fuzz_baseline ORDER BY fn;
INSERT INTO fuzz_plan (fn, o, expect)
SELECT p.proname, ARRAY[p.proargnames[i], 'NULL'],
       CASE WHEN pg_get_function_arg_default(p.oid, i) ~ '^NULL\M' THEN b.expect ELSE '22023' END
  FROM pg_proc p JOIN fuzz_baseline b ON b.fn = p.proname, generate_series(1, p.pronargs) i
 WHERE p.pronamespace = 'denorm'::regnamespace AND p.proname !~ '^_'
 ORDER BY p.proname, i;
-- ... but the baseline counter is a sum, which needs a value; and a NULL query searches
-- nothing (README "Search").
UPDATE fuzz_plan SET expect = '22023' WHERE fn = 'create_counter' AND o = ARRAY['value', 'NULL'];
UPDATE fuzz_plan SET expect = 'ok' WHERE fn = 'search' AND o = ARRAY['query', 'NULL'];

-- 2. create_counter
INSERT INTO fuzz_plan (fn, o, expect) VALUES
    -- names: [a-z_][a-z0-9_]*, at most 63 bytes (22023), unique (42710)
    ('create_counter', ARRAY['name', $$''$$], '22023'),
    ('create_counter', ARRAY['name', $$repeat('x', 1000000)$$], '22023'),
    ('create_counter', ARRAY['name', $$'"Ünïcødé"'$$], '22023'),
    ('create_counter', ARRAY['name', $$'Ünïcødé'$$], '22023'),
    ('create_counter', ARRAY['name', $$'a"b'$$], '22023'),
    ('create_counter', ARRAY['name', $$'x; DROP TABLE fz_target'$$], '22023'),
    ('create_counter', ARRAY['name', $$'fz_count'$$], '42710'),
    -- target: unknown (42P01) or not a table (42809)
    ('create_counter', ARRAY['target', $$repeat('x', 1000000)::regclass$$], '42P01'),
    ('create_counter', ARRAY['target', $$0::oid::regclass$$], '42P01'),
    ('create_counter', ARRAY['target', $$4294967295::oid::regclass$$], '42P01'),
    ('create_counter', ARRAY['target', $$'fz_view'$$], '42809'),
    ('create_counter', ARRAY['target', $$'fz_mv'$$], '42809'),
    -- target_column: unknown (42703), wrong type (42804), a target key column (22023)
    ('create_counter', ARRAY['target_column', $$''$$], '42703'),
    ('create_counter', ARRAY['target_column', $$repeat('x', 1000000)$$], '42703'),
    ('create_counter', ARRAY['target_column', $$'"n2"'$$], '42703'),
    ('create_counter', ARRAY['target_column', $$'N2'$$], '42703'),
    ('create_counter', ARRAY['target_column', $$'n2; DROP TABLE fz_target'$$], '42703'),
    ('create_counter', ARRAY['target_column', $$'label'$$], '42804'),
    ('create_counter', ARRAY['target_column', $$'seen'$$], '42804'),
    ('create_counter', ARRAY['target_column', $$'id'$$], '22023'),
    -- source: unknown (42P01) or not a table (42809)
    ('create_counter', ARRAY['source', $$0::oid::regclass$$], '42P01'),
    ('create_counter', ARRAY['source', $$'"Ünïcødé "'$$], '42P01'),
    ('create_counter', ARRAY['source', $$'fz_view'$$], '42809'),
    ('create_counter', ARRAY['source', $$'fz_mv_all'$$], '42809'),
    -- source_key: empty, holding NULL, of another length than the target key (22023),
    -- unknown (42703), not comparable with the target key (42804)
    ('create_counter', ARRAY['source_key', $$'{}'$$], '22023'),
    ('create_counter', ARRAY['source_key', $$'{NULL}'$$], '22023'),
    ('create_counter', ARRAY['source_key', $$'{target_id,NULL}'$$], '22023'),
    ('create_counter', ARRAY['source_key', $$'{target_id,id}'$$], '22023'),
    ('create_counter', ARRAY['source_key', $$'{""}'$$], '42703'),
    ('create_counter', ARRAY['source_key', $$ARRAY[repeat('x', 1000000)]$$], '42703'),
    ('create_counter', ARRAY['source_key', $$ARRAY['"Ünïcødé"']$$], '42703'),
    ('create_counter', ARRAY['source_key', $$'{"target_id; DROP TABLE fz_target"}'$$], '42703'),
    ('create_counter', ARRAY['source_key', $$'{body}'$$], '42804'),
    -- target_key: empty or holding NULL (22023), unknown (42703), not unique (42P10)
    ('create_counter', ARRAY['target_key', $$'{}'$$], '22023'),
    ('create_counter', ARRAY['target_key', $$'{NULL}'$$], '22023'),
    ('create_counter', ARRAY['target_key', $$ARRAY[repeat('x', 1000000)]$$], '42703'),
    ('create_counter', ARRAY['target_key', $$'{n}'$$], '42P10'),
    -- aggregate: count | sum | min | max (22023)
    ('create_counter', ARRAY['aggregate', $$''$$], '22023'),
    ('create_counter', ARRAY['aggregate', $$'avg'$$], '22023'),
    ('create_counter', ARRAY['aggregate', $$'count(*)'$$], '22023'),
    ('create_counter', ARRAY['aggregate', $$'sum; DROP TABLE fz_target'$$], '22023'),
    ('create_counter', ARRAY['aggregate', $$repeat('x', 1000000)$$], '22023'),
    ('create_counter', ARRAY['aggregate', $$'count'$$], '22023'),                  -- with a value
    ('create_counter', ARRAY['aggregate', $$'max'$$, 'deferred', 'true'], '22023'),
    -- value: a single scalar expression over the source row (0A000), of a numeric type
    -- (42804), naming existing columns (42703); a syntax error is 42601 (as in counters_errors)
    ('create_counter', ARRAY['value', $$''$$], '0A000'),
    ('create_counter', ARRAY['value', $$repeat('x', 1000000)$$], '42703'),
    ('create_counter', ARRAY['value', $$'score; DROP TABLE fz_target'$$], '0A000'),
    ('create_counter', ARRAY['value', $$'score FROM pg_class'$$], '0A000'),
    ('create_counter', ARRAY['value', $$'(SELECT 1)'$$], '0A000'),
    ('create_counter', ARRAY['value', $$'(SELECT max(score) FROM fz_source)'$$], '0A000'),
    ('create_counter', ARRAY['value', $$'random()'$$], '0A000'),
    ('create_counter', ARRAY['value', $$'count(*)'$$], '0A000'),
    ('create_counter', ARRAY['value', $$'sum(score)'$$], '0A000'),
    ('create_counter', ARRAY['value', $$'generate_series(1,2)'$$], '0A000'),
    ('create_counter', ARRAY['value', $$'row_number() OVER ()'$$], '0A000'),
    ('create_counter', ARRAY['value', $$'body'$$], '42804'),
    ('create_counter', ARRAY['value', $$'nope'$$], '42703'),
    ('create_counter', ARRAY['value', $$'a"b'$$], '42601'),
    -- filter: the same, and boolean (42804)
    ('create_counter', ARRAY['filter', $$''$$], '0A000'),
    ('create_counter', ARRAY['filter', $$repeat('x', 1000000)$$], '42703'),
    ('create_counter', ARRAY['filter', $$'true; DROP TABLE fz_target'$$], '0A000'),
    ('create_counter', ARRAY['filter', $$'(SELECT true)'$$], '0A000'),
    ('create_counter', ARRAY['filter', $$'EXISTS (SELECT 1 FROM fz_target)'$$], '0A000'),
    ('create_counter', ARRAY['filter', $$'random() > 0.5'$$], '0A000'),
    ('create_counter', ARRAY['filter', $$'count(*) > 0'$$], '0A000'),
    ('create_counter', ARRAY['filter', $$'generate_series(1,2) > 0'$$], '0A000'),
    ('create_counter', ARRAY['filter', $$'score'$$], '42804'),
    ('create_counter', ARRAY['filter', $$'a"b'$$], '42601'),
    -- touch: an existing timestamp column of the target
    ('create_counter', ARRAY['touch', $$''$$], '42703'),
    ('create_counter', ARRAY['touch', $$repeat('x', 1000000)$$], '42703'),
    ('create_counter', ARRAY['touch', $$'label'$$], '42804'),
    ('create_counter', ARRAY['touch', $$'id'$$], '42804');

-- Names that need quoting work (each valid call is rolled back).
INSERT INTO fuzz_plan (fn, o, expect) VALUES
    ('create_counter', ARRAY['target', $$'"Ünïcødé"'$$, 'target_column', $$'total'$$, 'target_key', 'NULL',
                             'touch', 'NULL'], 'ok'),
    ('create_counter', ARRAY['target_column', $$'a"b'$$, 'source', $$'"Ünïcødé"'$$, 'source_key', $$ARRAY['a"b']$$,
                             'value', $$'id'$$, 'filter', $$'"a""b" > 0'$$], 'ok'),
    ('create_counter', ARRAY['source_key', $$'{Ünïcødé}'$$], 'ok'),
    ('create_counter', ARRAY['value', $$'"Ünïcødé"'$$], 'ok');

-- 3. create_latest
INSERT INTO fuzz_plan (fn, o, expect) VALUES
    ('create_latest', ARRAY['name', $$repeat('x', 1000000)$$], '22023'),
    ('create_latest', ARRAY['name', $$'"Ünïcødé"'$$], '22023'),
    ('create_latest', ARRAY['name', $$'fz_latest'$$], '42710'),
    ('create_latest', ARRAY['target', $$0::oid::regclass$$], '42P01'),
    ('create_latest', ARRAY['source', $$'fz_view'$$], '42809'),
    -- target_columns: empty, holding NULL, a key column, twice the same (22023), unknown (42703)
    ('create_latest', ARRAY['target_columns', $$'{}'$$], '22023'),
    ('create_latest', ARRAY['target_columns', $$'{NULL}'$$], '22023'),
    ('create_latest', ARRAY['target_columns', $$'{id}'$$, 'source_values', $$'{target_id}'$$], '22023'),
    ('create_latest', ARRAY['target_columns', $$'{last_score,last_score}'$$, 'source_values', $$'{score,score}'$$], '22023'),
    ('create_latest', ARRAY['target_columns', $$ARRAY[repeat('x', 1000000)]$$], '42703'),
    ('create_latest', ARRAY['target_columns', $$'{last_score,last_body}'$$], '22023'),   -- 2 columns, 1 value
    -- source_key / target_key
    ('create_latest', ARRAY['source_key', $$'{}'$$], '22023'),
    ('create_latest', ARRAY['source_key', $$'{NULL}'$$], '22023'),
    ('create_latest', ARRAY['target_key', $$'{}'$$], '22023'),
    ('create_latest', ARRAY['target_key', $$'{NULL}'$$], '22023'),
    -- source_values: one scalar expression per target column, of its type
    ('create_latest', ARRAY['source_values', $$'{}'$$], '22023'),
    ('create_latest', ARRAY['source_values', $$'{NULL}'$$], '22023'),
    ('create_latest', ARRAY['source_values', $$'{score,id}'$$], '22023'),
    ('create_latest', ARRAY['source_values', $$ARRAY[repeat('x', 1000000)]$$], '42703'),
    ('create_latest', ARRAY['source_values', $$'{"score; DROP TABLE fz_target"}'$$], '0A000'),
    ('create_latest', ARRAY['source_values', $$'{"(SELECT 1)"}'$$], '0A000'),
    ('create_latest', ARRAY['source_values', $$'{"random()::int"}'$$], '0A000'),
    ('create_latest', ARRAY['source_values', $$'{"count(*)"}'$$], '0A000'),
    ('create_latest', ARRAY['source_values', $$'{"generate_series(1,2)"}'$$], '0A000'),
    ('create_latest', ARRAY['source_values', $$'{at}'$$], '42804'),
    ('create_latest', ARRAY['source_values', $$ARRAY['a"b']$$], '42601'),
    -- order_by: non-empty, scalar expressions
    ('create_latest', ARRAY['order_by', $$'{}'$$], '22023'),
    ('create_latest', ARRAY['order_by', $$'{NULL}'$$], '22023'),
    ('create_latest', ARRAY['order_by', $$'{at,NULL}'$$], '22023'),
    ('create_latest', ARRAY['order_by', $$ARRAY[repeat('x', 1000000)]$$], '42703'),
    ('create_latest', ARRAY['order_by', $$'{"at; DROP TABLE fz_target"}'$$], '0A000'),
    ('create_latest', ARRAY['order_by', $$'{"(SELECT 1)"}'$$], '0A000'),
    ('create_latest', ARRAY['order_by', $$'{"random()"}'$$], '0A000'),
    ('create_latest', ARRAY['order_by', $$'{"count(*)"}'$$], '0A000'),
    ('create_latest', ARRAY['order_by', $$'{"generate_series(1,2)"}'$$], '0A000'),
    -- filter, touch
    ('create_latest', ARRAY['filter', $$'(SELECT true)'$$], '0A000'),
    ('create_latest', ARRAY['filter', $$'random() > 0.5'$$], '0A000'),
    ('create_latest', ARRAY['filter', $$'score'$$], '42804'),
    ('create_latest', ARRAY['touch', $$'label'$$], '42804');

-- 4. drop_counter, counter_value
INSERT INTO fuzz_plan (fn, o, expect) VALUES
    ('drop_counter', ARRAY['name', $$''$$], '42704'),
    ('drop_counter', ARRAY['name', $$repeat('x', 1000000)$$], '42704'),
    ('drop_counter', ARRAY['name', $$'"fz_spare"'$$], '42704'),
    ('drop_counter', ARRAY['name', $$'Ünïcødé'$$], '42704'),
    ('drop_counter', ARRAY['name', $$'fz_spare; DROP TABLE fz_target'$$], '42704'),
    ('drop_counter', ARRAY['name', $$'no_such_counter'$$, 'if_exists', 'true'], 'ok'),
    ('drop_counter', ARRAY['name', $$repeat('x', 1000000)$$, 'if_exists', 'true'], 'ok'),
    ('drop_counter', ARRAY['name', 'NULL', 'if_exists', 'true'], '22023'),
    ('counter_value', ARRAY['name', $$''$$], '42704'),
    ('counter_value', ARRAY['name', $$repeat('x', 1000000)$$], '42704'),
    ('counter_value', ARRAY['name', $$'"fz_count"'$$], '42704'),
    ('counter_value', ARRAY['name', $$'fz_latest'$$], '22023'),         -- not a count or sum
    ('counter_value', ARRAY['key', $$'{}'$$], '22023'),
    ('counter_value', ARRAY['key', $$ARRAY['1','2']$$], '22023'),
    -- a key value that is NULL, zero, negative or absent matches no row: NULL, no error
    ('counter_value', ARRAY['key', $$'{NULL}'$$], 'ok'),
    ('counter_value', ARRAY['key', $$'{0}'$$], 'ok'),
    ('counter_value', ARRAY['key', $$'{-1}'$$], 'ok'),
    -- a key value that is not of the key column's type: PostgreSQL's input errors
    ('counter_value', ARRAY['key', $$ARRAY[repeat('x', 1000000)]$$], '22P02'),
    ('counter_value', ARRAY['key', $$'{"1; DROP TABLE fz_target"}'$$], '22P02'),
    ('counter_value', ARRAY['key', $$'{99999999999}'$$], '22003');

-- 5. suspend, resume: a source that feeds a counter
INSERT INTO fuzz_plan (fn, o, expect) VALUES
    ('suspend', ARRAY['source', $$'fz_plain'$$], '42704'),
    ('suspend', ARRAY['source', $$'fz_target'$$], '42704'),
    ('suspend', ARRAY['source', $$'"Ünïcødé"'$$], '42704'),
    ('suspend', ARRAY['source', $$'fz_view'$$], '42704'),
    ('suspend', ARRAY['source', $$0::oid::regclass$$], '42P01'),
    ('suspend', ARRAY['source', $$4294967295::oid::regclass$$], '42P01'),
    ('suspend', ARRAY['source', $$repeat('x', 1000000)::regclass$$], '42P01'),
    ('resume', ARRAY['source', $$'fz_plain'$$], '42704'),
    ('resume', ARRAY['source', $$'fz_view'$$], '42704'),
    ('resume', ARRAY['source', $$0::oid::regclass$$], '42P01'),
    ('resume', ARRAY['source', $$4294967295::oid::regclass$$], '42P01'),
    ('resume', ARRAY['source', 'NULL', 'reconcile', 'NULL'], '22023');

-- 6. register_mv, unregister_mv, request_refresh, refresh_now
INSERT INTO fuzz_plan (fn, o, expect) VALUES
    ('register_mv', ARRAY['mv', $$'fz_source'$$], '42809'),
    ('register_mv', ARRAY['mv', $$'fz_view'$$], '42809'),
    ('register_mv', ARRAY['mv', $$'"Ünïcødé"'$$], '42809'),
    ('register_mv', ARRAY['mv', $$'pg_class'$$], '42809'),
    ('register_mv', ARRAY['mv', $$'fz_mv'$$], '42710'),
    ('register_mv', ARRAY['mv', $$0::oid::regclass$$], '42P01'),
    ('register_mv', ARRAY['mv', $$4294967295::oid::regclass$$], '42P01'),
    ('register_mv', ARRAY['mv', $$repeat('x', 1000000)::regclass$$], '42P01'),
    -- debounce >= 0, max_delay >= debounce (22023)
    ('register_mv', ARRAY['debounce', $$'-1 second'$$], '22023'),
    ('register_mv', ARRAY['debounce', $$'-1 microsecond'$$], '22023'),
    ('register_mv', ARRAY['debounce', $$'-1 day'$$], '22023'),
    ('register_mv', ARRAY['debounce', $$'-1 month'$$], '22023'),
    ('register_mv', ARRAY['debounce', $$'3 hours'$$], '22023'),
    ('register_mv', ARRAY['max_delay', $$'0'$$], '22023'),
    ('register_mv', ARRAY['max_delay', $$'-5 seconds'$$], '22023'),
    ('register_mv', ARRAY['max_delay', $$'59 minutes'$$], '22023'),
    ('register_mv', ARRAY['debounce', $$'0'$$, 'max_delay', $$'0'$$], 'ok'),
    ('register_mv', ARRAY['max_delay', $$'1 hour'$$], 'ok'),
    -- depends_on: tables (22023 for a NULL element, 42P01 for an invalid one)
    ('register_mv', ARRAY['depends_on', $$'{fz_target}'$$], 'ok'),
    ('register_mv', ARRAY['depends_on', $$'{NULL}'$$], '22023'),
    ('register_mv', ARRAY['depends_on', $$'{fz_target,NULL}'$$], '22023'),
    ('register_mv', ARRAY['depends_on', $$'{-}'$$], '42P01'),
    ('register_mv', ARRAY['depends_on', $$ARRAY[4294967295::oid::regclass]$$], '42P01'),
    -- CONCURRENTLY needs a unique index (22023)
    ('register_mv', ARRAY['mv', $$'fz_mv_nouniq'$$], '22023'),
    ('unregister_mv', ARRAY['mv', $$'fz_mv2'$$], '42704'),
    ('unregister_mv', ARRAY['mv', $$'fz_mv2'$$, 'if_exists', 'true'], 'ok'),
    ('unregister_mv', ARRAY['mv', $$'fz_source'$$], '42704'),
    ('unregister_mv', ARRAY['mv', $$0::oid::regclass$$], '42P01'),
    ('unregister_mv', ARRAY['mv', $$4294967295::oid::regclass$$], '42P01'),
    ('unregister_mv', ARRAY['mv', 'NULL', 'if_exists', 'true'], '22023'),
    ('request_refresh', ARRAY['mv', $$'fz_mv2'$$], '42704'),
    ('request_refresh', ARRAY['mv', $$'fz_source'$$], '42704'),
    ('request_refresh', ARRAY['mv', $$0::oid::regclass$$], '42P01'),
    ('request_refresh', ARRAY['mv', $$4294967295::oid::regclass$$], '42P01'),
    ('refresh_now', ARRAY['mv', $$'fz_mv2'$$], '42704'),
    ('refresh_now', ARRAY['mv', $$'fz_source'$$], '42704'),
    ('refresh_now', ARRAY['mv', $$0::oid::regclass$$], '42P01'),
    ('refresh_now', ARRAY['mv', $$4294967295::oid::regclass$$], '42P01');

-- 7. reconcile, schedule_reconcile
INSERT INTO fuzz_plan (fn, o, expect) VALUES
    ('reconcile', ARRAY['batch_size', '0'], '22023'),
    ('reconcile', ARRAY['batch_size', '-1'], '22023'),
    ('reconcile', ARRAY['batch_size', '-2147483648'], '22023'),
    ('reconcile', ARRAY['batch_size', '1'], 'ok'),
    ('reconcile', ARRAY['name', $$''$$], '42704'),
    ('reconcile', ARRAY['name', $$repeat('x', 1000000)$$], '42704'),
    ('reconcile', ARRAY['name', $$'"Ünïcødé"'$$], '42704'),
    ('reconcile', ARRAY['name', $$'fz_count; DROP TABLE fz_target'$$], '42704'),
    ('reconcile', ARRAY['name', $$'fz_count'' OR ''1'' = ''1'$$], '42704'),
    ('reconcile', ARRAY['name', 'NULL', 'batch_size', '0'], '22023'),
    ('schedule_reconcile', ARRAY['name', $$''$$], '42704'),
    ('schedule_reconcile', ARRAY['name', $$repeat('x', 1000000)$$], '42704'),
    ('schedule_reconcile', ARRAY['name', $$'fz_count; DROP TABLE fz_target'$$], '42704'),
    ('schedule_reconcile', ARRAY['name', 'NULL', 'schedule', 'NULL'], '22023'),
    -- a schedule's syntax is pg_cron's to judge: without it, 55000
    ('schedule_reconcile', ARRAY['schedule', $$''$$], '55000'),
    ('schedule_reconcile', ARRAY['schedule', $$repeat('x', 1000000)$$], '55000'),
    ('schedule_reconcile', ARRAY['schedule', $$'0 3 * * *''; DROP TABLE fz_target; --'$$], '55000');

-- 8. publish_counter, unpublish_counter, redis_resync (README "Publishing to Redis")
INSERT INTO fuzz_plan (fn, o, expect) VALUES
    ('publish_counter', ARRAY['name', $$''$$], '42704'),
    ('publish_counter', ARRAY['name', $$repeat('x', 1000000)$$], '42704'),
    ('publish_counter', ARRAY['name', $$'fz_count; DROP TABLE fz_target'$$], '42704'),
    ('publish_counter', ARRAY['name', $$'fz_spare'$$], '42710'),
    ('publish_counter', ARRAY['name', $$'fz_latest'$$], '0A000'),
    ('publish_counter', ARRAY['mode', $$'list'$$], '22023'),
    ('publish_counter', ARRAY['mode', $$''$$], '22023'),
    ('publish_counter', ARRAY['mode', $$'HASH'$$], '22023'),
    ('publish_counter', ARRAY['mode', $$repeat('x', 1000000)$$], '22023'),
    ('publish_counter', ARRAY['mode', $$'stream'$$], 'ok'),
    ('publish_counter', ARRAY['redis_key', $$''$$], '22023'),
    ('publish_counter', ARRAY['redis_key', $$'app:counts'$$], 'ok'),
    ('publish_counter', ARRAY['redis_key', $$'"Ünïcødé" x; DEL *'$$], 'ok'),
    ('publish_counter', ARRAY['ttl', $$'0'$$], '22023'),
    ('publish_counter', ARRAY['ttl', $$'-1 hour'$$], '22023'),
    ('publish_counter', ARRAY['ttl', $$'1 day'$$], 'ok'),
    ('unpublish_counter', ARRAY['name', $$'fz_count'$$], '42704'),
    ('unpublish_counter', ARRAY['name', $$''$$], '42704'),
    ('unpublish_counter', ARRAY['name', $$repeat('x', 1000000)$$], '42704'),
    ('redis_resync', ARRAY['name', $$'fz_count'$$], '42704'),
    ('redis_resync', ARRAY['name', $$''$$], '42704');

-- 9. create_search_source, drop_search_source, search, search_reconcile (README "Search"):
-- any query text is a query; bad arguments as for counters.
INSERT INTO fuzz_plan (fn, o, expect) VALUES
    ('create_search_source', ARRAY['name', $$''$$], '22023'),
    ('create_search_source', ARRAY['name', $$repeat('x', 1000000)$$], '22023'),
    ('create_search_source', ARRAY['name', $$'"Ünïcødé"'$$], '22023'),
    ('create_search_source', ARRAY['name', $$'x; DROP TABLE fz_source'$$], '22023'),
    ('create_search_source', ARRAY['name', $$'fz_search'$$], '42710'),
    ('create_search_source', ARRAY['source', $$0::oid::regclass$$], '42P01'),
    ('create_search_source', ARRAY['source', $$4294967295::oid::regclass$$], '42P01'),
    ('create_search_source', ARRAY['source', $$'fz_view'$$], '42809'),
    ('create_search_source', ARRAY['source', $$'fz_mv'$$], '42809'),
    ('create_search_source', ARRAY['source', $$'"Ünïcødé"'$$], '42703'),
    ('create_search_source', ARRAY['title', $$''$$], '0A000'),
    ('create_search_source', ARRAY['title', $$repeat('x', 1000000)$$], '42703'),
    ('create_search_source', ARRAY['title', $$'"Ünïcødé"'$$], 'ok'),
    ('create_search_source', ARRAY['title', $$'body; DROP TABLE fz_source'$$], '0A000'),
    ('create_search_source', ARRAY['title', $$'(SELECT body FROM fz_source LIMIT 1)'$$], '0A000'),
    ('create_search_source', ARRAY['title', $$'at'$$], '0A000'),
    ('create_search_source', ARRAY['doc_key', $$'at'$$], '0A000'),
    ('create_search_source', ARRAY['doc_key', $$'target_id'$$], 'ok'),
    ('create_search_source', ARRAY['filter', $$'score'$$], '42804'),
    ('create_search_source', ARRAY['filter', $$'random() > 0.5'$$], '0A000'),
    ('create_search_source', ARRAY['boost', $$'body'$$], '42804'),
    ('create_search_source', ARRAY['boost', $$'sum(score)'$$], '0A000'),
    ('create_search_source', ARRAY['language', $$'simple'$$], 'ok'),
    ('drop_search_source', ARRAY['name', $$''$$], '42704'),
    ('drop_search_source', ARRAY['name', $$repeat('x', 1000000)$$], '42704'),
    ('drop_search_source', ARRAY['name', $$'fz_count'$$], '42704'),
    ('drop_search_source', ARRAY['name', $$'fz_count'$$, 'if_exists', 'true'], 'ok'),
    ('search', ARRAY['query', $$''$$], 'ok'),
    ('search', ARRAY['query', $$repeat('x', 1000000)$$], 'ok'),
    ('search', ARRAY['query', $$repeat('a b ', 500000)$$], 'ok'),
    ('search', ARRAY['query', $$'!!! & | (('$$], 'ok'),
    ('search', ARRAY['query', $$'"Ünïcødé" -or -"" :* <->'$$], 'ok'),
    ('search', ARRAY['sources', $$'{}'$$], 'ok'),
    ('search', ARRAY['sources', $$'{fz_search}'$$], 'ok'),
    ('search', ARRAY['sources', $$'{NULL}'$$], '22023'),
    ('search', ARRAY['sources', $$'{fz_count}'$$], '42704'),
    ('search', ARRAY['max_results', '0'], '22023'),
    ('search', ARRAY['max_results', '-2147483648'], '22023'),
    ('search', ARRAY['max_results', '2147483647'], 'ok'),
    ('search_reconcile', ARRAY['name', $$''$$], '42704'),
    ('search_reconcile', ARRAY['name', $$repeat('x', 1000000)$$], '42704'),
    ('search_reconcile', ARRAY['name', 'NULL'], 'ok'),
    ('search_reconcile', ARRAY['fix', 'false'], 'ok');

-- 10. A role that owns neither the tables nor the views, with every right on them: 42501
-- (run_pending is not granted to PUBLIC: 42501 too). Reading and advice are for everyone.
INSERT INTO fuzz_plan (non_owner, fn, o, expect) VALUES
    (true, 'create_counter', '{}', '42501'),
    (true, 'create_latest', '{}', '42501'),
    (true, 'drop_counter', ARRAY['name', $$'fz_count'$$], '42501'),
    (true, 'suspend', '{}', '42501'),
    (true, 'resume', '{}', '42501'),
    (true, 'register_mv', '{}', '42501'),
    (true, 'unregister_mv', '{}', '42501'),
    (true, 'refresh_now', '{}', '42501'),
    (true, 'run_pending', '{}', '42501'),
    (true, 'reconcile', '{}', '42501'),
    (true, 'reconcile', ARRAY['name', 'NULL'], 'ok'),
    (true, 'counter_value', '{}', 'ok'),
    (true, 'health', '{}', 'ok'),
    (true, 'advise', '{}', 'ok'),
    (true, 'publish_counter', '{}', '42501'),
    (true, 'unpublish_counter', '{}', '42501'),
    (true, 'redis_resync', '{}', '42501'),
    (true, 'redis_resync', ARRAY['name', 'NULL'], 'ok'),
    (true, 'metrics', '{}', 'ok'),
    (true, 'stats_reset', '{}', '42501'),
    (true, 'create_search_source', '{}', '42501'),
    (true, 'drop_search_source', '{}', '42501'),
    (true, 'search', '{}', 'ok'),
    (true, 'search_reconcile', '{}', '42501'),
    (true, 'search_reconcile', ARRAY['name', 'NULL'], 'ok');

GRANT USAGE ON SCHEMA fuzz TO regress_denorm_fuzz;
GRANT ALL ON ALL TABLES IN SCHEMA fuzz TO regress_denorm_fuzz;

-- Runs the cases of one role in order, records what each gave, prints one line each.
CREATE FUNCTION fuzz_run(as_non_owner boolean) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    c fuzz_plan;
    line text;
BEGIN
    FOR c IN SELECT * FROM fuzz_plan p WHERE p.non_owner = as_non_owner ORDER BY p.ord LOOP
        line := fuzz_try(CASE WHEN as_non_owner THEN 'as non-owner: ' ELSE '' END || fuzz_label(c.fn, c.o),
                         fuzz_call(c.fn, c.o), c.expect = 'ok');
        UPDATE fuzz_plan SET got = substring(line FROM ': (\S+)$') WHERE ord = c.ord;
        RETURN NEXT line;
    END LOOP;
END $$;

-- The extension's catalog state: definitions, registrations (without the refresh
-- bookkeeping the worker updates on its own, for other tests' views too), denorm's
-- triggers, the number of reconcile runs logged. And the data of the fuzzed tables.
CREATE FUNCTION fuzz_fingerprint() RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws(E'\n',
        (SELECT string_agg(d::text, E'\n' ORDER BY d.name) FROM denorm._definitions d),
        (SELECT string_agg(format('%s %s %s %s %s %s %s %s', r.mv::oid, r.debounce, r.max_delay, r.depends_on,
                                  r.sources, r.reads_views, r."concurrently", r.registered_at), E'\n' ORDER BY r.mv::oid)
           FROM denorm._mv_registry r),
        (SELECT string_agg(format('%s %s %s %s %s', t.tgrelid, t.tgname, t.tgfoid, t.tgtype, t.tgenabled), E'\n'
                           ORDER BY t.tgrelid, t.tgname)
           FROM pg_trigger t WHERE t.tgname LIKE 'denorm%'),
        (SELECT count(*) FROM denorm.reconcile_log)::text,
        (SELECT string_agg(format('%s %s %s %s', p.counter, p.redis_key, p.mode, p.ttl), E'\n' ORDER BY p.counter)
           FROM denorm._publications p),
        (SELECT count(*) FROM denorm._outbox)::text,
        (SELECT string_agg(s::text, E'\n' ORDER BY s.name) FROM denorm._search_sources s)))
$$;
CREATE FUNCTION fuzz_data() RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws(E'\n', (SELECT string_agg(t::text, E'\n' ORDER BY t.id) FROM fz_target t),
                                (SELECT string_agg(s::text, E'\n' ORDER BY s.id) FROM fz_source s)))
$$;

-- The public API, from pg_proc: a function added later shows up here, and below
-- if it has no baseline (so no cases).
SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS public_function
  FROM pg_proc p WHERE p.pronamespace = 'denorm'::regnamespace AND p.proname !~ '^_' ORDER BY 1;
SELECT coalesce(string_agg(p.proname, ', ' ORDER BY p.proname), '(none)') AS functions_without_cases
  FROM pg_proc p WHERE p.pronamespace = 'denorm'::regnamespace AND p.proname !~ '^_'
   AND NOT EXISTS (SELECT 1 FROM fuzz_baseline b WHERE b.fn = p.proname);

SELECT fuzz_fingerprint() AS catalog_before, fuzz_data() AS data_before \gset
\pset tuples_only on
\pset format unaligned
SELECT fuzz_run(false);
SET ROLE regress_denorm_fuzz;
SELECT fuzz_run(true);
RESET ROLE;
-- Nothing the calls did is left behind (the refused ones, and the valid ones rolled back).
SELECT 'catalog unchanged: ' || CASE WHEN fuzz_fingerprint() = :'catalog_before' THEN 't' ELSE 'f' END;
SELECT 'data unchanged: ' || CASE WHEN fuzz_data() = :'data_before' THEN 't' ELSE 'f' END;
SELECT 'cases: ' || count(*) || ', not as documented: ' || count(*) FILTER (WHERE got IS DISTINCT FROM expect)
  FROM fuzz_plan;
SELECT 'not as documented: ' || fuzz_label(fn, o) || CASE WHEN non_owner THEN ' as non-owner' ELSE '' END
       || ': expected ' || expect || ', got ' || coalesce(got, '(not run)')
  FROM fuzz_plan WHERE got IS DISTINCT FROM expect ORDER BY ord;
\pset tuples_only off
\pset format aligned

DROP SCHEMA fuzz CASCADE;
DROP ROLE regress_denorm_fuzz;
SELECT count(*) AS definitions_left FROM denorm._definitions WHERE name LIKE 'fz\_%';
RESET client_min_messages;
