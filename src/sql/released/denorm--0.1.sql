-- denorm 0.1 install script, as released (0.1 -> 0.2: src/sql/updates): the counter
-- catalog, its API and internal helpers.
-- Every name is schema-qualified; functions that run SQL pin search_path.
\echo Use "CREATE EXTENSION denorm" to load this file. \quit

-- Refuse a pre-created "denorm" schema: its owner could capture our calls
-- (README "Security"). CREATE EXTENSION made it just now only if it is
-- empty and owned by a superuser.
DO $guard$
DECLARE nsp pg_catalog.oid := pg_catalog.to_regnamespace('denorm')::pg_catalog.oid;
BEGIN
  IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_namespace n
            JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
           WHERE n.oid OPERATOR(pg_catalog.=) nsp)
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) nsp)
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) nsp)
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) nsp)
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) nsp) THEN
    RAISE EXCEPTION 'schema "denorm" already exists and is not a fresh schema owned by a superuser'
      USING HINT = 'Drop or rename that schema, then run CREATE EXTENSION again.';
  END IF;
END $guard$;

GRANT USAGE ON SCHEMA denorm TO PUBLIC;

-------------------------------------------------------------------------------
-- Catalog. Tables and columns are stored by name/regclass (never attnums or node
-- trees) so pg_dump/pg_restore gives back working definitions.
-------------------------------------------------------------------------------
CREATE TABLE denorm._definitions (
    name            text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('count', 'sum', 'min', 'max', 'latest')),
    target          regclass NOT NULL,
    target_columns  text[] NOT NULL,
    source          regclass NOT NULL,
    source_key      text[] NOT NULL,
    target_key      text[] NOT NULL,       -- resolved at creation (the primary key when not given)
    value           text,                  -- count/sum/min/max: expression over the source row
    source_values   text[],                -- latest: expressions copied into target_columns
    filter          text,
    order_by        text[],                -- latest: the greatest tuple wins
    create_missing  boolean NOT NULL DEFAULT false,
    touch           text,
    deferred        boolean NOT NULL DEFAULT false,
    suspended       boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('denorm._definitions', '');
-- Readable by all (denorm.counters shows the same): writers' triggers load it.
GRANT SELECT ON denorm._definitions TO PUBLIC;

CREATE VIEW denorm.counters AS
SELECT name, kind, target, target_columns, source, source_key, target_key, value, filter,
       create_missing, deferred, created_at, suspended, source_values, order_by
  FROM denorm._definitions;
GRANT SELECT ON denorm.counters TO PUBLIC;

