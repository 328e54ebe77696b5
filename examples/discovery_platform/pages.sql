-- pages.sql — each page of the discovery platform as the queries the application runs
-- for it: "before" on the normalized tables of schema.sql (joins and COUNTs, what the
-- seeds ran before they denormalized), "after" on what denorm.sql declares (counter
-- columns, conversation rows, registered materialized views, search documents). A page
-- is every statement between its "-- @page NAME before|after" line and the next one.
--
-- Runs as is in psql (\set below gives the parameters; \timing on to see the times), and
-- bench/platform.sh cuts it at the @page lines into pgbench scripts, with its own \set
-- lines drawing the parameters. Parameters: :user_id (the signed-in user: dashboard,
-- inbox), :viewer_id (who looks at a project page), :project_id, :term (which of the
-- search box queries below, 1..10).
--
-- Before and after return the same rows (bench/platform.sh compares them on a quiet
-- database), with two exceptions that are the point of the change: the materialized
-- views lag the tables by up to their max_delay, and search ranks with denorm's
-- documents (typo tolerance, the proof-score boost) rather than the ad-hoc full text.
\set user_id 4242
\set viewer_id 77
\set project_id 18
\set term 1

-- @page feed before
-- The trending feed, first page: activity (upvotes + 2 x live comments + proof score) over
-- age, counted over every project on each request.
SELECT p.id AS project_id, p.title, p.tagline, p.category, u.username,
       coalesce(up.n, 0) AS upvote_count, coalesce(c.n, 0) AS comment_count, coalesce(b.points, 0) AS proof_score,
       (coalesce(up.n, 0) + 2 * coalesce(c.n, 0) + coalesce(b.points, 0))
           / power(extract(epoch FROM now() - p.created_at)::float8 / 3600 + 2, 1.5) AS score
  FROM projects p
  JOIN users u ON u.id = p.user_id
  LEFT JOIN (SELECT project_id, count(*) AS n FROM upvotes GROUP BY project_id) up ON up.project_id = p.id
  LEFT JOIN (SELECT project_id, count(*) AS n FROM comments WHERE deleted_at IS NULL GROUP BY project_id) c
         ON c.project_id = p.id
  LEFT JOIN (SELECT project_id, sum(points) AS points FROM validation_badges GROUP BY project_id) b ON b.project_id = p.id
 WHERE p.deleted_at IS NULL
 ORDER BY score DESC, p.id
 LIMIT 20;

-- @page feed after
SELECT project_id, title, tagline, category, username, upvote_count, comment_count, proof_score, score
  FROM trending_feed
 WHERE rank <= 20
 ORDER BY rank;

-- @page project_leaderboard before
-- The 100 most upvoted live projects, with their live comments and proof score.
SELECT t.project_id, p.title, u.username, t.upvote_count,
       (SELECT count(*) FROM comments c WHERE c.project_id = p.id AND c.deleted_at IS NULL) AS comment_count,
       (SELECT coalesce(sum(points), 0) FROM validation_badges b WHERE b.project_id = p.id) AS proof_score
  FROM (SELECT up.project_id, count(*) AS upvote_count
          FROM upvotes up JOIN projects p ON p.id = up.project_id
         WHERE p.deleted_at IS NULL
         GROUP BY up.project_id
         ORDER BY count(*) DESC, up.project_id
         LIMIT 100) t
  JOIN projects p ON p.id = t.project_id
  JOIN users u ON u.id = p.user_id
 ORDER BY t.upvote_count DESC, t.project_id;

-- @page project_leaderboard after
SELECT project_id, title, username, upvote_count, comment_count, proof_score
  FROM project_leaderboard
 ORDER BY rank;

-- @page builder_leaderboard before
-- The 100 builders with the most upvotes on their live projects, with their live project
-- count and proof score.
SELECT t.user_id, u.username, u.display_name,
       (SELECT count(*) FROM projects p WHERE p.user_id = t.user_id AND p.deleted_at IS NULL) AS active_projects,
       t.upvotes_received,
       (SELECT coalesce(sum(b.points), 0) FROM validation_badges b JOIN projects p ON p.id = b.project_id
         WHERE p.user_id = t.user_id AND p.deleted_at IS NULL) AS proof_score
  FROM (SELECT p.user_id, count(*) AS upvotes_received
          FROM upvotes up JOIN projects p ON p.id = up.project_id JOIN users u ON u.id = p.user_id
         WHERE p.deleted_at IS NULL AND u.deleted_at IS NULL
         GROUP BY p.user_id
         ORDER BY count(*) DESC, p.user_id
         LIMIT 100) t
  JOIN users u ON u.id = t.user_id
 ORDER BY t.upvotes_received DESC, t.user_id;

