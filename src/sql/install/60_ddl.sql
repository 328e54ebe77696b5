-------------------------------------------------------------------------------
-- Living with DDL: new partitions of a source get the statement triggers;
-- dropping a source or target table drops its definitions.
-------------------------------------------------------------------------------
-- Column renames (README "Living with the schema"): the column names an expression refers to, and the
-- expression with one column renamed (src/pg/counters/column_rename.cpp).
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

-- 'a column in its <what>' when one of exprs no longer parses against source, else NULL.
CREATE FUNCTION denorm._unparsable(source regclass, what text, exprs text[]) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM denorm._expression_type(source, e, what) FROM pg_catalog.unnest(exprs) e WHERE e IS NOT NULL;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN 'a column in its ' || what;
END $$;

-- SECURITY DEFINER (one of two): it fires for the role that ran the DDL, a table's
-- owner, and must write the catalog and triggers, which only the extension's owner may.
-- It runs no user code: it reads the catalog and pg_event_trigger_ddl_commands().
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

-- SECURITY DEFINER for the same reason as _on_ddl_command_end: a table's owner drops
-- it, the extension's owner removes its definitions and registrations.
CREATE FUNCTION denorm._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    other regclass;
BEGIN
    -- In name order, so that the notices come in a stable order.
    FOR d IN SELECT DISTINCT x.name, x.source::oid AS source, x.target::oid AS target
               FROM denorm._definitions x, pg_catalog.pg_event_trigger_dropped_objects() o
              WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0
                AND (x.source::oid = o.objid OR x.target::oid = o.objid)
              ORDER BY x.name LOOP
        DELETE FROM denorm._definitions x WHERE x.name = d.name;
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
