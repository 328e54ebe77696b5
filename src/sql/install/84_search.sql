-------------------------------------------------------------------------------
-- Search (README "Search"): one document per row of each search source in
-- denorm.search_documents, written by native statement triggers in the writer's
-- transaction (src/pg/search), answered by denorm.search() from a GIN index on the
-- weighted text search vector and a GIN trigram index (pg_trgm) on the title.
-------------------------------------------------------------------------------
-- Expressions are stored deparsed (they mean the same under any search_path), the table
-- as regclass: a dump and restore gives back working sources.
CREATE TABLE denorm._search_sources (
    name        text PRIMARY KEY,
    source      regclass NOT NULL,
    title       text NOT NULL,
    body        text,
    doc_key     text NOT NULL,          -- resolved at creation: the primary key when not given
    filter      text,
    boost       text,
    language    regconfig NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('denorm._search_sources', '');
-- Readable by all, like _definitions: the writers' cache and search() read it.
GRANT SELECT ON denorm._search_sources TO PUBLIC;

CREATE VIEW denorm.search_sources AS
SELECT name, source, title, body, doc_key, filter, boost, language, created_at FROM denorm._search_sources;
GRANT SELECT ON denorm.search_sources TO PUBLIC;

-- One row per document; doc_key compares byte by byte (the writers' and reconcile's order).
-- Dumped with the extension's configuration, so a restored database searches at once.
CREATE TABLE denorm.search_documents (
    source      text NOT NULL,
    doc_key     text COLLATE "C" NOT NULL,
    title       text,
    body        text,
    boost       real NOT NULL DEFAULT 0,
    document    tsvector NOT NULL,      -- title weighted 'A', body 'B', in the source's language
    PRIMARY KEY (source, doc_key)
);
SELECT pg_catalog.pg_extension_config_dump('denorm.search_documents', '');
-- GIN's pending list (fastupdate) kept small: writers append their entries to it (about
-- twice the updates per second of inserting each into the tree), and a search, which
-- scans the whole list, never scans more than 256 kB of it.
CREATE INDEX search_documents_document ON denorm.search_documents USING gin (document)
    WITH (gin_pending_list_limit = 256);
-- pg_trgm is relocatable and PostgreSQL 15 has no @extschema:pg_trgm@: its operator class
-- is named in the schema it is installed in now.
DO $trgm$
BEGIN
    EXECUTE pg_catalog.format(
        'CREATE INDEX search_documents_title_trgm ON denorm.search_documents USING gin (title %I.gin_trgm_ops) '
        'WITH (gin_pending_list_limit = 256)',
        (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
          WHERE e.extname OPERATOR(pg_catalog.=) 'pg_trgm'));
END $trgm$;

-- The sources whose documents the current role may see: those whose table it may SELECT
-- from, unless the table has row security the role is subject to (its owner and
-- superusers are not). search() and the row security of search_documents use it.
CREATE FUNCTION denorm._visible_search_sources() RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(pg_catalog.array_agg(s.name ORDER BY s.name), '{}')
      FROM denorm._search_sources s JOIN pg_catalog.pg_class c ON c.oid = s.source
     WHERE pg_catalog.has_table_privilege(s.source, 'SELECT')
       AND (NOT c.relrowsecurity OR pg_catalog.pg_has_role(c.relowner, 'USAGE'))
$$;
-- Written only by denorm, as the extension's owner; read directly under the same rule.
ALTER TABLE denorm.search_documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON denorm.search_documents FOR SELECT
    USING (source OPERATOR(pg_catalog.=) ANY ((SELECT denorm._visible_search_sources())::pg_catalog.text[]));
GRANT SELECT ON denorm.search_documents TO PUBLIC;

CREATE FUNCTION denorm._search_stmt_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_search_stmt_trigger';
CREATE FUNCTION denorm._search_truncate_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_search_truncate_trigger';

