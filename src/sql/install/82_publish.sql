-------------------------------------------------------------------------------
-- Publishing counters to Redis (README "Publishing to Redis"). A writer that changes a
-- published counter's target row appends (counter, key) to denorm._outbox in its own
-- transaction: a rolled-back change is never seen, a committed one is never lost. The
-- worker (or run_pending()) sends the committed value of each key and deletes the
-- entries Redis acknowledged (src/pg/publish/outbox_drain.cpp); writers never talk to
-- Redis.
-------------------------------------------------------------------------------
CREATE TABLE denorm._publications (
    counter     text PRIMARY KEY REFERENCES denorm._definitions (name) ON DELETE CASCADE,
    redis_key   text NOT NULL,
    mode        text NOT NULL CHECK (mode IN ('hash', 'stream')),
    ttl         interval,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('denorm._publications', '');
-- Readable by all, like _definitions: the writers' definition cache reads it.
GRANT SELECT ON denorm._publications TO PUBLIC;

-- One entry per target row a transaction changed (per statement with
-- denorm.apply = statement); its id orders the entries of one key as their transactions
-- committed, since a writer appends after it has locked the target row. Not dumped: a
-- restored database publishes with redis_resync().
CREATE TABLE denorm._outbox (
    id          bigserial PRIMARY KEY,
    counter     text NOT NULL,         -- an announcement: the view refreshed
    key         text[] NOT NULL,       -- the target key's values, in the counter's target_key order
    delta       numeric,               -- count and sum: the change (stream mode)
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    channel     text                   -- an announcement (PUBLISH on this channel), not a counter's change
);
-- (While a counter is published as a stream, an index on (counter, key) finds a key's
-- later entries: _publish_counter creates it, _unpublish_counter drops it with the last
-- stream. Hash-only publishing does without: every writer's entry costs one index less.)

-- What the last drain saw (one row), for denorm.outbox_status and health().
CREATE TABLE denorm._outbox_state (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_success_at timestamptz,
    last_error      text,
    last_error_at   timestamptz,
    connected       boolean NOT NULL DEFAULT false
);
INSERT INTO denorm._outbox_state DEFAULT VALUES;

CREATE VIEW denorm.outbox_status AS
SELECT (SELECT pg_catalog.count(*) FROM denorm._outbox)::bigint AS pending,
       pg_catalog.now() - (SELECT pg_catalog.min(o.created_at) FROM denorm._outbox o) AS oldest_pending_age,
       s.last_success_at, s.last_error, s.connected
  FROM denorm._outbox_state s;
GRANT SELECT ON denorm.outbox_status TO PUBLIC;

CREATE FUNCTION denorm._publish_counter(name text, redis_key text, mode text, ttl interval) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d denorm._definitions;
BEGIN
    SELECT * INTO d FROM denorm._definitions x WHERE x.name = _publish_counter.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'counter "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF mode IS NULL OR mode NOT IN ('hash', 'stream') THEN
        RAISE EXCEPTION 'mode must be ''hash'' or ''stream'', not %', coalesce(pg_catalog.quote_literal(mode), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF mode = 'stream' AND d.kind NOT IN ('count', 'sum') THEN
        RAISE EXCEPTION 'only a count or a sum can be published as a stream: "%" is a %', name, d.kind
            USING ERRCODE = 'feature_not_supported', HINT = 'Publish it in hash mode.';
    END IF;
    IF d.kind = 'latest' THEN
        RAISE EXCEPTION 'a latest-row copy cannot be published: "%" writes % columns', name,
            pg_catalog.cardinality(d.target_columns) USING ERRCODE = 'feature_not_supported',
            HINT = 'Publish a count, sum, min or max.';
    END IF;
    IF redis_key IS NOT NULL AND redis_key = '' THEN
        RAISE EXCEPTION 'redis_key must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ttl IS NOT NULL AND ttl <= interval '0' THEN
        RAISE EXCEPTION 'ttl must be positive, not %', ttl USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM denorm._publications p WHERE p.counter = _publish_counter.name) THEN
        RAISE EXCEPTION 'counter "%" is already published', name USING ERRCODE = 'duplicate_object',
            HINT = 'denorm.unpublish_counter() it first to publish it otherwise.';
    END IF;
    INSERT INTO denorm._publications (counter, redis_key, mode, ttl)
    VALUES (name, coalesce(redis_key, 'denorm:' || name), mode, ttl);
    IF mode = 'stream' THEN
        CREATE INDEX IF NOT EXISTS _outbox_stream_keys ON denorm._outbox (counter, key);
    END IF;
    -- Redis gets the current values first (published again after an unpublish, it
    -- would otherwise keep stale ones until their rows change).
    PERFORM denorm._redis_resync(name);
    PERFORM denorm._invalidate(d.source);
END $$;

CREATE FUNCTION denorm._unpublish_counter(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM denorm._publications p WHERE p.counter = _unpublish_counter.name) THEN
        RAISE EXCEPTION 'counter "%" is not published', name USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM denorm._publications p WHERE p.counter = _unpublish_counter.name;
    DELETE FROM denorm._outbox o WHERE o.counter = _unpublish_counter.name AND o.channel IS NULL;
    IF NOT EXISTS (SELECT 1 FROM denorm._publications p WHERE p.mode = 'stream')
       AND pg_catalog.to_regclass('denorm._outbox_stream_keys') IS NOT NULL THEN
        DROP INDEX denorm._outbox_stream_keys;
    END IF;
    PERFORM denorm._invalidate((SELECT d.source FROM denorm._definitions d WHERE d.name = _unpublish_counter.name));
END $$;

-- An entry for every target row of the published counters named (all when NULL): the
-- drain then writes every current value again (after a FLUSHALL, or a restore).
CREATE FUNCTION denorm._redis_resync(name text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d record;
    n bigint := 0;
    k bigint;
BEGIN
    IF name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM denorm._publications p WHERE p.counter = _redis_resync.name) THEN
        RAISE EXCEPTION 'counter "%" is not published', name USING ERRCODE = 'undefined_object';
    END IF;
    FOR d IN SELECT x.name, x.target, x.target_key FROM denorm._definitions x JOIN denorm._publications p ON p.counter = x.name
              WHERE _redis_resync.name IS NULL OR x.name = _redis_resync.name ORDER BY x.name LOOP
        EXECUTE pg_catalog.format('INSERT INTO denorm._outbox (counter, key) SELECT $1, ARRAY[%s] FROM %s t',
                    (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I::text', c), ', ' ORDER BY o)
                       FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(c, o)), d.target)
            USING d.name;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END LOOP;
    RETURN n;
END $$;

-- The oldest `max` entries (after id `after`) with what to send: the Redis key, the field (the target key's
-- values joined with ':') and the value — in hash mode the committed value now (NULL: the
-- row is gone), in stream mode the value after the entry's transaction: the committed
-- value less the deltas of the key's later entries (a key's entries are appended in
-- commit order, after its row was written, and deleted in id order, so all of them are
-- still here and the committed value includes exactly them). Entries of a counter no
-- longer published come back with mode NULL: the drain deletes them. An announcement
-- comes back with mode 'announce', its channel as the Redis key and the view as value.
CREATE FUNCTION denorm._outbox_batch(max integer, after bigint DEFAULT 0)
RETURNS TABLE (id bigint, counter text, redis_key text, mode text, field text, value text, delta text, ttl_seconds bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c record;
    last bigint;
BEGIN
    -- The batch is the entries with id in (after, last]: every statement below reads
    -- that range under one snapshot (a STABLE function's), one index range scan each.
    -- after: the last id a drain already sent in this call (the entries before it are
    -- deleted, and a scan from the start would step over each of them again).
    SELECT pg_catalog.max(o.id) INTO last
      FROM (SELECT o.id FROM denorm._outbox o WHERE o.id > after ORDER BY o.id LIMIT max) o;
    IF last IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT o.id, o.counter, o.channel, 'announce'::text, NULL::text, o.counter, NULL::text, NULL::bigint
                   FROM denorm._outbox o WHERE o.id > after AND o.id <= last AND o.channel IS NOT NULL;
    FOR c IN SELECT b.counter, p.redis_key, p.mode, EXTRACT(epoch FROM p.ttl)::bigint AS ttl, d.target, d.target_columns[1] AS col,
                    d.target_key
               FROM (SELECT DISTINCT o.counter FROM denorm._outbox o WHERE o.id > after AND o.id <= last AND o.channel IS NULL) b
               LEFT JOIN denorm._publications p ON p.counter = b.counter
               LEFT JOIN denorm._definitions d ON d.name = b.counter LOOP
        IF c.mode IS NULL THEN
            RETURN QUERY SELECT o.id, o.counter, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::bigint
                           FROM denorm._outbox o WHERE o.id > after AND o.id <= last AND o.counter = c.counter AND o.channel IS NULL;
            CONTINUE;
        END IF;
        -- Stream: each entry's value is the committed value less the deltas of its key's
        -- later entries, summed by one window over the keys' entries (no self-join: with
        -- the outbox's estimates the planner re-ran a joined window per row).
        RETURN QUERY EXECUTE pg_catalog.format(
            CASE WHEN c.mode = 'stream' THEN
            'SELECT b.id, b.counter, $1, $2, pg_catalog.array_to_string(b.key, '':''),
                    (v.value::pg_catalog.numeric OPERATOR(pg_catalog.-) coalesce(b.later, 0))::text, b.delta::text, $3
               FROM (SELECT l.id, l.counter, l.key, l.delta,
                            pg_catalog.sum(l.delta) OVER (PARTITION BY l.key ORDER BY l.id DESC
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS later
                       FROM denorm._outbox l
                      WHERE l.counter OPERATOR(pg_catalog.=) $4 AND l.channel IS NULL
                        AND l.key IN (SELECT k.key FROM denorm._outbox k WHERE k.id OPERATOR(pg_catalog.>) $5
                                         AND k.id OPERATOR(pg_catalog.<=) $6 AND k.counter OPERATOR(pg_catalog.=) $4)) b
               LEFT JOIN LATERAL (SELECT t.%I AS value FROM %s t WHERE %s) v ON true
              WHERE b.id OPERATOR(pg_catalog.>) $5 AND b.id OPERATOR(pg_catalog.<=) $6'
            ELSE
            'SELECT b.id, b.counter, $1, $2, pg_catalog.array_to_string(b.key, '':''), v.value::text, b.delta::text, $3
               FROM denorm._outbox b
               LEFT JOIN LATERAL (SELECT t.%I AS value FROM %s t WHERE %s) v ON true
              WHERE b.id OPERATOR(pg_catalog.>) $5 AND b.id OPERATOR(pg_catalog.<=) $6
                AND b.counter OPERATOR(pg_catalog.=) $4 AND b.channel IS NULL'
            END,
            c.col, c.target,
            (SELECT pg_catalog.string_agg(pg_catalog.format('t.%I OPERATOR(pg_catalog.=) b.key[%s]::%s', u.k, u.o,
                        pg_catalog.format_type(a.atttypid, a.atttypmod)), ' AND ' ORDER BY u.o)
               FROM pg_catalog.unnest(c.target_key) WITH ORDINALITY u(k, o)
               JOIN pg_catalog.pg_attribute a ON a.attrelid = c.target AND a.attname = u.k))
            USING c.redis_key, c.mode, c.ttl, c.counter, after, last;
    END LOOP;
END $$;

CREATE FUNCTION denorm.publish_counter(name text, redis_key text DEFAULT NULL, mode text DEFAULT 'hash',
                                       ttl interval DEFAULT NULL) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_publish_counter';
CREATE FUNCTION denorm.unpublish_counter(name text) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_unpublish_counter';
CREATE FUNCTION denorm.redis_resync(name text DEFAULT NULL) RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_redis_resync';
-- Sends what the outbox holds now (the worker calls it each pass; run_pending() too);
-- returns the entries Redis acknowledged, NULL when publishing is off (no denorm.redis_url).
CREATE FUNCTION denorm._publish_pending() RETURNS bigint
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_publish_pending';
