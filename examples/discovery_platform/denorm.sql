-- denorm.sql — every denormalization of the discovery platform, declared through denorm.
-- Run with psql after schema.sql and the data (generate.sh): each declaration adopts the
-- rows already there (backfill), then keeps its values exact in every writing transaction.
-- Nothing here is a trigger, a refresh job or a recount written by hand: the seeds'
-- PL/pgSQL triggers (user_dashboard_stats, message_conversations_denorm,
-- intro_request_stats), their refresh queue with a 5-second debounce, their search-index
-- view, their Redis INCRs and their nightly recount are the calls below.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\o /dev/null
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;   -- requires pg_trgm
\echo 'denorm.sql: counters on projects'

-- ----------------------------------------------------------------------------------------
-- 1. Counters on projects: what a feed card and the project page show.
-- ----------------------------------------------------------------------------------------
ALTER TABLE projects
    ADD COLUMN upvote_count      integer NOT NULL DEFAULT 0,
    ADD COLUMN comment_count     integer NOT NULL DEFAULT 0,   -- comments not soft-deleted
    ADD COLUMN badge_count       integer NOT NULL DEFAULT 0,
    ADD COLUMN proof_score       integer NOT NULL DEFAULT 0,   -- sum of the badges' points
    ADD COLUMN investor_interest integer NOT NULL DEFAULT 0;   -- open investor requests

SELECT denorm.create_counter('project_upvotes', 'projects', 'upvote_count', 'upvotes', '{project_id}');
SELECT denorm.create_counter('project_comments', 'projects', 'comment_count', 'comments', '{project_id}',
                             filter => 'deleted_at IS NULL');
SELECT denorm.create_counter('project_badges', 'projects', 'badge_count', 'validation_badges', '{project_id}');
SELECT denorm.create_counter('project_proof_score', 'projects', 'proof_score', 'validation_badges', '{project_id}',
                             aggregate => 'sum', value => 'points');
SELECT denorm.create_counter('project_investor_interest', 'projects', 'investor_interest', 'investor_requests',
                             '{project_id}', filter => $$status = 'open'$$);

-- ----------------------------------------------------------------------------------------
-- 2. The builder's dashboard (the seeds' user_dashboard_stats). A row appears with the
--    user's first project, message, notification or follow (create_missing). The sums read
--    the project counters above: an upvote changes projects.upvote_count, which changes
--    upvotes_received, in the same transaction (a cascade).
-- ----------------------------------------------------------------------------------------
\echo 'denorm.sql: the dashboard'
CREATE TABLE user_dashboard_stats (
    user_id              bigint PRIMARY KEY REFERENCES users,
    project_count        integer NOT NULL DEFAULT 0,
    active_projects      integer NOT NULL DEFAULT 0,   -- not soft-deleted
    upvotes_received     bigint  NOT NULL DEFAULT 0,   -- on active projects
    comments_received    bigint  NOT NULL DEFAULT 0,   -- on active projects
    proof_score          bigint  NOT NULL DEFAULT 0,   -- of active projects
    unread_messages      integer NOT NULL DEFAULT 0,
    unread_notifications integer NOT NULL DEFAULT 0,
    chains_following     integer NOT NULL DEFAULT 0,
    updated_at           timestamptz                   -- last change of a project figure
);
SELECT denorm.create_counter('dash_projects', 'user_dashboard_stats', 'project_count', 'projects', '{user_id}',
                             create_missing => true);
SELECT denorm.create_counter('dash_active_projects', 'user_dashboard_stats', 'active_projects', 'projects', '{user_id}',
                             filter => 'deleted_at IS NULL', create_missing => true, touch => 'updated_at');
SELECT denorm.create_counter('dash_upvotes', 'user_dashboard_stats', 'upvotes_received', 'projects', '{user_id}',
                             aggregate => 'sum', value => 'upvote_count', filter => 'deleted_at IS NULL',
                             create_missing => true, touch => 'updated_at');
SELECT denorm.create_counter('dash_comments', 'user_dashboard_stats', 'comments_received', 'projects', '{user_id}',
                             aggregate => 'sum', value => 'comment_count', filter => 'deleted_at IS NULL',
                             create_missing => true, touch => 'updated_at');