-- The triggers of a search source's table, on it and on each partition (statement
-- triggers are not cloned), present while a search source reads the table.
CREATE FUNCTION denorm._sync_search_triggers(source regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    wanted boolean := EXISTS (SELECT 1 FROM denorm._search_sources s WHERE s.source = _sync_search_triggers.source);
    rel regclass;
BEGIN
    FOR rel IN SELECT denorm._relation_tree(source) LOOP
        PERFORM denorm._set_trigger(rel, 'denorm_search_insert', wanted,
            'AFTER INSERT ON %s REFERENCING NEW TABLE AS denorm_new FOR EACH STATEMENT '
            'EXECUTE FUNCTION denorm._search_stmt_trigger()');
        PERFORM denorm._set_trigger(rel, 'denorm_search_update', wanted,
            'AFTER UPDATE ON %s REFERENCING OLD TABLE AS denorm_old NEW TABLE AS denorm_new FOR EACH STATEMENT '
            'EXECUTE FUNCTION denorm._search_stmt_trigger()');
        PERFORM denorm._set_trigger(rel, 'denorm_search_delete', wanted,
            'AFTER DELETE ON %s REFERENCING OLD TABLE AS denorm_old FOR EACH STATEMENT '
            'EXECUTE FUNCTION denorm._search_stmt_trigger()');
        PERFORM denorm._set_trigger(rel, 'denorm_search_truncate', wanted,
            'AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION denorm._search_truncate_trigger()');
    END LOOP;
    PERFORM denorm._invalidate(source);
END $$;

-- Called by create_search_source as the extension's owner, after its checks
-- (src/pg/search/search_api.cpp), with the expressions deparsed and doc_key resolved.
CREATE FUNCTION denorm._create_search_source(name text, source regclass, title text, body text, doc_key text,
                                             filter text, boost text, language regconfig) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO denorm._search_sources (name, source, title, body, doc_key, filter, boost, language)
    VALUES (name, source, title, body, doc_key, filter, boost, language);
    PERFORM denorm._sync_search_triggers(source);
END $$;

CREATE FUNCTION denorm._drop_search_source(name text, if_exists boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass;
BEGIN
    DELETE FROM denorm._search_sources s WHERE s.name = _drop_search_source.name RETURNING s.source INTO rel;
    IF NOT FOUND THEN
        IF if_exists THEN
            RAISE NOTICE 'search source "%" does not exist, skipping', name;
            RETURN;
        END IF;
        RAISE EXCEPTION 'search source "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM denorm.search_documents d WHERE d.source = _drop_search_source.name;
    PERFORM denorm._sync_search_triggers(rel);
END $$;

CREATE FUNCTION denorm.create_search_source(name text, source regclass, title text, body text DEFAULT NULL,
                                            doc_key text DEFAULT NULL, filter text DEFAULT NULL,
                                            boost text DEFAULT NULL, language regconfig DEFAULT 'english')
    RETURNS void LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_create_search_source';
CREATE FUNCTION denorm.drop_search_source(name text, if_exists boolean DEFAULT false) RETURNS void
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_drop_search_source';
-- Never an error for any query text, and no NOTICE about stop words either.
CREATE FUNCTION denorm.search(query text, sources text[] DEFAULT NULL, max_results integer DEFAULT 20,
                              fuzzy boolean DEFAULT true)
    RETURNS TABLE(source text, doc_key text, title text, score real)
    LANGUAGE c STABLE CALLED ON NULL INPUT ROWS 20 SET client_min_messages = warning
    AS 'MODULE_PATHNAME', 'denorm_search';
CREATE FUNCTION denorm.search_reconcile(name text DEFAULT NULL, fix boolean DEFAULT true)
    RETURNS TABLE(source text, doc_key text, stored jsonb, expected jsonb, fixed boolean)
    LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'denorm_search_reconcile';

-------------------------------------------------------------------------------
-- Living with DDL (README "Living with the schema"): a dropped table drops its search
-- sources; partitions created, attached, detached or dropped keep the documents right; a
-- renamed column is followed; an ALTER TABLE that breaks an expression is refused.
-------------------------------------------------------------------------------
CREATE FUNCTION denorm._check_search_expressions(source regclass, doc_key text, title text, body text, filter text,
                                                 boost text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_check_search_expressions';
CREATE FUNCTION denorm._search_resync(name text) RETURNS bigint
    LANGUAGE c AS 'MODULE_PATHNAME', 'denorm_search_resync';

-- After a column of rel was renamed to new_name: the search sources on rel follow it. The
-- old name is the one name their expressions use that rel no longer has (as for counters,
-- denorm._follow_column_rename).
CREATE FUNCTION denorm._follow_search_column_rename(rel regclass, new_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    missing text[];
    old_name text;
BEGIN
    missing := ARRAY(
        SELECT DISTINCT c
          FROM denorm._search_sources s,
               pg_catalog.unnest(ARRAY[s.doc_key, s.title, s.body, s.filter, s.boost]) e,
               pg_catalog.unnest(denorm._column_refs(e)) c
         WHERE s.source = rel AND e IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = rel AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped));
    IF pg_catalog.cardinality(missing) <> 1 THEN
        RETURN;
    END IF;
    old_name := missing[1];
    UPDATE denorm._search_sources s
       SET doc_key = denorm._rename_column_in(s.doc_key, old_name, new_name),
           title = denorm._rename_column_in(s.title, old_name, new_name),
           body = denorm._rename_column_in(s.body, old_name, new_name),
           filter = denorm._rename_column_in(s.filter, old_name, new_name),
           boost = denorm._rename_column_in(s.boost, old_name, new_name)
     WHERE s.source = rel;
    PERFORM denorm._invalidate(rel);
    RAISE NOTICE 'denorm search sources on % now use column "%" (was "%")', rel, new_name, old_name;
END $$;

-- SECURITY DEFINER, as the counters' event-trigger functions (60_ddl.sql): it fires for a
-- table's owner and writes the catalog and triggers, which only the extension's owner
-- may. It runs no user code beyond the sources' own expressions, parsed (not run) by the
-- check, and the resync, which reads a table as its owner.
CREATE FUNCTION denorm._on_search_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    s denorm._search_sources;
    root regclass;
    failure text;
    dropped oid[];
BEGIN
    IF TG_EVENT = 'sql_drop' THEN
        dropped := ARRAY(SELECT DISTINCT x.source::oid FROM denorm._search_sources x,
                                pg_catalog.pg_event_trigger_dropped_objects() o
                          WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0 AND x.source::oid = o.objid);
        -- In name order, so that the notices come in a stable order.
        FOR r IN SELECT x.name FROM denorm._search_sources x WHERE x.source::oid = ANY (dropped) ORDER BY x.name LOOP
            DELETE FROM denorm._search_sources x WHERE x.name = r.name;
            DELETE FROM denorm.search_documents d WHERE d.source = r.name;
            RAISE NOTICE 'dropping search source "%" because its table was dropped', r.name;
        END LOOP;
        -- A dropped partition (a table with the triggers that was no source) took its rows'
        -- documents' rows with it; which tree it was in is gone with it, so every
        -- partitioned source is resynced.
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() o
                    WHERE o.object_type = 'trigger' AND o.object_identity LIKE 'denorm\_search\_insert on %'
                      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() t
                                       WHERE t.classid = 'pg_catalog.pg_class'::regclass AND t.objsubid = 0
                                         AND t.objid = ANY (dropped)
                                         AND o.object_identity = 'denorm_search_insert on ' || t.object_identity)) THEN
            FOR r IN SELECT x.name FROM denorm._search_sources x JOIN pg_catalog.pg_class c ON c.oid = x.source
                      WHERE c.relkind = 'p' ORDER BY x.name LOOP
                PERFORM denorm._search_resync(r.name);
            END LOOP;
        END IF;
        RETURN;
    END IF;
    -- ddl_command_end of CREATE TABLE or ALTER TABLE. A renamed column is followed.
    FOR r IN SELECT c.objid::regclass AS rel, a.attname::text AS new_name
               FROM pg_catalog.pg_event_trigger_ddl_commands() c
               JOIN pg_catalog.pg_attribute a ON a.attrelid = c.objid AND a.attnum = c.objsubid
              WHERE c.command_tag = 'ALTER TABLE' AND c.object_type = 'table column' AND c.objsubid > 0
                AND EXISTS (SELECT 1 FROM denorm._search_sources x WHERE x.source::oid = c.objid) LOOP
        PERFORM denorm._follow_search_column_rename(r.rel, r.new_name);
    END LOOP;
    -- An ALTER TABLE that leaves an expression without its column, or of another type, is
    -- refused (every later write would fail), as PostgreSQL refuses to drop a column a
    -- view uses.
    FOR s IN SELECT x.* FROM denorm._search_sources x
              WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() c
                             WHERE c.command_tag = 'ALTER TABLE' AND c.classid = 'pg_catalog.pg_class'::regclass
                               AND c.objid = x.source::oid)
              ORDER BY x.name LOOP
        BEGIN
            PERFORM denorm._check_search_expressions(s.source, s.doc_key, s.title, s.body, s.filter, s.boost);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
            RAISE EXCEPTION 'cannot alter %: search source "%" would break', s.source, s.name
                USING ERRCODE = 'dependent_objects_still_exist', DETAIL = failure,
                      HINT = pg_catalog.format('Drop the search source first (SELECT denorm.drop_search_source(%L)) '
                                               'and create it again afterwards.', s.name);
        END;
    END LOOP;
    -- Partitions: a new one gets the triggers; one attached (it has no triggers yet)
    -- brings rows, one detached (it keeps the triggers, outside every tree) takes them:
    -- the source is resynced and the detached table loses the triggers.
    FOR root IN SELECT DISTINCT x.source FROM denorm._search_sources x
                  JOIN pg_catalog.pg_class c ON c.oid = x.source WHERE c.relkind = 'p' LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(root) p
                    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                                       WHERE t.tgrelid = p.relid AND t.tgname = 'denorm_search_insert')) THEN
            PERFORM denorm._sync_search_triggers(root);
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() c
                        WHERE c.command_tag = 'ALTER TABLE' AND c.objid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(root) p)) THEN
                FOR r IN SELECT x.name FROM denorm._search_sources x WHERE x.source = root ORDER BY x.name LOOP
                    PERFORM denorm._search_resync(r.name);
                END LOOP;
            END IF;
        END IF;
    END LOOP;
    FOR r IN SELECT DISTINCT t.tgrelid::regclass AS rel FROM pg_catalog.pg_trigger t
              WHERE t.tgname = 'denorm_search_insert'
                AND NOT EXISTS (SELECT 1 FROM denorm._search_sources x, denorm._relation_tree(x.source) p(relid)
                                 WHERE p.relid = t.tgrelid) LOOP
        PERFORM denorm._set_trigger(r.rel, name, false, NULL)
           FROM pg_catalog.unnest(ARRAY['denorm_search_insert', 'denorm_search_update', 'denorm_search_delete',
                                        'denorm_search_truncate']) name;
        FOR s IN SELECT x.* FROM denorm._search_sources x JOIN pg_catalog.pg_class c ON c.oid = x.source
                  WHERE c.relkind = 'p'
                    AND EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() d
                                 WHERE d.command_tag = 'ALTER TABLE'
                                   AND d.objid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(x.source) p))
                  ORDER BY x.name LOOP
            PERFORM denorm._search_resync(s.name);
        END LOOP;
    END LOOP;
END $$;

CREATE EVENT TRIGGER denorm_search_sql_drop ON sql_drop EXECUTE FUNCTION denorm._on_search_ddl();
CREATE EVENT TRIGGER denorm_search_ddl_command_end ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION denorm._on_search_ddl();
