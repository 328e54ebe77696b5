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
-- The rows of counters whose target the caller may read ("Privileges").
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
-- max and latest, the group of columns its definitions write). Runs as the
-- extension's owner; its statements run as the target's owner (denorm._as_owner).
-- Candidates come from one snapshot, where stored values and sources agree unless
-- they drifted (writers change both in one transaction), so a report takes no lock. A fix then locks a batch of candidate rows
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
