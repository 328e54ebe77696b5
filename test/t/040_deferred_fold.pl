# 040_deferred_fold.pl — deferred counters folded by the background worker (README
# "Deferred counters for hot keys"):
#   several connections write one hot key of a deferred count and sum at once; the worker
#   folds their deltas without run_pending() and the columns end equal to a recount;
#   a worker terminated (SIGTERM) or killed (SIGKILL -> crash restart) in the middle of a
#   fold loses no delta and counts none twice; with denorm.enabled = off nothing is folded
#   but counter_value() is still exact, and turning it on again folds everything; with
#   create_missing the worker creates the missing target rows.
# A fold is paused without a test hook: a session holding FOR SHARE on the hot target row
# makes the worker's fold wait for that row lock (pg_stat_activity shows the wait).
# Layer: TAP (PostgreSQL::Test::Cluster, denorm preloaded, denorm.fold_interval = 200ms).
# Every wait is a poll with a generous timeout; the only timed check is that nothing is
# folded for a few seconds while denorm.enabled is off.
use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MvTest;

my $node = PostgreSQL::Test::Cluster->new('deferred_fold');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'denorm'
denorm.fold_interval = '200ms'
restart_after_crash = on
log_min_messages = warning
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE item (id int PRIMARY KEY, hits bigint NOT NULL DEFAULT 0, total numeric NOT NULL DEFAULT 0);
CREATE TABLE hit (id bigserial PRIMARY KEY, item_id int, v int NOT NULL);
CREATE INDEX ON hit (item_id);
INSERT INTO item SELECT generate_series(1, 3);
INSERT INTO hit (item_id, v) SELECT 1 + g % 3, g FROM generate_series(1, 30) g;
SELECT denorm.create_counter('item_hits', 'item', 'hits', 'hit', '{item_id}', deferred => true);
SELECT denorm.create_counter('item_total', 'item', 'total', 'hit', '{item_id}', aggregate => 'sum', value => 'v',
                             deferred => true);
CREATE VIEW recount AS
  SELECT i.id, count(h.id) AS hits, coalesce(sum(h.v), 0) AS total FROM item i LEFT JOIN hit h ON h.item_id = i.id GROUP BY i.id;
});

# The columns equal the recount; counter_value() equals the recount; no delta pending.
my $columns_exact = q{SELECT bool_and(i.hits = r.hits AND i.total = r.total) FROM item i JOIN recount r USING (id)};
my $values_exact = q{SELECT bool_and(denorm.counter_value('item_hits', r.id::text) = r.hits
                                     AND denorm.counter_value('item_total', r.id::text) = r.total) FROM recount r};
my $nothing_pending = q{SELECT NOT EXISTS (SELECT FROM denorm._pending_deltas WHERE counter IN ('item_hits', 'item_total'))};
my $pending_count = q{SELECT count(*) FROM denorm._pending_deltas WHERE counter IN ('item_hits', 'item_total')};

# Polls $sql until it returns 't' (errors while the server restarts count as not yet).
sub wait_until
{
    my ($sql, $what, $secs) = @_;
    my $deadline = time + ($secs // 60);
    my $last = '';
    while (time < $deadline)
    {
        my ($rc, $out, $err) = $node->psql('postgres', $sql);
        return ok(1, $what) if $rc == 0 && $out eq 't';
        $last = $rc == 0 ? $out : $err;
        usleep(100_000);
    }
    ok(0, $what);
    diag("last answer of $sql: $last");
    return 0;
}

# Waits for exactly one worker in this database, other than $old; returns its pid.

# The worker is inside a fold, waiting for a row lock.
sub wait_until_fold_waits
{
    my ($what) = @_;
    wait_until(q{SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'denorm worker'
                                  AND datname = 'postgres' AND wait_event_type = 'Lock')}, $what);
}

my $pid = wait_for_worker($node, 0, 'a worker runs for the database');
wait_until($nothing_pending, 'nothing pending after create_counter');
is($node->safe_psql('postgres', $columns_exact), 't', 'create_counter backfilled the columns');

