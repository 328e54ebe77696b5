-------------------------------------------------------------------------------
-- Materialized views refreshed with debounce (README "Materialized views, refreshed in the background").
-------------------------------------------------------------------------------
CREATE TABLE denorm._mv_registry (
    mv                   regclass PRIMARY KEY,
    debounce             interval NOT NULL,
    max_delay            interval NOT NULL,
    depends_on           regclass[],             -- as given; NULL = discovered
    sources              regclass[] NOT NULL,    -- tables whose changes request a refresh
    reads_views          regclass[] NOT NULL,    -- materialized views it reads (refreshed first)
    "concurrently"       boolean,                -- as given; NULL = when usable
    registered_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_refresh_at      timestamptz,
    last_duration_ms     double precision,
    last_status          text,
    consecutive_failures integer NOT NULL DEFAULT 0,
    next_attempt_at      timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('denorm._mv_registry', '');
GRANT SELECT ON denorm._mv_registry TO PUBLIC;  -- the rows of views the caller may read ("Privileges")

-- Insert-only: one row per transaction and view; durable, so requests survive a crash.
CREATE TABLE denorm._mv_requests (
    mv           regclass NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    n            bigint NOT NULL DEFAULT 1    -- committed transactions this row stands for
);
CREATE INDEX ON denorm._mv_requests (mv, requested_at);
SELECT pg_catalog.pg_extension_config_dump('denorm._mv_requests', '');

CREATE TABLE denorm.refresh_log (
    id                 bigserial PRIMARY KEY,
    mv                 regclass NOT NULL,
    first_request_at   timestamptz,
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz NOT NULL,
    duration_ms        double precision NOT NULL,
    row_count          bigint,
    requests_coalesced bigint NOT NULL,
    "concurrently"     boolean NOT NULL,
    status             text NOT NULL CHECK (status IN ('completed', 'failed')),
    error              text
);
CREATE INDEX ON denorm.refresh_log (mv, started_at);
CREATE INDEX ON denorm.refresh_log (finished_at);
GRANT SELECT ON denorm.refresh_log TO PUBLIC;  -- the rows of views the caller may read ("Privileges")

-- Whether REFRESH ... CONCURRENTLY can run: a unique index on plain columns with no
-- WHERE clause, and the view populated (the first refresh of a WITH NO DATA view is plain).
CREATE FUNCTION denorm._can_refresh_concurrently(mv regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.relispopulated AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_index x
         WHERE x.indrelid = mv AND x.indisunique AND x.indisvalid AND x.indpred IS NULL AND x.indexprs IS NULL)
      FROM pg_catalog.pg_class c WHERE c.oid = mv
$$;

CREATE FUNCTION denorm._has_unique_index(mv regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index x
                    WHERE x.indrelid = mv AND x.indisunique AND x.indpred IS NULL AND x.indexprs IS NULL)
$$;

-- The relations a view reads, found from its rewrite rule through plain views:
-- tables (sources) and materialized views (refreshed before it).
CREATE FUNCTION denorm._view_inputs(rel regclass, OUT sources regclass[], OUT reads_views regclass[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE reads(relid) AS (
        SELECT d.refobjid FROM pg_catalog.pg_rewrite r
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                     AND d.refclassid = 'pg_catalog.pg_class'::regclass
         WHERE r.ev_class = rel AND d.refobjid <> rel
        UNION
        SELECT d.refobjid FROM reads
          JOIN pg_catalog.pg_class c ON c.oid = reads.relid AND c.relkind = 'v'
          JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                     AND d.refclassid = 'pg_catalog.pg_class'::regclass
         WHERE d.refobjid <> c.oid)
    SELECT coalesce(pg_catalog.array_agg(DISTINCT c.oid::regclass) FILTER (WHERE c.relkind IN ('r', 'p')), '{}'),
           coalesce(pg_catalog.array_agg(DISTINCT c.oid::regclass) FILTER (WHERE c.relkind = 'm'), '{}')
      FROM reads JOIN pg_catalog.pg_class c ON c.oid = reads.relid
$$;

CREATE FUNCTION denorm._mv_capture_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_mv_capture_trigger';
-- Records a refresh request for mv in this transaction and wakes the worker at commit.
CREATE FUNCTION denorm._request(mv regclass) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_request';
-- The failure backoff of src/core/refresh_scheduler (1 s doubling, at most 5 minutes).
CREATE FUNCTION denorm._failure_backoff(consecutive_failures integer) RETURNS interval
    LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'denorm_failure_backoff';

CREATE FUNCTION denorm._sync_mv_triggers(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part regclass;
    wanted boolean := EXISTS (SELECT 1 FROM denorm._mv_registry WHERE rel = ANY (sources));
BEGIN
    FOR part IN SELECT denorm._relation_tree(rel) LOOP
        PERFORM denorm._set_trigger(part, 'denorm_mv_capture', wanted,
            'AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT '
            'EXECUTE FUNCTION denorm._mv_capture_trigger()');
    END LOOP;
    PERFORM denorm._invalidate(rel);
END $$;

CREATE FUNCTION denorm._register_mv(mv regclass, debounce interval, max_delay interval, depends_on regclass[],
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

CREATE FUNCTION denorm._unregister_mv(mv regclass, if_exists boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old regclass[];
    rel regclass;
BEGIN
    DELETE FROM denorm._mv_registry r WHERE r.mv = _unregister_mv.mv RETURNING r.sources INTO old;
    IF NOT FOUND THEN
        IF if_exists THEN
            RAISE NOTICE 'materialized view % is not registered, skipping', mv;
            RETURN;
        END IF;
        RAISE EXCEPTION 'materialized view % is not registered', mv USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM denorm._mv_requests q WHERE q.mv = _unregister_mv.mv;
    FOREACH rel IN ARRAY old LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = rel) THEN
            PERFORM denorm._sync_mv_triggers(rel);
        END IF;
    END LOOP;
END $$;

-- Refreshes one registered view: claims its pending requests, then refreshes, in
-- one transaction, so a change committed during the refresh stays pending for the
-- next one; logs the outcome. On failure the claim rolls back, the view keeps its
-- contents and the next attempt waits for the backoff. Returns the row count, or
-- NULL when the refresh failed. Runs as the extension owner; REFRESH itself runs the
-- view's query as the view's owner.
CREATE FUNCTION denorm._refresh(mv regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    reg denorm._mv_registry;
    started timestamptz := pg_catalog.clock_timestamp();
    use_concurrently boolean;
    claimed bigint;
    first_request timestamptz;
    row_count bigint;
    message text;
BEGIN
    -- Refreshes of one view never overlap: the registry row is their lock.
    SELECT * INTO reg FROM denorm._mv_registry r WHERE r.mv = _refresh.mv FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'materialized view % is not registered', mv USING ERRCODE = 'undefined_object';
    END IF;
    use_concurrently := coalesce(reg.concurrently, true) AND denorm._can_refresh_concurrently(mv);
    BEGIN
        WITH c AS (DELETE FROM denorm._mv_requests q WHERE q.mv = _refresh.mv RETURNING q.requested_at, q.n)
        SELECT coalesce(pg_catalog.sum(c.n), 0), pg_catalog.min(c.requested_at) INTO claimed, first_request FROM c;
        EXECUTE pg_catalog.format('REFRESH MATERIALIZED VIEW %s%s', CASE WHEN use_concurrently THEN 'CONCURRENTLY ' ELSE '' END, mv);
        EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', mv) INTO row_count;
        -- This refresh is a change of the registered views that read this one.
        INSERT INTO denorm._mv_requests (mv) SELECT r.mv FROM denorm._mv_registry r WHERE _refresh.mv = ANY (r.reads_views);
        INSERT INTO denorm.refresh_log (mv, first_request_at, started_at, finished_at, duration_ms, row_count,
                                        requests_coalesced, "concurrently", status)
        VALUES (mv, first_request, started, pg_catalog.clock_timestamp(),
                EXTRACT(epoch FROM pg_catalog.clock_timestamp() - started) * 1000, row_count, claimed, use_concurrently, 'completed');
        UPDATE denorm._mv_registry r SET last_refresh_at = started,
               last_duration_ms = EXTRACT(epoch FROM pg_catalog.clock_timestamp() - started) * 1000,
               last_status = 'completed', consecutive_failures = 0, next_attempt_at = NULL
         WHERE r.mv = _refresh.mv;
        PERFORM pg_catalog.pg_notify('denorm_refreshed', mv::text);
        -- and, when Redis is configured, PUBLISH denorm:refreshed <view> through the outbox
        -- (sent after this commits, at least once, like the counters' values).
        IF coalesce(pg_catalog.current_setting('denorm.redis_url', true), '') <> '' THEN
            INSERT INTO denorm._outbox (counter, key, channel) VALUES (mv::text, '{}', 'denorm:refreshed');
        END IF;
        RETURN row_count;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
    END;
    INSERT INTO denorm.refresh_log (mv, first_request_at, started_at, finished_at, duration_ms, row_count,
                                    requests_coalesced, "concurrently", status, error)
    SELECT _refresh.mv, pg_catalog.min(q.requested_at), started, pg_catalog.clock_timestamp(),
           EXTRACT(epoch FROM pg_catalog.clock_timestamp() - started) * 1000, NULL, coalesce(pg_catalog.sum(q.n), 0),
           use_concurrently, 'failed', message
      FROM denorm._mv_requests q WHERE q.mv = _refresh.mv;
    UPDATE denorm._mv_registry r SET last_status = 'failed', consecutive_failures = r.consecutive_failures + 1,
           last_duration_ms = EXTRACT(epoch FROM pg_catalog.clock_timestamp() - started) * 1000,
           next_attempt_at = pg_catalog.clock_timestamp() + denorm._failure_backoff(r.consecutive_failures + 1)
     WHERE r.mv = _refresh.mv;
    RAISE WARNING 'refresh of materialized view % failed: %', mv, message;
    RETURN NULL;
END $$;

-- What is pending, per registered view (the worker and run_pending schedule from it):
-- the first and last request of the batch, two index probes per view however long
-- the queue is.
CREATE FUNCTION denorm._mv_pending(OUT mv regclass, OUT debounce interval, OUT max_delay interval,
                                   OUT reads_views regclass[], OUT consecutive_failures integer,
                                   OUT next_attempt_at timestamptz, OUT first_request_at timestamptz,
                                   OUT last_request_at timestamptz)
RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT r.mv, r.debounce, r.max_delay, r.reads_views, r.consecutive_failures, r.next_attempt_at,
           (SELECT q.requested_at FROM denorm._mv_requests q WHERE q.mv = r.mv ORDER BY q.requested_at LIMIT 1),
           (SELECT q.requested_at FROM denorm._mv_requests q WHERE q.mv = r.mv ORDER BY q.requested_at DESC LIMIT 1)
      FROM denorm._mv_registry r ORDER BY r.mv::text
$$;


CREATE FUNCTION denorm.register_mv(
    mv           regclass,
    debounce     interval  DEFAULT '1 second',
    max_delay    interval  DEFAULT '5 seconds',
    depends_on   regclass[] DEFAULT NULL,
    concurrently boolean   DEFAULT NULL) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_register_mv';
CREATE FUNCTION denorm.unregister_mv(mv regclass, if_exists boolean DEFAULT false) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_unregister_mv';
CREATE FUNCTION denorm.request_refresh(mv regclass) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_request_refresh';
CREATE FUNCTION denorm.refresh_now(mv regclass) RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_refresh_now';
CREATE FUNCTION denorm.run_pending() RETURNS integer
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_run_pending';
REVOKE ALL ON FUNCTION denorm.run_pending() FROM PUBLIC;

-- Requests committed but not yet moved from shared memory to _mv_requests.
-- _requests_state remembers the shared memory the last re-request of every view was
-- made for (memory_requests.hpp); not dumped: a restored database starts with its own.
CREATE FUNCTION denorm._memory_created_at() RETURNS timestamptz
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'denorm_memory_created_at';
CREATE TABLE denorm._requests_state (memory_created_at timestamptz);
INSERT INTO denorm._requests_state VALUES (denorm._memory_created_at());

CREATE FUNCTION denorm._memory_requests(OUT mv regclass, OUT first_request_at timestamptz, OUT requests bigint)
RETURNS SETOF record LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'denorm_memory_requests';

CREATE VIEW denorm.mv_status AS
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
 WHERE denorm._may_see(r.mv);  -- the view runs as its owner: filter for the caller
GRANT SELECT ON denorm.mv_status TO PUBLIC;

CREATE FUNCTION denorm._wake_launcher() RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_wake_launcher';
SELECT denorm._wake_launcher();
