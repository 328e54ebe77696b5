-- Search (README "Search"): documents kept in step with their rows by every kind of
-- write, in the writer's transaction; search() ranking (title above body, boost, the
-- word being typed as a prefix, websearch operators, typos by trigram below every
-- full-text match); queries that are empty, garbage or 1 MB; who sees what; every bad
-- input with its SQLSTATE; reconcile; living with DDL.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
CREATE ROLE regress_search_reader;
CREATE ROLE regress_search_other;
RESET client_min_messages;
CREATE SCHEMA srch;
GRANT USAGE ON SCHEMA srch TO PUBLIC;
SET search_path = srch, public;

CREATE TABLE projects (id bigint PRIMARY KEY, name text NOT NULL, description text, stars int NOT NULL DEFAULT 0,
                       deleted_at timestamptz, views bigint NOT NULL DEFAULT 0);
CREATE TABLE users (id int PRIMARY KEY, login text NOT NULL, bio text);
INSERT INTO projects (id, name, description, stars) VALUES
    (1, 'PostgreSQL Tutorial', 'Learn the database step by step', 10),
    (2, 'Redis caching layer', 'A fast key value cache in front of the database', 5),
    (3, 'Tutorial for Django', 'Web framework on PostgreSQL', 0);
INSERT INTO users VALUES (1, 'alice', 'Writes PostgreSQL extensions'), (2, 'bob', NULL);

-- The documents as stored, and the recomputation every block below must leave them equal
-- to (search_reconcile without fixing: no row means none missing, extra or different).
CREATE VIEW docs AS
SELECT source, doc_key, title, body, boost FROM denorm.search_documents WHERE source IN ('projects', 'users')
 ORDER BY source, doc_key;
CREATE VIEW drift AS SELECT * FROM denorm.search_reconcile(fix => false) WHERE source IN ('projects', 'users');

-- A source: title weighted above body, soft-deleted rows have no document, stars boost.
-- Existing rows are backfilled at once.
SELECT denorm.create_search_source('projects', 'projects', title => 'name', body => 'description',
                                   filter => 'deleted_at IS NULL', boost => 'stars / 100.0');
SELECT denorm.create_search_source('users', 'users', title => 'login', body => 'bio', language => 'simple');
SELECT name, source, title, body, doc_key, filter, boost, language FROM denorm.search_sources ORDER BY name;
SELECT * FROM docs;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'projects'::regclass ORDER BY tgname;

-- 1. Every kind of write keeps the documents in step.
-- INSERT, one row and several
INSERT INTO projects (id, name) VALUES (4, 'Kafka streams');
INSERT INTO projects (id, name, description) VALUES (5, 'Vector search', 'Embeddings'), (6, 'Graph database', NULL);
SELECT * FROM docs WHERE doc_key IN ('4', '5', '6');
-- UPDATE of the title, of the body, of the boost
UPDATE projects SET name = 'Kafka event streams' WHERE id = 4;
UPDATE projects SET description = 'Nodes and edges' WHERE id = 6;
UPDATE projects SET stars = 50 WHERE id = 5;
SELECT * FROM docs WHERE doc_key IN ('4', '5', '6');
-- of the filter: a soft-deleted row disappears, an undeleted one comes back
UPDATE projects SET deleted_at = now() WHERE id IN (4, 6);
SELECT doc_key FROM docs WHERE source = 'projects';
UPDATE projects SET deleted_at = NULL WHERE id = 6;
SELECT doc_key FROM docs WHERE source = 'projects';
-- of the key: the document moves
UPDATE projects SET id = 60 WHERE id = 6;
SELECT doc_key, title FROM docs WHERE doc_key IN ('6', '60');
-- keys swapped in one statement (a doc_key other than the primary key)
CREATE TABLE tags (id int PRIMARY KEY, slug text NOT NULL, label text, weight int);
INSERT INTO tags VALUES (1, 'red', 'Red things', 1), (2, 'blue', 'Blue things', 2);
SELECT denorm.create_search_source('tags', 'tags', title => 'label', doc_key => 'slug', boost => 'weight * 2');
UPDATE tags SET slug = CASE slug WHEN 'red' THEN 'blue' ELSE 'red' END;
SELECT doc_key, title FROM denorm.search_documents WHERE source = 'tags' ORDER BY doc_key;
SELECT * FROM denorm.search_reconcile('tags', fix => false);
-- An UPDATE of nothing a source reads writes no document (nor does one setting the same
-- values): the counts of rows written to search_documents do not move.
CREATE FUNCTION documents_written() RETURNS bigint LANGUAGE sql AS $$
    SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables WHERE relid = 'denorm.search_documents'::regclass