-- @page builder_leaderboard after
SELECT user_id, username, display_name, active_projects, upvotes_received, proof_score
  FROM builder_leaderboard
 ORDER BY rank;

-- @page dashboard before
-- The signed-in builder's dashboard: their figures, then their ten newest projects.
SELECT u.id, u.username, u.display_name,
       (SELECT count(*) FROM projects p WHERE p.user_id = u.id) AS project_count,
       (SELECT count(*) FROM projects p WHERE p.user_id = u.id AND p.deleted_at IS NULL) AS active_projects,
       (SELECT count(*) FROM upvotes up JOIN projects p ON p.id = up.project_id
         WHERE p.user_id = u.id AND p.deleted_at IS NULL) AS upvotes_received,
       (SELECT count(*) FROM comments c JOIN projects p ON p.id = c.project_id
         WHERE p.user_id = u.id AND p.deleted_at IS NULL AND c.deleted_at IS NULL) AS comments_received,
       (SELECT coalesce(sum(b.points), 0) FROM validation_badges b JOIN projects p ON p.id = b.project_id
         WHERE p.user_id = u.id AND p.deleted_at IS NULL) AS proof_score,
       (SELECT count(*) FROM messages m WHERE m.recipient_id = u.id AND m.read_at IS NULL) AS unread_messages,
       (SELECT count(*) FROM notifications n WHERE n.user_id = u.id AND n.read_at IS NULL) AS unread_notifications,
       (SELECT count(*) FROM chain_followers f WHERE f.user_id = u.id) AS chains_following,
       (SELECT count(*) FROM intro_requests i WHERE i.target_user_id = u.id AND i.status = 'pending')
           AS pending_intro_requests
  FROM users u
 WHERE u.id = :user_id;
SELECT p.id, p.title, p.created_at, p.deleted_at IS NOT NULL AS deleted,
       (SELECT count(*) FROM upvotes up WHERE up.project_id = p.id) AS upvote_count,
       (SELECT count(*) FROM comments c WHERE c.project_id = p.id AND c.deleted_at IS NULL) AS comment_count,
       (SELECT coalesce(sum(points), 0) FROM validation_badges b WHERE b.project_id = p.id) AS proof_score
  FROM projects p
 WHERE p.user_id = :user_id
 ORDER BY p.created_at DESC
 LIMIT 10;

-- @page dashboard after
SELECT u.id, u.username, u.display_name,
       coalesce(s.project_count, 0) AS project_count, coalesce(s.active_projects, 0) AS active_projects,
       coalesce(s.upvotes_received, 0) AS upvotes_received, coalesce(s.comments_received, 0) AS comments_received,
       coalesce(s.proof_score, 0) AS proof_score, coalesce(s.unread_messages, 0) AS unread_messages,
       coalesce(s.unread_notifications, 0) AS unread_notifications,
       coalesce(s.chains_following, 0) AS chains_following,
       coalesce(i.received_pending, 0) AS pending_intro_requests
  FROM users u
  LEFT JOIN user_dashboard_stats s ON s.user_id = u.id
  LEFT JOIN intro_request_stats i ON i.user_id = u.id
 WHERE u.id = :user_id;
SELECT p.id, p.title, p.created_at, p.deleted_at IS NOT NULL AS deleted, p.upvote_count, p.comment_count, p.proof_score
  FROM projects p
 WHERE p.user_id = :user_id
 ORDER BY p.created_at DESC
 LIMIT 10;

-- @page inbox before
-- The signed-in user's conversations, most recent first: the correspondent, how many
-- messages, how many unread, the last message of either direction.
SELECT m.other_user_id, u.username, count(*) AS total_messages,
       count(*) FILTER (WHERE m.incoming AND m.read_at IS NULL) AS unread_count,
       (array_agg(m.id ORDER BY m.created_at DESC, m.id DESC))[1] AS last_message_id,
       max(m.created_at) AS last_message_at,
       (array_agg(left(m.body, 80) ORDER BY m.created_at DESC, m.id DESC))[1] AS last_message_preview
  FROM (SELECT recipient_id AS other_user_id, id, created_at, body, false AS incoming, read_at
          FROM messages WHERE sender_id = :user_id
        UNION ALL
        SELECT sender_id, id, created_at, body, true, read_at
          FROM messages WHERE recipient_id = :user_id) m
  JOIN users u ON u.id = m.other_user_id
 GROUP BY m.other_user_id, u.username
 ORDER BY last_message_at DESC, last_message_id DESC
 LIMIT 20;

