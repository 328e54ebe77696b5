-------------------------------------------------------------------------------
-- What an operator watches (README "What an operator watches"): denorm.stats, one row
-- per definition, registered view, publication and search source, from counts kept in shared memory
-- (src/pg/stats/stats.cpp: no table write per statement); denorm.metrics(), the same
-- in Prometheus' text format. Each role sees the rows of relations it may read.
-------------------------------------------------------------------------------
CREATE FUNCTION denorm._stats(OUT kind text, OUT name text, OUT calls bigint, OUT rows_seen bigint,
                              OUT target_rows_written bigint, OUT refreshes bigint, OUT failures bigint,
                              OUT refresh_ms_total double precision, OUT refresh_ms_max double precision,
                              OUT stats_reset timestamptz)
    RETURNS SETOF record LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'denorm_stats';
CREATE FUNCTION denorm._stats_state(OUT preloaded boolean, OUT slots_used integer, OUT names_not_counted integer,
                                    OUT since timestamptz)
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'denorm_stats_state';
CREATE FUNCTION denorm.stats_reset() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'denorm_stats_reset';
-- Like pg_stat_reset(): an administrator's, granted to whom they choose.
REVOKE ALL ON FUNCTION denorm.stats_reset() FROM PUBLIC;

CREATE VIEW denorm.stats AS
WITH objects AS (
    SELECT CASE WHEN d.kind = 'latest' THEN 'latest' ELSE 'counter' END AS kind, d.name, d.target AS rel
      FROM denorm._definitions d
    UNION ALL
    SELECT 'view', pg_catalog.format('%s.%s', n.nspname, c.relname), r.mv
      FROM denorm._mv_registry r JOIN pg_catalog.pg_class c ON c.oid = r.mv
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    UNION ALL
    SELECT 'publication', p.counter, d.target
      FROM denorm._publications p JOIN denorm._definitions d ON d.name = p.counter
    UNION ALL
    SELECT 'search', s.name, s.source FROM denorm._search_sources s
), counted AS (SELECT * FROM denorm._stats()), state AS (SELECT * FROM denorm._stats_state())
SELECT o.kind, o.name,
       coalesce(s.calls, 0) AS calls,
       coalesce(s.rows_seen, 0) AS rows_seen,
       coalesce(s.target_rows_written, 0) AS target_rows_written,
       coalesce(s.refreshes, 0) AS refreshes,
       coalesce(s.failures, 0) AS failures,
       CASE WHEN s.refreshes > 0 THEN s.refresh_ms_total / s.refreshes END AS avg_refresh_ms,
       CASE WHEN s.refreshes > 0 THEN s.refresh_ms_max END AS max_refresh_ms,
       CASE WHEN o.kind = 'publication' THEN
           (SELECT pg_catalog.count(*) FROM denorm._outbox x WHERE x.counter = o.name AND x.channel IS NULL) END
           AS outbox_pending,
       CASE WHEN o.kind = 'publication' THEN
           coalesce(EXTRACT(epoch FROM pg_catalog.now() - (SELECT pg_catalog.min(x.created_at) FROM denorm._outbox x
                                                            WHERE x.counter = o.name AND x.channel IS NULL)) * 1000, 0)
       END::double precision AS lag_ms,
       coalesce(s.stats_reset, (SELECT st.since FROM state st)) AS stats_reset
  FROM objects o LEFT JOIN counted s ON s.kind = o.kind AND s.name = o.name
 WHERE denorm._may_see(o.rel);
GRANT SELECT ON denorm.stats TO PUBLIC;

-- A Prometheus label value: backslash, double quote and newline escaped.
CREATE FUNCTION denorm._prometheus_label(value text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(value, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n')
$$;

-- denorm.stats in the Prometheus text exposition format (metric names denorm_*,
-- durations and lags in seconds), for a scrape through sql_exporter or
-- postgres_exporter's custom queries (README "What an operator watches").
CREATE FUNCTION denorm.metrics() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    out text := '';
    m record;
BEGIN
    FOR m IN SELECT * FROM (VALUES
        (1, 'denorm_calls_total', 'counter', 'Trigger calls (definitions), drains (publications).', 'calls', NULL::text[]),
        (2, 'denorm_rows_seen_total', 'counter', 'Source rows read by the triggers (publications: entries sent).', 'rows_seen', NULL),
        (3, 'denorm_target_rows_written_total', 'counter', 'Target rows written (publications: entries Redis acknowledged).',
            'target_rows_written', NULL),
        (4, 'denorm_refreshes_total', 'counter', 'Completed refreshes of a registered view.', 'refreshes', '{view}'),
        (5, 'denorm_failures_total', 'counter', 'Failed refreshes (views) or drains (publications).', 'failures',
            '{view,publication}'),
        (6, 'denorm_refresh_seconds_avg', 'gauge', 'Average refresh duration since the last reset.', 'avg_refresh_ms',
            '{view}'),
        (7, 'denorm_refresh_seconds_max', 'gauge', 'Longest refresh since the last reset.', 'max_refresh_ms', '{view}'),
        (8, 'denorm_outbox_pending', 'gauge', 'Outbox entries waiting to be sent to Redis.', 'outbox_pending', '{publication}'),
        (9, 'denorm_outbox_lag_seconds', 'gauge', 'Age of the oldest entry waiting to be sent to Redis.', 'lag_ms',
            '{publication}')) AS v(ord, metric, type, help, col, kinds) ORDER BY ord LOOP
        out := out || pg_catalog.format(E'# HELP %s %s\n# TYPE %s %s\n', m.metric, m.help, m.metric, m.type);
        out := out || coalesce((
            SELECT pg_catalog.string_agg(pg_catalog.format(E'%s{kind="%s",name="%s"} %s\n', m.metric, s.kind,
                       denorm._prometheus_label(s.name),
                       CASE WHEN m.col LIKE '%\_ms' THEN (j.value::text::double precision / 1000)::text ELSE j.value::text END),
                       '' ORDER BY s.kind, s.name)
              FROM denorm.stats s, LATERAL (SELECT pg_catalog.to_jsonb(s) -> m.col AS value) j
             WHERE (m.kinds IS NULL OR s.kind = ANY (m.kinds)) AND j.value IS NOT NULL AND j.value <> 'null'::jsonb), '');
    END LOOP;
    RETURN out;
END $$;
