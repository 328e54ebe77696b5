-- bench/mv_schema.sql — the seeds' feed, from scratch (psql -v projects=N -v upvotes=N -v comments=N).
-- projects(id, title, created_at), upvotes(id, project_id, created_at), comments(id, project_id,
-- created_at); created_at defaults to clock_timestamp(), i.e. the moment of the INSERT, which in a
-- single-statement transaction is its commit time less the commit itself (see burst_ack).
-- Initial data: projects created over the last 30 days; upvotes and comments over the last
-- 6 days (so that none leaves the feed's 7-day window during a run and the freshness check
-- can compare exactly), skewed towards low project ids (a few popular projects). Fixed seed.
-- The materialized view feed: per project, upvotes of the last 7 days, comments, and the
-- trending score (upvotes_7d + 2 * comments) / (age_hours + 2)^1.5; unique index on
-- project_id (so REFRESH ... CONCURRENTLY can be used). feed_live is the same query as a
-- plain view: "is the view fresh" = feed and feed_live hold the same rows (score aside,
-- since it moves with now()).
DROP MATERIALIZED VIEW IF EXISTS feed CASCADE;
DROP VIEW IF EXISTS feed_live;
DROP TABLE IF EXISTS burst_ack, comments, upvotes, projects CASCADE;
DROP FUNCTION IF EXISTS seeds_refresh_feed() CASCADE;

CREATE TABLE projects (
    id         bigserial PRIMARY KEY,
    title      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE upvotes (
    id         bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE comments (
    id         bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The burst writes, after each upvote's transaction has committed, one row here in a
-- second transaction: acked_at is then an upper bound of the upvote's commit time, as
-- created_at is a lower bound. Not read by the feed.
CREATE TABLE burst_ack (
    upvote_id bigint PRIMARY KEY,
    acked_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

SELECT setseed(0.42);
INSERT INTO projects (title, created_at)
SELECT 'project ' || g, now() - random() * interval '30 days' FROM generate_series(1, :projects) g;
INSERT INTO upvotes (project_id, created_at)
SELECT 1 + floor(:projects * power(random(), 2))::bigint, now() - random() * interval '6 days'
  FROM generate_series(1, :upvotes) g;
INSERT INTO comments (project_id, created_at)
SELECT 1 + floor(:projects * power(random(), 2))::bigint, now() - random() * interval '6 days'
  FROM generate_series(1, :comments) g;
CREATE INDEX ON upvotes (project_id);
CREATE INDEX ON comments (project_id);

\set feed_query 'SELECT p.id AS project_id, p.title, p.created_at, coalesce(u.n, 0) AS upvotes_7d, coalesce(c.n, 0) AS comments, (coalesce(u.n, 0) + 2 * coalesce(c.n, 0)) / power(extract(epoch FROM now() - p.created_at)::float8 / 3600 + 2, 1.5) AS score FROM projects p LEFT JOIN (SELECT project_id, count(*) AS n FROM upvotes WHERE created_at > now() - interval \'7 days\' GROUP BY project_id) u ON u.project_id = p.id LEFT JOIN (SELECT project_id, count(*) AS n FROM comments GROUP BY project_id) c ON c.project_id = p.id'
CREATE VIEW feed_live AS :feed_query;
CREATE MATERIALIZED VIEW feed AS :feed_query;
CREATE UNIQUE INDEX ON feed (project_id);

VACUUM ANALYZE projects;
VACUUM ANALYZE upvotes;
VACUUM ANALYZE comments;
VACUUM ANALYZE feed;
CHECKPOINT;
