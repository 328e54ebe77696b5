# MvTest.pm — SQL conditions and helpers the worker's TAP tests share (views, folds).
# Each test view <mv> has a plain view <mv>_query with the same query, the oracle.
package MvTest;
use strict;
use warnings;
use Test::More;
use Exporter 'import';
our @EXPORT = qw(view_equals_query nothing_pending settle worker_pid_sql wait_for_worker crash_worker);

# The view holds exactly the rows of its query (EXCEPT ALL both ways).
sub view_equals_query
{
    my ($mv) = @_;
    return "NOT EXISTS ((TABLE $mv EXCEPT ALL TABLE ${mv}_query)"
      . " UNION ALL (TABLE ${mv}_query EXCEPT ALL TABLE $mv))";
}

# No change of the view waits for a refresh.
sub nothing_pending
{
    my ($mv) = @_;
    return "(SELECT NOT pending FROM denorm.mv_status WHERE mv = '$mv'::regclass)";
}

# Requests a refresh of each view and waits until one completed after the request and
# nothing is pending, so that everything requested by earlier steps has been refreshed
# and refresh_log counts taken next are stable.
sub settle
{
    my ($node, @mvs) = @_;
    my $since = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
    $node->safe_psql('postgres', join('', map { "SELECT denorm.request_refresh('$_');\n" } @mvs));
    my $cond = join(' AND ', map {
        "EXISTS (SELECT FROM denorm.refresh_log WHERE mv = '$_'::regclass AND status = 'completed'"
          . " AND started_at > '$since') AND " . nothing_pending($_)
    } @mvs);
    ok($node->poll_query_until('postgres', "SELECT $cond"), "settled: refreshes requested so far ran (@mvs)");
}

# The pid of the denorm worker of database postgres (no row when there is none).
sub worker_pid_sql
{
    return q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'denorm worker' AND datname = 'postgres'};
}

# Waits for exactly one worker in database postgres other than $old; returns its pid.
sub wait_for_worker
{
    my ($node, $old, $what) = @_;
    my $sql = worker_pid_sql();
    ok($node->poll_query_until('postgres', "SELECT count(*) = 1 AND bool_and(pid <> $old) FROM ($sql) w"), $what);
    return $node->safe_psql('postgres', $sql) || 0;
}

# SIGKILL of the worker $pid: the postmaster goes through a crash restart (every
# session's server process ends) and starts a new worker, whose pid is returned.
sub crash_worker
{
    my ($node, $pid) = @_;
    my $log_offset = -s $node->logfile;
    kill 'KILL', $pid;
    my $new = wait_for_worker($node, $pid, 'SIGKILL: a worker is back after the crash restart');
    ok($node->log_contains(qr/terminating any other active server processes|all server processes terminated; reinitializing/,
                           $log_offset),
       'the postmaster went through a crash restart');
    return $new;
}

1;
