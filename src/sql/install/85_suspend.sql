-------------------------------------------------------------------------------
-- Bulk loads: suspend and resume the counters fed by a source (README "Bulk loads: suspend and resume").
-------------------------------------------------------------------------------
CREATE FUNCTION denorm._set_suspended(source regclass, suspended boolean) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM denorm._definitions d WHERE d.source = _set_suspended.source) THEN
        RAISE EXCEPTION 'no counter is fed by %', source USING ERRCODE = 'undefined_object',
            HINT = 'denorm.counters lists the counters and their sources.';
    END IF;
    UPDATE denorm._definitions d SET suspended = _set_suspended.suspended
     WHERE d.source = _set_suspended.source AND d.suspended IS DISTINCT FROM _set_suspended.suspended;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM denorm._invalidate(source);
    RETURN n;
END $$;

CREATE FUNCTION denorm.suspend(source regclass) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_suspend';
CREATE FUNCTION denorm.resume(source regclass, reconcile boolean DEFAULT true) RETURNS bigint
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_resume';
