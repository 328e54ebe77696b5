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
