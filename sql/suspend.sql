-- suspend()/resume(): a bulk load at plain-insert speed, then the counters are
-- recounted and maintained again.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA bulk;
SET search_path = bulk, public;
CREATE TABLE authors (id int PRIMARY KEY, books int NOT NULL DEFAULT 0, pages bigint NOT NULL DEFAULT 0);
CREATE TABLE books (id int PRIMARY KEY, author_id int, pages int);
INSERT INTO authors SELECT generate_series(1, 10);
SELECT denorm.create_counter('author_books', 'authors', 'books', 'books', '{author_id}');
SELECT denorm.create_counter('author_pages', 'authors', 'pages', 'books', '{author_id}', aggregate => 'sum', value => 'pages');

SELECT denorm.suspend('books');
SELECT name, suspended FROM denorm.counters WHERE source = 'books'::regclass ORDER BY name;
INSERT INTO books SELECT g, 1 + g % 10, g FROM generate_series(1, 1000) g;   -- not maintained
SELECT sum(books) AS books_counted, sum(pages) AS pages_counted FROM authors;
-- resume reconciles: one fixed row per author and counter.
SELECT denorm.resume('books');
SELECT name, suspended FROM denorm.counters WHERE source = 'books'::regclass ORDER BY name;
SELECT sum(books) AS books_counted, sum(pages) AS pages_counted FROM authors;
DELETE FROM books WHERE id <= 100;                                            -- maintained again
SELECT count(*) AS drift FROM authors a
 WHERE books <> (SELECT count(*) FROM books b WHERE b.author_id = a.id)
    OR pages <> (SELECT coalesce(sum(b.pages), 0) FROM books b WHERE b.author_id = a.id);
-- resume(reconcile => false) only resumes.
SELECT denorm.suspend('books');
SELECT denorm.suspend('books');   -- idempotent
INSERT INTO books VALUES (5000, 1, 10);
SELECT denorm.resume('books', reconcile => false);
SELECT books, pages FROM authors WHERE id = 1;
SELECT count(*) FROM denorm.reconcile('author_books');
\set VERBOSITY sqlstate
SELECT denorm.suspend('authors');           -- feeds no counter
CREATE ROLE denorm_loader;
GRANT USAGE ON SCHEMA bulk TO denorm_loader;
SET ROLE denorm_loader;
SELECT denorm.suspend('books');
RESET ROLE;
\set VERBOSITY default
DROP OWNED BY denorm_loader;
DROP ROLE denorm_loader;