$$;
BEGIN;
SELECT documents_written() AS before \gset
UPDATE projects SET views = views + 1;
UPDATE projects SET name = name, stars = stars;
SELECT documents_written() - :before AS documents_written;
UPDATE projects SET name = name || '' , stars = stars + 0 WHERE id = 1;
SELECT documents_written() - :before AS documents_written;
COMMIT;
-- DELETE
DELETE FROM projects WHERE id = 60;
SELECT count(*) AS documents_of_60 FROM docs WHERE doc_key = '60';
-- COPY
COPY projects (id, name, description) FROM stdin;
7	Copied project	From a file
8	Another copy	\N
\.
SELECT doc_key, title, body FROM docs WHERE doc_key IN ('7', '8');
-- INSERT ... ON CONFLICT: DO UPDATE rewrites the document, DO NOTHING leaves it
INSERT INTO projects (id, name) VALUES (7, 'Upserted project'), (9, 'Brand new')
    ON CONFLICT (id) DO UPDATE SET name = excluded.name;
INSERT INTO projects (id, name) VALUES (8, 'Not written') ON CONFLICT DO NOTHING;
SELECT doc_key, title FROM docs WHERE doc_key IN ('7', '8', '9');
-- MERGE: insert, update and delete in one statement
MERGE INTO projects p USING (VALUES (7, 'Merged title'), (8, NULL), (10, 'Merged in')) AS v(id, name) ON p.id = v.id
  WHEN MATCHED AND v.name IS NULL THEN DELETE
  WHEN MATCHED THEN UPDATE SET name = v.name
  WHEN NOT MATCHED THEN INSERT (id, name) VALUES (v.id, v.name);
SELECT doc_key, title FROM docs WHERE doc_key IN ('7', '8', '10');
-- A data-modifying CTE writing both sources
WITH u AS (UPDATE users SET bio = 'Caches everything' WHERE id = 2 RETURNING id)
INSERT INTO projects (id, name) SELECT 100 + id, 'From CTE' FROM u;
SELECT source, doc_key, title, body FROM docs WHERE doc_key IN ('2', '102');
-- Rollbacks leave nothing: a transaction, a savepoint
BEGIN;
INSERT INTO projects (id, name) VALUES (11, 'Rolled back');
UPDATE projects SET name = 'Rolled back too' WHERE id = 2;
ROLLBACK;
BEGIN;
INSERT INTO projects (id, name) VALUES (12, 'Kept');
SAVEPOINT s;
DELETE FROM projects WHERE id = 12;
UPDATE projects SET name = 'Gone with the savepoint' WHERE id = 5;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT doc_key, title FROM docs WHERE doc_key IN ('2', '5', '11', '12');
-- The writer's own transaction sees its documents at once.
BEGIN;
INSERT INTO projects (id, name) VALUES (13, 'Visible inside');
SELECT doc_key, title FROM denorm.search('visible inside', sources => '{projects}');
ROLLBACK;
-- TRUNCATE of one source removes only its documents.
CREATE TABLE scratch (id int PRIMARY KEY, t text);
INSERT INTO scratch VALUES (1, 'scratch one');
SELECT denorm.create_search_source('scratch', 'scratch', 't');
TRUNCATE scratch;
SELECT source, count(*) FROM denorm.search_documents WHERE source IN ('projects', 'users', 'scratch') GROUP BY 1 ORDER BY 1;
SELECT * FROM drift;

