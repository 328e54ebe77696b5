# 031_mv_failure.pl — a refresh that fails (README "Materialized views, refreshed in the
# background", Failures): it is logged with its error, the view keeps its old contents,
# the view is retried with exponential backoff (1 s doubling) while its batch stays
# pending, other views go on being refreshed, and once the data is fixed the view
# recovers. refresh_now() of a failing view raises the refresh's own error (SQLSTATE
# intact).
# Layer: TAP (PostgreSQL::Test::Cluster, TEMP_CONFIG preloads denorm, so the worker runs).
# Backoff is checked only from below (an attempt never comes earlier than allowed), so
# a slow machine cannot make the test fail.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MvTest;

my $node = PostgreSQL::Test::Cluster->new('mv_failure');
$node->init;
$node->start;

# reading_avg divides by parts: a row with parts = 0 makes every refresh of it fail.
# reading_sum reads the same table and never fails. debounce 0: due at once.
$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE reading (id int PRIMARY KEY, total int NOT NULL, parts int NOT NULL);
INSERT INTO reading VALUES (1, 10, 2), (2, 9, 3);
CREATE MATERIALIZED VIEW reading_avg AS SELECT id, total / parts AS per_part FROM reading;
CREATE UNIQUE INDEX ON reading_avg (id);
CREATE VIEW reading_avg_query AS SELECT id, total / parts AS per_part FROM reading;
CREATE MATERIALIZED VIEW reading_sum AS SELECT count(*) AS n, sum(total) AS total FROM reading;
CREATE UNIQUE INDEX ON reading_sum (n);
CREATE VIEW reading_sum_query AS SELECT count(*) AS n, sum(total) AS total FROM reading;
SELECT denorm.register_mv('reading_avg', debounce => '0', max_delay => '0');
SELECT denorm.register_mv('reading_sum', debounce => '0', max_delay => '0');
});

sub fresh_sql { return 'SELECT ' . view_equals_query($_[0]); }

settle($node, 'reading_avg', 'reading_sum');
$node->safe_psql('postgres', 'CREATE TABLE reading_avg_before AS TABLE reading_avg');
my $mark = $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM denorm.refresh_log');

# ---------------------------------------------------------------- the failure
$node->safe_psql('postgres', 'INSERT INTO reading VALUES (3, 5, 0)');

# Three attempts: the first at once, then after 1 s, then after 2 s more.
ok($node->poll_query_until('postgres', "SELECT count(*) >= 3 FROM denorm.refresh_log
                                         WHERE mv = 'reading_avg'::regclass AND status = 'failed' AND id > $mark"),
   'the failing refresh is retried');
my @failed = split /\n/, $node->safe_psql('postgres', "
    SELECT error, extract(epoch FROM started_at - lag(started_at) OVER (ORDER BY id))
      FROM denorm.refresh_log
     WHERE mv = 'reading_avg'::regclass AND status = 'failed' AND id > $mark
     ORDER BY id LIMIT 3");
like($failed[0], qr/division by zero/, 'refresh_log keeps the error of the failed refresh');
my (undef, $gap1) = split /\|/, $failed[1];
my (undef, $gap2) = split /\|/, $failed[2];
cmp_ok($gap1, '>=', 0.9, 'the first retry waited about 1 s');
cmp_ok($gap2, '>=', 1.8, 'the second retry waited about 2 s (doubling)');

is($node->safe_psql('postgres', q{SELECT count(*) FROM ((TABLE reading_avg EXCEPT ALL TABLE reading_avg_before)
                                   UNION ALL (TABLE reading_avg_before EXCEPT ALL TABLE reading_avg)) d}),
   '0', 'the view keeps its old contents');

# Polled as one condition: next_attempt_at is in the future between two attempts.
ok($node->poll_query_until('postgres', q{SELECT pending AND last_status = 'failed' AND consecutive_failures >= 2
                                                AND next_attempt_at > now()
                                           FROM denorm.mv_status WHERE mv = 'reading_avg'::regclass}),
   'mv_status: still pending, last_status failed, consecutive_failures grows, next attempt in the future');

# refresh_now of the failing view must not look like a success. The README documents a
# WARNING carrying the error and a NULL result (the failure then stays in refresh_log);
# an ERROR with the refresh's own SQLSTATE (22012) would not look like one either, so
# both are accepted.
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT coalesce(denorm.refresh_now('reading_avg')::text, 'null')},
                                   extra_params => [ '-v', 'VERBOSITY=verbose' ]);
ok(($rc != 0 && $err =~ /ERROR:\s+22012:.*division by zero/s)
     || ($rc == 0 && $out eq 'null' && $err =~ /WARNING:.*division by zero/s),
   'refresh_now of the failing view reports the error (ERROR 22012, or WARNING and NULL)')
  or diag("rc $rc, result '$out', stderr: $err");

# ---------------------------------------------------------------- other views go on
my $other_mark = $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM denorm.refresh_log');
$node->safe_psql('postgres', 'INSERT INTO reading VALUES (4, 8, 4)');
ok($node->poll_query_until('postgres',
       fresh_sql('reading_sum') . " AND EXISTS (SELECT FROM denorm.refresh_log WHERE mv = 'reading_sum'::regclass"
       . " AND status = 'completed' AND id > $other_mark)"),
   'another view of the same table is still refreshed');
is($node->safe_psql('postgres', q{SELECT last_status, consecutive_failures FROM denorm.mv_status
                                   WHERE mv = 'reading_sum'::regclass}),
   'completed|0', 'and its status is healthy');
is($node->safe_psql('postgres', q{SELECT count(*) FROM ((TABLE reading_avg EXCEPT ALL TABLE reading_avg_before)
                                   UNION ALL (TABLE reading_avg_before EXCEPT ALL TABLE reading_avg)) d}),
   '0', 'the failing view still has its old contents');
is($node->safe_psql('postgres', "SELECT count(*) FROM denorm.refresh_log
                                  WHERE mv = 'reading_avg'::regclass AND status = 'completed' AND id > $mark"),
   '0', 'no refresh of the failing view was logged as completed');

# ---------------------------------------------------------------- recovery
$node->safe_psql('postgres', 'UPDATE reading SET parts = 1 WHERE parts = 0');
ok($node->poll_query_until('postgres',
       fresh_sql('reading_avg') . q{ AND (SELECT NOT pending AND last_status = 'completed' AND consecutive_failures = 0
                                            FROM denorm.mv_status WHERE mv = 'reading_avg'::regclass)}),
   'after the data is fixed the view recovers: fresh, completed, consecutive_failures 0');
is($node->safe_psql('postgres', "SELECT status FROM denorm.refresh_log WHERE mv = 'reading_avg'::regclass
                                  ORDER BY id DESC LIMIT 1"),
   'completed', 'the last refresh_log row of the view is completed');

$node->stop;
done_testing();
