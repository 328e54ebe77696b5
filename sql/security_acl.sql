-- The privileges of every object of the extension (README "Security"), so that a
-- change shows in this file's diff: each function with whether PUBLIC may execute it,
-- SECURITY DEFINER and its settings; each table and view with what PUBLIC may do and
-- whether row security filters it; the row-security policies.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;

CREATE TEMP VIEW denorm_members AS
SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'denorm' AND d.deptype = 'e';

-- Functions: only the public API, the row filters and the catalog readers that public
-- functions and views call with the caller's rights are executable by PUBLIC; the three
-- SECURITY DEFINER functions are the event triggers (two for counters and views, one for
-- search), which maintain the catalog when a table's owner alters or drops it.
SELECT p.oid::regprocedure AS function,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
       p.prosecdef AS security_definer, p.proconfig
  FROM pg_proc p JOIN denorm_members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
 ORDER BY p.proname, p.oid::regprocedure::text;

-- Tables and views: what PUBLIC may do, and row security.
SELECT c.oid::regclass AS relation, c.relkind,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('public', c.oid, 'INSERT') AS public_insert,
       has_table_privilege('public', c.oid, 'UPDATE') AS public_update,
       has_table_privilege('public', c.oid, 'DELETE') AS public_delete,
       c.relrowsecurity AS row_security
  FROM pg_class c JOIN denorm_members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
 WHERE c.relkind IN ('r', 'v', 'p')
 ORDER BY c.oid::regclass::text;

SELECT tablename, policyname, cmd, roles, qual FROM pg_policies WHERE schemaname = 'denorm' ORDER BY 1, 2;
