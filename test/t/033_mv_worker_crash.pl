# 033_mv_worker_crash.pl — the refresh worker dies and comes back, and no requested
# refresh is lost (README "The worker": the launcher restarts a worker that dies, and
# requests survive a crash):
#   SIGTERM while idle with a request pending, and another request made while it is down;
#   SIGTERM in the middle of a refresh (its batch must be refreshed again);
#   SIGKILL in the middle of a refresh, another view pending -> postmaster crash-restart;
#   immediate shutdown with a committed request pending, then start.
# A refresh is paused without a test hook: gated_copy's query takes advisory lock 4242
# in shared mode for each row, so its REFRESH waits while a session holds the lock.
# Layer: TAP (PostgreSQL::Test::Cluster, TEMP_CONFIG preloads denorm).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MvTest;

my $node = PostgreSQL::Test::Cluster->new('mv_worker_crash');
$node->init;
# A long refresh_lock_timeout: the paused refresh waits on purpose (lock_timeout would
# also cut the advisory lock wait short; it would then fail, back off and retry, which
# only makes the test slower).
$node->append_conf('postgresql.conf', qq{
restart_after_crash = on
denorm.refresh_lock_timeout = '10min'
});
$node->start;

# item_count: debounce 3 s, so a request made just before a kill is still pending at the kill.
$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE item (id int PRIMARY KEY);
CREATE MATERIALIZED VIEW item_count AS SELECT count(*) AS n FROM item;
CREATE UNIQUE INDEX ON item_count (n);
CREATE VIEW item_count_query AS SELECT count(*) AS n FROM item;
SELECT denorm.register_mv('item_count', debounce => '3 seconds', max_delay => '3 seconds');

CREATE TABLE gated (id int PRIMARY KEY);
INSERT INTO gated VALUES (1);
CREATE MATERIALIZED VIEW gated_copy AS
  SELECT id FROM gated WHERE pg_advisory_xact_lock_shared(4242) IS NOT NULL;
CREATE UNIQUE INDEX ON gated_copy (id);
CREATE VIEW gated_copy_query AS SELECT id FROM gated;
SELECT denorm.register_mv('gated_copy', debounce => '0', max_delay => '0');
});

sub refreshed_cond { return view_equals_query($_[0]) . ' AND ' . nothing_pending($_[0]); }
sub refreshed_sql { return 'SELECT ' . refreshed_cond($_[0]); }


# Waits for exactly one worker in this database, other than $old; returns its pid.

sub wait_until_refresh_paused
{
    my ($what) = @_;
    ok($node->poll_query_until('postgres', q{SELECT EXISTS (SELECT FROM pg_stat_activity
                                                 WHERE backend_type = 'denorm worker' AND datname = 'postgres'
                                                   AND wait_event_type = 'Lock' AND wait_event = 'advisory')}),
       $what);
}

sub pending
{
    my ($mv) = @_;
    return $node->safe_psql('postgres', "SELECT pending FROM denorm.mv_status WHERE mv = '$mv'::regclass");
}

my $pid = wait_for_worker($node, 0, 'a worker runs for the database');
ok($node->poll_query_until('postgres', 'SELECT ' . refreshed_cond('item_count') . ' AND ' . refreshed_cond('gated_copy')),
   'both views start fresh');

# ---------------------------------------------------------------- SIGTERM while idle
$node->safe_psql('postgres', 'INSERT INTO item VALUES (1)');
is(pending('item_count'), 't', 'a request is pending (debounce 3 s)');
kill 'TERM', $pid;
$node->safe_psql('postgres', 'INSERT INTO item VALUES (2)');    # most likely while no worker runs
$pid = wait_for_worker($node, $pid, 'SIGTERM: the worker is restarted (new pid)');
ok($node->poll_query_until('postgres', refreshed_sql('item_count')),
   'requests made before and after the SIGTERM are refreshed');
is($node->safe_psql('postgres', 'SELECT n FROM item_count'), '2', 'item_count counts both rows');

# ---------------------------------------------------------------- SIGTERM during a refresh
{
    my $locker = $node->background_psql('postgres');
    $locker->query_safe('SELECT pg_advisory_lock(4242)');
    $node->safe_psql('postgres', 'INSERT INTO gated VALUES (2)');
    wait_until_refresh_paused('the worker is inside the refresh of gated_copy, waiting for the lock');
    kill 'TERM', $pid;
    $pid = wait_for_worker($node, $pid, 'SIGTERM during a refresh: the worker is restarted');
    $locker->query_safe('SELECT pg_advisory_unlock(4242)');
    $locker->quit;
    ok($node->poll_query_until('postgres', refreshed_sql('gated_copy')),
       'the interrupted refresh is done again: gated_copy has row 2');
}

# ---------------------------------------------------------------- SIGKILL during a refresh
{
    my $locker = $node->background_psql('postgres');
    $locker->query_safe('SELECT pg_advisory_lock(4242)');
    $node->safe_psql('postgres', 'INSERT INTO gated VALUES (3)');
    wait_until_refresh_paused('the worker is inside the refresh of gated_copy again');
    $node->safe_psql('postgres', 'INSERT INTO item VALUES (3)');
    is(pending('item_count'), 't', 'item_count has a committed request waiting');
    $pid = crash_worker($node, $pid);
    eval { $locker->quit };    # its server process was terminated by the crash restart
    ok($node->poll_query_until('postgres', refreshed_sql('gated_copy')),
       'the refresh killed mid-way is done again after the crash: gated_copy has row 3');
    ok($node->poll_query_until('postgres', refreshed_sql('item_count')),
       'the request committed before the crash is refreshed');
    is($node->safe_psql('postgres', 'SELECT n FROM item_count'), '3', 'item_count counts three rows');
}

# ---------------------------------------------------------------- immediate shutdown
$node->safe_psql('postgres', 'INSERT INTO item VALUES (4)');
is(pending('item_count'), 't', 'a request is pending at the immediate shutdown');
$node->stop('immediate');
$node->start;
$pid = wait_for_worker($node, 0, 'a worker runs after the restart');
ok($node->poll_query_until('postgres', refreshed_sql('item_count')),
   'the request committed before the immediate shutdown is refreshed after the start');
is($node->safe_psql('postgres', 'SELECT n FROM item_count'), '4', 'item_count counts four rows');

$node->stop;
done_testing();
