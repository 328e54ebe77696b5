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

    -- Publishing to Redis: entries waiting longer than 10 s warn, longer than 5 minutes
    -- are critical (README "Publishing to Redis").
    IF EXISTS (SELECT 1 FROM denorm._publications) OR (SELECT o.pending FROM denorm.outbox_status o) > 0 THEN
        component := 'redis outbox';
        SELECT o.* INTO d FROM denorm.outbox_status o;
        status := CASE WHEN d.oldest_pending_age > '5 minutes'::interval THEN 'critical'
                       WHEN d.oldest_pending_age > '10 seconds'::interval THEN 'warning' ELSE 'ok' END;
        detail := pg_catalog.format('%s entries pending', d.pending);
        IF d.pending > 0 THEN
            detail := detail || pg_catalog.format(', the oldest for %s s',
                                                  pg_catalog.round(EXTRACT(epoch FROM d.oldest_pending_age)));
        END IF;
        IF pg_catalog.current_setting('denorm.redis_url', true) IS NULL
           OR pg_catalog.current_setting('denorm.redis_url', true) = '' THEN
            detail := detail || ': denorm.redis_url is not set, nothing is published';
        ELSIF d.last_error IS NOT NULL THEN
            detail := detail || ': ' || d.last_error;
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

CREATE FUNCTION denorm.advise() RETURNS TABLE(object text, problem text, suggestion text)
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
               AND (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attname::text COLLATE "C")
                      FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = d.source
                       AND a.attnum = ANY ((x.indkey::int2[])[0 : pg_catalog.cardinality(d.source_key) - 1]))
                   = (SELECT pg_catalog.array_agg(c ORDER BY c COLLATE "C") FROM pg_catalog.unnest(d.source_key) c)) THEN
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
               AND (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attname::text COLLATE "C") FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = d.source
                       AND a.attnum = ANY ((x.indkey::int2[])[0 : pg_catalog.cardinality(d.source_key) - 1]))
                   = (SELECT pg_catalog.array_agg(c ORDER BY c COLLATE "C") FROM pg_catalog.unnest(d.source_key) c)
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
    -- Counter updates are cheap when HOT (no index entry written): impossible when an
    -- index covers a counter column, and rare when the target's pages have no room left.
    FOR d IN SELECT x.target, c.col, pg_catalog.string_agg(DISTINCT i.indexrelid::regclass::text, ', ') AS indexes
               FROM denorm._definitions x CROSS JOIN LATERAL pg_catalog.unnest(x.target_columns) c(col)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = x.target AND a.attname = c.col
               JOIN pg_catalog.pg_depend dep ON dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND dep.refobjid = x.target AND dep.refobjsubid = a.attnum
                    AND dep.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
               JOIN pg_catalog.pg_index i ON i.indexrelid = dep.objid
              WHERE denorm._may_see(x.target)
              GROUP BY x.target, c.col ORDER BY x.target::text, c.col LOOP
        object := d.target::text;
        problem := pg_catalog.format('counter column %I is indexed (%s): no update of it is HOT, each writes every index of the table',
                                     d.col, d.indexes);
        suggestion := pg_catalog.format('DROP INDEX CONCURRENTLY %s; -- unless queries need it', d.indexes);
        RETURN NEXT;
    END LOOP;
    FOR d IN SELECT s.relid::regclass AS target, s.n_tup_upd, s.n_tup_hot_upd
               FROM pg_catalog.pg_stat_user_tables s
              WHERE s.relid IN (SELECT x.target FROM denorm._definitions x) AND denorm._may_see(s.relid)
                AND s.n_tup_upd >= 100 AND s.n_tup_hot_upd < 0.9 * s.n_tup_upd
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c, pg_catalog.unnest(c.reloptions) o
                                 WHERE c.oid = s.relid AND o LIKE 'fillfactor=%'
                                   AND pg_catalog.split_part(o, '=', 2)::int < 100)
              ORDER BY s.relid::regclass::text LOOP
        object := d.target::text;
        problem := pg_catalog.format('only %s%% of its %s updates were HOT: a new row version must fit in its page',
                                     (100 * d.n_tup_hot_upd / d.n_tup_upd), d.n_tup_upd);
        suggestion := pg_catalog.format('ALTER TABLE %s SET (fillfactor = 90); -- existing pages: VACUUM FULL %s (or pg_repack); wide rows: move wide columns out',
                                        d.target, d.target);
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