-- A partitioned source: rows moved between partitions, written through a partition, a
-- partition truncated, created, attached, detached and dropped. The default doc_key of a
-- composite primary key joins its values with ','.
CREATE TABLE items (id int, region text, name text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE items_eu PARTITION OF items FOR VALUES IN ('eu');
CREATE TABLE items_us PARTITION OF items FOR VALUES IN ('us');
INSERT INTO items VALUES (1, 'eu', 'alpha widget'), (2, 'us', 'beta widget');
SELECT denorm.create_search_source('items', 'items', 'name');
INSERT INTO items_eu VALUES (3, 'eu', 'gamma gadget');
UPDATE items SET region = 'us' WHERE id = 1;
UPDATE items_us SET name = 'beta widget two' WHERE id = 2;
CREATE TABLE items_asia PARTITION OF items FOR VALUES IN ('asia');
INSERT INTO items VALUES (4, 'asia', 'delta doohickey');
SELECT doc_key, title FROM denorm.search_documents WHERE source = 'items' ORDER BY doc_key;
TRUNCATE items_eu;
ALTER TABLE items DETACH PARTITION items_asia;
SELECT doc_key, title FROM denorm.search_documents WHERE source = 'items' ORDER BY doc_key;
SELECT count(*) AS triggers_left_on_detached FROM pg_trigger WHERE tgrelid = 'items_asia'::regclass;
ALTER TABLE items ATTACH PARTITION items_asia FOR VALUES IN ('asia');
SELECT doc_key, title FROM denorm.search_documents WHERE source = 'items' ORDER BY doc_key;
DROP TABLE items_asia;
SELECT doc_key, title FROM denorm.search_documents WHERE source = 'items' ORDER BY doc_key;
SELECT * FROM denorm.search_reconcile('items', fix => false);

-- 2. Ranking. A title match ranks above a body match, the boost is added to the rank,
-- every full-text match ranks above every trigram match.
SELECT doc_key, title, score FROM denorm.search('tutorial', sources => '{projects}');
SELECT doc_key, title, score FROM denorm.search('database', sources => '{projects}');
-- The last word, still being typed, is a prefix match ("postg" finds PostgreSQL), but not
-- once it is followed by a space.
SELECT doc_key, title FROM denorm.search('postg', sources => '{projects}');
SELECT doc_key, title FROM denorm.search('tut', sources => '{projects}');
SELECT doc_key, title FROM denorm.search('tut ', sources => '{projects}', fuzzy => false);
-- Typos find titles by trigram similarity, below the full-text matches, unless fuzzy is off.
SELECT doc_key, title FROM denorm.search('postgress', sources => '{projects}');
SELECT doc_key, title FROM denorm.search('postgress', sources => '{projects}', fuzzy => false);
SELECT doc_key, title FROM denorm.search('tutoriel', sources => '{projects}');
-- A transposition costs more trigrams: found once pg_trgm's threshold is lowered.
SELECT doc_key, title FROM denorm.search('tutorail', sources => '{projects}');
SET pg_trgm.word_similarity_threshold = 0.5;
SELECT doc_key, title FROM denorm.search('tutorail', sources => '{projects}');
RESET pg_trgm.word_similarity_threshold;
-- websearch syntax: "exact phrase", -excluded, or
SELECT doc_key, title FROM denorm.search('"key value"', sources => '{projects}');
SELECT doc_key, title FROM denorm.search('"value key"', sources => '{projects}', fuzzy => false);
SELECT doc_key, title FROM denorm.search('database -redis', sources => '{projects}');
SELECT doc_key, title FROM denorm.search('kafka or redis', sources => '{projects}');
-- An excluded word keeps its titles out of the trigram matches too.
SELECT doc_key, title FROM denorm.search('tutoral -django', sources => '{projects}');
-- sources restricts; NULL searches every source the caller may see; max_results cuts.
SELECT source, doc_key, title FROM denorm.search('postgresql', sources => '{users}');
SELECT source, doc_key, title FROM denorm.search('postgresql') WHERE source IN ('projects', 'users');
SELECT count(*) FROM denorm.search('tutorial', sources => '{projects}', max_results => 1);
SELECT count(*) FROM denorm.search('tutorial', sources => '{}');
-- Each source's language: 'simple' does not stem ("write " is no prefix: a space follows it).
SELECT source, doc_key FROM denorm.search('writes ', sources => '{users}', fuzzy => false);
SELECT source, doc_key FROM denorm.search('write ', sources => '{users}', fuzzy => false);
SELECT source, doc_key FROM denorm.search('write ', sources => '{projects}', fuzzy => false);

-- 3. Any query text is a query: empty, blank, garbage, operators only, stop words only,
-- NULL, 1 MB — rows or nothing, never an error, and no NOTICE.
SELECT count(*) FROM denorm.search('', sources => '{projects}');
SELECT count(*) FROM denorm.search(E' \t\n ', sources => '{projects}');
SELECT count(*) FROM denorm.search('!!! & | ((', sources => '{projects}');
SELECT count(*) FROM denorm.search('-', sources => '{projects}');
SELECT count(*) FROM denorm.search('"', sources => '{projects}');
SELECT count(*) FROM denorm.search('or or or', sources => '{projects}');
SELECT count(*) FROM denorm.search('the and of', sources => '{projects}');
SELECT count(*) FROM denorm.search(':* <-> !( ) '' \', sources => '{projects}');
SELECT count(*) FROM denorm.search(NULL, sources => '{projects}');
SELECT count(*) FROM denorm.search(repeat('tutorial ', 120000), sources => '{projects}');
SELECT count(*) FROM denorm.search(repeat('x', 1000000), sources => '{projects}');
SELECT count(*) FROM denorm.search(repeat('é', 600000), sources => '{projects}');
SELECT count(*) FROM denorm.search(repeat('a -b "c ', 100000), sources => '{projects}');

-- 4. Who sees what: a role sees the documents of the sources whose table it may read,
-- through search() and in search_documents.
GRANT SELECT ON users TO regress_search_reader;
SET ROLE regress_search_reader;
SELECT source, doc_key FROM denorm.search('postgresql');
SELECT source, count(*) FROM denorm.search_documents GROUP BY 1 ORDER BY 1;
SELECT source, doc_key FROM denorm.search('postgresql', sources => '{projects}');
RESET ROLE;
-- Their writes keep documents in step though they may not write search_documents.
GRANT INSERT ON users TO regress_search_reader;
SET ROLE regress_search_reader;
INSERT INTO users VALUES (3, 'carol', 'Reads a lot');
RESET ROLE;
SELECT doc_key, title FROM docs WHERE source = 'users';

-- 5. Bad input, refused with its SQLSTATE before anything changes.
\set VERBOSITY sqlstate
-- 42P01 unknown table, 42703 unknown column, 42704 unknown source
SELECT denorm.create_search_source('x', 'no_such_table', 'name');
SELECT denorm.create_search_source('x', 'projects', 'no_such_column');
SELECT denorm.create_search_source('x', 'projects', 'name', body => 'nope || name');
SELECT denorm.drop_search_source('no_such_source');
SELECT * FROM denorm.search('x', sources => '{projects,no_such_source}');
SELECT * FROM denorm.search_reconcile('no_such_source');
-- 42710 name used
SELECT denorm.create_search_source('projects', 'users', 'login');
-- 22023 bad argument values
SELECT denorm.create_search_source('Bad Name', 'projects', 'name');
SELECT denorm.create_search_source(repeat('x', 64), 'projects', 'name');
SELECT denorm.create_search_source(NULL, 'projects', 'name');
SELECT denorm.create_search_source('x', 'projects', NULL);
SELECT denorm.create_search_source('x', 'projects', 'name', language => NULL);
SELECT denorm.drop_search_source(NULL);
SELECT * FROM denorm.search('x', max_results => 0);
SELECT * FROM denorm.search('x', max_results => NULL);
SELECT * FROM denorm.search('x', fuzzy => NULL);
SELECT * FROM denorm.search('x', sources => '{projects,NULL}');
SELECT * FROM denorm.search_reconcile(fix => NULL);
-- 42704 unknown text search configuration
SELECT denorm.create_search_source('x', 'projects', 'name', language => 'klingon');
-- 42804 wrong types: a filter that is not boolean, a boost that is not a number
SELECT denorm.create_search_source('x', 'projects', 'name', filter => 'stars');
SELECT denorm.create_search_source('x', 'projects', 'name', boost => 'name');
SELECT denorm.create_search_source('x', 'projects', 'name', boost => 'deleted_at IS NULL');
-- 42809 not a table; 42P10 no primary key and no doc_key
CREATE VIEW project_view AS SELECT * FROM projects;
SELECT denorm.create_search_source('x', 'project_view', 'name');
DROP VIEW project_view;
CREATE TABLE nokey (t text);
SELECT denorm.create_search_source('x', 'nokey', 't');
-- 0A000 not one scalar immutable expression over the row, or not immutable once text
SELECT denorm.create_search_source('x', 'projects', '(SELECT name FROM projects LIMIT 1)');
SELECT denorm.create_search_source('x', 'projects', 'max(name)');
SELECT denorm.create_search_source('x', 'projects', 'name', boost => 'random()');
SELECT denorm.create_search_source('x', 'projects', 'name', filter => 'deleted_at < now()');
SELECT denorm.create_search_source('x', 'projects', 'name', doc_key => 'deleted_at');
SELECT denorm.create_search_source('x', 'projects', 'name; DROP TABLE projects');
SELECT denorm.create_search_source('x', 'projects', 'name FROM pg_class');
-- 0A000 row security on the table
CREATE TABLE secret (id int PRIMARY KEY, t text);
ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
SELECT denorm.create_search_source('x', 'secret', 't');
-- 42501 not the owner
SET ROLE regress_search_other;
SELECT denorm.create_search_source('x', 'projects', 'name');
SELECT denorm.drop_search_source('projects');
SELECT * FROM denorm.search_reconcile('projects');
RESET ROLE;
\set VERBOSITY default
SELECT count(*) AS sources_left FROM denorm._search_sources WHERE name IN ('projects', 'users', 'scratch', 'items');
SELECT * FROM drift;

-- 6. Reconcile finds documents missing, extra or different and fixes them.
SET ROLE regress_search_other;
SELECT * FROM denorm.search_reconcile();  -- owns no source: checks none
RESET ROLE;
DELETE FROM denorm.search_documents WHERE source = 'projects' AND doc_key = '2';
UPDATE denorm.search_documents SET title = 'Tampered' WHERE source = 'projects' AND doc_key = '3';
UPDATE denorm.search_documents SET document = 'x' WHERE source = 'projects' AND doc_key = '5';
INSERT INTO denorm.search_documents (source, doc_key, title, document) VALUES ('projects', '999', 'Ghost', '');
SELECT source, doc_key, stored, expected, fixed FROM denorm.search_reconcile('projects', fix => false);
SELECT source, doc_key, fixed FROM denorm.search_reconcile('projects');
SELECT * FROM drift;
SELECT doc_key, title FROM denorm.search('postgresql', sources => '{projects}');

-- 7. Living with the schema: a renamed column is followed; dropping a column a source
-- uses, or changing its type so that an expression breaks, is refused (2BP01).
ALTER TABLE projects RENAME COLUMN name TO title;
SELECT title FROM denorm.search_sources WHERE name = 'projects';
UPDATE projects SET title = 'PostgreSQL Handbook' WHERE id = 1;
SELECT doc_key, title FROM docs WHERE doc_key = '1' AND source = 'projects';
\set VERBOSITY sqlstate
ALTER TABLE projects DROP COLUMN description;
ALTER TABLE tags ALTER COLUMN weight TYPE text;
\set VERBOSITY default
ALTER TABLE tags ALTER COLUMN weight TYPE text;
ALTER TABLE projects DROP COLUMN views;
ALTER TABLE tags ALTER COLUMN weight TYPE bigint;
SELECT * FROM drift;

-- 8. drop_search_source removes the documents and, with the table's last source, its
-- triggers; dropping a table drops its sources.
SELECT denorm.drop_search_source('scratch');
SELECT denorm.drop_search_source('scratch', if_exists => true);
SELECT count(*) AS scratch_triggers FROM pg_trigger WHERE tgrelid = 'scratch'::regclass;
DROP TABLE items;
DROP TABLE users;
SELECT name FROM denorm.search_sources ORDER BY name;
SELECT source, count(*) FROM denorm.search_documents GROUP BY 1 ORDER BY 1;

DROP SCHEMA srch CASCADE;
SELECT count(*) AS sources_left, (SELECT count(*) FROM denorm.search_documents) AS documents_left
  FROM denorm._search_sources;
DROP ROLE regress_search_reader;
DROP ROLE regress_search_other;
