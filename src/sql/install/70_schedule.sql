-------------------------------------------------------------------------------
-- Scheduling through pg_cron (README "Reconciliation: find and fix drift").
-------------------------------------------------------------------------------
CREATE FUNCTION denorm.schedule_reconcile(schedule text DEFAULT '0 3 * * *', name text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    command text := pg_catalog.format('SELECT pg_catalog.count(*) FROM denorm.reconcile(%s)',
                                      coalesce(pg_catalog.quote_literal(name), 'NULL'));
    job_name text := 'denorm-reconcile-' || coalesce(name, 'all');
    job_id bigint;
BEGIN
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM denorm._definitions d WHERE d.name = schedule_reconcile.name) THEN
        RAISE EXCEPTION 'counter "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        -- The job runs as the caller, like the call itself would.
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job_id USING job_name, schedule, command;
        RETURN job_id;
    END IF;
    -- pg_cron lives in one database (cron.database_name); from here it cannot be reached.
    RAISE EXCEPTION 'pg_cron is not installed in database "%"', pg_catalog.current_database()
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = pg_catalog.format('Run this in %s: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
                  CASE WHEN pg_catalog.current_setting('cron.database_name', true) IS NULL
                       THEN 'the database where pg_cron is installed (cron.database_name)'
                       ELSE pg_catalog.format('database %I, where pg_cron is installed',
                                              pg_catalog.current_setting('cron.database_name', true)) END,
                  job_name || '-' || pg_catalog.current_database(), schedule, command, pg_catalog.current_database());
END $$;