# ---------------------------------------------------------------- concurrent writers
# Four psql connections, each writing its own rows (v / 1000 = writer) of hot item 1:
# inserts, deletes, moves to item 2, value changes, rolled-back and multi-statement
# transactions. They never wait for each other (nobody locks the target row): a lock
# wait longer than lock_timeout would fail the statement and the test.
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $psql = 'psql';
my $writers = 4;
my $rounds = 60;
my @runs;
for my $w (0 .. $writers - 1)
{
    my $own = "item_id = 1 AND v / 1000 = $w";
    my @lines;
    for my $i (1 .. $rounds)
    {
        my $v = 1000 * $w + $i;
        push @lines, "INSERT INTO hit (item_id, v) VALUES (1, $v);";
        push @lines, "DELETE FROM hit WHERE id = (SELECT min(id) FROM hit WHERE $own);" if $i % 3 == 0;
        push @lines, "UPDATE hit SET item_id = 2 WHERE id = (SELECT max(id) FROM hit WHERE $own);" if $i % 5 == 0;
        push @lines, "BEGIN; INSERT INTO hit (item_id, v) VALUES (1, $v), (3, $v); ROLLBACK;" if $i % 7 == 0;
        push @lines, "BEGIN; INSERT INTO hit (item_id, v) VALUES (1, $v), (1, $v); UPDATE hit SET v = v + 1 WHERE id = (SELECT min(id) FROM hit WHERE $own); COMMIT;"
          if $i % 11 == 0;
    }
    my $file = "$tmp/writer$w.sql";
    open my $fh, '>', $file or die "$file: $!";
    print $fh "$_\n" for @lines;
    close $fh;
    local $ENV{PGOPTIONS} = '-c lock_timeout=10s';
    push @runs, {
        w => $w, file => $file,
        h => IPC::Run::start([ $psql, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $file ],
                             '<', \undef, '>', "$file.out", '2>', "$file.err", IPC::Run::timeout(240)) };
}
for my $run (@runs)
{
    my $ok = eval { $run->{h}->finish; 1 };
    ok($ok && $run->{h}->result == 0, "writer $run->{w} ran all its statements without an error")
      or diag(slurp_file("$run->{file}.err"));
}
is($node->safe_psql('postgres', $values_exact), 't', 'after the writers: counter_value() equals the recount');
ok($node->safe_psql('postgres', q{SELECT count(*) FROM hit WHERE v >= 1000}) > 0, 'the writers left rows behind');
wait_until(q{SELECT n_tup_ins > 0 FROM pg_stat_user_tables WHERE relid = 'denorm._pending_deltas'::regclass},
           'the writes appended deltas to denorm._pending_deltas');
wait_until($nothing_pending, 'the worker folded every delta (no run_pending() called)');
is($node->safe_psql('postgres', $columns_exact), 't', 'the columns equal the recount');

# ---------------------------------------------------------------- worker stopped mid-fold
# gate holds FOR SHARE on item 1: the worker's fold of the deltas below waits for it.
{
    my $gate = $node->background_psql('postgres');
    $gate->query_safe('BEGIN; SELECT 1 FROM item WHERE id = 1 FOR SHARE;');
    $node->safe_psql('postgres', q{
INSERT INTO hit (item_id, v) SELECT 1, g FROM generate_series(1, 10) g;
INSERT INTO hit (item_id, v) VALUES (2, 7), (3, 9);
DELETE FROM hit WHERE id = (SELECT min(id) FROM hit WHERE item_id = 1);
});
    wait_until_fold_waits('the worker is inside a fold, waiting for the lock on item 1');
    ok($node->safe_psql('postgres', $pending_count) > 0, 'deltas are pending');
    is($node->safe_psql('postgres', $values_exact), 't', 'counter_value() is exact while they are');

    # SIGTERM (pg_terminate_backend): the fold's transaction is rolled back; the launcher
    # starts a new worker, whose fold waits again.
    $node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
    $pid = wait_for_worker($node, $pid, 'pg_terminate_backend: the worker is restarted (new pid)');
    wait_until_fold_waits('the new worker waits in its fold too');
    ok($node->safe_psql('postgres', $pending_count) > 0, 'the terminated fold left the deltas pending');
    is($node->safe_psql('postgres', $values_exact), 't', 'counter_value() is still exact');

    # SIGKILL: the postmaster restarts every process (the gate session's too).
    $pid = crash_worker($node, $pid);
    eval { $gate->quit };    # its server process was terminated by the crash restart
}
wait_until($nothing_pending, 'after the crash the worker folds the deltas');
is($node->safe_psql('postgres', $columns_exact), 't', 'no delta lost or counted twice: the columns equal the recount');
is($node->safe_psql('postgres', $values_exact), 't', 'counter_value() equals the recount');

