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

-- Reconciles the column of one counter (with every definition sharing it; for min,
-- max and latest, the group of columns its definitions write). Runs as the
-- extension's owner; its statements (denorm._statement: src/core/statements_reconcile.cpp
-- says how they stay safe while writers run) run as the target's owner through
-- denorm._as_owner, which returns each result as one jsonb value. A report takes no
-- lock; a fix locks a batch of candidate rows in key order and recounts them in a new
-- statement. Rows create_missing should have created and that are missing are reported
-- with stored NULL, and inserted by a fix.
CREATE FUNCTION denorm._reconcile_counter(counter_name text, fix boolean, batch_size integer)
RETURNS TABLE(key jsonb, stored jsonb, expected jsonb, fixed boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    target regclass := (SELECT x.target FROM denorm._definitions x WHERE x.name = counter_name);
    missing_report text := denorm._statement(counter_name, 'reconcile_missing_report');
    candidates jsonb[];
    batch jsonb;
    n int;
    i int;
BEGIN
    IF NOT fix THEN
        RETURN QUERY SELECT r.key, r.stored, r.expected, false
          FROM pg_catalog.jsonb_to_recordset(coalesce(denorm._as_owner(target,
                   denorm._statement(counter_name, 'reconcile_report')), '[]')::pg_catalog.jsonb)
               AS r(key jsonb, stored jsonb, expected jsonb);
        IF missing_report IS NOT NULL THEN
            RETURN QUERY SELECT r.key, NULL::jsonb, r.expected, false
              FROM pg_catalog.jsonb_to_recordset(coalesce(denorm._as_owner(target, missing_report), '[]')::pg_catalog.jsonb)
                   AS r(key jsonb, expected jsonb);
        END IF;
        RETURN;
    END IF;

    candidates := ARRAY(SELECT pg_catalog.jsonb_array_elements(coalesce(denorm._as_owner(target,
        denorm._statement(counter_name, 'reconcile_candidates')), '[]')::pg_catalog.jsonb));
    n := coalesce(pg_catalog.cardinality(candidates), 0);
    i := 1;
    WHILE i <= n LOOP
        batch := pg_catalog.to_jsonb(candidates[i : i + batch_size - 1]);
        PERFORM denorm._as_owner(target, denorm._statement(counter_name, 'reconcile_lock'), batch::text);
        RETURN QUERY SELECT r.key, r.stored, r.expected, true
          FROM pg_catalog.jsonb_to_recordset(coalesce(denorm._as_owner(target,
                   denorm._statement(counter_name, 'reconcile_fix'), batch::text), '[]')::pg_catalog.jsonb)
               AS r(key jsonb, stored jsonb, expected jsonb);
        i := i + batch_size;
    END LOOP;
    -- Missing rows are inserted (ON CONFLICT: a writer may create one meanwhile); their
    -- BEFORE INSERT initialiser computes the values, which RETURNING reports.
    IF missing_report IS NOT NULL THEN
        RETURN QUERY SELECT r.key, NULL::jsonb, r.expected, true
          FROM pg_catalog.jsonb_to_recordset(coalesce(denorm._as_owner(target,
                   denorm._statement(counter_name, 'reconcile_missing_fix')), '[]')::pg_catalog.jsonb)
               AS r(key jsonb, expected jsonb);
    END IF;
END $$;

-- Records one counter's reconcile run (as the extension owner: the audit trail is
-- not writable by the users whose counters it judges).
CREATE FUNCTION denorm._log_reconcile(run_id bigint, counter text, started_at timestamptz,
                                      rows_checked bigint, results jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO denorm.reconcile_mismatches (run_id, counter, key, stored, expected, fixed)
    SELECT run_id, counter, r->'key', r->'stored', r->'expected', (r->>'fixed')::boolean
      FROM pg_catalog.jsonb_array_elements(coalesce(results, '[]')) r;
    INSERT INTO denorm.reconcile_log (run_id, counter, started_at, finished_at, rows_checked, mismatches, fixed, duration_ms)
    SELECT run_id, counter, started_at, pg_catalog.clock_timestamp(), rows_checked,
           pg_catalog.jsonb_array_length(coalesce(results, '[]')),
           (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(coalesce(results, '[]')) r
             WHERE (r->>'fixed')::boolean),
           EXTRACT(epoch FROM pg_catalog.clock_timestamp() - started_at) * 1000;
    -- A published counter's fixed rows go to Redis too (README "Publishing to Redis"): an
    -- outbox entry each, its key values in target_key order (as text: the JSON of an
    -- integer or text key prints as the writers' entries do), the fix as its delta.
    INSERT INTO denorm._outbox (counter, key, delta)
    SELECT counter,
           ARRAY(SELECT r->'key'->>u.k FROM pg_catalog.unnest(d.target_key) WITH ORDINALITY u(k, o) ORDER BY u.o),
           coalesce((r->>'expected')::numeric, 0) - coalesce((r->>'stored')::numeric, 0)
      FROM pg_catalog.jsonb_array_elements(coalesce(results, '[]')) r
      JOIN denorm._definitions d ON d.name = counter
     WHERE (r->>'fixed')::boolean AND d.kind IN ('count', 'sum')
       AND EXISTS (SELECT 1 FROM denorm._publications p WHERE p.counter = _log_reconcile.counter);
END $$;

CREATE FUNCTION denorm.reconcile(name text DEFAULT NULL, fix boolean DEFAULT true, batch_size integer DEFAULT 10000)
    RETURNS TABLE(counter text, key jsonb, stored jsonb, expected jsonb, fixed boolean)
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_reconcile';
