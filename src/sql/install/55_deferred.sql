-------------------------------------------------------------------------------
-- Deferred counters: folding pending deltas, reading exact values.
-------------------------------------------------------------------------------
-- "t.a = (p.key[1])::int AND ..." : target row alias t against pending key alias p.
CREATE FUNCTION denorm._pending_match(d denorm._definitions, t text, p text) RETURNS text
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
CREATE FUNCTION denorm._fold(counter_name text) RETURNS bigint
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

CREATE FUNCTION denorm.counter_value(name text, VARIADIC key text[]) RETURNS numeric
    LANGUAGE c STABLE CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_counter_value';

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