-- Deferred counters (README "Deferred counters for hot keys"): writers append their statement's net change per key
-- here instead of updating the target row (no lock on a hot row); the worker or
-- run_pending() folds them into the target. The counter's value is the target column
-- plus its pending deltas, and every recount (init, backfill, TRUNCATE, reconcile)
-- writes the column as the aggregate minus the pending deltas, so a later fold keeps
-- it exact. key holds the target key values as text, in the order of the target key
-- columns' names (what _pending_key_sql builds).
CREATE TABLE denorm._pending_deltas (
    counter  text NOT NULL,
    key      text[] NOT NULL,
    delta    numeric NOT NULL
);
CREATE INDEX ON denorm._pending_deltas (counter, key);
SELECT pg_catalog.pg_extension_config_dump('denorm._pending_deltas', '');
-- Readable by all (counter_value adds them up with the caller's rights).
GRANT SELECT ON denorm._pending_deltas TO PUBLIC;

-------------------------------------------------------------------------------
-- Native helpers (src/pg). Internal ones are not for PUBLIC.
-------------------------------------------------------------------------------
CREATE FUNCTION denorm._counter_stmt_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_counter_stmt_trigger';
CREATE FUNCTION denorm._counter_row_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_counter_row_trigger';
CREATE FUNCTION denorm._counter_truncate_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_counter_truncate_trigger';
CREATE FUNCTION denorm._counter_init_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_counter_init_trigger';

-- Parses expr as one scalar expression over a row of source and returns its type;
-- raises 0A000 for subqueries, aggregates, window/set-returning/volatile functions.
CREATE FUNCTION denorm._expression_type(source regclass, expr text, what text) RETURNS regtype
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_expression_type';
-- The same expression as SQL text that is safe to embed and independent of search_path.
CREATE FUNCTION denorm._deparse_expression(source regclass, expr text) RETURNS text
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_deparse_expression';
-- Raises 42804 unless values of the two types can be compared with =.
CREATE FUNCTION denorm._check_key_types(source_column text, source_type regtype,
                                        target_column text, target_type regtype) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_check_key_types';
-- The catalog-free rules of src/core/definition_rules (22023/42804/0A000).
CREATE FUNCTION denorm._check_counter_shape(name text, aggregate text, has_value boolean,
        source_key_len integer, target_key_len integer, deferred boolean) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_check_counter_shape';
CREATE FUNCTION denorm._check_column_sharing(target_column text, column_type text, aggregate text,
        existing text[]) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_check_column_sharing';
-- Drops every backend's cached definitions of rel at commit.
-- Whether a value of type from_type may be stored in a column of type to_type.
CREATE FUNCTION denorm._assignable(from_type regtype, to_type regtype) RETURNS boolean
    LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'denorm_assignable';
-- Whether values of the type have a default btree ordering.
CREATE FUNCTION denorm._orderable(type regtype) RETURNS boolean
    LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'denorm_orderable';
CREATE FUNCTION denorm._invalidate(rel regclass) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_invalidate';

REVOKE ALL ON FUNCTION denorm._counter_stmt_trigger(), denorm._counter_row_trigger(), denorm._counter_truncate_trigger(),
    denorm._counter_init_trigger(), denorm._expression_type(regclass, text, text),
    denorm._check_key_types(text, regtype, text, regtype),
    denorm._check_counter_shape(text, text, boolean, integer, integer, boolean),
    denorm._check_column_sharing(text, text, text, text[]), denorm._invalidate(regclass) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Trigger management: one set of statement triggers per source table (and per
-- partition, since statement triggers are not cloned), one BEFORE INSERT trigger
-- per target table that starts a new target row at the right value.
-------------------------------------------------------------------------------
-- rel and, when it is partitioned, every partition below it (pg_partition_tree() is
-- empty for a plain table): statement triggers are not cloned to partitions.
CREATE FUNCTION denorm._relation_tree(rel regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT rel UNION SELECT relid FROM pg_catalog.pg_partition_tree(rel)
$$;

-- Creates trigger `name` on rel (CREATE TRIGGER name <definition>, %s = rel) when wanted
-- and missing; drops it when not wanted and present.
CREATE FUNCTION denorm._set_trigger(rel regclass, name text, wanted boolean, definition text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    present boolean := EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = rel AND tgname = name);
BEGIN
    IF wanted AND NOT present THEN
        EXECUTE pg_catalog.format('CREATE TRIGGER %I ', name) || pg_catalog.format(definition, rel);
    ELSIF present AND NOT wanted THEN
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', name, rel);
    END IF;
END $$;

-- The statement triggers of a counter source, on the source and each partition.
-- "OLD.a IS DISTINCT FROM NEW.a OR ...": some column that a definition on source reads
-- (keys, and the columns of filters, values, source values and order_by) changed.
CREATE FUNCTION denorm._changed_columns_sql(source regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.string_agg(pg_catalog.format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', c), ' OR ' ORDER BY c)
      FROM (SELECT DISTINCT c FROM denorm._definitions x,
                   LATERAL (SELECT pg_catalog.unnest(x.source_key)
                            UNION ALL
                            SELECT pg_catalog.unnest(denorm._column_refs(e))
                              FROM pg_catalog.unnest(ARRAY[x.filter, x.value] || coalesce(x.source_values, '{}')
                                                     || coalesce(x.order_by, '{}')) e
                             WHERE e IS NOT NULL) u(c)
             WHERE x.source = _changed_columns_sql.source
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = _changed_columns_sql.source
                              AND a.attname = u.c AND a.attnum > 0 AND NOT a.attisdropped)) cols(c)
$$;

CREATE FUNCTION denorm._sync_source_triggers(source regclass, wanted boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN SELECT denorm._relation_tree(source) LOOP
        PERFORM denorm._set_trigger(rel, 'denorm_counter_insert', wanted,
            'AFTER INSERT ON %s REFERENCING NEW TABLE AS denorm_new FOR EACH STATEMENT '
            'EXECUTE FUNCTION denorm._counter_stmt_trigger()');
        -- UPDATE: a plain table gets a row trigger that fires only when a column some
        -- definition reads changed; a partition tree keeps the statement trigger, whose
        -- transition tables also carry rows moved between partitions (row movement
        -- fires no UPDATE row trigger). The WHEN clause follows the definitions.
        IF wanted AND rel = source AND (SELECT c.relkind = 'r' AND NOT c.relispartition
                                          FROM pg_catalog.pg_class c WHERE c.oid = rel) THEN
            PERFORM denorm._set_trigger(rel, 'denorm_counter_update', false, NULL);
            PERFORM denorm._set_trigger(rel, 'denorm_counter_update', true,
                'AFTER UPDATE ON %s FOR EACH ROW WHEN (' || denorm._changed_columns_sql(rel) || ') '
                'EXECUTE FUNCTION denorm._counter_row_trigger()');
        ELSE
            PERFORM denorm._set_trigger(rel, 'denorm_counter_update', wanted,
                'AFTER UPDATE ON %s REFERENCING OLD TABLE AS denorm_old NEW TABLE AS denorm_new FOR EACH STATEMENT '
                'EXECUTE FUNCTION denorm._counter_stmt_trigger()');
        END IF;
        PERFORM denorm._set_trigger(rel, 'denorm_counter_delete', wanted,
            'AFTER DELETE ON %s REFERENCING OLD TABLE AS denorm_old FOR EACH STATEMENT '
            'EXECUTE FUNCTION denorm._counter_stmt_trigger()');
        PERFORM denorm._set_trigger(rel, 'denorm_counter_truncate', wanted,
            'AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION denorm._counter_truncate_trigger()');
    END LOOP;
END $$;

CREATE FUNCTION denorm._sync_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM denorm._sync_source_triggers(rel, EXISTS (SELECT 1 FROM denorm._definitions WHERE source = rel));
    PERFORM denorm._set_trigger(rel, 'denorm_counter_init', EXISTS (SELECT 1 FROM denorm._definitions WHERE target = rel),
        'BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION denorm._counter_init_trigger()');
    PERFORM denorm._invalidate(rel);
END $$;

-------------------------------------------------------------------------------
-- Recomputation. One set-based statement recomputes a target column from every
-- definition that writes it (backfill, TRUNCATE of a source).
-------------------------------------------------------------------------------
-- SQL pieces of one definition, shared by the set-based recount (backfill, TRUNCATE,
-- reconcile candidates), the per-key recount (reconcile fixes) and a new target row's
-- initial value. Expressions are deparsed, so they mean the same under any search_path.
CREATE FUNCTION denorm._filter_sql(d denorm._definitions) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN d.filter IS NULL THEN 'true'
                ELSE pg_catalog.format('(%s) IS TRUE', denorm._deparse_expression(d.source, d.filter)) END
$$;

CREATE FUNCTION denorm._aggregate_sql(d denorm._definitions) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN d.kind = 'count' THEN 'pg_catalog.count(*)'
                ELSE pg_catalog.format('pg_catalog.sum(%s)', denorm._deparse_expression(d.source, d.value)) END
$$;

-- The definition's aggregate for one key, by an index probe of the source:
-- key_refs[i] is the SQL that gives the value of target_key[i] (a column reference or a
-- parameter).
CREATE FUNCTION denorm._probe_sql(d denorm._definitions, key_refs text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.format('coalesce((SELECT %s FROM %s WHERE %s%s), 0)',
               denorm._aggregate_sql(d), d.source, denorm._filter_sql(d),
               (SELECT pg_catalog.string_agg(pg_catalog.format(' AND %I = %s', d.source_key[i], key_refs[i]), '' ORDER BY i)
                  FROM pg_catalog.generate_series(1, pg_catalog.cardinality(d.source_key)) i))
$$;

-- The type of a column as SQL, with its typmod (for casts to it).
CREATE FUNCTION denorm._column_sql_type(rel regclass, col text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- A deferred definition's pending key for the target row whose key column
-- d.target_key[i] is given by key_refs[i]: the values as text, through the target
-- columns' types (so '007' and 7 are one key), ordered by column name.
CREATE FUNCTION denorm._pending_key_sql(d denorm._definitions, key_refs text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'ARRAY[' || pg_catalog.string_agg(pg_catalog.format('((%s)::%s)::pg_catalog.text', key_refs[o],
               denorm._column_sql_type(d.target, k)), ', ' ORDER BY k) || ']::pg_catalog.text[]'
      FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(k, o)
$$;

-- The sum of a deferred definition's pending deltas for one target row (0 when none).
CREATE FUNCTION denorm._pending_sql(d denorm._definitions, key_refs text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.format('coalesce((SELECT pg_catalog.sum(p.delta) FROM denorm._pending_deltas p '
                             'WHERE p.counter = %L AND p.key = %s), 0)', d.name, denorm._pending_key_sql(d, key_refs))
$$;

-- What one definition contributes to a recount of one target row: its probe, minus
-- its pending deltas when deferred.
CREATE FUNCTION denorm._contribution_sql(d denorm._definitions, key_refs text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT denorm._probe_sql(d, key_refs)
           || CASE WHEN d.deferred THEN ' - ' || denorm._pending_sql(d, key_refs) ELSE '' END
$$;

-------------------------------------------------------------------------------
-- min, max and latest ("extremum" definitions) cannot be undone by a delta: a target
-- row's value is recomputed by index probes of the sources. Definitions writing the
-- same target columns form a group: the least, the greatest or the newest of their
-- probes.
-------------------------------------------------------------------------------
-- The query giving the group `columns` of target (v1..vn, at most one row) for the
-- target row whose key column key_cols[i] is given by the SQL key_refs[i] (a column of
-- the row being written, or a parameter). A latest's source rows with a NULL in an
-- order_by expression never win, so the probe can read an index on (key, order_by)
-- backwards.
CREATE FUNCTION denorm._group_query(target regclass, columns text[], key_cols text[], key_refs text[]) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
    kind text;
    parts text[] := '{}';
    keys text;
    nord int;
    types text[] := ARRAY(SELECT denorm._column_sql_type(target, c)
                            FROM pg_catalog.unnest(columns) WITH ORDINALITY u(c, o) ORDER BY o);
BEGIN
    FOR d IN SELECT * FROM denorm._definitions x
              WHERE x.target = _group_query.target AND x.target_columns = columns ORDER BY x.name LOOP
        kind := d.kind;
        keys := (SELECT pg_catalog.string_agg(pg_catalog.format(' AND %I = %s', d.source_key[i],
                        key_refs[pg_catalog.array_position(key_cols, d.target_key[i])]), '' ORDER BY i)
                   FROM pg_catalog.generate_series(1, pg_catalog.cardinality(d.source_key)) i);
        IF kind = 'latest' THEN
            nord := pg_catalog.cardinality(d.order_by);
            parts := parts || pg_catalog.format('(SELECT %s, %s FROM %s WHERE %s%s%s ORDER BY %s LIMIT 1)',
                (SELECT pg_catalog.string_agg(pg_catalog.format('(%s)::%s AS v%s',
                            denorm._deparse_expression(d.source, e), types[o], o), ', ' ORDER BY o)
                   FROM pg_catalog.unnest(d.source_values) WITH ORDINALITY u(e, o)),
                (SELECT pg_catalog.string_agg(pg_catalog.format('%s AS o%s', denorm._deparse_expression(d.source, e), o), ', ' ORDER BY o)
                   FROM pg_catalog.unnest(d.order_by) WITH ORDINALITY u(e, o)),
                d.source, denorm._filter_sql(d), keys,
                (SELECT pg_catalog.string_agg(pg_catalog.format(' AND (%s) IS NOT NULL', denorm._deparse_expression(d.source, e)), '')
                   FROM pg_catalog.unnest(d.order_by) e),
                (SELECT pg_catalog.string_agg(pg_catalog.format('o%s DESC', o), ', ' ORDER BY o)
                   FROM pg_catalog.generate_series(1, nord) o));
        ELSE
            parts := parts || pg_catalog.format('(SELECT pg_catalog.%s(%s) FROM %s WHERE %s%s)::%s', kind,
                denorm._deparse_expression(d.source, d.value), d.source, denorm._filter_sql(d), keys, types[1]);
        END IF;
    END LOOP;
    IF kind = 'latest' THEN
        RETURN pg_catalog.format('SELECT %s FROM (%s) u ORDER BY %s LIMIT 1',
            (SELECT pg_catalog.string_agg('u.v' || o, ', ' ORDER BY o)
               FROM pg_catalog.generate_series(1, pg_catalog.cardinality(columns)) o),
            pg_catalog.array_to_string(parts, ' UNION ALL '),
            (SELECT pg_catalog.string_agg(pg_catalog.format('u.o%s DESC', o), ', ' ORDER BY o)
               FROM pg_catalog.generate_series(1, nord) o));
    END IF;
    -- (LEAST and GREATEST are keywords, not functions: never schema-qualified.)
    RETURN pg_catalog.format('SELECT %s(%s) AS v1', CASE kind WHEN 'min' THEN 'LEAST' ELSE 'GREATEST' END,
                             pg_catalog.array_to_string(parts, ', '));
END $$;

-- "SET (c1, .., cn[, touch]) = (...)": the group's new values for the target row
-- aliased t (key_refs as for _group_query); touch, when given, is set to now() when
-- they differ from the stored ones.
CREATE FUNCTION denorm._group_set_sql(target regclass, columns text[], key_cols text[], key_refs text[],
                                      touch text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    news text := (SELECT pg_catalog.string_agg('x.v' || o, ', ' ORDER BY o)
                    FROM pg_catalog.generate_series(1, pg_catalog.cardinality(columns)) o);
BEGIN
    RETURN pg_catalog.format('SET (%s%s) = (SELECT %s%s FROM (SELECT 1) _one LEFT JOIN LATERAL (%s) x ON true)',
        (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ' ORDER BY o) FROM pg_catalog.unnest(columns) WITH ORDINALITY u(c, o)),
        CASE WHEN touch IS NULL THEN '' ELSE ', ' || pg_catalog.quote_ident(touch) END,
        news,
        CASE WHEN touch IS NULL THEN '' ELSE pg_catalog.format(
            ', CASE WHEN ROW(%s) IS DISTINCT FROM ROW(%s) THEN pg_catalog.now() ELSE t.%I END',
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ' ORDER BY o)
               FROM pg_catalog.unnest(columns) WITH ORDINALITY u(c, o)), news, touch) END,
        denorm._group_query(target, columns, key_cols, key_refs));
END $$;

-- A latest whose order_by expressions are all among its source values keeps its
-- winner's order tuple in the target row. Then a statement that only added rows for a
-- key needs no lock-and-recompute: one UPDATE writes the newest of the key's rows (read
-- under this statement's snapshot, so it includes the writer's own) only if its tuple
-- is greater than the stored one, which the UPDATE re-reads at its latest version after
-- any wait — a newer row committed meanwhile is never overwritten by an older one.
-- NULL when the definitions of the group do not all store the tuple in the same columns.
CREATE FUNCTION denorm._latest_fast_sql(d denorm._definitions, where_key text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    positions int[];
    n int := pg_catalog.cardinality(d.target_columns);
BEGIN
    positions := ARRAY(SELECT pg_catalog.array_position(d.source_values, e)
                         FROM pg_catalog.unnest(d.order_by) WITH ORDINALITY u(e, o) ORDER BY o);
    IF EXISTS (SELECT 1 FROM pg_catalog.unnest(positions) p WHERE p IS NULL) OR EXISTS (
           SELECT 1 FROM denorm._definitions x
            WHERE x.target = d.target AND x.target_columns = d.target_columns
              AND ARRAY(SELECT pg_catalog.array_position(x.source_values, e)
                          FROM pg_catalog.unnest(x.order_by) WITH ORDINALITY u(e, o) ORDER BY o) IS DISTINCT FROM positions) THEN
        RETURN NULL;
    END IF;
    RETURN pg_catalog.format(
        'WITH x AS (%s) UPDATE %s t SET (%s%s) = ROW(%s%s) FROM x WHERE %s AND (ROW(%s) < ROW(%s) OR t.%I IS NULL) RETURNING 1',
        denorm._group_query(d.target, d.target_columns, d.target_key,
            ARRAY(SELECT '$' || (o + 2) FROM pg_catalog.generate_series(1, pg_catalog.cardinality(d.target_key)) o)),
        d.target,
        (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ' ORDER BY o) FROM pg_catalog.unnest(d.target_columns) WITH ORDINALITY u(c, o)),
        CASE WHEN d.touch IS NULL THEN '' ELSE ', ' || pg_catalog.quote_ident(d.touch) END,
        (SELECT pg_catalog.string_agg('x.v' || o, ', ' ORDER BY o) FROM pg_catalog.generate_series(1, n) o),
        CASE WHEN d.touch IS NULL THEN '' ELSE ', pg_catalog.now()' END,
        where_key,
        (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', d.target_columns[p]), ', ' ORDER BY o)
           FROM pg_catalog.unnest(positions) WITH ORDINALITY u(p, o)),
        (SELECT pg_catalog.string_agg('x.v' || p, ', ' ORDER BY o) FROM pg_catalog.unnest(positions) WITH ORDINALITY u(p, o)),
        d.target_columns[positions[1]]);
END $$;

-- The statements a writer runs for one extremum definition and one target key:
-- parameters $1 and $2 are the best value the statement added and the best it removed
-- (min and max), $3.. the source key. fast_sql (min, max) folds the added value in and
-- returns a row unless a removed value may have been the stored one (a latest's, used
-- when the statement only added rows for the key: see _latest_fast_sql); otherwise the
-- writer locks the row (lock_sql) and recomputes it in a new statement
-- (recompute_sql), which then sees every writer that committed before the lock.
-- create_sql inserts a missing target row (create_missing); its BEFORE INSERT trigger
-- computes the values.
CREATE FUNCTION denorm._extremum_statements(counter_name text, OUT lock_sql text, OUT recompute_sql text,
                                            OUT create_sql text, OUT fast_sql text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
    where_key text;
    col text;
    coltype text;
    best text;
BEGIN
    SELECT * INTO d FROM denorm._definitions x WHERE x.name = counter_name;
    where_key := (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I = $%s', k, o + 2), ' AND ' ORDER BY o)
                    FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(k, o));
    lock_sql := pg_catalog.format('SELECT 1 FROM %s t WHERE %s FOR NO KEY UPDATE', d.target, where_key);
    recompute_sql := pg_catalog.format('UPDATE %s t %s WHERE %s', d.target,
        denorm._group_set_sql(d.target, d.target_columns, d.target_key, denorm._refs('t', d.target_key), d.touch),
        where_key);
    IF d.create_missing THEN
        create_sql := pg_catalog.format('INSERT INTO %s AS t (%s) VALUES (%s) ON CONFLICT (%s) DO NOTHING RETURNING true',
            d.target, pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(k) FROM pg_catalog.unnest(d.target_key) k), ', '),
            (SELECT pg_catalog.string_agg('$' || (o + 2), ', ' ORDER BY o) FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(k, o)),
            pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(k) FROM pg_catalog.unnest(d.target_key) k), ', '));
    END IF;
    IF d.kind = 'latest' THEN
        fast_sql := denorm._latest_fast_sql(d, where_key);
    ELSIF d.kind IN ('min', 'max') THEN
        col := d.target_columns[1];
        coltype := denorm._column_sql_type(d.target, col);
        best := pg_catalog.format('%s(t.%I, $1::%s)', CASE d.kind WHEN 'min' THEN 'LEAST' ELSE 'GREATEST' END,
                                  col, coltype);
        fast_sql := pg_catalog.format(
            'UPDATE %s t SET %I = %s%s WHERE %s AND ($2::%s IS NULL OR t.%I OPERATOR(pg_catalog.%s) $2::%s) RETURNING 1',
            d.target, col, best,
            CASE WHEN d.touch IS NULL THEN '' ELSE pg_catalog.format(
                ', %I = CASE WHEN %s IS DISTINCT FROM t.%I THEN pg_catalog.now() ELSE t.%I END', d.touch, best, col, d.touch) END,
            where_key, coltype, col, CASE d.kind WHEN 'min' THEN '<' ELSE '>' END, coltype);
    END IF;
END $$;

-- The SELECT giving, per source key, one definition's aggregate (as x), its key as
-- k1..kn in the order of keycols (target columns; definitions sharing a column key
-- it by the same target columns, possibly from source columns in another order).
CREATE FUNCTION denorm._aggregate_query(d denorm._definitions, keycols text[]) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keys text := '';
    key_present text := '';
    col text;
    i int;
BEGIN
    FOR i IN 1 .. pg_catalog.array_length(keycols, 1) LOOP
        col := d.source_key[pg_catalog.array_position(d.target_key, keycols[i])];
        keys := keys || pg_catalog.format('%I AS k%s, ', col, i);
        key_present := key_present || pg_catalog.format('%I IS NOT NULL AND ', col);
    END LOOP;
    RETURN pg_catalog.format('SELECT %s%s AS x FROM %s WHERE %s(%s) GROUP BY %s',
        keys,
        pg_catalog.format('coalesce(%s, 0)::pg_catalog.numeric', denorm._aggregate_sql(d)),
        d.source, key_present, denorm._filter_sql(d),
        (SELECT pg_catalog.string_agg(g::text, ', ')
           FROM pg_catalog.generate_series(1, pg_catalog.array_length(keycols, 1)) g));
END $$;

-- Minus a deferred definition's pending deltas per key, shaped like _aggregate_query.
-- "(p.key[2])::integer": target key column col of the pending row aliased p (the key
-- holds the columns in name order, as _pending_key_sql builds it).
CREATE FUNCTION denorm._pending_key_element(d denorm._definitions, p text, col text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.format('(%s.key[%s])::%s', p,
               (SELECT pg_catalog.count(*) FROM pg_catalog.unnest(d.target_key) k WHERE k <= col),
               denorm._column_sql_type(d.target, col))
$$;

CREATE FUNCTION denorm._pending_query(d denorm._definitions, keycols text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.format('SELECT %s, -pg_catalog.sum(p.delta) AS x FROM denorm._pending_deltas p '
                             'WHERE p.counter = %L GROUP BY %s',
               (SELECT pg_catalog.string_agg(pg_catalog.format('%s AS k%s', denorm._pending_key_element(d, 'p', c), i),
                                             ', ' ORDER BY i)
                  FROM pg_catalog.unnest(keycols) WITH ORDINALITY u(c, i)),
               d.name,
               (SELECT pg_catalog.string_agg(g::text, ', ') FROM pg_catalog.generate_series(1, pg_catalog.cardinality(keycols)) g))
$$;

-- The combined value of a target column for every key that has source rows:
-- query yields k1..kn (in the order of keycols) and total.
CREATE FUNCTION denorm._expected_query(target regclass, target_column text,
                                       OUT query text, OUT keycols text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
    parts text[] := '{}';
    ks text;
BEGIN
    FOR d IN SELECT * FROM denorm._definitions x
              WHERE x.target = _expected_query.target AND x.target_columns[1] = target_column
                AND x.kind IN ('count', 'sum') ORDER BY x.name LOOP
        keycols := coalesce(keycols, d.target_key);
        parts := parts || denorm._aggregate_query(d, keycols);
        IF d.deferred THEN
            parts := parts || denorm._pending_query(d, keycols);
        END IF;
    END LOOP;
    IF keycols IS NULL THEN
        RETURN;
    END IF;
    ks := (SELECT pg_catalog.string_agg('k' || g, ', ')
             FROM pg_catalog.generate_series(1, pg_catalog.array_length(keycols, 1)) g);
    query := pg_catalog.format('SELECT %1$s, pg_catalog.sum(x) AS total FROM (%2$s) u GROUP BY %1$s',
                               ks, pg_catalog.array_to_string(parts, ' UNION ALL '));
END $$;

-- {t.a, t.b} for cols (a, b): references to columns of the row aliased `alias`.
CREATE FUNCTION denorm._refs(alias text, cols text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY(SELECT pg_catalog.format('%s.%I', alias, c) FROM pg_catalog.unnest(cols) WITH ORDINALITY u(c, o) ORDER BY o)
$$;

-- "t.a, t.b": the order in which writers lock target rows (core::ApplyOrder: key
-- columns by name, integers numerically). Every statement that locks many target rows
-- uses it, so none of them can deadlock with a writer over integer-keyed rows.
CREATE FUNCTION denorm._lock_order(alias text, cols text[]) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.string_agg(pg_catalog.format('%s.%I', alias, c), ', ' ORDER BY c COLLATE "C")
      FROM pg_catalog.unnest(cols) c
$$;

-- "t.a = v.k1 AND t.b = v.k2" for keycols (a, b).
CREATE FUNCTION denorm._key_join(keycols text[], t text, v text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.string_agg(pg_catalog.format('%s.%I = %s.k%s', t, c, v, i), ' AND ' ORDER BY i)
      FROM pg_catalog.unnest(keycols) WITH ORDINALITY u(c, i)
$$;

-- Sets target_column of every target row to the combined value of its definitions.
-- Returns the number of rows changed.
CREATE FUNCTION denorm._recompute(target regclass, target_column text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e record;
    n1 bigint;
    n2 bigint;
    grp denorm._definitions;
BEGIN
    SELECT * INTO grp FROM denorm._definitions x
     WHERE x.target = _recompute.target AND target_column = ANY (x.target_columns)
       AND x.kind IN ('min', 'max', 'latest') ORDER BY x.name LIMIT 1;
    IF FOUND THEN
        -- An extremum group: every row recomputed by probes, after locking them all.
        EXECUTE pg_catalog.format('SELECT 1 FROM %s t ORDER BY %s FOR UPDATE', target,
            denorm._lock_order('t', grp.target_key));
        EXECUTE pg_catalog.format('UPDATE %s t %s', target,
            denorm._group_set_sql(target, grp.target_columns, grp.target_key,
                denorm._refs('t', grp.target_key), NULL));
        GET DIAGNOSTICS n1 = ROW_COUNT;
        RETURN n1;
    END IF;
    e := denorm._expected_query(target, target_column);
    IF e.keycols IS NULL THEN
        RETURN 0;
    END IF;
    -- Lock the target rows first, then recompute in new statements: a single
    -- UPDATE ... FROM (aggregate) would wait for a concurrent writer's row lock and
    -- then write a total from its older snapshot, losing that write
    -- (a lost update).
    EXECUTE pg_catalog.format('SELECT 1 FROM %s t ORDER BY %s FOR UPDATE', target,
        denorm._lock_order('t', e.keycols));
    EXECUTE pg_catalog.format(
        'UPDATE %1$s t SET %2$I = v.total FROM (%3$s) v WHERE %4$s AND t.%2$I IS DISTINCT FROM v.total',
        target, target_column, e.query, denorm._key_join(e.keycols, 't', 'v'));
    GET DIAGNOSTICS n1 = ROW_COUNT;
    EXECUTE pg_catalog.format(
        'UPDATE %1$s t SET %2$I = 0 WHERE t.%2$I IS DISTINCT FROM 0 AND NOT EXISTS (SELECT 1 FROM (%3$s) v WHERE %4$s)',
        target, target_column, e.query, denorm._key_join(e.keycols, 't', 'v'));
    GET DIAGNOSTICS n2 = ROW_COUNT;
    RETURN n1 + n2;
END $$;

-------------------------------------------------------------------------------
-- Reconciliation (README "Reconciliation: find and fix drift").
-------------------------------------------------------------------------------
CREATE SEQUENCE denorm.reconcile_run_id_seq;
CREATE TABLE denorm.reconcile_log (
    run_id        bigint NOT NULL,
    counter       text NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    rows_checked  bigint NOT NULL,
    mismatches    bigint NOT NULL,
    fixed         bigint NOT NULL,
    duration_ms   double precision NOT NULL
);
CREATE INDEX ON denorm.reconcile_log (counter, started_at);
CREATE TABLE denorm.reconcile_mismatches (
    run_id    bigint NOT NULL,
    counter   text NOT NULL,
    key       jsonb NOT NULL,
    stored    jsonb,
    expected  jsonb,
    fixed     boolean NOT NULL,
    found_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX ON denorm.reconcile_mismatches (run_id);
SELECT pg_catalog.pg_extension_config_dump('denorm.reconcile_log', '');
SELECT pg_catalog.pg_extension_config_dump('denorm.reconcile_mismatches', '');
SELECT pg_catalog.pg_extension_config_dump('denorm.reconcile_run_id_seq', '');
GRANT SELECT ON denorm.reconcile_log, denorm.reconcile_mismatches TO PUBLIC;

-- The combined value of target_column for the target row aliased `t`, by index
-- probes of each source (what a fix writes, recomputed after the row is locked).
CREATE FUNCTION denorm._expected_expr(target regclass, target_column text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
    expr text := '0';
BEGIN
    FOR d IN SELECT * FROM denorm._definitions x
              WHERE x.target = _expected_expr.target AND x.target_columns[1] = target_column
                AND x.kind IN ('count', 'sum') ORDER BY x.name LOOP
        expr := expr || ' + (' || denorm._contribution_sql(d, denorm._refs('t', d.target_key)) || ')'
            || '::pg_catalog.numeric';
    END LOOP;
    RETURN expr;
END $$;

-- Reconciles the column of one counter (with every definition sharing it; for min,
-- max and latest, the group of columns its definitions write). Runs as the target's
-- owner (denorm.reconcile switches to it). Candidates come from one snapshot, where
-- stored values and sources agree unless they drifted (writers change both in one
-- transaction), so a report takes no lock. A fix then locks a batch of candidate rows
-- in key order and recounts them in a new statement: a writer that committed
-- meanwhile is seen, one still running waits for the lock and adds its change on top.
-- Both phases join each target row t to its expected values v.v1..v.vn.
CREATE FUNCTION denorm._reconcile_counter(counter_name text, fix boolean, batch_size integer)
RETURNS TABLE(key jsonb, stored jsonb, expected jsonb, fixed boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
    e record;
    cols text[];
    keycols text[];
    report_join text;
    fix_join text;
    stored_json text;
    expected_json text;
    key_json text;
    key_list text;
    key_from_json text;
    pending text;
    candidates jsonb[];
    batch jsonb;
    n int;
    i int;
BEGIN
    SELECT * INTO d FROM denorm._definitions x WHERE x.name = counter_name;
    IF d.kind IN ('min', 'max', 'latest') THEN
        cols := d.target_columns;
        keycols := d.target_key;
        report_join := pg_catalog.format('LEFT JOIN LATERAL (%s) v ON true',
            denorm._group_query(d.target, cols, keycols, denorm._refs('t', keycols)));
        fix_join := report_join;
    ELSE
        cols := d.target_columns;
        e := denorm._expected_query(d.target, cols[1]);
        keycols := e.keycols;
        -- The report recounts every key at once; a fix probes the locked rows one by one.
        report_join := pg_catalog.format('LEFT JOIN (%s) v0 ON %s CROSS JOIN LATERAL (SELECT coalesce(v0.total, 0)::%s AS v1) v',
            e.query, denorm._key_join(keycols, 't', 'v0'), denorm._column_sql_type(d.target, cols[1]));
        fix_join := pg_catalog.format('CROSS JOIN LATERAL (SELECT (%s)::%s AS v1) v',
            denorm._expected_expr(d.target, cols[1]), denorm._column_sql_type(d.target, cols[1]));
    END IF;
    -- A latest's values are reported as an object keyed by column, others as the value.
    IF d.kind = 'latest' THEN
        stored_json := (SELECT 'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pg_catalog.format('%L, t.%I', c, c), ', ' ORDER BY o) || ')'
                          FROM pg_catalog.unnest(cols) WITH ORDINALITY u(c, o));
        expected_json := (SELECT 'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pg_catalog.format('%L, v.v%s', c, o), ', ' ORDER BY o) || ')'
                            FROM pg_catalog.unnest(cols) WITH ORDINALITY u(c, o));
    ELSE
        stored_json := pg_catalog.format('pg_catalog.to_jsonb(t.%I)', cols[1]);
        expected_json := 'pg_catalog.to_jsonb(v.v1)';
        -- Deferred definitions: the value is the column plus its pending deltas, and what
        -- a fix writes (v.v1) is the aggregate minus them; report value and aggregate.
        pending := (SELECT pg_catalog.string_agg(denorm._pending_sql(x, denorm._refs('t', x.target_key)), ' + ' ORDER BY x.name)
                      FROM denorm._definitions x
                     WHERE x.target = d.target AND x.target_columns[1] = cols[1] AND x.deferred);
        IF pending IS NOT NULL THEN
            stored_json := pg_catalog.format('pg_catalog.to_jsonb((t.%I + %s)::%s)', cols[1], pending,
                                             denorm._column_sql_type(d.target, cols[1]));
            expected_json := pg_catalog.format('pg_catalog.to_jsonb((v.v1 + %s)::%s)', pending,
                                               denorm._column_sql_type(d.target, cols[1]));
        END IF;
    END IF;
    SELECT 'pg_catalog.jsonb_build_object(' || pg_catalog.string_agg(pg_catalog.format('%L, t.%I', c, c), ', ' ORDER BY o) || ')',
           pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ' ORDER BY o),
           pg_catalog.string_agg(pg_catalog.format('(j->>%L)::%s', c, denorm._column_sql_type(d.target, c)), ', ' ORDER BY o)
      INTO key_json, key_list, key_from_json
      FROM pg_catalog.unnest(keycols) WITH ORDINALITY u(c, o);

    IF NOT fix THEN
        RETURN QUERY EXECUTE pg_catalog.format(
            'SELECT %1$s, %2$s, %3$s, false FROM %4$s t %5$s WHERE %2$s IS DISTINCT FROM %3$s ORDER BY %6$s',
            key_json, stored_json, expected_json, d.target, report_join, key_list);
        RETURN;
    END IF;

    EXECUTE pg_catalog.format(
        'SELECT pg_catalog.array_agg(%1$s ORDER BY %6$s) FROM %4$s t %5$s WHERE %2$s IS DISTINCT FROM %3$s',
        key_json, stored_json, expected_json, d.target, report_join, key_list)
      INTO candidates;
    n := coalesce(pg_catalog.cardinality(candidates), 0);
    i := 1;
    WHILE i <= n LOOP
        batch := pg_catalog.to_jsonb(candidates[i : i + batch_size - 1]);
        EXECUTE pg_catalog.format(
            'SELECT 1 FROM %1$s t WHERE (%2$s) IN (SELECT %3$s FROM pg_catalog.jsonb_array_elements($1) j) '
            'ORDER BY %4$s FOR UPDATE', d.target, key_list, key_from_json, denorm._lock_order('t', keycols)) USING batch;
        RETURN QUERY EXECUTE pg_catalog.format(
            'WITH x AS (SELECT t.ctid AS row_id, t.tableoid AS rel, %1$s AS key, %2$s AS stored, %3$s AS expected, %4$s '
            '             FROM %5$s t %6$s WHERE (%7$s) IN (SELECT %8$s FROM pg_catalog.jsonb_array_elements($1) j)), '
            '     d AS (SELECT * FROM x WHERE stored IS DISTINCT FROM expected), '
            '     u AS (UPDATE %5$s t SET (%9$s) = ROW(%10$s) FROM d WHERE t.ctid = d.row_id AND t.tableoid = d.rel) '
            'SELECT d.key, d.stored, d.expected, true FROM d ORDER BY d.key',
            key_json, stored_json, expected_json,
            (SELECT pg_catalog.string_agg(pg_catalog.format('v.v%s', o), ', ' ORDER BY o) FROM pg_catalog.generate_series(1, pg_catalog.cardinality(cols)) o),
            d.target, fix_join, key_list, key_from_json,
            (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ' ORDER BY o) FROM pg_catalog.unnest(cols) WITH ORDINALITY u(c, o)),
            (SELECT pg_catalog.string_agg(pg_catalog.format('d.v%s', o), ', ' ORDER BY o) FROM pg_catalog.generate_series(1, pg_catalog.cardinality(cols)) o))
          USING batch;
        i := i + batch_size;
    END LOOP;
END $$;

-- Records one counter's reconcile run (as the extension owner: the audit trail is
-- not writable by the users whose counters it judges).
CREATE FUNCTION denorm._log_reconcile(run_id bigint, counter text, started_at timestamptz,
                                      rows_checked bigint, results jsonb) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO denorm.reconcile_mismatches (run_id, counter, key, stored, expected, fixed)
    SELECT run_id, counter, r->'key', r->'stored', r->'expected', (r->>'fixed')::boolean
      FROM pg_catalog.jsonb_array_elements(coalesce(results, '[]')) r;
    INSERT INTO denorm.reconcile_log (run_id, counter, started_at, finished_at, rows_checked, mismatches, fixed, duration_ms)
    SELECT run_id, counter, started_at, pg_catalog.clock_timestamp(), rows_checked,
           pg_catalog.jsonb_array_length(coalesce(results, '[]')),
           (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(coalesce(results, '[]')) r
             WHERE (r->>'fixed')::boolean),
           EXTRACT(epoch FROM pg_catalog.clock_timestamp() - started_at) * 1000;
$$;
REVOKE ALL ON FUNCTION denorm._log_reconcile(bigint, text, timestamptz, bigint, jsonb) FROM PUBLIC;

CREATE FUNCTION denorm.reconcile(name text DEFAULT NULL, fix boolean DEFAULT true, batch_size integer DEFAULT 10000)
    RETURNS TABLE(counter text, key jsonb, stored jsonb, expected jsonb, fixed boolean)
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_reconcile';

-- The parameter references ($n) of d's target key columns (in d.target_key order) for
-- _init_query, whose parameters are key_columns followed by the columns not yet in it;
-- _key_params_columns gives that extended list.
CREATE FUNCTION denorm._key_params_columns(d denorm._definitions, key_columns text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT key_columns || ARRAY(SELECT k FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(k, o)
                                 WHERE k <> ALL (key_columns) ORDER BY o)
$$;
CREATE FUNCTION denorm._key_params(d denorm._definitions, key_columns text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ARRAY(SELECT '$' || pg_catalog.array_position(denorm._key_params_columns(d, key_columns), k)
                   FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(k, o) ORDER BY o)
$$;

-- The query the target's BEFORE INSERT trigger runs for a new row: one output column
-- per counter column of target, parameters $1..$n being the values of key_columns.
CREATE FUNCTION denorm._init_query(target regclass, OUT query text, OUT key_columns text[],
                                   OUT counter_columns text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    col text;
    grp text[];
    d denorm._definitions;
    expr text;
    outputs text[] := '{}';
    joins text := '';
    g int := 0;
    i int;
BEGIN
    key_columns := '{}';
    counter_columns := '{}';
    FOR col IN SELECT DISTINCT target_columns[1] FROM denorm._definitions
                WHERE _definitions.target = _init_query.target AND kind IN ('count', 'sum') ORDER BY 1 LOOP
        expr := '0';
        FOR d IN SELECT * FROM denorm._definitions
                  WHERE _definitions.target = _init_query.target AND target_columns[1] = col ORDER BY name LOOP
            expr := expr || ' + ' || denorm._contribution_sql(d, denorm._key_params(d, key_columns));
            key_columns := denorm._key_params_columns(d, key_columns);
        END LOOP;
        counter_columns := counter_columns || col;
        outputs := outputs || pg_catalog.format('(%s)::%s', expr, denorm._column_sql_type(target, col));
    END LOOP;
    FOR grp IN SELECT DISTINCT target_columns FROM denorm._definitions
                WHERE _definitions.target = _init_query.target AND kind IN ('min', 'max', 'latest') ORDER BY 1 LOOP
        SELECT * INTO d FROM denorm._definitions
         WHERE _definitions.target = _init_query.target AND target_columns = grp ORDER BY name LIMIT 1;
        g := g + 1;
        joins := joins || pg_catalog.format(' LEFT JOIN LATERAL (%s) g%s ON true',
            denorm._group_query(target, grp, d.target_key, denorm._key_params(d, key_columns)), g);
        key_columns := denorm._key_params_columns(d, key_columns);
        FOR i IN 1 .. pg_catalog.cardinality(grp) LOOP
            outputs := outputs || pg_catalog.format('g%s.v%s', g, i);
            counter_columns := counter_columns || grp[i];
        END LOOP;
    END LOOP;
    query := 'SELECT ' || pg_catalog.array_to_string(outputs, ', ') || ' FROM (SELECT 1) _one' || joins;
END $$;

-------------------------------------------------------------------------------
-- create_counter / drop_counter. The public functions are native: they check that
-- the caller owns the tables, then run these implementations as the extension's
-- owner (they write the catalog and create triggers).
-------------------------------------------------------------------------------
CREATE FUNCTION denorm._column_type(rel regclass, col text, what text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t text;
BEGIN
    SELECT pg_catalog.format_type(a.atttypid, NULL) INTO t FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF t IS NULL THEN
        RAISE EXCEPTION 'column "%" of % does not exist', col, rel
            USING ERRCODE = 'undefined_column', HINT = pg_catalog.format('It was given as %s.', what);
    END IF;
    RETURN t;
END $$;

CREATE FUNCTION denorm._check_table(rel regclass, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (SELECT relkind FROM pg_catalog.pg_class WHERE oid = rel) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% "%" is not a table', what, rel USING ERRCODE = 'wrong_object_type';
    END IF;
END $$;

-- The checks every definition passes: tables, keys (the target's primary key when
-- target_key is NULL; pair types that compare; a unique index on the target key),
-- filter and touch. Returns the resolved target key.
CREATE FUNCTION denorm._check_definition(name text, target regclass, source regclass, source_key text[],
                                         target_key text[], filter text, touch text) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tkey text[] := target_key;
    i int;
    ftype regtype;
BEGIN
    IF EXISTS (SELECT 1 FROM denorm._definitions d WHERE d.name = _check_definition.name) THEN
        RAISE EXCEPTION 'counter "%" already exists', name USING ERRCODE = 'duplicate_object';
    END IF;
    PERFORM denorm._check_table(target, 'target');
    PERFORM denorm._check_table(source, 'source');
    IF tkey IS NULL THEN
        SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.ord) INTO tkey
          FROM pg_catalog.pg_index x
          CROSS JOIN LATERAL pg_catalog.unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
          JOIN pg_catalog.pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
         WHERE x.indrelid = target AND x.indisprimary;
        IF tkey IS NULL THEN
            RAISE EXCEPTION 'target % has no primary key', target USING ERRCODE = 'invalid_column_reference',
                HINT = 'Give target_key, the target columns matching source_key.';
        END IF;
        IF pg_catalog.cardinality(tkey) <> pg_catalog.cardinality(source_key) THEN
            RAISE EXCEPTION 'source_key has % columns but the primary key of % has %',
                pg_catalog.cardinality(source_key), target, pg_catalog.cardinality(tkey)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    FOR i IN 1 .. pg_catalog.cardinality(source_key) LOOP
        PERFORM denorm._check_key_types(source_key[i],
            denorm._column_type(source, source_key[i], 'source_key')::regtype,
            tkey[i], denorm._column_type(target, tkey[i], 'target_key')::regtype);
    END LOOP;
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index x
         WHERE x.indrelid = target AND x.indisunique AND x.indpred IS NULL AND x.indexprs IS NULL
           AND x.indnkeyatts = pg_catalog.cardinality(tkey)
           AND (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attname)
                  FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = target AND a.attnum = ANY (x.indkey[0:x.indnkeyatts - 1]))
               = (SELECT pg_catalog.array_agg(c ORDER BY c) FROM pg_catalog.unnest(tkey) c)) THEN
        RAISE EXCEPTION 'there is no unique index on %(%)', target, pg_catalog.array_to_string(tkey, ', ')
            USING ERRCODE = 'invalid_column_reference',
                  HINT = pg_catalog.format('Create one: CREATE UNIQUE INDEX ON %s (%s);', target,
                         (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ') FROM pg_catalog.unnest(tkey) c));
    END IF;
    IF filter IS NOT NULL THEN
        ftype := denorm._expression_type(source, filter, 'filter');
        IF ftype <> 'boolean'::regtype THEN
            RAISE EXCEPTION 'filter of counter "%" is of type %, not boolean', name, ftype
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END IF;
    IF touch IS NOT NULL
       AND denorm._column_type(target, touch, 'touch') NOT IN ('timestamp with time zone', 'timestamp without time zone') THEN
        RAISE EXCEPTION 'touch column "%" of % is not a timestamp', touch, target USING ERRCODE = 'datatype_mismatch';
    END IF;
    RETURN tkey;
END $$;

-- Definitions sharing target columns must match the same target key columns.
CREATE FUNCTION denorm._check_shared_key(target regclass, columns text[], tkey text[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM denorm._definitions d
                WHERE d.target = _check_shared_key.target AND d.target_columns && columns
                  AND (SELECT pg_catalog.array_agg(c ORDER BY c) FROM pg_catalog.unnest(d.target_key) c)
                      IS DISTINCT FROM (SELECT pg_catalog.array_agg(c ORDER BY c) FROM pg_catalog.unnest(tkey) c)) THEN
        RAISE EXCEPTION 'column "%" of % is already written by a counter keyed by other target columns',
            (SELECT c FROM pg_catalog.unnest(columns) c
              WHERE EXISTS (SELECT 1 FROM denorm._definitions d WHERE d.target = _check_shared_key.target
                              AND c = ANY (d.target_columns)) LIMIT 1), target
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Definitions sharing a column must match the same target key columns.';
    END IF;
END $$;

CREATE FUNCTION denorm._create_counter(
    name text, target regclass, target_column text, source regclass, source_key text[],
    target_key text[], aggregate text, value text, filter text, create_missing boolean,
    touch text, deferred boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tkey text[];
    vtype regtype;
    coltype text;
BEGIN
    PERFORM denorm._check_counter_shape(name, aggregate, value IS NOT NULL,
        pg_catalog.cardinality(source_key), pg_catalog.cardinality(target_key), deferred);
    tkey := denorm._check_definition(name, target, source, source_key, target_key, filter, touch);
    coltype := denorm._column_type(target, target_column, 'target_column');
    IF value IS NOT NULL THEN
        vtype := denorm._expression_type(source, value, 'value');
        IF aggregate = 'sum' AND vtype NOT IN ('smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision') THEN
            RAISE EXCEPTION 'value expression of counter "%" is of type %, not a number', name, vtype
                USING ERRCODE = 'datatype_mismatch';
        END IF;
        IF aggregate IN ('min', 'max') AND NOT (denorm._orderable(vtype)
               AND denorm._assignable(vtype, denorm._column_type(target, target_column, 'target_column')::regtype)) THEN
            RAISE EXCEPTION 'value expression of counter "%" is of type %, which has no ordering or cannot be stored in column "%" (%)',
                name, vtype, target_column, coltype USING ERRCODE = 'datatype_mismatch';
        END IF;
    END IF;
    PERFORM denorm._check_column_sharing(target_column, coltype, aggregate,
        ARRAY(SELECT d.kind FROM denorm._definitions d
               WHERE d.target = _create_counter.target AND target_column = ANY (d.target_columns)));
    PERFORM denorm._check_shared_key(target, ARRAY[target_column], tkey);

    INSERT INTO denorm._definitions (name, kind, target, target_columns, source, source_key, target_key,
                                     value, filter, create_missing, touch, deferred)
    VALUES (name, aggregate, target, ARRAY[target_column], source, source_key, tkey,
            value, filter, create_missing, touch, deferred);
    PERFORM denorm._sync_triggers(source);
    PERFORM denorm._sync_triggers(target);
END $$;

CREATE FUNCTION denorm._create_latest(
    name text, target regclass, target_columns text[], source regclass, source_key text[],
    source_values text[], order_by text[], target_key text[], filter text, create_missing boolean,
    touch text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tkey text[];
    i int;
    vtype regtype;
    coltype text;
    order_types regtype[];
    other denorm._definitions;
BEGIN
    PERFORM denorm._check_counter_shape(name, 'count', false,
        pg_catalog.cardinality(source_key), pg_catalog.cardinality(target_key), false);
    IF coalesce(pg_catalog.cardinality(target_columns), 0) = 0
       OR pg_catalog.cardinality(target_columns) <> coalesce(pg_catalog.cardinality(source_values), 0) THEN
        RAISE EXCEPTION 'target_columns has % entries but source_values has %',
            coalesce(pg_catalog.cardinality(target_columns), 0), coalesce(pg_catalog.cardinality(source_values), 0)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give one source value expression for each target column, in the same order.';
    END IF;
    IF coalesce(pg_catalog.cardinality(order_by), 0) = 0 THEN
        RAISE EXCEPTION 'order_by of latest "%" is empty', name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name the expressions that order the source rows, e.g. ''{created_at, id}''.';
    END IF;
    IF (SELECT pg_catalog.count(DISTINCT c) FROM pg_catalog.unnest(target_columns) c) <> pg_catalog.cardinality(target_columns) THEN
        RAISE EXCEPTION 'target_columns of latest "%" names a column twice', name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    tkey := denorm._check_definition(name, target, source, source_key, target_key, filter, touch);
    FOR i IN 1 .. pg_catalog.cardinality(target_columns) LOOP
        coltype := denorm._column_type(target, target_columns[i], 'target_columns');
        vtype := denorm._expression_type(source, source_values[i], 'source value');
        IF NOT denorm._assignable(vtype, coltype::regtype) THEN
            RAISE EXCEPTION 'source value % of latest "%" is of type %, which cannot be stored in column "%" (%)',
                i, name, vtype, target_columns[i], coltype USING ERRCODE = 'datatype_mismatch';
        END IF;
        PERFORM denorm._check_column_sharing(target_columns[i], coltype, 'latest',
            ARRAY(SELECT d.kind FROM denorm._definitions d
                   WHERE d.target = _create_latest.target AND _create_latest.target_columns[i] = ANY (d.target_columns)));
    END LOOP;
    order_types := ARRAY(SELECT denorm._expression_type(source, e, 'order_by')
                           FROM pg_catalog.unnest(order_by) WITH ORDINALITY u(e, o) ORDER BY o);
    IF EXISTS (SELECT 1 FROM pg_catalog.unnest(order_types) t WHERE NOT denorm._orderable(t)) THEN
        RAISE EXCEPTION 'order_by of latest "%" has a value of type %, which has no ordering', name,
            (SELECT t FROM pg_catalog.unnest(order_types) t WHERE NOT denorm._orderable(t) LIMIT 1)
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    -- Latests share columns only as a whole group, ordered by tuples of one type.
    FOR other IN SELECT * FROM denorm._definitions d
                  WHERE d.target = _create_latest.target AND d.target_columns && _create_latest.target_columns LOOP
        IF other.target_columns <> target_columns THEN
            RAISE EXCEPTION 'latest "%" would share some but not all of its columns with latest "%"', name, other.name
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = pg_catalog.format('Write the same target_columns as "%s": %s.', other.name, other.target_columns);
        END IF;
        IF ARRAY(SELECT denorm._expression_type(other.source, e, 'order_by')
                   FROM pg_catalog.unnest(other.order_by) WITH ORDINALITY u(e, o) ORDER BY o) IS DISTINCT FROM order_types THEN
            RAISE EXCEPTION 'order_by of latest "%" (%) does not match that of latest "%", which writes the same columns',
                name, order_types, other.name USING ERRCODE = 'datatype_mismatch';
        END IF;
    END LOOP;
    PERFORM denorm._check_shared_key(target, target_columns, tkey);

    INSERT INTO denorm._definitions (name, kind, target, target_columns, source, source_key, target_key,
                                     source_values, order_by, filter, create_missing, touch)
    VALUES (name, 'latest', target, target_columns, source, source_key, tkey,
            source_values, order_by, filter, create_missing, touch);
    PERFORM denorm._sync_triggers(source);
    PERFORM denorm._sync_triggers(target);
END $$;

CREATE FUNCTION denorm._drop_counter(name text, if_exists boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
BEGIN
    -- A deferred counter's pending deltas go into its column first: what the column
    -- then holds stays right.
    IF EXISTS (SELECT 1 FROM denorm._definitions x WHERE x.name = _drop_counter.name AND x.deferred) THEN
        PERFORM denorm._fold(name);
        DELETE FROM denorm._pending_deltas p WHERE p.counter = _drop_counter.name;
    END IF;
    DELETE FROM denorm._definitions x WHERE x.name = _drop_counter.name RETURNING * INTO d;
    IF NOT FOUND THEN
        IF if_exists THEN
            RAISE NOTICE 'counter "%" does not exist, skipping', name;
            RETURN;
        END IF;
        RAISE EXCEPTION 'counter "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM denorm._sync_triggers(d.source);
    PERFORM denorm._sync_triggers(d.target);
END $$;

-------------------------------------------------------------------------------
-- Deferred counters: folding pending deltas, reading exact values.
-------------------------------------------------------------------------------
-- "t.a = (p.key[1])::int AND ..." : target row alias t against pending key alias p.
CREATE FUNCTION denorm._pending_match(d denorm._definitions, t text, p text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.string_agg(pg_catalog.format('%s.%I = %s', t, k, denorm._pending_key_element(d, p, k)),
                                 ' AND ' ORDER BY k)
      FROM pg_catalog.unnest(d.target_key) k
$$;

-- Folds a deferred counter's pending deltas into its target rows; returns the number of
-- rows changed. The rows are locked first (the deltas of a row are then deleted and
-- added in the same statement, so a concurrent fold never adds them twice). A missing
-- row is created first when create_missing (its initialiser subtracts the deltas this
-- fold then adds); otherwise its deltas wait until the row exists.
CREATE FUNCTION denorm._fold(counter_name text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
    keys text;
    n bigint;
BEGIN
    SELECT * INTO d FROM denorm._definitions x WHERE x.name = counter_name AND x.deferred;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM denorm._pending_deltas p WHERE p.counter = counter_name) THEN
        RETURN 0;
    END IF;
    keys := (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ' ORDER BY k) FROM pg_catalog.unnest(d.target_key) k);
    IF d.create_missing THEN
        EXECUTE pg_catalog.format(
            'INSERT INTO %1$s AS t (%2$s) SELECT DISTINCT %3$s FROM denorm._pending_deltas p '
            'WHERE p.counter = $1 AND NOT EXISTS (SELECT 1 FROM %1$s t WHERE %4$s) ON CONFLICT (%2$s) DO NOTHING',
            d.target, keys,
            (SELECT pg_catalog.string_agg(denorm._pending_key_element(d, 'p', k), ', ' ORDER BY k)
               FROM pg_catalog.unnest(d.target_key) k),
            denorm._pending_match(d, 't', 'p'))
          USING counter_name;
    END IF;
    EXECUTE pg_catalog.format(
        'WITH l AS (SELECT %2$s FROM %1$s t WHERE EXISTS (SELECT 1 FROM denorm._pending_deltas p '
        '                                               WHERE p.counter = $1 AND %3$s) '
        '            ORDER BY %8$s FOR NO KEY UPDATE), '
        '     g AS (DELETE FROM denorm._pending_deltas p USING l WHERE p.counter = $1 AND %4$s RETURNING p.key, p.delta), '
        '     s AS (SELECT g.key, pg_catalog.sum(g.delta) AS delta FROM g GROUP BY g.key) '
        'UPDATE %1$s t SET %5$I = t.%5$I + s.delta%6$s FROM s WHERE %7$s AND s.delta <> 0',
        d.target,
        (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', k), ', ' ORDER BY k) FROM pg_catalog.unnest(d.target_key) k),
        denorm._pending_match(d, 't', 'p'),
        denorm._pending_match(d, 'l', 'p'),
        d.target_columns[1],
        CASE WHEN d.touch IS NULL THEN '' ELSE pg_catalog.format(', %I = pg_catalog.now()', d.touch) END,
        denorm._pending_match(d, 't', 's'),
        denorm._lock_order('t', d.target_key))
      USING counter_name;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Folds every deferred counter (run by the worker every denorm.fold_interval, and by
-- run_pending()); returns the rows changed, or NULL when there is no deferred counter.
-- A fold waits for row locks like any writer; with a short deadlock_timeout it is the
-- one that gives way when it meets a writer in a lock cycle, and it is tried again
-- next time.
CREATE FUNCTION denorm._fold_all() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    name text;
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM denorm._definitions WHERE deferred) THEN
        RETURN NULL;
    END IF;
    n := 0;
    BEGIN
        PERFORM pg_catalog.set_config('deadlock_timeout', '50ms', true);
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;
    END;
    FOR name IN SELECT x.name FROM denorm._definitions x WHERE x.deferred ORDER BY x.name LOOP
        -- Each counter on its own: one that fails (a lock cycle, a CHECK on its target)
        -- is logged and tried again next time; the others are folded.
        BEGIN
            n := n + denorm._fold(name);
        EXCEPTION WHEN deadlock_detected OR lock_not_available THEN
            RAISE LOG 'denorm: folding counter "%" gave way to a writer (%); it is folded next time', name, SQLERRM;
        WHEN OTHERS THEN
            RAISE WARNING 'denorm: folding counter "%" failed: %', name, SQLERRM;
        END;
    END LOOP;
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION denorm._fold(text), denorm._fold_all() FROM PUBLIC;

-- The exact value of a count or sum counter for one target key (given in target_key
-- order), folded or not, under the caller's snapshot: the stored column plus the
-- pending deltas of the deferred definitions sharing it, read in one statement (a fold
-- commits both sides at once). A missing target row reads as NULL, or — when a
-- definition would create it — as the recount the created row will hold.
CREATE FUNCTION denorm.counter_value(name text, VARIADIC key text[]) RETURNS numeric
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
    x denorm._definitions;
    refs text[];
    pending text := '0';
    recount text := '0';
    creates boolean := false;
    result numeric;
BEGIN
    SELECT * INTO d FROM denorm._definitions c WHERE c.name = counter_value.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'counter "%" does not exist', name USING ERRCODE = 'undefined_object',
            HINT = 'denorm.counters lists the counters.';
    END IF;
    IF d.kind NOT IN ('count', 'sum') THEN
        RAISE EXCEPTION 'counter_value reads count and sum counters; "%" is a %', name, d.kind
            USING ERRCODE = 'invalid_parameter_value', HINT = pg_catalog.format('Read %s of %s.',
                  pg_catalog.array_to_string(d.target_columns, ', '), d.target);
    END IF;
    IF coalesce(pg_catalog.cardinality(key), 0) <> pg_catalog.cardinality(d.target_key) THEN
        RAISE EXCEPTION 'counter "%" has a key of % columns (%), not %', name, pg_catalog.cardinality(d.target_key),
            pg_catalog.array_to_string(d.target_key, ', '), coalesce(pg_catalog.cardinality(key), 0)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR x IN SELECT * FROM denorm._definitions c
              WHERE c.target = d.target AND c.target_columns[1] = d.target_columns[1] ORDER BY c.name LOOP
        -- $1[i] is the key value of d.target_key[i] (x may list the key columns in another
        -- order), read as the target column's type.
        refs := ARRAY(SELECT pg_catalog.format('($1[%s])::%s', pg_catalog.array_position(d.target_key, k),
                                               denorm._column_sql_type(d.target, k))
                        FROM pg_catalog.unnest(x.target_key) WITH ORDINALITY u(k, o) ORDER BY o);
        IF x.deferred THEN
            pending := pending || ' + ' || denorm._pending_sql(x, refs);
        END IF;
        recount := recount || ' + ' || denorm._probe_sql(x, refs);
        creates := creates OR x.create_missing;
    END LOOP;
    EXECUTE pg_catalog.format(
        'SELECT CASE WHEN r.present THEN r.v + %s %s END FROM (SELECT 1) _one '
        'LEFT JOIN LATERAL (SELECT t.%I::pg_catalog.numeric AS v, true AS present FROM %s t WHERE %s) r ON true',
        pending, CASE WHEN creates THEN 'ELSE ' || recount ELSE '' END, d.target_columns[1], d.target,
        (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I = ($1[%s])::%s', k, o, denorm._column_sql_type(d.target, k)), ' AND ' ORDER BY o)
           FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(k, o)))
      INTO result USING key;
    RETURN result;
END $$;

-- The INSERT a writer runs for a deferred definition: $1 the delta, $2.. the source key.
CREATE FUNCTION denorm._pending_insert_sql(counter_name text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.format('INSERT INTO denorm._pending_deltas (counter, key, delta) VALUES (%L, %s, $1)', d.name,
               denorm._pending_key_sql(d, ARRAY(SELECT '$' || (o + 1) FROM pg_catalog.generate_series(1, pg_catalog.cardinality(d.target_key)) o)))
      FROM denorm._definitions d WHERE d.name = counter_name
$$;

-- Before a TRUNCATE of source is recounted: the pending deltas of its deferred
-- definitions describe rows that are gone.
CREATE FUNCTION denorm._discard_pending(source regclass) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM denorm._pending_deltas p
     WHERE p.counter IN (SELECT d.name FROM denorm._definitions d WHERE d.source = _discard_pending.source AND d.deferred)
$$;
REVOKE ALL ON FUNCTION denorm._discard_pending(regclass) FROM PUBLIC;

-- _recompute, _init_query and the helpers they call stay executable by PUBLIC: they
-- run as the target's owner (TRUNCATE, backfill, new target rows) and only ever
-- write values the definitions imply, to tables the caller may update.
REVOKE ALL ON FUNCTION denorm._set_trigger(regclass, text, boolean, text),
    denorm._sync_source_triggers(regclass, boolean), denorm._sync_triggers(regclass), denorm._column_type(regclass, text, text),
    denorm._check_table(regclass, text),
    denorm._create_counter(text, regclass, text, regclass, text[], text[], text, text, text, boolean, text, boolean),
    denorm._create_latest(text, regclass, text[], regclass, text[], text[], text[], text[], text, boolean, text),
    denorm._check_definition(text, regclass, regclass, text[], text[], text, text),
    denorm._drop_counter(text, boolean) FROM PUBLIC;

CREATE FUNCTION denorm.create_counter(
    name           text,
    target         regclass,
    target_column  text,
    source         regclass,
    source_key     text[],
    target_key     text[]  DEFAULT NULL,
    aggregate      text    DEFAULT 'count',
    value          text    DEFAULT NULL,
    filter         text    DEFAULT NULL,
    create_missing boolean DEFAULT false,
    touch          text    DEFAULT NULL,
    deferred       boolean DEFAULT false,
    backfill       boolean DEFAULT true) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_create_counter';

CREATE FUNCTION denorm.create_latest(
    name           text,
    target         regclass,
    target_columns text[],
    source         regclass,
    source_key     text[],
    source_values  text[],
    order_by       text[],
    target_key     text[]  DEFAULT NULL,
    filter         text    DEFAULT NULL,
    create_missing boolean DEFAULT false,
    touch          text    DEFAULT NULL,
    backfill       boolean DEFAULT true) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_create_latest';

CREATE FUNCTION denorm.drop_counter(name text, if_exists boolean DEFAULT false) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_drop_counter';

-------------------------------------------------------------------------------
-- Living with DDL: new partitions of a source get the statement triggers;
-- dropping a source or target table drops its definitions.
-------------------------------------------------------------------------------
-- Column renames (README "Living with the schema"): the column names an expression refers to, and the
-- expression with one column renamed (src/pg/column_rename.cpp).
CREATE FUNCTION denorm._column_refs(expr text) RETURNS text[]
    LANGUAGE c STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'denorm_column_refs';
CREATE FUNCTION denorm._rename_column_in(expr text, old_name text, new_name text) RETURNS text
    LANGUAGE c STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'denorm_rename_column_in';

-- After a column of rel was renamed to new_name: the definitions that used it follow.
-- The old name is the one name the definitions use in rel that rel no longer has (one
-- column is renamed per statement); nothing happens when there is none (the column was
-- not used), or more than one (the check that follows then refuses the ALTER).
CREATE FUNCTION denorm._follow_column_rename(rel regclass, new_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    missing text[];
    old_name text;
    other regclass;
BEGIN
    missing := ARRAY(
        SELECT DISTINCT u.n
          FROM denorm._definitions x,
               LATERAL (SELECT pg_catalog.unnest(x.source_key) WHERE x.source = rel
                        UNION ALL
                        SELECT pg_catalog.unnest(denorm._column_refs(e))
                          FROM pg_catalog.unnest(ARRAY[x.filter, x.value] || coalesce(x.source_values, '{}')
                                                 || coalesce(x.order_by, '{}')) e
                         WHERE x.source = rel AND e IS NOT NULL
                        UNION ALL
                        SELECT pg_catalog.unnest(x.target_key || x.target_columns || x.touch) WHERE x.target = rel) u(n)
         WHERE u.n IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = rel AND a.attname = u.n AND a.attnum > 0 AND NOT a.attisdropped));
    IF pg_catalog.cardinality(missing) <> 1 THEN
        RETURN;
    END IF;
    old_name := missing[1];
    UPDATE denorm._definitions x
       SET source_key = pg_catalog.array_replace(x.source_key, old_name, new_name),
           filter = denorm._rename_column_in(x.filter, old_name, new_name),
           value = denorm._rename_column_in(x.value, old_name, new_name),
           source_values = CASE WHEN x.source_values IS NOT NULL THEN
                               ARRAY(SELECT denorm._rename_column_in(e, old_name, new_name)
                                       FROM pg_catalog.unnest(x.source_values) WITH ORDINALITY u(e, o) ORDER BY o) END,
           order_by = CASE WHEN x.order_by IS NOT NULL THEN
                          ARRAY(SELECT denorm._rename_column_in(e, old_name, new_name)
                                  FROM pg_catalog.unnest(x.order_by) WITH ORDINALITY u(e, o) ORDER BY o) END
     WHERE x.source = rel;
    UPDATE denorm._definitions x
       SET target_key = pg_catalog.array_replace(x.target_key, old_name, new_name),
           target_columns = pg_catalog.array_replace(x.target_columns, old_name, new_name),
           touch = CASE WHEN x.touch = old_name THEN new_name ELSE x.touch END
     WHERE x.target = rel;
    FOR other IN SELECT DISTINCT t FROM denorm._definitions x, pg_catalog.unnest(ARRAY[x.source, x.target]) t
                  WHERE x.source = rel OR x.target = rel LOOP
        PERFORM denorm._invalidate(other);
    END LOOP;
    RAISE NOTICE 'denorm definitions on % now use column "%" (was "%")', rel, new_name, old_name;
END $$;
REVOKE ALL ON FUNCTION denorm._follow_column_rename(regclass, text) FROM PUBLIC;

-- 'a column in its <what>' when one of exprs no longer parses against source, else NULL.
CREATE FUNCTION denorm._unparsable(source regclass, what text, exprs text[]) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM denorm._expression_type(source, e, what) FROM pg_catalog.unnest(exprs) e WHERE e IS NOT NULL;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN 'a column in its ' || what;
END $$;

CREATE FUNCTION denorm._on_ddl_command_end() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ren record;
    src regclass;
    def denorm._definitions;
    missing text;
BEGIN
    -- Sources of registered views (checked first: the function is defined further down).
    IF pg_catalog.to_regclass('denorm._mv_registry') IS NOT NULL THEN
        FOR src IN SELECT DISTINCT s FROM denorm._mv_registry r, pg_catalog.unnest(r.sources) s
                     JOIN pg_catalog.pg_class c ON c.oid = s WHERE c.relkind = 'p' LOOP
            PERFORM denorm._sync_mv_triggers(src);
        END LOOP;
    END IF;
    FOR src IN SELECT DISTINCT d.source FROM denorm._definitions d
                 JOIN pg_catalog.pg_class c ON c.oid = d.source WHERE c.relkind = 'p' LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(src) p
                    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                                       WHERE t.tgrelid = p.relid AND t.tgname = 'denorm_counter_insert')) THEN
            PERFORM denorm._sync_source_triggers(src, true);
        END IF;
    END LOOP;
    -- A renamed column: the definitions that use it follow it.
    FOR ren IN SELECT c.objid::regclass AS rel, a.attname::text AS new_name
                 FROM pg_catalog.pg_event_trigger_ddl_commands() c
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.objid AND a.attnum = c.objsubid
                WHERE c.command_tag = 'ALTER TABLE' AND c.object_type = 'table column' AND c.objsubid > 0 LOOP
        PERFORM denorm._follow_column_rename(ren.rel, ren.new_name);
    END LOOP;
    -- An ALTER TABLE that leaves a counter referring to a column that is gone (dropped)
    -- would make every later write to its source fail: refuse it, as PostgreSQL
    -- refuses to drop a column a view uses.
    FOR def IN SELECT x.* FROM denorm._definitions x
              WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() c
                             WHERE c.command_tag = 'ALTER TABLE' AND c.classid = 'pg_catalog.pg_class'::regclass
                               AND c.objid IN (x.source::oid, x.target::oid)) LOOP
        SELECT pg_catalog.string_agg(pg_catalog.format('%s.%s', t.rel, t.col), ', ') INTO missing
          FROM (SELECT def.source AS rel, k AS col FROM pg_catalog.unnest(def.source_key) k
                UNION ALL SELECT def.target, k FROM pg_catalog.unnest(def.target_key || def.target_columns) k
                UNION ALL SELECT def.target, def.touch WHERE def.touch IS NOT NULL) t
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = t.rel AND a.attname = t.col AND a.attnum > 0 AND NOT a.attisdropped);
        IF missing IS NULL THEN
            missing := denorm._unparsable(def.source, 'filter', ARRAY[def.filter]);
            missing := coalesce(missing, denorm._unparsable(def.source, 'value', ARRAY[def.value]));
            missing := coalesce(missing, denorm._unparsable(def.source, 'source values', def.source_values));
            missing := coalesce(missing, denorm._unparsable(def.source, 'order_by', def.order_by));
        END IF;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'cannot alter %: counter "%" uses %', coalesce(
                    (SELECT c.object_identity FROM pg_catalog.pg_event_trigger_ddl_commands() c
                      WHERE c.command_tag = 'ALTER TABLE' AND c.objid IN (def.source::oid, def.target::oid) LIMIT 1), 'table'),
                def.name, missing
                USING ERRCODE = 'dependent_objects_still_exist',
                      HINT = pg_catalog.format('Drop the counter first (SELECT denorm.drop_counter(%L)) and create it again afterwards.', def.name);
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION denorm._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    other regclass;
BEGIN
    FOR d IN DELETE FROM denorm._definitions x
              USING pg_catalog.pg_event_trigger_dropped_objects() o
              WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0
                AND (x.source::oid = o.objid OR x.target::oid = o.objid)
              RETURNING x.name, x.source::oid AS source, x.target::oid AS target LOOP
        RAISE NOTICE 'dropping counter "%" because its table was dropped', d.name;
        DELETE FROM denorm._pending_deltas p WHERE p.counter = d.name;
        FOREACH other IN ARRAY ARRAY[d.source, d.target]::regclass[] LOOP
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = other) THEN
                PERFORM denorm._sync_triggers(other);
            END IF;
        END LOOP;
    END LOOP;
    -- A dropped registered view is unregistered; a dropped source leaves the lists.
    DELETE FROM denorm._mv_requests q USING pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0 AND q.mv::oid = o.objid;
    FOR d IN DELETE FROM denorm._mv_registry r USING pg_catalog.pg_event_trigger_dropped_objects() o
              WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0 AND r.mv::oid = o.objid
              RETURNING o.object_identity AS name, r.sources LOOP
        RAISE NOTICE 'unregistering materialized view % because it was dropped', d.name;
        FOREACH other IN ARRAY d.sources LOOP
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = other) THEN
                PERFORM denorm._sync_mv_triggers(other);
            END IF;
        END LOOP;
    END LOOP;
    UPDATE denorm._mv_registry r
       SET sources = ARRAY(SELECT s FROM pg_catalog.unnest(r.sources) s
                            WHERE s::oid NOT IN (SELECT o.objid FROM pg_catalog.pg_event_trigger_dropped_objects() o
                                                  WHERE o.classid = 'pg_catalog.pg_class'::regclass))
     WHERE EXISTS (SELECT 1 FROM pg_catalog.unnest(r.sources) s, pg_catalog.pg_event_trigger_dropped_objects() o
                    WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0 AND s::oid = o.objid);
END $$;

CREATE EVENT TRIGGER denorm_ddl_command_end ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION denorm._on_ddl_command_end();
CREATE EVENT TRIGGER denorm_sql_drop ON sql_drop EXECUTE FUNCTION denorm._on_sql_drop();

-------------------------------------------------------------------------------
-- Scheduling through pg_cron (README "Reconciliation: find and fix drift").
-------------------------------------------------------------------------------
CREATE FUNCTION denorm.schedule_reconcile(schedule text DEFAULT '0 3 * * *', name text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    command text := pg_catalog.format('SELECT pg_catalog.count(*) FROM denorm.reconcile(%s)',
                                      coalesce(pg_catalog.quote_literal(name), 'NULL'));
    job_name text := 'denorm-reconcile-' || coalesce(name, 'all');
    job_id bigint;
BEGIN
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM denorm._definitions d WHERE d.name = schedule_reconcile.name) THEN
        RAISE EXCEPTION 'counter "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        -- The job runs as the caller, like the call itself would.
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job_id USING job_name, schedule, command;
        RETURN job_id;
    END IF;
    -- pg_cron lives in one database (cron.database_name); from here it cannot be reached.
    RAISE EXCEPTION 'pg_cron is not installed in database "%"', pg_catalog.current_database()
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = pg_catalog.format('Run this in %s: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                  CASE WHEN pg_catalog.current_setting('cron.database_name', true) IS NULL
                       THEN 'the database where pg_cron is installed (cron.database_name)'
                       ELSE pg_catalog.format('database %I, where pg_cron is installed',
                                              pg_catalog.current_setting('cron.database_name', true)) END,
                  job_name || '-' || pg_catalog.current_database(), schedule, command, pg_catalog.current_database());
END $$;

-------------------------------------------------------------------------------
-- Health and advice (README "Health and advice").
-------------------------------------------------------------------------------
-- The triggers a counter needs, with their state: on the source (and each partition)
-- and on the target. enabled is 'O' when they fire in normal operation.
CREATE FUNCTION denorm._counter_triggers(counter_name text)
RETURNS TABLE(rel regclass, trigger_name text, enabled "char")
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (SELECT * FROM denorm._definitions WHERE name = counter_name),
    wanted AS (
        SELECT r.rel, t.trigger_name
          FROM d, LATERAL denorm._relation_tree(d.source) r(rel),
               pg_catalog.unnest(ARRAY['denorm_counter_insert', 'denorm_counter_update',
                                       'denorm_counter_delete', 'denorm_counter_truncate']) t(trigger_name)
        UNION ALL
        SELECT d.target, 'denorm_counter_init' FROM d)
    SELECT w.rel, w.trigger_name, g.tgenabled
      FROM wanted w LEFT JOIN pg_catalog.pg_trigger g ON g.tgrelid = w.rel AND g.tgname = w.trigger_name
$$;

CREATE FUNCTION denorm.health() RETURNS TABLE(component text, status text, detail text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    broken text;
    last record;
BEGIN
    component := 'shared_preload_libraries';
    IF 'denorm' = ANY (pg_catalog.string_to_array(pg_catalog.replace(pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ',')) THEN
        status := 'ok';
        detail := 'denorm is preloaded';
    ELSE
        status := 'warning';
        detail := 'denorm is not in shared_preload_libraries: counters are exact, but a backend''s first statement '
                  'that loads the library applies its changes per trigger instead of once per statement';
    END IF;
    RETURN NEXT;

    component := 'worker';
    IF status = 'ok' THEN  -- preloaded (the row above)
        SELECT CASE WHEN pg_catalog.count(*) > 0 THEN 'ok' ELSE 'critical' END,
               CASE WHEN pg_catalog.count(*) > 0
                    THEN pg_catalog.format('denorm worker running (pid %s)', pg_catalog.min(a.pid))
                    ELSE 'no denorm worker runs for this database: check denorm.enabled, denorm.databases, '
                         'max_worker_processes and the server log' END
          INTO status, detail
          FROM pg_catalog.pg_stat_activity a
         WHERE a.backend_type = 'denorm worker' AND a.datname = pg_catalog.current_database();
    ELSE
        status := CASE WHEN EXISTS (SELECT 1 FROM denorm._mv_registry) THEN 'warning' ELSE 'ok' END;
        detail := 'no background worker (denorm is not preloaded): run SELECT denorm.run_pending() from pg_cron';
    END IF;
    RETURN NEXT;

    FOR d IN SELECT s.* FROM denorm.mv_status s ORDER BY s.mv::text LOOP
        component := 'view ' || d.mv::text;
        IF d.consecutive_failures > 0 THEN
            status := CASE WHEN d.consecutive_failures >= 5 THEN 'critical' ELSE 'warning' END;
            detail := pg_catalog.format('%s failed refreshes in a row (see denorm.refresh_log); next attempt at %s',
                                        d.consecutive_failures, d.next_attempt_at);
        ELSIF d.pending AND pg_catalog.now() - d.pending_since > d.max_delay + '1 minute'::interval THEN
            status := 'warning';
            detail := pg_catalog.format('a change has waited %s s for a refresh (max_delay %s)',
                          pg_catalog.round(EXTRACT(epoch FROM pg_catalog.now() - d.pending_since)), d.max_delay);
        ELSE
            status := 'ok';
            detail := CASE WHEN d.last_refresh_at IS NULL THEN 'not refreshed by denorm yet'
                           ELSE pg_catalog.format('last refresh %s, %s ms', d.last_status, pg_catalog.round(d.last_duration_ms::numeric, 1)) END;
        END IF;
        RETURN NEXT;
    END LOOP;

    IF EXISTS (SELECT 1 FROM denorm._definitions x WHERE x.deferred) THEN
        component := 'deferred counters';
        SELECT pg_catalog.count(*) AS deltas, pg_catalog.count(DISTINCT (p.counter, p.key)) AS keys INTO d
          FROM denorm._pending_deltas p;
        detail := pg_catalog.format('%s pending deltas over %s keys', d.deltas, d.keys);
        IF d.deltas > 0 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                                        WHERE a.backend_type = 'denorm worker' AND a.datname = pg_catalog.current_database()) THEN
            status := 'warning';
            detail := detail || ': no worker folds them here; run SELECT denorm.run_pending() from pg_cron';
        ELSE
            status := 'ok';
        END IF;
        RETURN NEXT;
    END IF;

    component := 'session_replication_role';
    IF pg_catalog.current_setting('session_replication_role') = 'origin' THEN
        status := 'ok';
        detail := 'origin: counter triggers fire';
    ELSE
        status := 'warning';
        detail := pg_catalog.format('%s in this session: writes made with it do not maintain counters; '
                                    'run SELECT * FROM denorm.reconcile() afterwards',
                                    pg_catalog.current_setting('session_replication_role'));
    END IF;
    RETURN NEXT;

    FOR d IN SELECT x.name, x.target, x.target_columns[1] AS col FROM denorm._definitions x ORDER BY x.name LOOP
        component := 'counter ' || d.name;
        SELECT pg_catalog.string_agg(pg_catalog.format('%s on %s %s', t.trigger_name, t.rel,
                   CASE WHEN t.enabled IS NULL THEN 'is missing' ELSE 'is disabled' END), '; ' ORDER BY t.rel::text, t.trigger_name)
          INTO broken FROM denorm._counter_triggers(d.name) t WHERE t.enabled IS DISTINCT FROM 'O';
        IF broken IS NOT NULL THEN
            status := 'critical';
            detail := broken || ': the counter is not maintained (denorm.advise() says how to repair it)';
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- Definitions sharing a column are reconciled together, under one name.
        SELECT l.* INTO last FROM denorm.reconcile_log l
         WHERE l.counter IN (SELECT x.name FROM denorm._definitions x WHERE x.target = d.target AND x.target_columns[1] = d.col)
         ORDER BY l.finished_at DESC LIMIT 1;
        IF last IS NULL THEN
            status := 'warning';
            detail := pg_catalog.format('never reconciled: SELECT * FROM denorm.reconcile(%L, fix => false)', d.name);
        ELSIF last.mismatches > 0 THEN
            status := 'warning';
            detail := pg_catalog.format('last reconcile %s s ago found %s mismatches and fixed %s',
                          pg_catalog.round(EXTRACT(epoch FROM pg_catalog.now() - last.finished_at)), last.mismatches, last.fixed);
        ELSE
            status := 'ok';
            detail := pg_catalog.format('last reconcile %s s ago: %s rows, no mismatch',
                          pg_catalog.round(EXTRACT(epoch FROM pg_catalog.now() - last.finished_at)), last.rows_checked);
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;

CREATE FUNCTION denorm.advise() RETURNS TABLE(object text, problem text, suggestion text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    t record;
BEGIN
    -- reconcile's recount and a new target row's initial value probe the source by key.
    FOR d IN SELECT x.source, x.source_key, pg_catalog.string_agg(x.name, ', ' ORDER BY x.name) AS names
               FROM denorm._definitions x GROUP BY x.source, x.source_key ORDER BY x.source::text, x.source_key LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_index x
             WHERE x.indrelid = d.source AND x.indpred IS NULL
               AND (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attname)
                      FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = d.source
                       AND a.attnum = ANY ((x.indkey::int2[])[0 : pg_catalog.cardinality(d.source_key) - 1]))
                   = (SELECT pg_catalog.array_agg(c ORDER BY c) FROM pg_catalog.unnest(d.source_key) c)) THEN
            object := d.source::text;
            problem := pg_catalog.format('no index on (%s): reconcile and new target rows of %s scan the table',
                                         pg_catalog.array_to_string(d.source_key, ', '), d.names);
            suggestion := pg_catalog.format('CREATE INDEX CONCURRENTLY ON %s (%s);', d.source,
                              (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ') FROM pg_catalog.unnest(d.source_key) c));
            RETURN NEXT;
        END IF;
    END LOOP;
    -- A min/max/latest recomputes a key by reading (key, value) or (key, order_by) from an
    -- index: suggest one when the value/order_by are plain columns and no index has them.
    FOR d IN SELECT x.name, x.source, x.source_key,
                    CASE WHEN x.kind = 'latest' THEN x.order_by ELSE ARRAY[x.value] END AS tail
               FROM denorm._definitions x WHERE x.kind IN ('min', 'max', 'latest') ORDER BY x.name LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_catalog.unnest(d.tail) c
                               WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = d.source
                                                    AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped));
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_catalog.pg_index x
             WHERE x.indrelid = d.source AND x.indpred IS NULL
               AND (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attname) FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = d.source
                       AND a.attnum = ANY ((x.indkey::int2[])[0 : pg_catalog.cardinality(d.source_key) - 1]))
                   = (SELECT pg_catalog.array_agg(c ORDER BY c) FROM pg_catalog.unnest(d.source_key) c)
               AND ARRAY(SELECT a.attname::text FROM pg_catalog.unnest((x.indkey::int2[])[pg_catalog.cardinality(d.source_key) :
                                    pg_catalog.cardinality(d.source_key) + pg_catalog.cardinality(d.tail) - 1])
                                    WITH ORDINALITY k(attnum, o)
                           JOIN pg_catalog.pg_attribute a ON a.attrelid = d.source AND a.attnum = k.attnum ORDER BY k.o)
                   = d.tail);
        object := d.source::text;
        problem := pg_catalog.format('no index on (%s): %s reads the whole key to recompute it',
                                     pg_catalog.array_to_string(d.source_key || d.tail, ', '), d.name);
        suggestion := pg_catalog.format('CREATE INDEX CONCURRENTLY ON %s (%s);', d.source,
                          (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ') FROM pg_catalog.unnest(d.source_key || d.tail) c));
        RETURN NEXT;
    END LOOP;
    FOR d IN SELECT r.mv FROM denorm._mv_registry r
              WHERE r."concurrently" IS NOT false AND NOT denorm._has_unique_index(r.mv) ORDER BY r.mv::text LOOP
        object := d.mv::text;
        problem := 'no unique index: every refresh locks out the view''s readers';
        suggestion := pg_catalog.format('CREATE UNIQUE INDEX CONCURRENTLY ON %s (<columns that identify a row>);', d.mv);
        RETURN NEXT;
    END LOOP;
    FOR d IN SELECT x.name FROM denorm._definitions x ORDER BY x.name LOOP
        FOR t IN SELECT * FROM denorm._counter_triggers(d.name) x WHERE x.enabled IS DISTINCT FROM 'O'
                  ORDER BY x.rel::text, x.trigger_name LOOP
            object := pg_catalog.format('trigger %s on %s', t.trigger_name, t.rel);
            IF t.enabled IS NULL THEN
                problem := pg_catalog.format('missing: counter %s is not maintained', d.name);
                suggestion := pg_catalog.format('SELECT denorm.drop_counter(%L); then create it again with denorm.create_counter(...)', d.name);
            ELSE
                problem := pg_catalog.format('disabled: counter %s is not maintained', d.name);
                suggestion := pg_catalog.format('ALTER TABLE %s ENABLE TRIGGER %I; SELECT * FROM denorm.reconcile(%L);',
                                                t.rel, t.trigger_name, d.name);
            END IF;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END $$;

-------------------------------------------------------------------------------
-- Materialized views refreshed with debounce (README "Materialized views, refreshed in the background").
-------------------------------------------------------------------------------
CREATE TABLE denorm._mv_registry (
    mv                   regclass PRIMARY KEY,
    debounce             interval NOT NULL,
    max_delay            interval NOT NULL,
    depends_on           regclass[],             -- as given; NULL = discovered
    sources              regclass[] NOT NULL,    -- tables whose changes request a refresh
    reads_views          regclass[] NOT NULL,    -- materialized views it reads (refreshed first)
    "concurrently"       boolean,                -- as given; NULL = when usable
    registered_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_refresh_at      timestamptz,
    last_duration_ms     double precision,
    last_status          text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    next_attempt_at      timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('denorm._mv_registry', '');
GRANT SELECT ON denorm._mv_registry TO PUBLIC;

-- Insert-only: one row per transaction and view; durable, so requests survive a crash.
CREATE TABLE denorm._mv_requests (
    mv           regclass NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    n            bigint NOT NULL DEFAULT 1    -- committed transactions this row stands for
);
CREATE INDEX ON denorm._mv_requests (mv, requested_at);
SELECT pg_catalog.pg_extension_config_dump('denorm._mv_requests', '');

CREATE TABLE denorm.refresh_log (
    id                 bigserial PRIMARY KEY,
    mv                 regclass NOT NULL,
    first_request_at   timestamptz,
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz NOT NULL,
    duration_ms        double precision NOT NULL,
    row_count          bigint,
    requests_coalesced bigint NOT NULL,
    "concurrently"     boolean NOT NULL,
    status             text NOT NULL CHECK (status IN ('completed', 'failed')),
    error              text
);
CREATE INDEX ON denorm.refresh_log (mv, started_at);
CREATE INDEX ON denorm.refresh_log (finished_at);
GRANT SELECT ON denorm.refresh_log TO PUBLIC;

-- Whether REFRESH ... CONCURRENTLY can run: a unique index on plain columns with no
-- WHERE clause, and the view populated (the first refresh of a WITH NO DATA view is plain).
CREATE FUNCTION denorm._can_refresh_concurrently(mv regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.relispopulated AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_index x
         WHERE x.indrelid = mv AND x.indisunique AND x.indisvalid AND x.indpred IS NULL AND x.indexprs IS NULL)
      FROM pg_catalog.pg_class c WHERE c.oid = mv
$$;

CREATE FUNCTION denorm._has_unique_index(mv regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                    WHERE x.indrelid = mv AND x.indisunique AND x.indpred IS NULL AND x.indexprs IS NULL)
$$;

-- The relations a view reads, found from its rewrite rule through plain views:
-- tables (sources) and materialized views (refreshed before it).
CREATE FUNCTION denorm._view_inputs(rel regclass, OUT sources regclass[], OUT reads_views regclass[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE reads(relid) AS (
        SELECT d.refobjid FROM pg_catalog.pg_rewrite r
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                     AND d.refclassid = 'pg_catalog.pg_class'::regclass
         WHERE r.ev_class = rel AND d.refobjid <> rel
        UNION
        SELECT d.refobjid FROM reads
          JOIN pg_catalog.pg_class c ON c.oid = reads.relid AND c.relkind = 'v'
          JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                     AND d.refclassid = 'pg_catalog.pg_class'::regclass
         WHERE d.refobjid <> c.oid)
    SELECT coalesce(pg_catalog.array_agg(DISTINCT c.oid::regclass) FILTER (WHERE c.relkind IN ('r', 'p')), '{}'),
           coalesce(pg_catalog.array_agg(DISTINCT c.oid::regclass) FILTER (WHERE c.relkind = 'm'), '{}')
      FROM reads JOIN pg_catalog.pg_class c ON c.oid = reads.relid
$$;

CREATE FUNCTION denorm._mv_capture_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_mv_capture_trigger';
-- Records a refresh request for mv in this transaction and wakes the worker at commit.
CREATE FUNCTION denorm._request(mv regclass) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_request';
-- The failure backoff of src/core/refresh_scheduler (1 s doubling, at most 5 minutes).
CREATE FUNCTION denorm._failure_backoff(consecutive_failures integer) RETURNS interval
    LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'denorm_failure_backoff';
REVOKE ALL ON FUNCTION denorm._mv_capture_trigger(), denorm._request(regclass) FROM PUBLIC;

CREATE FUNCTION denorm._sync_mv_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part regclass;
    wanted boolean := EXISTS (SELECT 1 FROM denorm._mv_registry WHERE rel = ANY (sources));
BEGIN
    FOR part IN SELECT denorm._relation_tree(rel) LOOP
        PERFORM denorm._set_trigger(part, 'denorm_mv_capture', wanted,
            'AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT '
            'EXECUTE FUNCTION denorm._mv_capture_trigger()');
    END LOOP;
    PERFORM denorm._invalidate(rel);
END $$;

CREATE FUNCTION denorm._register_mv(mv regclass, debounce interval, max_delay interval, depends_on regclass[],
                                    concurrently boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    inputs record;
    rel regclass;
BEGIN
    IF (SELECT relkind FROM pg_catalog.pg_class WHERE oid = mv) <> 'm' THEN
        RAISE EXCEPTION '"%" is not a materialized view', mv USING ERRCODE = 'wrong_object_type',
            HINT = 'register_mv takes a materialized view; counters keep tables up to date (denorm.create_counter).';
    END IF;
    IF EXISTS (SELECT 1 FROM denorm._mv_registry r WHERE r.mv = _register_mv.mv) THEN
        RAISE EXCEPTION 'materialized view % is already registered', mv USING ERRCODE = 'duplicate_object';
    END IF;
    IF debounce IS NULL OR debounce < '0'::interval THEN
        RAISE EXCEPTION 'debounce must be zero or more, not %', debounce USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max_delay IS NULL OR max_delay < debounce THEN
        RAISE EXCEPTION 'max_delay (%) must not be shorter than debounce (%)', max_delay, debounce
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF _register_mv.concurrently AND NOT denorm._has_unique_index(mv) THEN
        RAISE EXCEPTION 'materialized view % has no unique index usable by REFRESH ... CONCURRENTLY', mv
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Create a unique index on plain columns, without WHERE, or pass concurrently => NULL.';
    END IF;
    IF depends_on IS NULL THEN
        inputs := denorm._view_inputs(mv);
    ELSE
        FOREACH rel IN ARRAY depends_on LOOP
            IF (SELECT relkind FROM pg_catalog.pg_class WHERE oid = rel) NOT IN ('r', 'p', 'm') THEN
                RAISE EXCEPTION 'depends_on: "%" is not a table or materialized view', rel USING ERRCODE = 'wrong_object_type';
            END IF;
        END LOOP;
        SELECT coalesce(pg_catalog.array_agg(r) FILTER (WHERE c.relkind IN ('r', 'p')), '{}'),
               coalesce(pg_catalog.array_agg(r) FILTER (WHERE c.relkind = 'm'), '{}')
          INTO inputs FROM pg_catalog.unnest(depends_on) r JOIN pg_catalog.pg_class c ON c.oid = r;
    END IF;
    IF coalesce(_register_mv.concurrently, true) AND NOT denorm._has_unique_index(mv) THEN
        RAISE WARNING 'refreshes of % will block its readers: it has no unique index, so REFRESH ... CONCURRENTLY cannot be used', mv
            USING HINT = pg_catalog.format('Create one: CREATE UNIQUE INDEX ON %s (...);', mv);
    END IF;
    INSERT INTO denorm._mv_registry (mv, debounce, max_delay, depends_on, sources, reads_views, "concurrently")
    VALUES (mv, debounce, max_delay, depends_on, inputs.sources, inputs.reads_views, _register_mv.concurrently);
    FOREACH rel IN ARRAY inputs.sources LOOP
        PERFORM denorm._sync_mv_triggers(rel);
    END LOOP;
END $$;

CREATE FUNCTION denorm._unregister_mv(mv regclass, if_exists boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old regclass[];
    rel regclass;
BEGIN
    DELETE FROM denorm._mv_registry r WHERE r.mv = _unregister_mv.mv RETURNING r.sources INTO old;
    IF NOT FOUND THEN
        IF if_exists THEN
            RAISE NOTICE 'materialized view % is not registered, skipping', mv;
            RETURN;
        END IF;
        RAISE EXCEPTION 'materialized view % is not registered', mv USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM denorm._mv_requests q WHERE q.mv = _unregister_mv.mv;
    FOREACH rel IN ARRAY old LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = rel) THEN
            PERFORM denorm._sync_mv_triggers(rel);
        END IF;
    END LOOP;
END $$;

-- Refreshes one registered view: claims its pending requests, then refreshes, in
-- one transaction, so a change committed during the refresh stays pending for the
-- next one; logs the outcome. On failure the claim rolls back, the view keeps its
-- contents and the next attempt waits for the backoff. Returns the row count, or
-- NULL when the refresh failed. Runs as the extension owner; REFRESH itself runs the
-- view's query as the view's owner.
CREATE FUNCTION denorm._refresh(mv regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    reg denorm._mv_registry;
    started timestamptz := pg_catalog.clock_timestamp();
    use_concurrently boolean;
    claimed bigint;
    first_request timestamptz;
    row_count bigint;
    message text;
BEGIN
    -- Refreshes of one view never overlap: the registry row is their lock.
    SELECT * INTO reg FROM denorm._mv_registry r WHERE r.mv = _refresh.mv FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'materialized view % is not registered', mv USING ERRCODE = 'undefined_object';
    END IF;
    use_concurrently := coalesce(reg.concurrently, true) AND denorm._can_refresh_concurrently(mv);
    BEGIN
        WITH c AS (DELETE FROM denorm._mv_requests q WHERE q.mv = _refresh.mv RETURNING q.requested_at, q.n)
        SELECT coalesce(pg_catalog.sum(c.n), 0), pg_catalog.min(c.requested_at) INTO claimed, first_request FROM c;
        EXECUTE pg_catalog.format('REFRESH MATERIALIZED VIEW %s%s', CASE WHEN use_concurrently THEN 'CONCURRENTLY ' ELSE '' END, mv);
        EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', mv) INTO row_count;
        -- This refresh is a change of the registered views that read this one.
        INSERT INTO denorm._mv_requests (mv) SELECT r.mv FROM denorm._mv_registry r WHERE _refresh.mv = ANY (r.reads_views);
        INSERT INTO denorm.refresh_log (mv, first_request_at, started_at, finished_at, duration_ms, row_count,
                                        requests_coalesced, "concurrently", status)
        VALUES (mv, first_request, started, pg_catalog.clock_timestamp(),
                EXTRACT(epoch FROM pg_catalog.clock_timestamp() - started) * 1000, row_count, claimed, use_concurrently, 'completed');
        UPDATE denorm._mv_registry r SET last_refresh_at = started,
               last_duration_ms = EXTRACT(epoch FROM pg_catalog.clock_timestamp() - started) * 1000,
               last_status = 'completed', consecutive_failures = 0, next_attempt_at = NULL
         WHERE r.mv = _refresh.mv;
        PERFORM pg_catalog.pg_notify('denorm_refreshed', mv::text);
        RETURN row_count;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
    END;
    INSERT INTO denorm.refresh_log (mv, first_request_at, started_at, finished_at, duration_ms, row_count,
                                    requests_coalesced, "concurrently", status, error)
    SELECT _refresh.mv, pg_catalog.min(q.requested_at), started, pg_catalog.clock_timestamp(),
           EXTRACT(epoch FROM pg_catalog.clock_timestamp() - started) * 1000, NULL, coalesce(pg_catalog.sum(q.n), 0),
           use_concurrently, 'failed', message
      FROM denorm._mv_requests q WHERE q.mv = _refresh.mv;
    UPDATE denorm._mv_registry r SET last_status = 'failed', consecutive_failures = r.consecutive_failures + 1,
           last_duration_ms = EXTRACT(epoch FROM pg_catalog.clock_timestamp() - started) * 1000,
           next_attempt_at = pg_catalog.clock_timestamp() + denorm._failure_backoff(r.consecutive_failures + 1)
     WHERE r.mv = _refresh.mv;
    RAISE WARNING 'refresh of materialized view % failed: %', mv, message;
    RETURN NULL;
END $$;

-- What is pending, per registered view (the worker and run_pending schedule from it):
-- the first and last request of the batch, two index probes per view however long
-- the queue is.
CREATE FUNCTION denorm._mv_pending(OUT mv regclass, OUT debounce interval, OUT max_delay interval,
                                   OUT reads_views regclass[], OUT consecutive_failures integer,
                                   OUT next_attempt_at timestamptz, OUT first_request_at timestamptz,
                                   OUT last_request_at timestamptz)
RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.mv, r.debounce, r.max_delay, r.reads_views, r.consecutive_failures, r.next_attempt_at,
           (SELECT q.requested_at FROM denorm._mv_requests q WHERE q.mv = r.mv ORDER BY q.requested_at LIMIT 1),
           (SELECT q.requested_at FROM denorm._mv_requests q WHERE q.mv = r.mv ORDER BY q.requested_at DESC LIMIT 1)
      FROM denorm._mv_registry r ORDER BY r.mv::text
$$;

REVOKE ALL ON FUNCTION denorm._register_mv(regclass, interval, interval, regclass[], boolean),
    denorm._unregister_mv(regclass, boolean), denorm._refresh(regclass), denorm._sync_mv_triggers(regclass) FROM PUBLIC;

CREATE FUNCTION denorm.register_mv(
    mv           regclass,
    debounce     interval  DEFAULT '1 second',
    max_delay    interval  DEFAULT '5 seconds',
    depends_on   regclass[] DEFAULT NULL,
    concurrently boolean   DEFAULT NULL) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_register_mv';
CREATE FUNCTION denorm.unregister_mv(mv regclass, if_exists boolean DEFAULT false) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_unregister_mv';
CREATE FUNCTION denorm.request_refresh(mv regclass) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_request_refresh';
CREATE FUNCTION denorm.refresh_now(mv regclass) RETURNS bigint
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_refresh_now';
CREATE FUNCTION denorm.run_pending() RETURNS integer
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_run_pending';
REVOKE ALL ON FUNCTION denorm.run_pending() FROM PUBLIC;

-- Requests committed but not yet moved from shared memory to _mv_requests.
-- _requests_state remembers the shared memory the last re-request of every view was
-- made for (memory_requests.hpp); not dumped: a restored database starts with its own.
CREATE FUNCTION denorm._memory_created_at() RETURNS timestamptz
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'denorm_memory_created_at';
CREATE TABLE denorm._requests_state (memory_created_at timestamptz);
INSERT INTO denorm._requests_state VALUES (denorm._memory_created_at());

CREATE FUNCTION denorm._memory_requests(OUT mv regclass, OUT first_request_at timestamptz, OUT requests bigint)
RETURNS SETOF record LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'denorm_memory_requests';

CREATE VIEW denorm.mv_status AS
SELECT r.mv, r.debounce, r.max_delay,
       coalesce(r.concurrently, true) AND denorm._can_refresh_concurrently(r.mv) AS "concurrently",
       coalesce(r.depends_on, r.sources || r.reads_views) AS depends_on,
       q.n > 0 AS pending, q.first_at AS pending_since, q.n AS requests_pending,
       r.last_refresh_at, r.last_duration_ms, r.last_status, r.consecutive_failures, r.next_attempt_at
  FROM denorm._mv_registry r
  CROSS JOIN LATERAL (SELECT coalesce(pg_catalog.sum(x.n), 0)::bigint AS n, pg_catalog.min(x.requested_at) AS first_at
                        FROM (SELECT q.n, q.requested_at FROM denorm._mv_requests q WHERE q.mv = r.mv
                              UNION ALL
                              SELECT m.requests, m.first_request_at FROM denorm._memory_requests() m WHERE m.mv = r.mv) x) q;
GRANT SELECT ON denorm.mv_status TO PUBLIC;

CREATE FUNCTION denorm._wake_launcher() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_wake_launcher';
REVOKE ALL ON FUNCTION denorm._wake_launcher() FROM PUBLIC;
SELECT denorm._wake_launcher();

-------------------------------------------------------------------------------
-- Bulk loads: suspend and resume the counters fed by a source (README "Bulk loads: suspend and resume").
-------------------------------------------------------------------------------
CREATE FUNCTION denorm._set_suspended(source regclass, suspended boolean) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM denorm._definitions d WHERE d.source = _set_suspended.source) THEN
        RAISE EXCEPTION 'no counter is fed by %', source USING ERRCODE = 'undefined_object',
            HINT = 'denorm.counters lists the counters and their sources.';
    END IF;
    UPDATE denorm._definitions d SET suspended = _set_suspended.suspended
     WHERE d.source = _set_suspended.source AND d.suspended IS DISTINCT FROM _set_suspended.suspended;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM denorm._invalidate(source);
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION denorm._set_suspended(regclass, boolean) FROM PUBLIC;

CREATE FUNCTION denorm.suspend(source regclass) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_suspend';
CREATE FUNCTION denorm.resume(source regclass, reconcile boolean DEFAULT true) RETURNS bigint
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_resume';
