-- The install script refuses a "denorm" schema someone else created first
-- (its owner could capture our calls), and installs cleanly otherwise.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS denorm CASCADE;
DROP SCHEMA IF EXISTS denorm CASCADE;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
RESET client_min_messages;
CREATE ROLE denorm_hijacker;
GRANT CREATE ON DATABASE contrib_regression TO denorm_hijacker;
SET ROLE denorm_hijacker;
CREATE SCHEMA denorm;
RESET ROLE;
CREATE EXTENSION denorm CASCADE;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'denorm';
DROP SCHEMA denorm;
CREATE EXTENSION denorm CASCADE;
SELECT extname, extversion FROM pg_extension WHERE extname = 'denorm';
-- PUBLIC may call the API but not the internals.
SELECT has_function_privilege('denorm_hijacker', 'denorm.create_counter(text,regclass,text,regclass,text[],text[],text,text,text,boolean,text,boolean,boolean)', 'EXECUTE') AS api,
       has_function_privilege('denorm_hijacker', 'denorm._create_counter(text,regclass,text,regclass,text[],text[],text,text,text,boolean,text,boolean)', 'EXECUTE') AS internal,
       has_table_privilege('denorm_hijacker', 'denorm._definitions', 'INSERT') AS write_catalog;
REVOKE CREATE ON DATABASE contrib_regression FROM denorm_hijacker;
DROP ROLE denorm_hijacker;
