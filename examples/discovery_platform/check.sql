-- check.sql — every value denorm.sql maintains, against a recount from the normalized
-- tables written out here (not denorm.reconcile, which would be denorm checking itself).
-- One row per maintained column: what, rows compared, rows that differ.
--
-- Run it once the writers stopped. The materialized views are compared with their own
-- query, so refresh them first (the benchmark waits until denorm.mv_status shows nothing
-- pending); trending_feed's rows depend on now(), so only its copied figures are compared
-- with the projects they show. A dashboard, conversation or intro row that is missing
-- where every expected value is 0 counts as right (the pages read it as 0); missing with a
-- non-zero value, it counts as a mismatch.
\set ON_ERROR_STOP on

CREATE TEMP VIEW check_projects AS
WITH up AS (SELECT project_id, count(*) AS n FROM upvotes GROUP BY 1),
     co AS (SELECT project_id, count(*) AS n FROM comments WHERE deleted_at IS NULL GROUP BY 1),
     ba AS (SELECT project_id, count(*) AS n, sum(points) AS pts FROM validation_badges GROUP BY 1),
     ir AS (SELECT project_id, count(*) AS n FROM investor_requests WHERE status = 'open' GROUP BY 1)
SELECT p.id, p.user_id, p.deleted_at, p.upvote_count, p.comment_count, p.badge_count, p.proof_score,
       p.investor_interest, coalesce(up.n, 0) AS x_upvotes, coalesce(co.n, 0) AS x_comments,
       coalesce(ba.n, 0) AS x_badges, coalesce(ba.pts, 0) AS x_proof, coalesce(ir.n, 0) AS x_interest
  FROM projects p LEFT JOIN up ON up.project_id = p.id LEFT JOIN co ON co.project_id = p.id
  LEFT JOIN ba ON ba.project_id = p.id LEFT JOIN ir ON ir.project_id = p.id;