# ---------------------------------------------------------------- denorm.enabled = off
$node->safe_psql('postgres', q{ALTER SYSTEM SET denorm.enabled = off; SELECT pg_reload_conf();});
wait_until(q{SELECT current_setting('denorm.enabled') = 'off'}, 'denorm.enabled is off');
sleep(1);    # the worker has read the new setting
my $columns_sql = q{SELECT string_agg(id || ':' || hits || ':' || total, ',' ORDER BY id) FROM item};
my $before = $node->safe_psql('postgres', $columns_sql);
$node->safe_psql('postgres', q{
INSERT INTO hit (item_id, v) SELECT 1 + g % 3, g FROM generate_series(1, 20) g;
UPDATE hit SET item_id = 3 WHERE id IN (SELECT id FROM hit WHERE item_id = 2 ORDER BY id LIMIT 2);
});
my $pending_off = $node->safe_psql('postgres', $pending_count);
ok($pending_off > 0, 'deltas are pending');
sleep(3);    # fifteen fold intervals
is($node->safe_psql('postgres', $pending_count), $pending_off, 'with denorm.enabled = off nothing is folded');
is($node->safe_psql('postgres', $columns_sql), $before, 'the columns are unchanged');
is($node->safe_psql('postgres', $values_exact), 't', 'counter_value() is exact all the same');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET denorm.enabled; SELECT pg_reload_conf();});
wait_until($nothing_pending, 'denorm.enabled back on: the worker folds them');
is($node->safe_psql('postgres', $columns_exact), 't', 'the columns equal the recount');

# ---------------------------------------------------------------- create_missing
# The worker creates the missing target rows (a fold inserts them with the recount minus
# the pending deltas, then adds the deltas).
$node->safe_psql('postgres', q{
CREATE TABLE bucket (b int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
SELECT denorm.create_counter('bucket_hits', 'bucket', 'n', 'hit', '{v}', target_key => '{b}',
                             create_missing => true, deferred => true);
INSERT INTO hit (item_id, v) VALUES (1, 70001), (2, 70001), (3, 70002);
});
{
    my ($rc, $out, $err) = $node->psql('postgres',
        q{SELECT denorm.counter_value('bucket_hits', '70001') || ',' || denorm.counter_value('bucket_hits', '70002')});
    is($out, '2,1', 'counter_value() of a row to be created is the recount') or diag($err);
}
wait_until(q{SELECT NOT EXISTS (SELECT FROM denorm._pending_deltas)}, 'the worker folded the deltas of the missing rows', 30);
is($node->safe_psql('postgres', q{SELECT string_agg(b || ':' || n, ',' ORDER BY b) FROM bucket WHERE b > 70000}),
   '70001:2,70002:1', 'and created the rows with the recount');
is($node->safe_psql('postgres', q{SELECT count(*) FROM bucket b WHERE n <> (SELECT count(*) FROM hit h WHERE h.v = b.b)}),
   '0', 'every bucket equals its recount');
$node->safe_psql('postgres', q{INSERT INTO hit (item_id, v) VALUES (1, 5), (2, 6)});
wait_until($nothing_pending . ' AND (' . $columns_exact . ')', 'the other counters are still folded and exact', 30);

$node->stop;
done_testing();
