-------------------------------------------------------------------------------
-- Deferred counters: folding pending deltas, reading exact values.
-------------------------------------------------------------------------------
-- Folds a deferred counter's pending deltas into its target rows; returns the number of
-- rows changed. A missing row is created first when create_missing (its initialiser
-- subtracts the deltas this fold then adds); otherwise its deltas wait until the row
-- exists. Both statements (denorm._statement: src/core/statements_fold.cpp) run as the
-- target's owner (its triggers fire as it, never as the extension's owner); the row
-- security of _pending_deltas lets it read and delete the deltas of the counters on its
-- own tables.
CREATE FUNCTION denorm._fold(counter_name text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
    changes json;
BEGIN
    SELECT * INTO d FROM denorm._definitions x WHERE x.name = counter_name AND x.deferred;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM denorm._pending_deltas p WHERE p.counter = counter_name) THEN
        RETURN 0;
    END IF;
    IF d.create_missing THEN
        PERFORM denorm._as_owner(d.target, denorm._statement(counter_name, 'fold_create'), counter_name);
    END IF;
    changes := denorm._as_owner(d.target, denorm._statement(counter_name, 'fold'), counter_name)::json;
    -- A published counter's entries come from its folds: one per row the fold changed,
    -- appended after the row was locked and written, as a writer's are.
    IF EXISTS (SELECT 1 FROM denorm._publications p WHERE p.counter = counter_name) THEN
        INSERT INTO denorm._outbox (counter, key, delta)
        SELECT counter_name, ARRAY(SELECT pg_catalog.json_array_elements_text(c -> 0)), (c ->> 1)::numeric
          FROM pg_catalog.json_array_elements(changes) c;
    END IF;
    RETURN pg_catalog.json_array_length(changes);
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
-- commits both sides at once), plus `own`: the caller's transaction's changes that
-- denorm.apply = commit has not written yet. A missing target row reads as NULL, or —
-- when a definition would create it — as the recount the created row will hold.
-- Runs as the extension's owner once denorm.counter_value checked that the caller may
-- read the target; the read runs as the target's owner.
CREATE FUNCTION denorm._counter_value(name text, key text[], own numeric) RETURNS numeric
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
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
    -- $1 is the key and then `own` (as text: _as_owner passes one text argument).
    RETURN denorm._as_owner_read(d.target, denorm._statement(name, 'counter_value'),
                                 (key || coalesce(own, 0)::text)::text)::numeric;
END $$;

CREATE FUNCTION denorm.counter_value(name text, VARIADIC key text[]) RETURNS numeric
    LANGUAGE c STABLE CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_counter_value';

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