-- What user_dashboard_stats should hold, per user with any value (from the raw tables:
-- upvotes, comments and badges of the user's live projects, not the project counters).
CREATE TEMP VIEW check_dashboard AS
WITH pr AS (SELECT p.user_id, count(*) AS n, count(*) FILTER (WHERE p.deleted_at IS NULL) AS live,
                   sum(x_upvotes) FILTER (WHERE p.deleted_at IS NULL) AS up,
                   sum(x_comments) FILTER (WHERE p.deleted_at IS NULL) AS co,
                   sum(x_proof) FILTER (WHERE p.deleted_at IS NULL) AS pts
              FROM check_projects p GROUP BY 1),
     um AS (SELECT recipient_id AS user_id, count(*) AS n FROM messages WHERE read_at IS NULL GROUP BY 1),
     un AS (SELECT user_id, count(*) AS n FROM notifications WHERE read_at IS NULL GROUP BY 1),
     cf AS (SELECT user_id, count(*) AS n FROM chain_followers GROUP BY 1),
     x AS (SELECT u.id AS user_id, coalesce(pr.n, 0) AS project_count, coalesce(pr.live, 0) AS active_projects,
                  coalesce(pr.up, 0) AS upvotes_received, coalesce(pr.co, 0) AS comments_received,
                  coalesce(pr.pts, 0) AS proof_score, coalesce(um.n, 0) AS unread_messages,
                  coalesce(un.n, 0) AS unread_notifications, coalesce(cf.n, 0) AS chains_following
             FROM users u LEFT JOIN pr ON pr.user_id = u.id LEFT JOIN um ON um.user_id = u.id
             LEFT JOIN un ON un.user_id = u.id LEFT JOIN cf ON cf.user_id = u.id)
SELECT x.*, s.user_id IS NOT NULL AS has_row, s.project_count AS s_project_count,
       s.active_projects AS s_active_projects, s.upvotes_received AS s_upvotes_received,
       s.comments_received AS s_comments_received, s.proof_score AS s_proof_score,
       s.unread_messages AS s_unread_messages, s.unread_notifications AS s_unread_notifications,
       s.chains_following AS s_chains_following
  FROM x LEFT JOIN user_dashboard_stats s ON s.user_id = x.user_id;

-- What message_conversations should hold: a row per (user, correspondent) with messages; a
-- row whose messages were all deleted may stay, with 0 and NULLs.
CREATE TEMP VIEW check_conversations AS
WITH m AS (SELECT sender_id AS u, recipient_id AS o, id, created_at, body, false AS incoming, read_at FROM messages
           UNION ALL
           SELECT recipient_id, sender_id, id, created_at, body, true, read_at FROM messages),
     r AS (SELECT u, o, count(*) AS total, count(*) FILTER (WHERE incoming AND read_at IS NULL) AS unread FROM m GROUP BY u, o),
     l AS (SELECT DISTINCT ON (u, o) u, o, id, created_at, left(body, 80) AS preview FROM m ORDER BY u, o, created_at DESC, id DESC)
SELECT r.u, r.o, r.total, r.unread, l.id, l.created_at, l.preview, c.user_id IS NOT NULL AS has_row,
       c.total_messages, c.unread_count, c.last_message_id, c.last_message_at, c.last_message_preview
  FROM r JOIN l USING (u, o)
  FULL JOIN message_conversations c ON (c.user_id, c.other_user_id) = (r.u, r.o);

CREATE TEMP VIEW check_intros AS
WITH rcv AS (SELECT target_user_id AS user_id, count(*) AS n, count(*) FILTER (WHERE status = 'pending') AS pending,
                    count(*) FILTER (WHERE status = 'accepted') AS accepted FROM intro_requests GROUP BY 1),
     snt AS (SELECT requester_id AS user_id, count(*) AS n, count(*) FILTER (WHERE status = 'accepted') AS accepted
               FROM intro_requests GROUP BY 1)
SELECT u.id, coalesce(rcv.n, 0) AS received, coalesce(rcv.pending, 0) AS received_pending,
       coalesce(rcv.accepted, 0) AS received_accepted, coalesce(snt.n, 0) AS sent,
       coalesce(snt.accepted, 0) AS sent_accepted, s.user_id IS NOT NULL AS has_row, s.received AS s_received,
       s.received_pending AS s_received_pending, s.received_accepted AS s_received_accepted, s.sent AS s_sent,
       s.sent_accepted AS s_sent_accepted
  FROM users u LEFT JOIN rcv ON rcv.user_id = u.id LEFT JOIN snt ON snt.user_id = u.id
  LEFT JOIN intro_request_stats s ON s.user_id = u.id;

CREATE TEMP VIEW check_chains AS
WITH f AS (SELECT chain_id, count(*) AS n FROM chain_followers GROUP BY 1),
     cp AS (SELECT chain_id, count(*) AS n FROM chain_projects GROUP BY 1),
     po AS (SELECT chain_id, count(*) AS n FROM chain_posts GROUP BY 1),
     lp AS (SELECT DISTINCT ON (chain_id) chain_id, id, created_at, left(body, 80) AS preview FROM chain_posts
             ORDER BY chain_id, created_at DESC, id DESC)
SELECT c.*, coalesce(f.n, 0) AS x_followers, coalesce(cp.n, 0) AS x_projects, coalesce(po.n, 0) AS x_posts,
       lp.id AS x_last_id, lp.created_at AS x_last_at, lp.preview AS x_last_preview
  FROM chains c LEFT JOIN f ON f.chain_id = c.id LEFT JOIN cp ON cp.chain_id = c.id LEFT JOIN po ON po.chain_id = c.id
  LEFT JOIN lp ON lp.chain_id = c.id;

-- A registered view against its own query, both ways (EXCEPT ALL).
CREATE FUNCTION pg_temp.view_differs(mv regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE q text := pg_get_viewdef(mv); n bigint;
BEGIN
    q := rtrim(q, '; ');
    EXECUTE format('SELECT count(*) FROM ((TABLE %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL TABLE %s)) d', mv, q, q, mv)
       INTO n;
    RETURN n;
END $$;

CREATE FUNCTION pg_temp.view_rows(mv regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s', mv) INTO n;
    RETURN n;
END $$;

\pset footer off
SELECT 'projects.' || c AS check, count(*) AS checked, count(*) FILTER (WHERE bad) AS mismatches
  FROM check_projects, LATERAL (VALUES ('upvote_count', upvote_count <> x_upvotes),
                                       ('comment_count', comment_count <> x_comments),
                                       ('badge_count', badge_count <> x_badges),
                                       ('proof_score', proof_score <> x_proof),
                                       ('investor_interest', investor_interest <> x_interest)) v(c, bad)
 GROUP BY c
UNION ALL
SELECT 'user_dashboard_stats.' || c, count(*), count(*) FILTER (WHERE bad)
  FROM check_dashboard, LATERAL (VALUES
        ('project_count', coalesce(s_project_count, 0) <> project_count),
        ('active_projects', coalesce(s_active_projects, 0) <> active_projects),
        ('upvotes_received', coalesce(s_upvotes_received, 0) <> upvotes_received),
        ('comments_received', coalesce(s_comments_received, 0) <> comments_received),
        ('proof_score', coalesce(s_proof_score, 0) <> proof_score),
        ('unread_messages', coalesce(s_unread_messages, 0) <> unread_messages),
        ('unread_notifications', coalesce(s_unread_notifications, 0) <> unread_notifications),
        ('chains_following', coalesce(s_chains_following, 0) <> chains_following)) v(c, bad)
 GROUP BY c
UNION ALL
SELECT 'message_conversations.' || c, count(*), count(*) FILTER (WHERE bad)
  FROM check_conversations, LATERAL (VALUES
        ('row present', u IS NOT NULL AND NOT has_row),
        ('total_messages', has_row AND total_messages IS DISTINCT FROM coalesce(total, 0)),
        ('unread_count', has_row AND unread_count IS DISTINCT FROM coalesce(unread, 0)),
        ('last_message_*', has_row AND (last_message_id, last_message_at, last_message_preview)
                                       IS DISTINCT FROM (id, created_at, preview)))
        v(c, bad)
 GROUP BY c
UNION ALL
SELECT 'intro_request_stats.' || c, count(*), count(*) FILTER (WHERE bad)
  FROM check_intros, LATERAL (VALUES
        ('received', coalesce(s_received, 0) <> received),
        ('received_pending', coalesce(s_received_pending, 0) <> received_pending),
        ('received_accepted', coalesce(s_received_accepted, 0) <> received_accepted),
        ('sent', coalesce(s_sent, 0) <> sent),
        ('sent_accepted', coalesce(s_sent_accepted, 0) <> sent_accepted)) v(c, bad)
 GROUP BY c
UNION ALL
SELECT 'chains.' || c, count(*), count(*) FILTER (WHERE bad)
  FROM check_chains, LATERAL (VALUES
        ('follower_count', follower_count <> x_followers),
        ('project_count', project_count <> x_projects),
        ('post_count', post_count <> x_posts),
        ('last_post_*', (last_post_id, last_post_at, last_post_preview) IS DISTINCT FROM (x_last_id, x_last_at, x_last_preview)))
        v(c, bad)
 GROUP BY c
UNION ALL
-- Search documents: one per live project, user and chain, with its title, body and boost.
SELECT 'search_documents.' || s, count(*), count(*) FILTER (WHERE bad)
  FROM (SELECT 'projects' AS s,
               CASE WHEN p.id IS NULL THEN true
                    WHEN p.deleted_at IS NOT NULL THEN d.doc_key IS NOT NULL
                    ELSE d.doc_key IS NULL
                      OR (d.title, d.body) IS DISTINCT FROM (p.title, p.tagline || ' ' || p.description || ' ' || p.category)
                      OR abs(d.boost - ln(1 + p.proof_score) / 20) > 1e-6 END AS bad
          FROM projects p FULL JOIN (SELECT * FROM denorm.search_documents WHERE source = 'projects') d
            ON d.doc_key = p.id::text
        UNION ALL
        SELECT 'builders',
               CASE WHEN u.id IS NULL THEN true
                    WHEN u.deleted_at IS NOT NULL THEN d.doc_key IS NOT NULL
                    ELSE d.doc_key IS NULL
                      OR (d.title, d.body) IS DISTINCT FROM (u.display_name, u.username || ' ' || u.bio) END
          FROM users u FULL JOIN (SELECT * FROM denorm.search_documents WHERE source = 'builders') d
            ON d.doc_key = u.id::text
        UNION ALL
        SELECT 'chains', d.doc_key IS NULL OR c.id IS NULL OR (d.title, d.body) IS DISTINCT FROM (c.name, c.description)
          FROM chains c FULL JOIN (SELECT * FROM denorm.search_documents WHERE source = 'chains') d
            ON d.doc_key = c.id::text) x
 GROUP BY s
UNION ALL
SELECT 'view ' || v, pg_temp.view_rows(v::regclass), pg_temp.view_differs(v::regclass)
  FROM unnest('{project_leaderboard,builder_leaderboard,chains_list,admin_stats}'::text[]) v
UNION ALL
SELECT 'view trending_feed (figures)', count(*),
       count(*) FILTER (WHERE (t.upvote_count, t.comment_count, t.proof_score, t.title, t.username)
                              IS DISTINCT FROM (p.upvote_count, p.comment_count, p.proof_score, p.title, u.username)
                           OR p.deleted_at IS NOT NULL)
  FROM trending_feed t JOIN projects p ON p.id = t.project_id JOIN users u ON u.id = p.user_id
 ORDER BY 1;
