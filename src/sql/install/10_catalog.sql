-------------------------------------------------------------------------------
-- Catalog. Tables and columns are stored by name/regclass (never attnums or node
-- trees) so pg_dump/pg_restore gives back working definitions.
-------------------------------------------------------------------------------
CREATE TABLE denorm._definitions (
    name            text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('count', 'sum', 'min', 'max', 'latest')),
    target          regclass NOT NULL,
    target_columns  text[] NOT NULL,
    source          regclass NOT NULL,
    source_key      text[] NOT NULL,
    target_key      text[] NOT NULL,       -- resolved at creation (the primary key when not given)
    value           text,                  -- count/sum/min/max: expression over the source row
    source_values   text[],                -- latest: expressions copied into target_columns
    filter          text,
    order_by        text[],                -- latest: the greatest tuple wins
    create_missing  boolean NOT NULL DEFAULT false,
    touch           text,
    deferred        boolean NOT NULL DEFAULT false,
    suspended       boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('denorm._definitions', '');
-- Readable by all (denorm.counters shows the same): writers' triggers load it.
GRANT SELECT ON denorm._definitions TO PUBLIC;

CREATE VIEW denorm.counters AS
SELECT name, kind, target, target_columns, source, source_key, target_key, value, filter,
       create_missing, deferred, created_at, suspended, source_values, order_by
  FROM denorm._definitions;
GRANT SELECT ON denorm.counters TO PUBLIC;

-- Deferred counters (README "Deferred counters for hot keys"): writers append their statement's net change per key
-- here instead of updating the target row (no lock on a hot row); the worker or
-- run_pending() folds them into the target. The counter's value is the target column
-- plus its pending deltas, and every recount (init, backfill, TRUNCATE, reconcile)
-- writes the column as the aggregate minus the pending deltas, so a later fold keeps
-- it exact. key holds the target key values as text, in the order of the target key
-- columns' names, byte by byte (core::key_order, src/core/definition.hpp).
CREATE TABLE denorm._pending_deltas (
    counter  text NOT NULL,
    key      text[] NOT NULL,
    delta    numeric NOT NULL
);
CREATE INDEX ON denorm._pending_deltas (counter, key);
SELECT pg_catalog.pg_extension_config_dump('denorm._pending_deltas', '');
-- Who may read and delete these rows: see "Privileges" at the end of this script.
