# 035_mv_requests_in_memory.pl — a writer's refresh request waits in shared memory
# until the worker moves it to denorm._mv_requests (memory_requests.hpp). Nothing
# committed is lost while it is there:
#   with the worker idle (denorm.enabled = off), mv_status shows the request anyway;
#   a crash (a backend killed: postmaster restarts everything) with the request still in
#   memory: after the restart the view is refreshed;
#   the same across a clean restart;
#   a prepared transaction's request is a durable row (it commits elsewhere, later);
#   a worker whose pass fails (here: a function it calls is gone, as when the library
#   is newer than the extension's SQL) logs it and keeps running
#   instead of exiting and being restarted in a tight loop.
# Layer: TAP (PostgreSQL::Test::Cluster, TEMP_CONFIG preloads denorm).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MvTest;

my $node = PostgreSQL::Test::Cluster->new('mv_requests_in_memory');
$node->init;
$node->append_conf('postgresql.conf', qq{
restart_after_crash = on
max_prepared_transactions = 2
denorm.enabled = off
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE item (id int PRIMARY KEY);
CREATE MATERIALIZED VIEW item_count AS SELECT count(*) AS n FROM item;
CREATE UNIQUE INDEX ON item_count (n);
CREATE VIEW item_count_query AS SELECT count(*) AS n FROM item;
SELECT denorm.register_mv('item_count', debounce => '0', max_delay => '0');
});

sub fresh { return 'SELECT ' . view_equals_query($_[0]) . ' AND ' . nothing_pending($_[0]); }

# The worker does nothing while denorm.enabled is off: requests stay in memory.
$node->safe_psql('postgres', 'INSERT INTO item VALUES (1)');
$node->safe_psql('postgres', 'INSERT INTO item VALUES (2)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM denorm._mv_requests}), '0',
   'the requests are not rows yet');
is($node->safe_psql('postgres', q{SELECT pending, requests_pending FROM denorm.mv_status}), 't|2',
   'mv_status counts the two committed requests waiting in memory');

# A crash: a backend killed with SIGKILL makes the postmaster restart everything.
my $victim = $node->background_psql('postgres');
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $victim_pid;
eval { $victim->quit; };
ok($node->poll_query_until('postgres', 'SELECT true'), 'the server is back after the crash');
is($node->safe_psql('postgres', q{SELECT n FROM item_count}), '0', 'the view is still stale');
$node->append_conf('postgresql.conf', "denorm.enabled = on\n");
$node->reload;
ok($node->poll_query_until('postgres', fresh('item_count')),
   'after the crash, the request that was only in memory is not lost: the view is refreshed');

# The same across a clean restart.
$node->append_conf('postgresql.conf', "denorm.enabled = off\n");
$node->reload;
$node->safe_psql('postgres', 'INSERT INTO item VALUES (3)');
is($node->safe_psql('postgres', q{SELECT requests_pending FROM denorm.mv_status}), '1', 'a request in memory');
$node->restart;
is($node->safe_psql('postgres', q{SELECT n FROM item_count}), '2', 'stale before the worker runs');
$node->append_conf('postgresql.conf', "denorm.enabled = on\n");
$node->reload;
ok($node->poll_query_until('postgres', fresh('item_count')), 'refreshed after a clean restart');

# A prepared transaction records a durable row: it may commit in another session.
$node->safe_psql('postgres', q{BEGIN; INSERT INTO item VALUES (4); PREPARE TRANSACTION 'p1';});
$node->safe_psql('postgres', q{COMMIT PREPARED 'p1'});
ok($node->poll_query_until('postgres', fresh('item_count')), 'a prepared and later committed change is refreshed');
is($node->safe_psql('postgres', q{SELECT n FROM item_count}), '4', 'the view counts all four rows');

# A failing pass: the worker logs the error, stays the same process, and retries later.
my $pid = wait_for_worker($node, 0, 'a worker runs');
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{ALTER EXTENSION denorm DROP FUNCTION denorm._mv_pending();
                               DROP FUNCTION denorm._mv_pending();});
$node->safe_psql('postgres', 'INSERT INTO item VALUES (5)');   # wakes it
ok($node->wait_for_log(qr/function denorm._mv_pending\(\) does not exist/, $log_offset),
   'the failing pass is logged');
# The next pass fails the same way, in the same process.
$log_offset = -s $node->logfile;
ok($node->wait_for_log(qr/function denorm._mv_pending\(\) does not exist/, $log_offset),
   'the pass is tried again later');
is($node->safe_psql('postgres', worker_pid_sql()), $pid, 'the worker that failed is still the same process');

$node->stop;
done_testing();
