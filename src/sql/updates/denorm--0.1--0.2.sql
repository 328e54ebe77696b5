-- denorm 0.1 -> 0.2: least privilege (README "Security"). Every statement on a user's
-- table runs as that table's owner, restricted, with search_path pinned: the
-- maintenance functions reach users' tables through denorm._as_owner; logs, audit trail,
-- status and pending deltas show each role the rows it may read; internals are closed
-- to PUBLIC; NULL arguments are refused instead of ignored. test/t/060_upgrade.pl checks
-- that 0.1 updated by this script has the catalog of a fresh 0.2.
\echo Use "ALTER EXTENSION denorm UPDATE TO '0.2'" to load this file. \quit

-- Whether a sum's value may be of the type (the types a count or sum column may have).
CREATE FUNCTION denorm._is_counter_type(type regtype) RETURNS boolean
    LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'denorm_is_counter_type';

-- Runs one statement ($1 = arg, text) as the owner of rel, in a security-restricted
-- operation with search_path pinned; returns the first column of its first row. The
-- maintenance functions below run as the extension's owner and reach users' tables
-- only through it (README "Security").
-- Whether denorm is loaded by shared_preload_libraries (health(); the setting itself
-- is readable only by superusers and pg_read_all_settings).
CREATE FUNCTION denorm._preloaded() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'denorm_preloaded';

CREATE FUNCTION denorm._as_owner(rel regclass, sql text, arg text DEFAULT NULL) RETURNS text
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_as_owner';

-- The same for a read under the caller's snapshot (counter_value).
CREATE FUNCTION denorm._as_owner_read(rel regclass, sql text, arg text DEFAULT NULL) RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'denorm_as_owner_read';

-- Whether the current user may see denorm's rows about rel: SELECT on it, or the
-- privileges of pg_monitor (the row filter of logs, audit trail and status).
CREATE FUNCTION denorm._may_see(rel regclass) RETURNS boolean
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'denorm_may_see';