SELECT denorm.create_counter('dash_proof_score', 'user_dashboard_stats', 'proof_score', 'projects', '{user_id}',
                             aggregate => 'sum', value => 'proof_score', filter => 'deleted_at IS NULL',
                             create_missing => true, touch => 'updated_at');
SELECT denorm.create_counter('dash_unread_messages', 'user_dashboard_stats', 'unread_messages', 'messages',
                             '{recipient_id}', filter => 'read_at IS NULL', create_missing => true);
SELECT denorm.create_counter('dash_unread_notifications', 'user_dashboard_stats', 'unread_notifications',
                             'notifications', '{user_id}', filter => 'read_at IS NULL', create_missing => true);
SELECT denorm.create_counter('dash_chains_following', 'user_dashboard_stats', 'chains_following', 'chain_followers',
                             '{user_id}', create_missing => true);

-- ----------------------------------------------------------------------------------------
-- 3. The inbox (the seeds' message_conversations_denorm): one row per user and
--    correspondent, both directions counted, unread for the recipient, the last message of
--    either direction (the newest by created_at, id wins, whatever order rows arrive in).
--    No index on last_message_at: a user's conversations are read through the primary key
--    and sorted (a few dozen rows), and every new message keeps its row update HOT.
-- ----------------------------------------------------------------------------------------
\echo 'denorm.sql: the inbox'
CREATE TABLE message_conversations (
    user_id              bigint NOT NULL,
    other_user_id        bigint NOT NULL,
    total_messages       integer NOT NULL DEFAULT 0,
    unread_count         integer NOT NULL DEFAULT 0,
    last_message_id      bigint,
    last_message_at      timestamptz,
    last_message_preview text,
    PRIMARY KEY (user_id, other_user_id)
);
SELECT denorm.create_counter('conv_sent', 'message_conversations', 'total_messages', 'messages',
       '{sender_id,recipient_id}', target_key => '{user_id,other_user_id}', create_missing => true);
SELECT denorm.create_counter('conv_received', 'message_conversations', 'total_messages', 'messages',
       '{recipient_id,sender_id}', target_key => '{user_id,other_user_id}', create_missing => true);
SELECT denorm.create_counter('conv_unread', 'message_conversations', 'unread_count', 'messages',
       '{recipient_id,sender_id}', target_key => '{user_id,other_user_id}', filter => 'read_at IS NULL',
       create_missing => true);
SELECT denorm.create_latest('conv_last_sent', 'message_conversations',
       '{last_message_id,last_message_at,last_message_preview}', 'messages', '{sender_id,recipient_id}',
       source_values => '{id,created_at,"left(body, 80)"}', order_by => '{created_at,id}',
       target_key => '{user_id,other_user_id}', create_missing => true);
SELECT denorm.create_latest('conv_last_received', 'message_conversations',
       '{last_message_id,last_message_at,last_message_preview}', 'messages', '{recipient_id,sender_id}',
       source_values => '{id,created_at,"left(body, 80)"}', order_by => '{created_at,id}',
       target_key => '{user_id,other_user_id}', create_missing => true);

-- ----------------------------------------------------------------------------------------
-- 4. Intro requests (the seeds' intro_request_stats): received and sent, by status.
-- ----------------------------------------------------------------------------------------
\echo 'denorm.sql: intro requests'
CREATE TABLE intro_request_stats (
    user_id           bigint PRIMARY KEY REFERENCES users,
    received          integer NOT NULL DEFAULT 0,
    received_pending  integer NOT NULL DEFAULT 0,
    received_accepted integer NOT NULL DEFAULT 0,
    sent              integer NOT NULL DEFAULT 0,
    sent_accepted     integer NOT NULL DEFAULT 0
);
SELECT denorm.create_counter('intro_received', 'intro_request_stats', 'received', 'intro_requests',
                             '{target_user_id}', create_missing => true);
SELECT denorm.create_counter('intro_received_pending', 'intro_request_stats', 'received_pending', 'intro_requests',
                             '{target_user_id}', filter => $$status = 'pending'$$, create_missing => true);
SELECT denorm.create_counter('intro_received_accepted', 'intro_request_stats', 'received_accepted', 'intro_requests',
                             '{target_user_id}', filter => $$status = 'accepted'$$, create_missing => true);
SELECT denorm.create_counter('intro_sent', 'intro_request_stats', 'sent', 'intro_requests',
                             '{requester_id}', create_missing => true);
SELECT denorm.create_counter('intro_sent_accepted', 'intro_request_stats', 'sent_accepted', 'intro_requests',
                             '{requester_id}', filter => $$status = 'accepted'$$, create_missing => true);

-- ----------------------------------------------------------------------------------------
-- 5. Chains: followers, projects, posts and the last post.
-- ----------------------------------------------------------------------------------------
\echo 'denorm.sql: chains'
ALTER TABLE chains
    ADD COLUMN follower_count    integer NOT NULL DEFAULT 0,
    ADD COLUMN project_count     integer NOT NULL DEFAULT 0,
    ADD COLUMN post_count        integer NOT NULL DEFAULT 0,
    ADD COLUMN last_post_id      bigint,
    ADD COLUMN last_post_at      timestamptz,
    ADD COLUMN last_post_preview text;
SELECT denorm.create_counter('chain_follower_count', 'chains', 'follower_count', 'chain_followers', '{chain_id}');
SELECT denorm.create_counter('chain_project_count', 'chains', 'project_count', 'chain_projects', '{chain_id}');
SELECT denorm.create_counter('chain_post_count', 'chains', 'post_count', 'chain_posts', '{chain_id}');
SELECT denorm.create_latest('chain_last_post', 'chains', '{last_post_id,last_post_at,last_post_preview}',
       'chain_posts', '{chain_id}', source_values => '{id,created_at,"left(body, 80)"}',
       order_by => '{created_at,id}');

-- ----------------------------------------------------------------------------------------
-- 6. Materialized views, refreshed in the background with a debounce (the seeds' queue):
--    a burst of writes is one refresh; none waits longer than max_delay. They read the
--    counters above, not the 2M upvotes, so a refresh costs a scan of projects or users.
--    Each has a unique index, so refreshes run CONCURRENTLY and readers never wait.
-- ----------------------------------------------------------------------------------------
\echo 'denorm.sql: materialized views'

-- The trending feed: the 1,000 hottest live projects, Hacker-News style (activity over age).
CREATE MATERIALIZED VIEW trending_feed AS
SELECT row_number() OVER (ORDER BY score DESC, project_id) AS rank, *
  FROM (SELECT p.id AS project_id, p.title, p.tagline, p.category, u.username, p.upvote_count, p.comment_count,
               p.proof_score, p.created_at,
               (p.upvote_count + 2 * p.comment_count + p.proof_score)
                   / power(extract(epoch FROM now() - p.created_at)::float8 / 3600 + 2, 1.5) AS score
          FROM projects p JOIN users u ON u.id = p.user_id
         WHERE p.deleted_at IS NULL
         ORDER BY score DESC, p.id LIMIT 1000) hot;
CREATE UNIQUE INDEX ON trending_feed (project_id);
CREATE UNIQUE INDEX ON trending_feed (rank);
SELECT denorm.register_mv('trending_feed', debounce => '1 second', max_delay => '5 seconds');

-- The project leaderboard: the 100 most upvoted live projects.
CREATE MATERIALIZED VIEW project_leaderboard AS
SELECT row_number() OVER (ORDER BY upvote_count DESC, project_id) AS rank, *
  FROM (SELECT p.id AS project_id, p.title, u.username, p.upvote_count, p.comment_count, p.proof_score
          FROM projects p JOIN users u ON u.id = p.user_id
         WHERE p.deleted_at IS NULL
         ORDER BY p.upvote_count DESC, p.id LIMIT 100) top;
CREATE UNIQUE INDEX ON project_leaderboard (project_id);
CREATE UNIQUE INDEX ON project_leaderboard (rank);
SELECT denorm.register_mv('project_leaderboard', debounce => '1 second', max_delay => '5 seconds');

-- The builder leaderboard: the 100 builders with the most upvotes on their live projects.
CREATE MATERIALIZED VIEW builder_leaderboard AS
SELECT row_number() OVER (ORDER BY upvotes_received DESC, user_id) AS rank, *
  FROM (SELECT s.user_id, u.username, u.display_name, s.active_projects, s.upvotes_received, s.proof_score
          FROM user_dashboard_stats s JOIN users u ON u.id = s.user_id
         WHERE u.deleted_at IS NULL
         ORDER BY s.upvotes_received DESC, s.user_id LIMIT 100) top;
CREATE UNIQUE INDEX ON builder_leaderboard (user_id);
CREATE UNIQUE INDEX ON builder_leaderboard (rank);
SELECT denorm.register_mv('builder_leaderboard', debounce => '1 second', max_delay => '5 seconds');

-- The chains list: every chain, most followed first.
CREATE MATERIALIZED VIEW chains_list AS
SELECT row_number() OVER (ORDER BY c.follower_count DESC, c.id) AS rank, c.id AS chain_id, c.name, u.username AS owner,
       c.follower_count, c.project_count, c.post_count, c.last_post_at, c.last_post_preview
  FROM chains c JOIN users u ON u.id = c.owner_id;
CREATE UNIQUE INDEX ON chains_list (chain_id);
CREATE UNIQUE INDEX ON chains_list (rank);
SELECT denorm.register_mv('chains_list', debounce => '1 second', max_delay => '5 seconds');

-- Admin stats: one row of platform totals, from the counters (a sum over 200,000 projects,
-- not a count over 2,000,000 upvotes). Fresh within a minute is enough here.
CREATE MATERIALIZED VIEW admin_stats AS
SELECT 1 AS id,
       (SELECT count(*) FROM users WHERE deleted_at IS NULL) AS users,
       (SELECT count(*) FROM users WHERE created_at > now() - interval '7 days') AS signups_7d,
       (SELECT count(*) FROM projects WHERE deleted_at IS NULL) AS live_projects,
       (SELECT count(*) FROM projects WHERE created_at > now() - interval '7 days') AS projects_7d,
       (SELECT sum(upvote_count) FROM projects) AS upvotes,
       (SELECT sum(comment_count) FROM projects) AS comments,
       (SELECT sum(total_messages) / 2 FROM message_conversations) AS messages,   -- each in both rows
       (SELECT sum(received_pending) FROM intro_request_stats) AS pending_intros,
       (SELECT sum(follower_count) FROM chains) AS chain_follows,
       (SELECT sum(investor_interest) FROM projects) AS open_investor_requests;
CREATE UNIQUE INDEX ON admin_stats (id);
SELECT denorm.register_mv('admin_stats', debounce => '5 seconds', max_delay => '1 minute');

-- ----------------------------------------------------------------------------------------
-- 7. Search (the seeds' search-index view): documents kept in step in the writer's
--    transaction, full text plus trigram typo tolerance on titles. Validated projects
--    rank a little higher (boost from the proof score).
-- ----------------------------------------------------------------------------------------
\echo 'denorm.sql: search sources'
SELECT denorm.create_search_source('projects', 'projects', title => 'title',
       body => $$tagline || ' ' || description || ' ' || category$$, filter => 'deleted_at IS NULL',
       boost => 'ln(1 + proof_score) / 20');
SELECT denorm.create_search_source('builders', 'users', title => 'display_name',
       body => $$username || ' ' || bio$$, filter => 'deleted_at IS NULL');
SELECT denorm.create_search_source('chains', 'chains', title => 'name', body => 'description');

-- ----------------------------------------------------------------------------------------
-- 8. Redis (where the seeds INCRed by hand): the committed upvote count of each project in
--    the hash denorm:project_upvotes, field = project id, sent after commit by the worker.
--    Only when denorm.redis_url is set: otherwise the entries would wait in the outbox.
-- ----------------------------------------------------------------------------------------
\echo 'denorm.sql: Redis'
SELECT coalesce(current_setting('denorm.redis_url', true), '') <> '' AS have_redis \gset
\if :have_redis
SELECT denorm.publish_counter('project_upvotes');
\else
\echo 'denorm.sql: denorm.redis_url is not set, so project_upvotes is not published to Redis (README)'
\endif

-- ----------------------------------------------------------------------------------------
-- 9. The nightly recount, as a safety net for writes that bypass triggers (a restore with
--    --disable-triggers, session_replication_role = replica). Needs pg_cron in this
--    database (schedule_reconcile's HINT gives the call to run elsewhere):
-- SELECT denorm.schedule_reconcile('0 3 * * *');
-- ----------------------------------------------------------------------------------------
ANALYZE projects, chains, user_dashboard_stats, message_conversations, intro_request_stats;
\o