-- @page inbox after
SELECT c.other_user_id, u.username, c.total_messages, c.unread_count, c.last_message_id, c.last_message_at,
       c.last_message_preview
  FROM message_conversations c
  JOIN users u ON u.id = c.other_user_id
 WHERE c.user_id = :user_id
 ORDER BY c.last_message_at DESC, c.last_message_id DESC
 LIMIT 20;

-- @page chains before
-- The chains list, first page: most followed first, with projects, posts and the last post.
SELECT c.id AS chain_id, c.name, u.username AS owner, coalesce(f.n, 0) AS follower_count,
       coalesce(cp.n, 0) AS project_count, coalesce(po.n, 0) AS post_count, lp.created_at AS last_post_at,
       left(lp.body, 80) AS last_post_preview
  FROM chains c
  JOIN users u ON u.id = c.owner_id
  LEFT JOIN (SELECT chain_id, count(*) AS n FROM chain_followers GROUP BY chain_id) f ON f.chain_id = c.id
  LEFT JOIN (SELECT chain_id, count(*) AS n FROM chain_projects GROUP BY chain_id) cp ON cp.chain_id = c.id
  LEFT JOIN (SELECT chain_id, count(*) AS n FROM chain_posts GROUP BY chain_id) po ON po.chain_id = c.id
  LEFT JOIN LATERAL (SELECT created_at, body FROM chain_posts WHERE chain_id = c.id
                      ORDER BY created_at DESC, id DESC LIMIT 1) lp ON true
 ORDER BY follower_count DESC, c.id
 LIMIT 50;

-- @page chains after
SELECT chain_id, name, owner, follower_count, project_count, post_count, last_post_at, last_post_preview
  FROM chains_list
 WHERE rank <= 50
 ORDER BY rank;

-- @page project before
-- A project's page: the project with its figures and whether the viewer upvoted it, its
-- 20 newest comments, the chains it is in with their followers.
SELECT p.id, p.title, p.tagline, p.description, p.category, p.created_at, u.username, u.display_name,
       (SELECT count(*) FROM upvotes up WHERE up.project_id = p.id) AS upvote_count,
       (SELECT count(*) FROM comments c WHERE c.project_id = p.id AND c.deleted_at IS NULL) AS comment_count,
       (SELECT count(*) FROM validation_badges b WHERE b.project_id = p.id) AS badge_count,
       (SELECT coalesce(sum(points), 0) FROM validation_badges b WHERE b.project_id = p.id) AS proof_score,
       (SELECT count(*) FROM investor_requests r WHERE r.project_id = p.id AND r.status = 'open') AS investor_interest,
       EXISTS (SELECT 1 FROM upvotes up WHERE up.project_id = p.id AND up.user_id = :viewer_id) AS upvoted
  FROM projects p JOIN users u ON u.id = p.user_id
 WHERE p.id = :project_id;
SELECT c.id, c.body, c.created_at, u.username
  FROM comments c JOIN users u ON u.id = c.user_id
 WHERE c.project_id = :project_id AND c.deleted_at IS NULL
 ORDER BY c.created_at DESC
 LIMIT 20;
SELECT ch.id, ch.name, (SELECT count(*) FROM chain_followers f WHERE f.chain_id = ch.id) AS follower_count
  FROM chain_projects cp JOIN chains ch ON ch.id = cp.chain_id
 WHERE cp.project_id = :project_id
 ORDER BY follower_count DESC, ch.id;

-- @page project after
SELECT p.id, p.title, p.tagline, p.description, p.category, p.created_at, u.username, u.display_name,
       p.upvote_count, p.comment_count, p.badge_count, p.proof_score, p.investor_interest,
       EXISTS (SELECT 1 FROM upvotes up WHERE up.project_id = p.id AND up.user_id = :viewer_id) AS upvoted
  FROM projects p JOIN users u ON u.id = p.user_id
 WHERE p.id = :project_id;
