# 081_redis_at_least_once.pl — the outbox's at-least-once promise (README "Publishing to
# Redis") in the two failures 080 does not cover, with a real redis-server started by this
# test (loopback, free port, password, append-only file, as in 080):
#   1. the worker SIGKILLed between sending a batch and deleting it: the postmaster's crash
#      restart rolls the drain's transaction back, so the entries are still in the outbox
#      and the next worker sends them again — nothing is lost, the stream has no gap (per
#      key, once repeats are dropped by version, each value is the previous one plus its
#      delta, up to the committed value), every entry of the killed batch is in the stream
#      exactly twice (the proof that the kill fell between send and delete), and the hash
#      is not rolled back (its compare-and-set versions are kept);
#   2. Redis down for DENORM_REDIS_DOWN_SECONDS (default 30) while pgbench writes at full
#      speed: no transaction fails, writes are not slowed down to a halt, the entries wait
#      and outbox_status says why; once Redis is back, the worker (after its back-off)
#      drains everything and Redis equals the target tables.
# The drain (denorm._publish_pending, one transaction per worker pass) is: read a batch ->
# send it -> UPDATE denorm._outbox_state (record) -> DELETE the sent entries -> commit. It
# is stopped between send and delete without a test hook: a session holds FOR UPDATE on
# the one row of denorm._outbox_state, so record() waits for that row lock after the batch
# went out (and, so that this batch holds several transactions per key, the drain is first
# kept from starting by holding its advisory lock while the votes are written).
# Layer: TAP (PostgreSQL::Test::Cluster, denorm preloaded). Every wait is a poll with a
# deadline (the drain after the outage: a deadline on progress).
use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RedisTest;
use MvTest;

my $redis = RedisTest->new;    # a redis-server with a password on a free loopback port
my ($port, $password) = ($redis->port, $redis->password);
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $down_seconds = $ENV{DENORM_REDIS_DOWN_SECONDS} // 30;
die "DENORM_REDIS_DOWN_SECONDS must be a positive whole number, not '$down_seconds'" unless $down_seconds =~ /^[1-9]\d*$/;

$redis->start;

my $node = PostgreSQL::Test::Cluster->new('redis_at_least_once');
$node->init;
# restart_after_crash: the SIGKILL of case 1 must end in a crash restart, not a stop.
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'denorm'
restart_after_crash = on
denorm.naptime = '200ms'
denorm.redis_url = 'redis://127.0.0.1:$port'
denorm.redis_password = '$password'
denorm.redis_timeout = '500ms'
log_min_messages = warning
});
$node->start;

# posts: case 1, a hash (votes) and a stream (votes2) of the same source.
# pages: case 2, a count and a sum in hash mode (a stream's backlog is not what case 2 is about).
$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE posts (id int PRIMARY KEY, votes int NOT NULL DEFAULT 0, votes2 int NOT NULL DEFAULT 0);
CREATE TABLE upvotes (id serial PRIMARY KEY, post_id int);
CREATE INDEX ON upvotes (post_id);
INSERT INTO posts (id) SELECT generate_series(1, 5);
SELECT denorm.create_counter('post_votes', 'posts', 'votes', 'upvotes', '{post_id}');
SELECT denorm.publish_counter('post_votes');
SELECT denorm.create_counter('post_votes_stream', 'posts', 'votes2', 'upvotes', '{post_id}');
SELECT denorm.publish_counter('post_votes_stream', redis_key => 'app:vote-events', mode => 'stream');

CREATE TABLE pages (id int PRIMARY KEY, clicks bigint NOT NULL DEFAULT 0, weight numeric NOT NULL DEFAULT 0);
CREATE TABLE clicks (id bigserial PRIMARY KEY, page_id int, w int NOT NULL);
CREATE INDEX ON clicks (page_id);
INSERT INTO pages (id) SELECT generate_series(1, 50);
SELECT denorm.create_counter('page_clicks', 'pages', 'clicks', 'clicks', '{page_id}');
SELECT denorm.publish_counter('page_clicks');
SELECT denorm.create_counter('page_weight', 'pages', 'weight', 'clicks', '{page_id}', aggregate => 'sum', value => 'w');
SELECT denorm.publish_counter('page_weight', redis_key => 'app:page-weights');
-- Every field from the start, so that each hash can be compared with its whole table (a
-- row no write touched would have none otherwise).
SELECT denorm.redis_resync('post_votes'), denorm.redis_resync('page_clicks'), denorm.redis_resync('page_weight');
});

