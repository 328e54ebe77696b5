-------------------------------------------------------------------------------
-- Native helpers (src/pg).
-------------------------------------------------------------------------------
CREATE FUNCTION denorm._counter_stmt_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_counter_stmt_trigger';
CREATE FUNCTION denorm._counter_row_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_counter_row_trigger';
CREATE FUNCTION denorm._counter_truncate_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_counter_truncate_trigger';
CREATE FUNCTION denorm._counter_init_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_counter_init_trigger';

-- Parses expr as one scalar expression over a row of source and returns its type;
-- raises 0A000 for subqueries, aggregates, window/set-returning and non-immutable functions.
CREATE FUNCTION denorm._expression_type(source regclass, expr text, what text) RETURNS regtype
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_expression_type';
-- The same expression as SQL text that is safe to embed and independent of search_path.
CREATE FUNCTION denorm._deparse_expression(source regclass, expr text) RETURNS text
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_deparse_expression';
-- Raises 42804 unless values of the two types can be compared with =.
CREATE FUNCTION denorm._check_key_types(source_column text, source_type regtype,
                                        target_column text, target_type regtype) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_check_key_types';
-- The catalog-free rules of src/core/definition_rules (22023/42804/0A000).
CREATE FUNCTION denorm._check_counter_shape(name text, aggregate text, has_value boolean,
        source_key_len integer, target_key_len integer, deferred boolean) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_check_counter_shape';
CREATE FUNCTION denorm._check_column_sharing(target_column text, column_type text, aggregate text,
        existing text[]) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_check_column_sharing';
-- Drops every backend's cached definitions of rel at commit.
-- Whether a value of type from_type may be stored in a column of type to_type.
CREATE FUNCTION denorm._assignable(from_type regtype, to_type regtype) RETURNS boolean
    LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'denorm_assignable';
-- Whether a sum's value may be of the type (the types a count or sum column may have).
CREATE FUNCTION denorm._is_counter_type(type regtype) RETURNS boolean
    LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'denorm_is_counter_type';
-- Whether values of the type have a default btree ordering.
CREATE FUNCTION denorm._orderable(type regtype) RETURNS boolean
    LANGUAGE c STRICT STABLE AS 'MODULE_PATHNAME', 'denorm_orderable';
CREATE FUNCTION denorm._invalidate(rel regclass) RETURNS void
    LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'denorm_invalidate';
-- Runs one statement ($1 = arg, text) as the owner of rel, in a security-restricted
-- operation with search_path pinned; returns the first column of its first row. The
-- maintenance functions below run as the extension's owner and reach users' tables
-- only through it (README "Security").
-- Whether denorm is loaded by shared_preload_libraries (health(); the setting itself
-- is readable only by superusers and pg_read_all_settings).
CREATE FUNCTION denorm._preloaded() RETURNS boolean
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'denorm_preloaded';
CREATE FUNCTION denorm._as_owner(rel regclass, sql text, arg text DEFAULT NULL) RETURNS text
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_as_owner';
-- The same for a read under the caller's snapshot (counter_value).
CREATE FUNCTION denorm._as_owner_read(rel regclass, sql text, arg text DEFAULT NULL) RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'denorm_as_owner_read';
-- Whether the current user may see denorm's rows about rel: SELECT on it, or the
-- privileges of pg_monitor (the row filter of logs, audit trail and status).
CREATE FUNCTION denorm._may_see(rel regclass) RETURNS boolean
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'denorm_may_see';
