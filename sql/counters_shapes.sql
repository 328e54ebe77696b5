-- Counters over partitioned sources, composite keys, shared columns and cascades.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS denorm CASCADE;
RESET client_min_messages;
CREATE SCHEMA shapes;
SET search_path = shapes, public;

-- Partitioned source: DML through the root, aimed at a partition, cross-partition
-- moves, a partition created after the counter, TRUNCATE of one partition.
CREATE TABLE boards (id int PRIMARY KEY, posts int NOT NULL DEFAULT 0, score numeric NOT NULL DEFAULT 0);
INSERT INTO boards SELECT generate_series(1, 3);
CREATE TABLE posts (id int, board_id int, region text, points numeric) PARTITION BY LIST (region);
CREATE TABLE posts_eu PARTITION OF posts FOR VALUES IN ('eu');
CREATE TABLE posts_us (points numeric, region text, id int, board_id int);  -- other column order
ALTER TABLE posts ATTACH PARTITION posts_us FOR VALUES IN ('us');
INSERT INTO posts VALUES (1, 1, 'eu', 1.5), (2, 1, 'us', 2.25);
SELECT denorm.create_counter('board_posts', 'boards', 'posts', 'posts', '{board_id}');
SELECT denorm.create_counter('board_score', 'boards', 'score', 'posts', '{board_id}', aggregate => 'sum', value => 'points');
CREATE VIEW board_drift AS
SELECT b.id, b.posts, b.score, (SELECT count(*) FROM posts p WHERE p.board_id = b.id) AS expected_posts,
       (SELECT coalesce(sum(points), 0) FROM posts p WHERE p.board_id = b.id) AS expected_score
  FROM boards b
 WHERE b.posts <> (SELECT count(*) FROM posts p WHERE p.board_id = b.id)
    OR b.score <> (SELECT coalesce(sum(points), 0) FROM posts p WHERE p.board_id = b.id);
SELECT * FROM boards ORDER BY id;
INSERT INTO posts_us VALUES (3.5, 'us', 3, 2);                 -- aimed at a partition
UPDATE posts SET region = 'us', board_id = 3 WHERE id = 1;     -- crosses partitions and keys
UPDATE posts_us SET points = points * 2 WHERE id = 2;
CREATE TABLE posts_asia PARTITION OF posts FOR VALUES IN ('asia');
INSERT INTO posts_asia VALUES (4, 2, 'asia', 10);              -- partition created later
SELECT * FROM boards ORDER BY id;
SELECT * FROM board_drift;
TRUNCATE posts_asia;
SELECT * FROM boards ORDER BY id;
SELECT * FROM board_drift;
DELETE FROM posts_us WHERE id = 3;
SELECT * FROM board_drift;

-- Composite keys and a column shared by two definitions: a conversation row
-- (user_id, other_user_id) counts messages of both directions.
CREATE TABLE messages (id int PRIMARY KEY, sender_id int, recipient_id int, body text);
CREATE TABLE conversations (user_id int, other_user_id int, total_messages int NOT NULL DEFAULT 0,
                            PRIMARY KEY (user_id, other_user_id));
SELECT denorm.create_counter('conv_sent', 'conversations', 'total_messages', 'messages',
                             '{sender_id,recipient_id}', create_missing => true);
SELECT denorm.create_counter('conv_received', 'conversations', 'total_messages', 'messages',
                             '{recipient_id,sender_id}', create_missing => true);
INSERT INTO messages VALUES (1, 10, 20, 'hi'), (2, 20, 10, 'hello'), (3, 10, 20, 'how are you'), (4, 10, 30, 'yo');
SELECT * FROM conversations ORDER BY 1, 2;
UPDATE messages SET recipient_id = 20 WHERE id = 4;
DELETE FROM messages WHERE id = 1;
SELECT * FROM conversations ORDER BY 1, 2;
SELECT c.* FROM conversations c
 WHERE total_messages <> (SELECT count(*) FROM messages m
                           WHERE (m.sender_id, m.recipient_id) IN ((c.user_id, c.other_user_id), (c.other_user_id, c.user_id)));
TRUNCATE messages;
SELECT * FROM conversations ORDER BY 1, 2;

-- Cascade: badges -> projects.proof_score -> users.total_proof_score.
CREATE TABLE users (id int PRIMARY KEY, total_proof_score bigint NOT NULL DEFAULT 0);
CREATE TABLE projects (id int PRIMARY KEY, user_id int, proof_score int NOT NULL DEFAULT 0);
CREATE TABLE badges (id int PRIMARY KEY, project_id int, weight int);
SELECT denorm.create_counter('project_proof', 'projects', 'proof_score', 'badges', '{project_id}',
                             aggregate => 'sum', value => 'weight');
SELECT denorm.create_counter('user_proof', 'users', 'total_proof_score', 'projects', '{user_id}',
                             aggregate => 'sum', value => 'proof_score');
INSERT INTO users VALUES (1), (2);
INSERT INTO badges VALUES (1, 10, 5), (2, 10, 7), (3, 11, 1);   -- before their projects exist
INSERT INTO projects (id, user_id) VALUES (10, 1), (11, 1);     -- start at 12 and 1, and feed user 1
SELECT * FROM projects ORDER BY id;
SELECT * FROM users ORDER BY id;
UPDATE badges SET project_id = 11 WHERE id = 2;
UPDATE projects SET user_id = 2 WHERE id = 11;
DELETE FROM badges WHERE id = 1;
SELECT * FROM projects ORDER BY id;
SELECT * FROM users ORDER BY id;
SELECT u.* FROM users u WHERE total_proof_score <>
       (SELECT coalesce(sum(b.weight), 0) FROM badges b JOIN projects p ON p.id = b.project_id WHERE p.user_id = u.id);

-- Dropping a source table drops its definitions (and the target's trigger with the last one).
DROP TABLE badges;
SELECT name FROM denorm.counters WHERE source = 'projects'::regclass OR target = 'projects'::regclass ORDER BY 1;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'projects'::regclass ORDER BY 1;