# What a Redis hash should hold: "id=value" lines of every row of $table, sorted by id.
sub expected
{
    my ($table, $column) = @_;
    return $node->safe_psql('postgres', "SELECT string_agg(id || '=' || $column, E'\\n' ORDER BY id) FROM $table");
}

# Polls $check (a sub) until it is true; one assertion. $last (a sub) says, on failure,
# what was seen last.
sub wait_until
{
    my ($check, $what, $secs, $last) = @_;
    my $deadline = time + ($secs // 60);
    while (time < $deadline)
    {
        return ok(1, $what) if $check->();
        usleep(100_000);
    }
    ok(0, "$what (gave up after " . ($secs // 60) . ' s)');
    diag('last seen: ' . $last->()) if $last;
    return 0;
}

sub pending { $node->safe_psql('postgres', 'SELECT pending FROM denorm.outbox_status') }

# Random votes for posts 1..5: several transactions per key, inserts, deletes and moves
# between posts (a move changes two keys in one transaction). Each line one transaction.
my $seed = $ENV{DENORM_SEED} // int(rand(2**31));
note "seed $seed (DENORM_SEED=$seed regenerates the same statements)";
srand($seed);
sub vote_transactions
{
    my ($n) = @_;
    my @lines;
    for (1 .. $n)
    {
        my ($p, $q, $r) = (1 + int(rand(5)), 1 + int(rand(5)), rand());
        if ($r < 0.55) { push @lines, 'INSERT INTO upvotes (post_id) VALUES ' . join(', ', ("($p)") x (1 + int(rand(3)))) . ';' }
        elsif ($r < 0.75) { push @lines, "DELETE FROM upvotes WHERE id IN (SELECT id FROM upvotes WHERE post_id = $p LIMIT 2);" }
        else { push @lines, "UPDATE upvotes SET post_id = $q WHERE id IN (SELECT id FROM upvotes WHERE post_id = $p LIMIT 1);" }
    }
    return join("\n", @lines) . "\n";
}

# ================================================================ 1. SIGKILL between send and delete
my $worker = wait_for_worker($node, 0, 'a worker runs for the database');

# History before the kill: the stream's chains start here, from 0.
$node->safe_psql('postgres', vote_transactions(30));
wait_until(sub { pending() eq '0' && $redis->hash('denorm:post_votes') eq expected('posts', 'votes') },
           'the first votes are published', 60,
           sub { 'pending ' . pending() . "; Redis:\n" . $redis->hash('denorm:post_votes') . "\nposts:\n" . expected('posts', 'votes') });

# Gate the drain so that the next batch holds several transactions per key: while a
# session holds the drain's advisory lock (the one _publish_pending takes with
# pg_try_advisory_xact_lock), the worker's drains send nothing.
my $gate = $node->background_psql('postgres');
$gate->query_safe(q{SELECT pg_advisory_lock(hashtext('denorm outbox'))});
$node->safe_psql('postgres', vote_transactions(40));
my $batch = pending();
cmp_ok($batch, '>', 20, "the gated votes wait in the outbox ($batch entries)");
cmp_ok($batch, '<', 1000, 'and fit in one batch of the drain');
# The stream entries that will be in flight when the worker is killed.
my %in_flight = map { $_ => 1 } split /\n/, $node->safe_psql('postgres',
    q{SELECT id FROM denorm._outbox WHERE counter = 'post_votes_stream' ORDER BY id});
cmp_ok(scalar(keys %in_flight), '>', 10, 'the batch holds stream entries');
is(scalar(grep { $in_flight{ $_->{version} } } $redis->stream('app:vote-events')), 0, 'Redis has none of them yet');

# Stop the drain between send and delete: hold the row record() updates, then open the gate.
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; SELECT * FROM denorm._outbox_state FOR UPDATE');
my $locker_pid = $locker->query_safe('SELECT pg_backend_pid()');
$gate->query_safe(q{SELECT pg_advisory_unlock(hashtext('denorm outbox'))});
$gate->quit;

my $worker_blocked = qq{SELECT count(*) FROM pg_stat_activity WHERE pid = $worker AND wait_event_type = 'Lock'
                          AND query = 'denorm: publishing to Redis' AND $locker_pid = ANY (pg_blocking_pids(pid))};
sub stream_has_batch
{
    my %seen = map { $_->{version} => 1 } $redis->stream('app:vote-events');
    return !grep { !$seen{$_} } keys %in_flight;
}
wait_until(sub {
        $node->safe_psql('postgres', $worker_blocked) eq '1'
          && $redis->hash('denorm:post_votes') eq expected('posts', 'votes')
          && stream_has_batch()
    }, 'the worker sent the batch (Redis has every value) and waits for our row lock before deleting it', 60,
    sub { $node->safe_psql('postgres', q{SELECT string_agg(format('%s %s/%s %s', pid, wait_event_type, wait_event, query), '; ')
                                          FROM pg_stat_activity WHERE backend_type = 'denorm worker'}) });
is(pending(), $batch, 'the sent entries are still in the outbox');

# Votes committed while the drain is stuck: sent after the restart, with the batch again.
$node->safe_psql('postgres', vote_transactions(10));
my %versions_before = split /\n/, $redis->cmd('HGETALL', 'denorm:post_votes:versions');
# Per field, the newest entry waiting: the version the field must end with.
my %newest_entry = split /[|\n]/, $node->safe_psql('postgres',
    q{SELECT key[1], max(id) FROM denorm._outbox WHERE counter = 'post_votes' GROUP BY 1});

$worker = crash_worker($node, $worker);
eval { $locker->quit };    # its server process ended in the crash restart

wait_until(sub { my ($rc, $out) = $node->psql('postgres', 'SELECT pending FROM denorm.outbox_status'); $rc == 0 && $out eq '0' },
           'after the crash restart the outbox drains', 60, \&pending);

# The hash: every value, none rolled back.
is($redis->hash('denorm:post_votes'), expected('posts', 'votes'), 'the hash equals posts.votes (nothing lost)');
my %versions_after = split /\n/, $redis->cmd('HGETALL', 'denorm:post_votes:versions');
my @rolled_back = grep { ($versions_after{$_} // 0) < $versions_before{$_} } sort keys %versions_before;
is("@rolled_back", '', 'no hash field went back to an older version when the batch was sent again');
my %expected_versions = (%versions_before, %newest_entry);
is(join(',', map { "$_=$versions_after{$_}" } sort keys %versions_after),
   join(',', map { "$_=$expected_versions{$_}" } sort keys %expected_versions),
   "each field's version is its key's newest entry");

# The stream: each entry of the killed batch twice, every other entry once; dropping
# repeats by version (as a consumer does) leaves, per key, increasing versions whose
# values chain from 0 to the committed value.
my @stream = $redis->stream('app:vote-events');
my (%times, %first, %chain, $broken, $changed);
for my $e (@stream)
{
    my $v = $e->{version};
    if ($times{$v}++)
    {
        my $f = $first{$v};
        $changed .= "version $v: sent as $f->{key}/$f->{value}/$f->{delta}, again as $e->{key}/$e->{value}/$e->{delta}\n"
          if join('/', @$f{qw(key value delta)}) ne join('/', @$e{qw(key value delta)});
        next;
    }
    $first{$v} = $e;
    my $c = $chain{ $e->{key} } //= { value => 0, last => 0 };
    $broken .= "key $e->{key}: version $v after $c->{last}\n" if $v <= $c->{last};
    # (An entry without a delta comes from a resync: it restarts the chain at its value.)
    $broken .= "key $e->{key}: $c->{value} + $e->{delta} is not $e->{value}\n"
      if $e->{delta} ne '' && $c->{value} + $e->{delta} != $e->{value};
    $c->{value} = $e->{value};
    $c->{last} = $v;
}
my @twice = grep { $times{$_} == 2 } keys %in_flight;
my @other_repeats = grep { $times{$_} > 1 && !($in_flight{$_} && $times{$_} == 2) } keys %times;
note scalar(@stream) . ' stream entries, ' . scalar(@twice) . ' sent twice (the batch in flight at the kill had '
  . scalar(keys %in_flight) . ')';
cmp_ok(scalar(@twice), '>', 0, 'entries were sent twice: the kill fell between send and delete');
is(scalar(@twice), scalar(keys %in_flight), 'every stream entry of the killed batch was sent again');
is(join(',', sort { $a <=> $b } @other_repeats), '', 'no other entry was sent twice, none three times');
is($changed // '', '', 'an entry sent again carries what it carried the first time');
is($broken // '', '', 'per key, without repeats, the versions increase and each value is the last plus its delta (no gap)');
my @posts = split /\n/, $node->safe_psql('postgres', 'SELECT id FROM posts ORDER BY id');
is(join("\n", map { "$_=" . ($chain{$_} ? $chain{$_}{value} : 0) } @posts), expected('posts', 'votes2'),
   "each key's last stream value is its committed value");

# ================================================================ 2. Redis down while writers go on
my $pgbench_script = "$tmp/click.sql";
PostgreSQL::Test::Utils::append_to_file($pgbench_script, "\\set p random(1, 50)\n\\set w random(1, 9)\n"
    . "INSERT INTO clicks (page_id, w) VALUES (:p, :w);\n");

# pgbench with 4 clients for $secs seconds: (tps, transactions, failed); asserts it exits 0.
sub run_pgbench
{
    my ($secs, $what) = @_;
    my ($out, $err) = ('', '');
    # Not every INSERT in the server log (the test cluster logs all statements).
    local $ENV{PGOPTIONS} = '-c log_statement=none';
    my $ok = IPC::Run::run([ $node->installed_command('pgbench'), '-n', '-c', '4', '-j', '2', '-T', $secs,
                             '-f', $pgbench_script, '-h', $node->host, '-p', $node->port, 'postgres' ],
                           '>', \$out, '2>', \$err);
    ok($ok, "pgbench $what exits 0") or diag("stdout:\n$out\nstderr:\n$err");
    my ($tps) = $out =~ /^tps = ([\d.]+)/m;
    my ($done) = $out =~ /^number of transactions actually processed: (\d+)/m;
    my ($failed) = $out =~ /^number of failed transactions: (\d+)/m;
    return ($tps // 0, $done // 0, $failed // -1);
}

# Polls until the outbox is empty. After a long outage the worker first waits out its
# back-off (up to 30 s), then drains at whatever speed the machine has: so no fixed
# deadline, but a failure when the outbox has not shrunk for 60 s.
sub wait_until_drained
{
    my ($what) = @_;
    my ($least, $since) = (pending(), time);
    while (time - $since < 60)
    {
        my $n = pending();
        return ok(1, $what) if $n == 0;
        ($least, $since) = ($n, time) if $n < $least;
        usleep(200_000);
    }
    return ok(0, "$what (stuck at $least entries for 60 s)");
}

sub clicks { $node->safe_psql('postgres', 'SELECT count(*) FROM clicks') }

sub pages_converged
{
    return $redis->hash('denorm:page_clicks') eq expected('pages', 'clicks')
      && $redis->hash('app:page-weights') eq expected('pages', 'weight');
}

# A short baseline with Redis up.
my $baseline_secs = $down_seconds < 5 ? $down_seconds : 5;
my ($tps_up, $done_up, $failed_up) = run_pgbench($baseline_secs, "for $baseline_secs s with Redis up");
is($failed_up, 0, 'no transaction failed with Redis up');
wait_until_drained('the baseline clicks are published');
ok(pages_converged(), 'Redis equals the target tables after the baseline');

$redis->kill;
my $clicks_before = clicks();
my $down_since = time;
my ($tps_down, $done_down, $failed_down) = run_pgbench($down_seconds, "for $down_seconds s with Redis down");
my $committed = clicks() - $clicks_before;
note sprintf('tps with Redis up: %.0f (%d s); with Redis down: %.0f (%d s, %d rows committed)',
             $tps_up, $baseline_secs, $tps_down, $down_seconds, $committed);
is($failed_down, 0, 'no transaction failed while Redis was down');
is($committed, $done_down, 'every transaction pgbench counted committed its row');
cmp_ok($committed, '>', 1000, 'writers were not blocked while Redis was down');

my $waiting = pending();
cmp_ok($waiting, '>', 0, "the clicks wait in the outbox while Redis is down ($waiting entries)");
wait_until(sub { $node->safe_psql('postgres', 'SELECT NOT connected AND last_error IS NOT NULL FROM denorm.outbox_status') eq 't' },
           'outbox_status: not connected, with an error');
like($node->safe_psql('postgres', 'SELECT last_error FROM denorm.outbox_status'),
     qr/cannot connect to Redis at 127\.0\.0\.1:$port/, 'last_error says Redis cannot be reached');

$redis->start;
my $up_at = time;
# The worker tries again after its back-off (up to 30 s after a long outage), then drains.
wait_until_drained('once Redis is back the outbox drains');
note sprintf('Redis was down %.0f s; the outbox (%d entries then) was empty %.1f s after it came back',
             $up_at - $down_since, $waiting, time - $up_at);
is($redis->hash('denorm:page_clicks'), expected('pages', 'clicks'), 'page_clicks in Redis equals pages.clicks');
is($redis->hash('app:page-weights'), expected('pages', 'weight'), 'page_weight in Redis equals pages.weight');
is($node->safe_psql('postgres', 'SELECT connected AND last_error IS NULL FROM denorm.outbox_status'), 't',
   'outbox_status: connected again, no error');

$node->stop;
$redis->kill;
done_testing();
