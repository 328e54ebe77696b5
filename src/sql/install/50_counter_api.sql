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
    PERFORM denorm._check_written_columns(target, target_columns, tkey, touch);
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
