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
               (SELECT pg_catalog.string_agg(pg_catalog.format(' AND %I OPERATOR(pg_catalog.=) %s', d.source_key[i], key_refs[i]), '' ORDER BY i)
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
                             'WHERE p.counter OPERATOR(pg_catalog.=) %L AND p.key OPERATOR(pg_catalog.=) %s), 0)', d.name, denorm._pending_key_sql(d, key_refs))
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
        keys := (SELECT pg_catalog.string_agg(pg_catalog.format(' AND %I OPERATOR(pg_catalog.=) %s', d.source_key[i],
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
    where_key := (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I OPERATOR(pg_catalog.=) $%s', k, o + 2), ' AND ' ORDER BY o)
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
                             'WHERE p.counter OPERATOR(pg_catalog.=) %L GROUP BY %s',
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
    SELECT pg_catalog.string_agg(pg_catalog.format('%s.%I OPERATOR(pg_catalog.=) %s.k%s', t, c, v, i), ' AND ' ORDER BY i)
      FROM pg_catalog.unnest(keycols) WITH ORDINALITY u(c, i)
$$;

-- Sets target_column of every target row to the combined value of its definitions.
-- Returns the number of rows changed. Runs as the extension's owner; its statements
-- run as the target's owner (denorm._as_owner).
CREATE FUNCTION denorm._recompute(target regclass, target_column text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    e record;
    grp denorm._definitions;
BEGIN
    SELECT * INTO grp FROM denorm._definitions x
     WHERE x.target = _recompute.target AND target_column = ANY (x.target_columns)
       AND x.kind IN ('min', 'max', 'latest') ORDER BY x.name LIMIT 1;
    IF FOUND THEN
        -- An extremum group: every row recomputed by probes, after locking them all.
        PERFORM denorm._as_owner(target, pg_catalog.format(
            'SELECT pg_catalog.count(*) FROM (SELECT 1 FROM %s t ORDER BY %s FOR UPDATE) l', target,
            denorm._lock_order('t', grp.target_key)));
        RETURN denorm._as_owner(target, pg_catalog.format(
            'WITH u AS (UPDATE %s t %s RETURNING 1) SELECT pg_catalog.count(*) FROM u', target,
            denorm._group_set_sql(target, grp.target_columns, grp.target_key,
                denorm._refs('t', grp.target_key), NULL)))::bigint;
    END IF;
    e := denorm._expected_query(target, target_column);
    IF e.keycols IS NULL THEN
        RETURN 0;
    END IF;
    -- Lock the target rows first, then recompute in new statements: a single
    -- UPDATE ... FROM (aggregate) would wait for a concurrent writer's row lock and
    -- then write a total from its older snapshot, losing that write.
    PERFORM denorm._as_owner(target, pg_catalog.format(
        'SELECT pg_catalog.count(*) FROM (SELECT 1 FROM %s t ORDER BY %s FOR UPDATE) l', target,
        denorm._lock_order('t', e.keycols)));
    -- One statement: every target row joined to its recount (0 without source rows) by
    -- a hash join, each changed row written once (a probe of the recount per target row
    -- took minutes on a million source rows).
    RETURN denorm._as_owner(target, pg_catalog.format(
        'WITH x AS (SELECT t.tableoid AS rel, t.ctid AS row_id, coalesce(v.total, 0) AS total '
        '             FROM %1$s t LEFT JOIN (%3$s) v ON %4$s WHERE t.%2$I IS DISTINCT FROM coalesce(v.total, 0)), '
        '     u AS (UPDATE %1$s t SET %2$I = x.total FROM x '
        '           WHERE t.tableoid OPERATOR(pg_catalog.=) x.rel AND t.ctid OPERATOR(pg_catalog.=) x.row_id RETURNING 1) '
        'SELECT pg_catalog.count(*) FROM u',
        target, target_column, e.query, denorm._key_join(e.keycols, 't', 'v')))::bigint;
END $$;

-- The target keys runtime create_missing would have created a row for, had every
-- existing source row been inserted after the definition: a key with a row that
-- contributes (a count: any row the filter keeps; a sum: a non-zero value; a min or
-- max: a non-NULL value; a latest: any row). A SELECT whose columns are named like the
-- target key columns; NULL unless the definition has create_missing.
CREATE FUNCTION denorm._adoption_keys_sql(d denorm._definitions) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN d.create_missing THEN pg_catalog.format('SELECT DISTINCT %s FROM %s s WHERE %s AND %s AND %s',
        (SELECT pg_catalog.string_agg(pg_catalog.format('s.%I AS %I', d.source_key[o], k), ', ' ORDER BY o)
           FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(k, o)),
        d.source,
        (SELECT pg_catalog.string_agg(pg_catalog.format('s.%I IS NOT NULL', k), ' AND ')
           FROM pg_catalog.unnest(d.source_key) k),
        denorm._filter_sql(d),
        CASE d.kind
            WHEN 'sum' THEN pg_catalog.format('(%s) OPERATOR(pg_catalog.<>) 0', denorm._deparse_expression(d.source, d.value))
            WHEN 'min' THEN pg_catalog.format('(%s) IS NOT NULL', denorm._deparse_expression(d.source, d.value))
            WHEN 'max' THEN pg_catalog.format('(%s) IS NOT NULL', denorm._deparse_expression(d.source, d.value))
            ELSE 'true' END) END
$$;

-- Adoption (a create_missing definition's backfill): inserts the rows of
-- _adoption_keys_sql; the target's BEFORE INSERT initialiser computes their values.
-- Runs as the extension's owner, the INSERT as the target's; returns the rows inserted.
CREATE FUNCTION denorm._adopt(counter_name text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
BEGIN
    SELECT * INTO d FROM denorm._definitions x WHERE x.name = counter_name;
    IF NOT FOUND OR NOT d.create_missing THEN
        RETURN 0;
    END IF;
    RETURN denorm._as_owner(d.target, pg_catalog.format(
        'WITH i AS (INSERT INTO %1$s AS t (%2$s%3$s) SELECT k.*%4$s FROM (%5$s) k ON CONFLICT (%2$s) DO NOTHING RETURNING 1) '
        'SELECT pg_catalog.count(*) FROM i',
        d.target,
        (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ' ORDER BY o)
           FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(k, o)),
        CASE WHEN d.touch IS NULL THEN '' ELSE ', ' || pg_catalog.quote_ident(d.touch) END,
        CASE WHEN d.touch IS NULL THEN '' ELSE ', pg_catalog.now()' END,
        denorm._adoption_keys_sql(d)))::bigint;
END $$;
