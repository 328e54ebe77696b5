-------------------------------------------------------------------------------
-- Privileges (README "Security"). Logs, audit trail, status and pending deltas show
-- each role the rows about relations it may read (SELECT on the counter's target or
-- the view), pg_monitor members and superusers all of them; row security enforces it
-- on the tables (their owner, the extension's owner, is not subject to it).
-------------------------------------------------------------------------------
CREATE FUNCTION denorm._may_see_counter(counter text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT denorm._may_see((SELECT d.target FROM denorm._definitions d WHERE d.name = counter))
$$;

ALTER TABLE denorm.reconcile_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON denorm.reconcile_log FOR SELECT USING (denorm._may_see_counter(counter));
ALTER TABLE denorm.reconcile_mismatches ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON denorm.reconcile_mismatches FOR SELECT USING (denorm._may_see_counter(counter));
ALTER TABLE denorm.refresh_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON denorm.refresh_log FOR SELECT USING (denorm._may_see(mv));
ALTER TABLE denorm._mv_registry ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON denorm._mv_registry FOR SELECT USING (denorm._may_see(mv));
-- Pending deltas: read like the logs (counter_value, health); deleted by the owner of
-- the counter's target, as whom denorm._fold runs. Writers append as the extension's
-- owner, so PUBLIC has no INSERT.
ALTER TABLE denorm._pending_deltas ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON denorm._pending_deltas FOR SELECT USING (denorm._may_see_counter(counter));
CREATE POLICY fold ON denorm._pending_deltas FOR DELETE USING (pg_catalog.pg_has_role(
    (SELECT c.relowner FROM denorm._definitions d JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.target
      WHERE d.name OPERATOR(pg_catalog.=) counter), 'USAGE'));
GRANT SELECT, DELETE ON denorm._pending_deltas TO PUBLIC;

-- No internal function is executable by PUBLIC, except these, which the public
-- functions and views call with the caller's rights and which read only pg_catalog
-- or filter by _may_see: the row filters themselves, mv_status's _memory_requests and
-- _can_refresh_concurrently, health()'s _preloaded, the catalog readers of
-- health() and advise(), and the shared-memory counts denorm.stats reads. sql/security_acl.sql lists every function with its ACL.
DO $revoke$
DECLARE
    f regprocedure;
BEGIN
    SET LOCAL search_path = pg_catalog, pg_temp;
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'denorm'::regnamespace
                AND p.proname LIKE '\_%'
                AND p.proname NOT IN ('_may_see', '_may_see_counter', '_memory_requests', '_can_refresh_concurrently',
                                      '_preloaded', '_counter_triggers', '_relation_tree', '_has_unique_index',
                                      '_stats', '_stats_state', '_prometheus_label', '_visible_search_sources') LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $revoke$;
