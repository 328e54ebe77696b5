-- denorm install script (src/sql/install, one part per subsystem, concatenated in name order): the
-- schema and its guard. Every name is schema-qualified; functions that run SQL pin search_path.
\echo Use "CREATE EXTENSION denorm" to load this file. \quit

-- Refuse a pre-created "denorm" schema: its owner could capture our calls
-- (README "Security"). CREATE EXTENSION made it just now only if it is
-- empty and owned by a superuser.
DO $guard$
DECLARE nsp pg_catalog.oid := pg_catalog.to_regnamespace('denorm')::pg_catalog.oid;
BEGIN
  IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_namespace n
            JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
           WHERE n.oid OPERATOR(pg_catalog.=) nsp)
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) nsp)
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) nsp)
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) nsp)
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) nsp) THEN
    RAISE EXCEPTION 'schema "denorm" already exists and is not a fresh schema owned by a superuser'
      USING HINT = 'Drop or rename that schema, then run CREATE EXTENSION again.';
  END IF;
END $guard$;

GRANT USAGE ON SCHEMA denorm TO PUBLIC;
