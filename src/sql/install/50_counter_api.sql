-------------------------------------------------------------------------------
-- create_counter / drop_counter. The public functions are native: they check that
-- the caller owns the tables, then run these implementations as the extension's
-- owner (they write the catalog and create triggers).
-------------------------------------------------------------------------------
-- The definitions are checked in one place (denorm._check_counter, _check_latest), then
-- stored; the triggers of source and target follow.
CREATE FUNCTION denorm._create_counter(
    name text, target regclass, target_column text, source regclass, source_key text[],
    target_key text[], aggregate text, value text, filter text, create_missing boolean,
    touch text, deferred boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tkey text[] := denorm._check_counter(name, target, target_column, source, source_key, target_key,
                                         aggregate, value, filter, touch, deferred);
BEGIN
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
    tkey text[] := denorm._check_latest(name, target, target_columns, source, source_key, source_values,
                                        order_by, target_key, filter, touch);
BEGIN
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
