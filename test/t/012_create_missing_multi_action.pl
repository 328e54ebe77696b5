# 012_create_missing_multi_action.pl — INSERT ... ON CONFLICT DO UPDATE and MERGE fire one
# statement trigger per action (UPDATE, DELETE, INSERT), each with its own transition
# tables. When the first of them creates a missing target row (create_missing), the new
# row's initialiser already counts the rows of the other actions of the same statement;
# the later triggers must not add them a second time. Layer: TAP, one session.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('create_missing');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE tag_stats (tag text PRIMARY KEY, n bigint NOT NULL DEFAULT 0, total numeric NOT NULL DEFAULT 0);
CREATE TABLE item (id int PRIMARY KEY, tag text, price numeric);
SELECT denorm.create_counter('item_tag_count', 'tag_stats', 'n', 'item', '{tag}', create_missing => true);
SELECT denorm.create_counter('item_tag_total', 'tag_stats', 'total', 'item', '{tag}', aggregate => 'sum',
                             value => 'price', create_missing => true);
INSERT INTO item VALUES (1, 'x', 1.5), (2, 'x', 2.5), (3, 'x', 4);
});

# The rows of one tag whose stored values differ from a recount (EXCEPT ALL both ways).
sub mismatches
{
    my ($tag) = @_;
    return $node->safe_psql('postgres', qq{
WITH stored AS (SELECT tag, n, total FROM tag_stats WHERE tag = '$tag'),
     recount AS (SELECT t.tag, (SELECT count(*) FROM item i WHERE i.tag = t.tag),
                        (SELECT coalesce(sum(price), 0) FROM item i WHERE i.tag = t.tag)
                   FROM tag_stats t WHERE t.tag = '$tag')
SELECT string_agg(side || ' ' || tag || ': ' || n || ', ' || total, '; ' ORDER BY tag, side) FROM (
    (SELECT 'stored' AS side, * FROM stored EXCEPT ALL SELECT 'stored', * FROM recount)
    UNION ALL (SELECT 'recount', * FROM recount EXCEPT ALL SELECT 'recount', * FROM stored)) m});
}

# Row 1 moves to the new tag y (the UPDATE trigger creates y), row 4 is inserted with y.
$node->safe_psql('postgres', q{
INSERT INTO item VALUES (1, 'y', 1.5), (4, 'y', 8) ON CONFLICT (id) DO UPDATE SET tag = EXCLUDED.tag});
is(mismatches('y'), '', 'ON CONFLICT DO UPDATE and an insert into one new target row');

# MERGE: row 2 is updated into the new tag z, row 5 inserted with z.
$node->safe_psql('postgres', q{
MERGE INTO item t USING (VALUES (2, 'z'), (5, 'z')) s(id, tag) ON t.id = s.id
 WHEN MATCHED THEN UPDATE SET tag = s.tag WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.tag, 16)});
is(mismatches('z'), '', 'MERGE updating and inserting into one new target row');

# MERGE: row 3 is deleted, row 4 updated into the new tag w, row 6 inserted with w.
$node->safe_psql('postgres', q{
MERGE INTO item t USING (VALUES (3, 'x', true), (4, 'w', false), (6, 'w', false)) s(id, tag, del) ON t.id = s.id
 WHEN MATCHED AND s.del THEN DELETE WHEN MATCHED THEN UPDATE SET tag = s.tag
 WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.tag, 32)});
is(mismatches('w'), '', 'MERGE deleting, updating and inserting into one new target row');
is(mismatches('x'), '', 'the old tag x lost its rows');

# The same into a tag_stats row that exists already: plain deltas, nothing created.
$node->safe_psql('postgres', q{
INSERT INTO item VALUES (6, 'x', 32), (7, 'x', 64) ON CONFLICT (id) DO UPDATE SET tag = EXCLUDED.tag});
is(mismatches('x'), '', 'ON CONFLICT DO UPDATE and an insert into an existing target row');

$node->stop;
done_testing();