SELECT c.id, c.body, c.created_at, u.username
  FROM comments c JOIN users u ON u.id = c.user_id
 WHERE c.project_id = :project_id AND c.deleted_at IS NULL
 ORDER BY c.created_at DESC
 LIMIT 20;
SELECT ch.id, ch.name, ch.follower_count
  FROM chain_projects cp JOIN chains ch ON ch.id = cp.chain_id
 WHERE cp.project_id = :project_id
 ORDER BY ch.follower_count DESC, ch.id;

-- @page search before
-- The search box over projects, builders and chains: full text computed on every request
-- (title weighted above the rest), the 20 best, and the upvotes of the projects found.
SELECT r.source, r.doc_key, r.title, r.score,
       CASE WHEN r.source = 'projects' THEN (SELECT count(*) FROM upvotes up WHERE up.project_id = r.doc_key::bigint) END
           AS upvote_count
  FROM (SELECT 'projects' AS source, p.id::text AS doc_key, p.title, ts_rank(d.doc, q.q) AS score
          FROM projects p,
               LATERAL (SELECT setweight(to_tsvector('english', p.title), 'A')
                               || setweight(to_tsvector('english', p.tagline || ' ' || p.description || ' ' || p.category),
                                            'B') AS doc) d,
               (SELECT websearch_to_tsquery('english', (ARRAY['postgres', 'redis cache', 'vector search', 'climate',
                       'open source', 'game engine', 'payments', 'kubernetes deploy', 'privacy', 'postgress'])[:term]) AS q) q
         WHERE p.deleted_at IS NULL AND d.doc @@ q.q
        UNION ALL
        SELECT 'builders', u.id::text, u.display_name, ts_rank(d.doc, q.q)
          FROM users u,
               LATERAL (SELECT setweight(to_tsvector('english', u.display_name), 'A')
                               || setweight(to_tsvector('english', u.username || ' ' || u.bio), 'B') AS doc) d,
               (SELECT websearch_to_tsquery('english', (ARRAY['postgres', 'redis cache', 'vector search', 'climate',
                       'open source', 'game engine', 'payments', 'kubernetes deploy', 'privacy', 'postgress'])[:term]) AS q) q
         WHERE u.deleted_at IS NULL AND d.doc @@ q.q
        UNION ALL
        SELECT 'chains', c.id::text, c.name, ts_rank(d.doc, q.q)
          FROM chains c,
               LATERAL (SELECT setweight(to_tsvector('english', c.name), 'A')
                               || setweight(to_tsvector('english', c.description), 'B') AS doc) d,
               (SELECT websearch_to_tsquery('english', (ARRAY['postgres', 'redis cache', 'vector search', 'climate',
                       'open source', 'game engine', 'payments', 'kubernetes deploy', 'privacy', 'postgress'])[:term]) AS q) q
         WHERE d.doc @@ q.q) r
 ORDER BY r.score DESC, r.source, r.doc_key
 LIMIT 20;

-- @page search after
SELECT s.source, s.doc_key, s.title, s.score, p.upvote_count
  FROM denorm.search((ARRAY['postgres', 'redis cache', 'vector search', 'climate', 'open source', 'game engine',
                            'payments', 'kubernetes deploy', 'privacy', 'postgress'])[:term],
                     '{projects,builders,chains}', 20) s
  LEFT JOIN projects p ON s.source = 'projects' AND p.id = s.doc_key::bigint;

-- @page admin before
-- The admin overview: platform totals.
SELECT (SELECT count(*) FROM users WHERE deleted_at IS NULL) AS users,
       (SELECT count(*) FROM users WHERE created_at > now() - interval '7 days') AS signups_7d,
       (SELECT count(*) FROM projects WHERE deleted_at IS NULL) AS live_projects,
       (SELECT count(*) FROM projects WHERE created_at > now() - interval '7 days') AS projects_7d,
       (SELECT count(*) FROM upvotes) AS upvotes,
       (SELECT count(*) FROM comments WHERE deleted_at IS NULL) AS comments,
       (SELECT count(*) FROM messages) AS messages,
       (SELECT count(*) FROM intro_requests WHERE status = 'pending') AS pending_intros,
       (SELECT count(*) FROM chain_followers) AS chain_follows,
       (SELECT count(*) FROM investor_requests WHERE status = 'open') AS open_investor_requests;

-- @page admin after
SELECT users, signups_7d, live_projects, projects_7d, upvotes, comments, messages, pending_intros, chain_follows,
       open_investor_requests
  FROM admin_stats;
-- @end