-- The definition's aggregate for one key, by an index probe of the source:
-- key_refs[i] is the SQL that gives the value of target_key[i] (a column reference or a
-- parameter).
CREATE OR REPLACE FUNCTION denorm._probe_sql(d denorm._definitions, key_refs text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.format('coalesce((SELECT %s FROM %s WHERE %s%s), 0)',
               denorm._aggregate_sql(d), d.source, denorm._filter_sql(d),
               (SELECT pg_catalog.string_agg(pg_catalog.format(' AND %I OPERATOR(pg_catalog.=) %s', d.source_key[i], key_refs[i]), '' ORDER BY i)
                  FROM pg_catalog.generate_series(1, pg_catalog.cardinality(d.source_key)) i))
$$;

-- The sum of a deferred definition's pending deltas for one target row (0 when none).
CREATE OR REPLACE FUNCTION denorm._pending_sql(d denorm._definitions, key_refs text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.format('coalesce((SELECT pg_catalog.sum(p.delta) FROM denorm._pending_deltas p '
                             'WHERE p.counter OPERATOR(pg_catalog.=) %L AND p.key OPERATOR(pg_catalog.=) %s), 0)', d.name, denorm._pending_key_sql(d, key_refs))
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
CREATE OR REPLACE FUNCTION denorm._group_query(target regclass, columns text[], key_cols text[], key_refs text[]) RETURNS text
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

-- The statements a writer runs for one extremum definition and one target key:
-- parameters $1 and $2 are the best value the statement added and the best it removed
-- (min and max), $3.. the source key. fast_sql (min, max) folds the added value in and
-- returns a row unless a removed value may have been the stored one (a latest's, used
-- when the statement only added rows for the key: see _latest_fast_sql); otherwise the
-- writer locks the row (lock_sql) and recomputes it in a new statement
-- (recompute_sql), which then sees every writer that committed before the lock.
-- create_sql inserts a missing target row (create_missing); its BEFORE INSERT trigger
-- computes the values.
CREATE OR REPLACE FUNCTION denorm._extremum_statements(counter_name text, OUT lock_sql text, OUT recompute_sql text,
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

CREATE OR REPLACE FUNCTION denorm._pending_query(d denorm._definitions, keycols text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.format('SELECT %s, -pg_catalog.sum(p.delta) AS x FROM denorm._pending_deltas p '
                             'WHERE p.counter OPERATOR(pg_catalog.=) %L GROUP BY %s',
               (SELECT pg_catalog.string_agg(pg_catalog.format('%s AS k%s', denorm._pending_key_element(d, 'p', c), i),
                                             ', ' ORDER BY i)
                  FROM pg_catalog.unnest(keycols) WITH ORDINALITY u(c, i)),
               d.name,
               (SELECT pg_catalog.string_agg(g::text, ', ') FROM pg_catalog.generate_series(1, pg_catalog.cardinality(keycols)) g))
$$;

-- "t.a = v.k1 AND t.b = v.k2" for keycols (a, b).
CREATE OR REPLACE FUNCTION denorm._key_join(keycols text[], t text, v text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.string_agg(pg_catalog.format('%s.%I OPERATOR(pg_catalog.=) %s.k%s', t, c, v, i), ' AND ' ORDER BY i)
      FROM pg_catalog.unnest(keycols) WITH ORDINALITY u(c, i)
$$;

-- Sets target_column of every target row to the combined value of its definitions.
-- Returns the number of rows changed. Runs as the extension's owner; its statements
-- run as the target's owner (denorm._as_owner).
CREATE OR REPLACE FUNCTION denorm._recompute(target regclass, target_column text) RETURNS bigint
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

-- Reconciles the column of one counter (with every definition sharing it; for min,
-- max and latest, the group of columns its definitions write). Runs as the
-- extension's owner; its statements run as the target's owner (denorm._as_owner).
-- Candidates come from one snapshot, where stored values and sources agree unless
-- they drifted (writers change both in one transaction), so a report takes no lock. A fix then locks a batch of candidate rows
-- in key order and recounts them in a new statement: a writer that committed
-- meanwhile is seen, one still running waits for the lock and adds its change on top.
-- Both phases join each target row t to its expected values v.v1..v.vn.
CREATE OR REPLACE FUNCTION denorm._reconcile_counter(counter_name text, fix boolean, batch_size integer)
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
    missing text;
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

    -- Target rows create_missing should have created and that are missing (rows aliased
    -- t holding only the key columns): reported with stored NULL, inserted by a fix.
    missing := (SELECT pg_catalog.string_agg(pg_catalog.format('SELECT %s FROM (%s) a',
                           (SELECT pg_catalog.string_agg(pg_catalog.format('a.%I', c), ', ' ORDER BY o)
                              FROM pg_catalog.unnest(keycols) WITH ORDINALITY u(c, o)),
                           denorm._adoption_keys_sql(x)), ' UNION ')
                  FROM denorm._definitions x
                 WHERE x.target = d.target AND x.target_columns && cols AND x.create_missing);
    IF missing IS NOT NULL THEN
        missing := pg_catalog.format('SELECT m.* FROM (%s) m WHERE NOT EXISTS (SELECT 1 FROM %s x WHERE %s)',
            missing, d.target,
            (SELECT pg_catalog.string_agg(pg_catalog.format('x.%1$I OPERATOR(pg_catalog.=) m.%1$I', c), ' AND ')
               FROM pg_catalog.unnest(keycols) c));
    END IF;

    -- Every statement on the target runs as its owner (denorm._as_owner), which
    -- returns the rows as one jsonb array of {key, stored, expected}.
    IF NOT fix THEN
        RETURN QUERY SELECT r.key, r.stored, r.expected, false
          FROM pg_catalog.jsonb_to_recordset(coalesce(denorm._as_owner(d.target, pg_catalog.format(
                   'SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''key'', %1$s, ''stored'', %2$s, '
                   '''expected'', %3$s) ORDER BY %6$s) FROM %4$s t %5$s WHERE %2$s IS DISTINCT FROM %3$s',
                   key_json, stored_json, expected_json, d.target, report_join, key_list)), '[]')::pg_catalog.jsonb)
               AS r(key jsonb, stored jsonb, expected jsonb);
        IF missing IS NOT NULL THEN
            RETURN QUERY SELECT r.key, NULL::jsonb, r.expected, false
              FROM pg_catalog.jsonb_to_recordset(coalesce(denorm._as_owner(d.target, pg_catalog.format(
                       'SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''key'', %1$s, ''expected'', %2$s) '
                       'ORDER BY %3$s) FROM (%4$s) t %5$s',
                       key_json, expected_json, key_list, missing, fix_join)), '[]')::pg_catalog.jsonb)
                   AS r(key jsonb, expected jsonb);
        END IF;
        RETURN;
    END IF;

    candidates := ARRAY(SELECT pg_catalog.jsonb_array_elements(coalesce(denorm._as_owner(d.target, pg_catalog.format(
        'SELECT pg_catalog.jsonb_agg(%1$s ORDER BY %6$s) FROM %4$s t %5$s WHERE %2$s IS DISTINCT FROM %3$s',
        key_json, stored_json, expected_json, d.target, report_join, key_list)), '[]')::pg_catalog.jsonb));
    n := coalesce(pg_catalog.cardinality(candidates), 0);
    i := 1;
    WHILE i <= n LOOP
        batch := pg_catalog.to_jsonb(candidates[i : i + batch_size - 1]);
        PERFORM denorm._as_owner(d.target, pg_catalog.format(
            'SELECT pg_catalog.count(*) FROM (SELECT 1 FROM %1$s t WHERE (%2$s) IN (SELECT %3$s '
            'FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) j) ORDER BY %4$s FOR UPDATE) l',
            d.target, key_list, key_from_json, denorm._lock_order('t', keycols)), batch::text);
        RETURN QUERY SELECT r.key, r.stored, r.expected, true
          FROM pg_catalog.jsonb_to_recordset(coalesce(denorm._as_owner(d.target, pg_catalog.format(
            'WITH x AS (SELECT t.ctid AS row_id, t.tableoid AS rel, %1$s AS key, %2$s AS stored, %3$s AS expected, %4$s '
            '             FROM %5$s t %6$s WHERE (%7$s) IN (SELECT %8$s FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) j)), '
            '     d AS (SELECT * FROM x WHERE stored IS DISTINCT FROM expected), '
            '     u AS (UPDATE %5$s t SET (%9$s) = ROW(%10$s) FROM d WHERE t.ctid = d.row_id AND t.tableoid = d.rel) '
            'SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''key'', d.key, ''stored'', d.stored, '
            '''expected'', d.expected) ORDER BY d.key) FROM d',
            key_json, stored_json, expected_json,
            (SELECT pg_catalog.string_agg(pg_catalog.format('v.v%s', o), ', ' ORDER BY o) FROM pg_catalog.generate_series(1, pg_catalog.cardinality(cols)) o),
            d.target, fix_join, key_list, key_from_json,
            (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ' ORDER BY o) FROM pg_catalog.unnest(cols) WITH ORDINALITY u(c, o)),
            (SELECT pg_catalog.string_agg(pg_catalog.format('d.v%s', o), ', ' ORDER BY o) FROM pg_catalog.generate_series(1, pg_catalog.cardinality(cols)) o)),
          batch::text), '[]')::pg_catalog.jsonb) AS r(key jsonb, stored jsonb, expected jsonb);
        i := i + batch_size;
    END LOOP;
    -- Missing rows are inserted (ON CONFLICT: a writer may create one meanwhile); their
    -- BEFORE INSERT initialiser computes the values, which RETURNING reports.
    IF missing IS NOT NULL THEN
        RETURN QUERY SELECT r.key, NULL::jsonb, r.expected, true
          FROM pg_catalog.jsonb_to_recordset(coalesce(denorm._as_owner(d.target, pg_catalog.format(
                   'WITH t AS (INSERT INTO %1$s AS t (%2$s) SELECT * FROM (%3$s) m ON CONFLICT (%2$s) DO NOTHING RETURNING t.*) '
                   'SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(''key'', %4$s, ''expected'', %5$s) '
                   'ORDER BY %6$s) FROM t',
                   d.target, (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ') FROM pg_catalog.unnest(keycols) c),
                   missing, key_json, stored_json, key_list)), '[]')::pg_catalog.jsonb)
               AS r(key jsonb, expected jsonb);
    END IF;
END $$;

-- The checks every definition passes: tables, keys (the target's primary key when
-- target_key is NULL; pair types that compare; a unique index on the target key),
-- filter and touch. Returns the resolved target key.
CREATE OR REPLACE FUNCTION denorm._check_definition(name text, target regclass, source regclass, source_key text[],
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
    IF pg_catalog.array_position(source_key, NULL) IS NOT NULL OR pg_catalog.array_position(tkey, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'source_key and target_key must not contain NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
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

-- The columns a definition writes are not the target row's key (a write would move
-- the row onto another's key), nor its touch column.
CREATE FUNCTION denorm._check_written_columns(target regclass, columns text[], tkey text[], touch text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF columns && tkey THEN
        RAISE EXCEPTION 'column "%" of % is part of the target key', (SELECT c FROM pg_catalog.unnest(columns) c
                                                                       WHERE c = ANY (tkey) LIMIT 1), target
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A counter writes a column of the target row its key identifies; name another column.';
    END IF;
    IF touch = ANY (columns || tkey) THEN
        RAISE EXCEPTION 'touch column "%" of % is also a key or counter column', touch, target
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION denorm._create_counter(
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
        IF aggregate = 'sum' AND NOT denorm._is_counter_type(vtype) THEN
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
    PERFORM denorm._check_written_columns(target, ARRAY[target_column], tkey, touch);
    PERFORM denorm._check_shared_key(target, ARRAY[target_column], tkey);

    INSERT INTO denorm._definitions (name, kind, target, target_columns, source, source_key, target_key,
                                     value, filter, create_missing, touch, deferred)
    VALUES (name, aggregate, target, ARRAY[target_column], source, source_key, tkey,
            value, filter, create_missing, touch, deferred);
    PERFORM denorm._sync_triggers(source);
    PERFORM denorm._sync_triggers(target);
END $$;

CREATE OR REPLACE FUNCTION denorm._create_latest(
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
    PERFORM denorm._check_written_columns(target, target_columns, tkey, touch);
    PERFORM denorm._check_shared_key(target, target_columns, tkey);

    INSERT INTO denorm._definitions (name, kind, target, target_columns, source, source_key, target_key,
                                     source_values, order_by, filter, create_missing, touch)
    VALUES (name, 'latest', target, target_columns, source, source_key, tkey,
            source_values, order_by, filter, create_missing, touch);
    PERFORM denorm._sync_triggers(source);
    PERFORM denorm._sync_triggers(target);
END $$;

-------------------------------------------------------------------------------
-- Deferred counters: folding pending deltas, reading exact values.
-------------------------------------------------------------------------------
-- "t.a = (p.key[1])::int AND ..." : target row alias t against pending key alias p.
CREATE OR REPLACE FUNCTION denorm._pending_match(d denorm._definitions, t text, p text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.string_agg(pg_catalog.format('%s.%I OPERATOR(pg_catalog.=) %s', t, k, denorm._pending_key_element(d, p, k)),
                                 ' AND ' ORDER BY k)
      FROM pg_catalog.unnest(d.target_key) k
$$;

-- Folds a deferred counter's pending deltas into its target rows; returns the number of
-- rows changed. The rows are locked first (the deltas of a row are then deleted and
-- added in the same statement, so a concurrent fold never adds them twice). A missing
-- row is created first when create_missing (its initialiser subtracts the deltas this
-- fold then adds); otherwise its deltas wait until the row exists.
CREATE OR REPLACE FUNCTION denorm._fold(counter_name text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
    keys text;
BEGIN
    SELECT * INTO d FROM denorm._definitions x WHERE x.name = counter_name AND x.deferred;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM denorm._pending_deltas p WHERE p.counter = counter_name) THEN
        RETURN 0;
    END IF;
    keys := (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ' ORDER BY k) FROM pg_catalog.unnest(d.target_key) k);
    -- Both statements run as the target's owner (its triggers fire as it, never as
    -- the extension's owner); the row security of _pending_deltas lets it read and
    -- delete the deltas of the counters on its own tables. A missing row is created only
    -- for a key some statement added to (a positive delta), as a writer's create_missing
    -- would; the deltas of a key that only lost rows wait for its row like any other.
    IF d.create_missing THEN
        PERFORM denorm._as_owner(d.target, pg_catalog.format(
            'INSERT INTO %1$s AS t (%2$s) SELECT DISTINCT %3$s FROM denorm._pending_deltas p '
            'WHERE p.counter OPERATOR(pg_catalog.=) $1 AND p.delta OPERATOR(pg_catalog.>) 0 '
            '  AND NOT EXISTS (SELECT 1 FROM %1$s t WHERE %4$s) ON CONFLICT (%2$s) DO NOTHING',
            d.target, keys,
            (SELECT pg_catalog.string_agg(denorm._pending_key_element(d, 'p', k), ', ' ORDER BY k)
               FROM pg_catalog.unnest(d.target_key) k),
            denorm._pending_match(d, 't', 'p')),
          counter_name);
    END IF;
    RETURN denorm._as_owner(d.target, pg_catalog.format(
        'WITH l AS (SELECT %2$s FROM %1$s t WHERE EXISTS (SELECT 1 FROM denorm._pending_deltas p '
        '                                               WHERE p.counter OPERATOR(pg_catalog.=) $1 AND %3$s) '
        '            ORDER BY %8$s FOR NO KEY UPDATE), '
        '     g AS (DELETE FROM denorm._pending_deltas p USING l WHERE p.counter OPERATOR(pg_catalog.=) $1 AND %4$s '
        '           RETURNING p.key, p.delta), '
        '     s AS (SELECT g.key, pg_catalog.sum(g.delta) AS delta FROM g GROUP BY g.key), '
        '     u AS (UPDATE %1$s t SET %5$I = t.%5$I OPERATOR(pg_catalog.+) s.delta%6$s FROM s '
        '           WHERE %7$s AND s.delta OPERATOR(pg_catalog.<>) 0 RETURNING 1) '
        'SELECT pg_catalog.count(*) FROM u',
        d.target,
        (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', k), ', ' ORDER BY k) FROM pg_catalog.unnest(d.target_key) k),
        denorm._pending_match(d, 't', 'p'),
        denorm._pending_match(d, 'l', 'p'),
        d.target_columns[1],
        CASE WHEN d.touch IS NULL THEN '' ELSE pg_catalog.format(', %I = pg_catalog.now()', d.touch) END,
        denorm._pending_match(d, 't', 's'),
        denorm._lock_order('t', d.target_key)),
      counter_name)::bigint;
END $$;

-- The exact value of a count or sum counter for one target key (given in target_key
-- order), folded or not, under the caller's snapshot: the stored column plus the
-- pending deltas of the deferred definitions sharing it, read in one statement (a fold
-- commits both sides at once). A missing target row reads as NULL, or — when a
-- definition would create it — as the recount the created row will hold.
-- Runs as the extension's owner once denorm.counter_value checked that the caller may
-- read the target; the read runs as the target's owner.
CREATE FUNCTION denorm._counter_value(name text, key text[]) RETURNS numeric
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
    x denorm._definitions;
    refs text[];
    pending text := '0';
    recount text := '0';
    creates boolean := false;
BEGIN
    SELECT * INTO d FROM denorm._definitions c WHERE c.name = _counter_value.name;
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
        refs := ARRAY(SELECT pg_catalog.format('(($1::pg_catalog.text[])[%s])::%s', pg_catalog.array_position(d.target_key, k),
                                               denorm._column_sql_type(d.target, k))
                        FROM pg_catalog.unnest(x.target_key) WITH ORDINALITY u(k, o) ORDER BY o);
        IF x.deferred THEN
            pending := pending || ' + ' || denorm._pending_sql(x, refs);
        END IF;
        recount := recount || ' + ' || denorm._probe_sql(x, refs);
        creates := creates OR x.create_missing;
    END LOOP;
    -- $1 is the key (as text: _as_owner passes one text argument).
    RETURN denorm._as_owner_read(d.target, pg_catalog.format(
        'SELECT CASE WHEN r.present THEN r.v + %s %s END FROM (SELECT 1) _one '
        'LEFT JOIN LATERAL (SELECT t.%I::pg_catalog.numeric AS v, true AS present FROM %s t WHERE %s) r ON true',
        pending, CASE WHEN creates THEN 'ELSE ' || recount ELSE '' END, d.target_columns[1], d.target,
        (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I OPERATOR(pg_catalog.=) (($1::pg_catalog.text[])[%s])::%s', k, o,
                                                        denorm._column_sql_type(d.target, k)), ' AND ' ORDER BY o)
           FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(k, o))),
      key::text)::numeric;
END $$;

CREATE OR REPLACE FUNCTION denorm.counter_value(name text, VARIADIC key text[]) RETURNS numeric
    LANGUAGE c STABLE CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_counter_value';

CREATE OR REPLACE FUNCTION denorm.health() RETURNS TABLE(component text, status text, detail text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    broken text;
    last record;
    hidden bigint;
BEGIN
    component := 'shared_preload_libraries';
    IF denorm._preloaded() THEN
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

    -- A role sees the counters on tables it may read (pg_monitor: all), and is told
    -- how many it cannot check.
    component := 'privileges';
    SELECT pg_catalog.count(*) INTO hidden FROM denorm._definitions x WHERE NOT denorm._may_see(x.target);
    IF hidden > 0 THEN
        status := 'warning';
        detail := pg_catalog.format('%s counters are not checked: this role may not read their targets '
                                    '(members of pg_monitor see every counter and view)', hidden);
        RETURN NEXT;
    END IF;

    FOR d IN SELECT x.name, x.target, x.target_columns[1] AS col FROM denorm._definitions x
              WHERE denorm._may_see(x.target) ORDER BY x.name LOOP
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

CREATE OR REPLACE FUNCTION denorm.advise() RETURNS TABLE(object text, problem text, suggestion text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    t record;
BEGIN
    -- reconcile's recount and a new target row's initial value probe the source by key.
    -- Only about tables the caller may read (pg_monitor: all).
    FOR d IN SELECT x.source, x.source_key, pg_catalog.string_agg(x.name, ', ' ORDER BY x.name) AS names
               FROM denorm._definitions x WHERE denorm._may_see(x.source)
              GROUP BY x.source, x.source_key ORDER BY x.source::text, x.source_key LOOP
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
               FROM denorm._definitions x WHERE x.kind IN ('min', 'max', 'latest') AND denorm._may_see(x.source)
              ORDER BY x.name LOOP
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
        FOR t IN SELECT * FROM denorm._counter_triggers(d.name) x
                  WHERE x.enabled IS DISTINCT FROM 'O' AND denorm._may_see(x.rel)
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

CREATE OR REPLACE FUNCTION denorm._register_mv(mv regclass, debounce interval, max_delay interval, depends_on regclass[],
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
        IF pg_catalog.array_position(depends_on, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'depends_on must not contain NULL' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOREACH rel IN ARRAY depends_on LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = rel) THEN
                RAISE EXCEPTION 'depends_on: relation with OID % does not exist', rel::oid USING ERRCODE = 'undefined_table';
            END IF;
            IF (SELECT relkind FROM pg_catalog.pg_class WHERE oid = rel) NOT IN ('r', 'p', 'm') THEN
                RAISE EXCEPTION 'depends_on: "%" is not a table or materialized view', rel USING ERRCODE = 'wrong_object_type';
            END IF;
        END LOOP;
        SELECT coalesce(pg_catalog.array_agg(r) FILTER (WHERE c.relkind IN ('r', 'p')), '{}') AS sources,
               coalesce(pg_catalog.array_agg(r) FILTER (WHERE c.relkind = 'm'), '{}') AS reads_views
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

CREATE OR REPLACE FUNCTION denorm.unregister_mv(mv regclass, if_exists boolean DEFAULT false) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_unregister_mv';

CREATE OR REPLACE FUNCTION denorm.request_refresh(mv regclass) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_request_refresh';

CREATE OR REPLACE FUNCTION denorm.refresh_now(mv regclass) RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_refresh_now';

CREATE OR REPLACE VIEW denorm.mv_status AS
SELECT r.mv, r.debounce, r.max_delay,
       coalesce(r.concurrently, true) AND denorm._can_refresh_concurrently(r.mv) AS "concurrently",
       coalesce(r.depends_on, r.sources || r.reads_views) AS depends_on,
       q.n > 0 AS pending, q.first_at AS pending_since, q.n AS requests_pending,
       r.last_refresh_at, r.last_duration_ms, r.last_status, r.consecutive_failures, r.next_attempt_at
  FROM denorm._mv_registry r
  CROSS JOIN LATERAL (SELECT coalesce(pg_catalog.sum(x.n), 0)::bigint AS n, pg_catalog.min(x.requested_at) AS first_at
                        FROM (SELECT q.n, q.requested_at FROM denorm._mv_requests q WHERE q.mv = r.mv
                              UNION ALL
                              SELECT m.requests, m.first_request_at FROM denorm._memory_requests() m WHERE m.mv = r.mv) x) q
 WHERE denorm._may_see(r.mv);

CREATE OR REPLACE FUNCTION denorm.suspend(source regclass) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_suspend';

CREATE OR REPLACE FUNCTION denorm.resume(source regclass, reconcile boolean DEFAULT true) RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_resume';

-------------------------------------------------------------------------------
-- Privileges (README "Security"). Logs, audit trail, status and pending deltas show
-- each role the rows about relations it may read (SELECT on the counter's target or
-- the view), pg_monitor members and superusers all of them; row security enforces it
-- on the tables (their owner, the extension's owner, is not subject to it).
-------------------------------------------------------------------------------
CREATE FUNCTION denorm._may_see_counter(counter text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT denorm._may_see((SELECT d.target FROM denorm._definitions d WHERE d.name = counter))
$$;

ALTER TABLE denorm.reconcile_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY visible ON denorm.reconcile_log FOR SELECT USING (denorm._may_see_counter(counter));

ALTER TABLE denorm.reconcile_mismatches ENABLE ROW LEVEL SECURITY;

CREATE POLICY visible ON denorm.reconcile_mismatches FOR SELECT USING (denorm._may_see_counter(counter));

ALTER TABLE denorm.refresh_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY visible ON denorm.refresh_log FOR SELECT USING (denorm._may_see(mv));

ALTER TABLE denorm._mv_registry ENABLE ROW LEVEL SECURITY;

CREATE POLICY visible ON denorm._mv_registry FOR SELECT USING (denorm._may_see(mv));

-- Pending deltas: read like the logs (counter_value, health); deleted by the owner of
-- the counter's target, as whom denorm._fold runs. Writers append as the extension's
-- owner, so PUBLIC has no INSERT.
ALTER TABLE denorm._pending_deltas ENABLE ROW LEVEL SECURITY;

CREATE POLICY visible ON denorm._pending_deltas FOR SELECT USING (denorm._may_see_counter(counter));

CREATE POLICY fold ON denorm._pending_deltas FOR DELETE USING (pg_catalog.pg_has_role(
    (SELECT c.relowner FROM denorm._definitions d JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.target
      WHERE d.name OPERATOR(pg_catalog.=) counter), 'USAGE'));

GRANT SELECT, DELETE ON denorm._pending_deltas TO PUBLIC;

-- No internal function is executable by PUBLIC, except these, which the public
-- functions and views call with the caller's rights and which read only pg_catalog
-- or filter by _may_see: the row filters themselves, mv_status's _memory_requests and
-- _can_refresh_concurrently, health()'s _preloaded, and the catalog readers of
-- health() and advise(). sql/security_acl.sql lists every function with its ACL.
DO $revoke$
DECLARE
    f regprocedure;
BEGIN
    SET LOCAL search_path = pg_catalog, pg_temp;
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'denorm'::regnamespace
                AND p.proname LIKE '\_%'
                AND p.proname NOT IN ('_may_see', '_may_see_counter', '_memory_requests', '_can_refresh_concurrently',
                                      '_preloaded', '_counter_triggers', '_relation_tree', '_has_unique_index') LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $revoke$;
