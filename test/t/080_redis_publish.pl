# 080_redis_publish.pl — counters published to a real redis-server (README "Publishing to
# Redis"), started by this test on a free loopback port with a password (AUTH) and an
# append-only file (so that a killed Redis comes back with what it had acknowledged):
#   the worker publishes what writers commit, and only that: after mixed writes from
#   several sessions (inserts, deletes, moves between posts, rolled-back transactions and
#   savepoints) each Redis hash equals its target table, a deleted target row's field is
#   gone, and a rolled-back change never shows;
#   Redis killed while writers go on: nothing is lost, outbox_status says why it waits,
#   and once Redis is back everything converges;
#   a counter published as a stream: per key, its entries (repeats after the kill dropped
#   by version, as a consumer does) chain — each value is the previous one plus its
#   delta — in commit order, and the last one is the committed value;
#   FLUSHALL, then redis_resync(): every value is there again.
# Layer: TAP (PostgreSQL::Test::Cluster, denorm preloaded). Every wait is a poll.
use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use RedisTest;

my $redis = RedisTest->new;    # a redis-server with a password on a free loopback port
my ($port, $password) = ($redis->port, $redis->password);
my $tmp = PostgreSQL::Test::Utils::tempdir;

$redis->start;

my $node = PostgreSQL::Test::Cluster->new('redis_publish');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'denorm'
denorm.naptime = '200ms'
denorm.redis_url = 'redis://127.0.0.1:$port'
denorm.redis_password = '$password'
denorm.redis_timeout = '500ms'
log_min_messages = warning
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE posts (id int PRIMARY KEY, votes int NOT NULL DEFAULT 0, weight numeric NOT NULL DEFAULT 0,
                    votes2 int NOT NULL DEFAULT 0);
CREATE TABLE upvotes (id serial PRIMARY KEY, post_id int, w numeric NOT NULL, by_writer int NOT NULL);
CREATE INDEX ON upvotes (post_id);
INSERT INTO posts (id) SELECT generate_series(1, 20);
SELECT denorm.create_counter('post_votes', 'posts', 'votes', 'upvotes', '{post_id}');
SELECT denorm.create_counter('post_weight', 'posts', 'weight', 'upvotes', '{post_id}', aggregate => 'sum', value => 'w');
SELECT denorm.publish_counter('post_votes');
SELECT denorm.publish_counter('post_weight', redis_key => 'app:weights');
SELECT denorm.create_counter('post_votes_stream', 'posts', 'votes2', 'upvotes', '{post_id}');
SELECT denorm.publish_counter('post_votes_stream', redis_key => 'app:vote-events', mode => 'stream');
});

# What Redis should hold: "id=value" lines of every target row, sorted by id.
sub expected
{
    my ($column) = @_;
    return $node->safe_psql('postgres', "SELECT string_agg(id || '=' || $column, E'\\n' ORDER BY id) FROM posts");
}

sub wait_until
{
    my ($check, $what, $secs) = @_;
    my $deadline = time + ($secs // 60);
    while (time < $deadline)
    {
        return ok(1, $what) if $check->();
        usleep(100_000);
    }
    return ok(0, $what);
}

sub outbox_empty { $node->safe_psql('postgres', 'SELECT count(*) FROM denorm._outbox') eq '0' }

sub converged
{
    return $redis->hash('denorm:post_votes') eq expected('votes') && $redis->hash('app:weights') eq expected('weight');
}

sub check_converged
{
    my ($what) = @_;
    wait_until(sub { outbox_empty() && converged() }, $what);
    is($redis->hash('denorm:post_votes'), expected('votes'), "$what: post_votes in Redis equals posts.votes");
    is($redis->hash('app:weights'), expected('weight'), "$what: post_weight in Redis equals posts.weight");
}

# ---------------------------------------------------------------- mixed writers
my $seed = $ENV{DENORM_SEED} // int(rand(2**31));
note "seed $seed (DENORM_SEED=$seed regenerates the same statements)";
srand($seed);
sub script
{
    my ($w, $n) = @_;
    my @lines;
    for (1 .. $n)
    {
        my $p = 1 + int(rand(20));
        my $q = 1 + int(rand(20));
        my $w8 = int(rand(100)) / 4;
        my $r = rand();
        my $own = "by_writer = $w";
        if ($r < 0.45) { push @lines, "INSERT INTO upvotes (post_id, w, by_writer) VALUES ($p, $w8, $w), ($q, 1, $w);" }
        elsif ($r < 0.60) { push @lines, "DELETE FROM upvotes WHERE id IN (SELECT id FROM upvotes WHERE $own AND post_id = $p LIMIT 2);" }
        elsif ($r < 0.72) { push @lines, "UPDATE upvotes SET post_id = $q WHERE id IN (SELECT id FROM upvotes WHERE $own AND post_id = $p LIMIT 1);" }
        elsif ($r < 0.82) { push @lines, "BEGIN; INSERT INTO upvotes (post_id, w, by_writer) VALUES ($p, 1000, $w); ROLLBACK;" }
        elsif ($r < 0.92)
        {
            push @lines, "BEGIN; INSERT INTO upvotes (post_id, w, by_writer) VALUES ($p, 1, $w); SAVEPOINT s;"
              . " INSERT INTO upvotes (post_id, w, by_writer) VALUES ($q, 1000, $w); ROLLBACK TO SAVEPOINT s; COMMIT;";
        }
        else { push @lines, "BEGIN; UPDATE upvotes SET w = w + 1 WHERE $own AND post_id = $p; INSERT INTO upvotes (post_id, w, by_writer) VALUES ($q, 2, $w); COMMIT;" }
    }
    return join("\n", @lines) . "\n";
}

sub run_writers
{
    my ($n) = @_;
    my @runs;
    for my $w (1 .. 4)
    {
        my $file = "$tmp/writer_$w.sql";
        open my $fh, '>', $file or die;
        print $fh script($w, $n);
        close $fh;
        push @runs, IPC::Run::start([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
                                      '-f', $file ], '>', "$file.out", '2>', "$file.err");
    }
    return @runs;
}

sub finish_writers
{
    my $failed = 0;
    for my $run (@_) { $failed++ unless eval { $run->finish; 1 } && $run->result == 0 }
    is($failed, 0, 'every writer ran without an error');
}

finish_writers(run_writers(150));
check_converged('after mixed writes');
# 1000 is only ever written by rolled-back transactions and savepoints.
is($node->safe_psql('postgres', q{SELECT count(*) FROM upvotes WHERE w >= 1000}), '0', 'rolled-back rows are gone');
cmp_ok((sort { $b <=> $a } split /\n/, $redis->cmd('HVALS', 'app:weights'))[0] // 0, '<', 1000,
       'no rolled-back weight reached Redis');

# A deleted target row: its field is deleted (HDEL).
$node->safe_psql('postgres', 'DELETE FROM posts WHERE id = 20');
$node->safe_psql('postgres', 'INSERT INTO upvotes (post_id, w, by_writer) VALUES (20, 1, 0)');
check_converged('after a target row was deleted');
is($redis->cmd('HEXISTS', 'denorm:post_votes', '20'), '0', 'the deleted post has no field');

# ---------------------------------------------------------------- Redis killed mid-stream
my @runs = run_writers(600);
usleep(100_000);
$redis->kill;
finish_writers(@runs);
# Changes committed after the kill: the drain fails on them, and they wait.
$node->safe_psql('postgres', 'INSERT INTO upvotes (post_id, w, by_writer) VALUES (1, 1, 0), (2, 1, 0)');
wait_until(sub {
    $node->safe_psql('postgres', q{SELECT NOT connected AND last_error IS NOT NULL FROM denorm.outbox_status}) eq 't'
}, 'outbox_status says Redis is unreachable');
my $waiting = $node->safe_psql('postgres', 'SELECT pending FROM denorm.outbox_status');
cmp_ok($waiting, '>', 0, "the writers' changes wait in the outbox while Redis is down ($waiting entries)");
unlike($node->safe_psql('postgres', 'SELECT last_error FROM denorm.outbox_status'), qr/\Q$password\E/,
       'the error does not show the password');
$redis->start;
check_converged('after Redis came back');
is($node->safe_psql('postgres', 'SELECT connected AND last_error IS NULL FROM denorm.outbox_status'), 't',
   'outbox_status: connected again, no error');

# ---------------------------------------------------------------- the stream
# XRANGE's reply, flat: per entry its id and five field/value pairs (counter, key, value,
# delta, version).
my @lines = split /\n/, $redis->cmd('XRANGE', 'app:vote-events', '-', '+');
my (%seen, %chain, $entries_read, $repeats, $broken);
while (@lines)
{
    my ($id, %f) = splice(@lines, 0, 11);
    $entries_read++;
    if ($seen{ $f{version} }++) { $repeats++; next }  # sent again after the kill: a consumer drops it
    my $c = $chain{ $f{key} } //= { value => 0, last => 0 };
    $broken .= "key $f{key}: version $f{version} after $c->{last}\n" if $f{version} <= $c->{last};
    $broken .= "key $f{key}: $c->{value} + $f{delta} is not $f{value}\n"
      if $f{value} ne '' && $c->{value} + $f{delta} != $f{value};
    $c->{value} = $f{value} eq '' ? $c->{value} + $f{delta} : $f{value};
    $c->{last} = $f{version};
}
note "stream: $entries_read entries read, " . ($repeats // 0) . ' sent twice';
cmp_ok($entries_read, '>', 100, 'the stream has an entry per transaction and key');
is($broken // '', '', 'per key, the stream entries come in commit order and each value is the last plus its delta');
my $last = join("\n", map { "$_=$chain{$_}{value}" } sort { $a <=> $b } grep { $_ != 20 } keys %chain);
is($last, $node->safe_psql('postgres',
   "SELECT string_agg(id || '=' || votes2, E'\\n' ORDER BY id) FROM posts WHERE id IN (SELECT DISTINCT post_id FROM upvotes)"),
   "each key's last stream value is its committed value");

# ---------------------------------------------------------------- FLUSHALL, then redis_resync
$redis->cmd('FLUSHALL');
is($redis->cmd('HLEN', 'denorm:post_votes'), '0', 'FLUSHALL emptied Redis');
my $entries = $node->safe_psql('postgres', 'SELECT denorm.redis_resync()');
is($entries, '57', 'redis_resync() queued every target row of the three counters');
check_converged('after FLUSHALL and redis_resync()');

# ---------------------------------------------------------------- refresh announcements
# A subscriber on denorm:refreshed hears each refresh of a registered view (after it
# committed), as LISTEN denorm_refreshed does.
$node->safe_psql('postgres', q{
CREATE MATERIALIZED VIEW vote_totals AS SELECT post_id, count(*) AS n FROM upvotes GROUP BY post_id;
SELECT denorm.register_mv('vote_totals', debounce => '0', max_delay => '1 second');
});
wait_until(sub { $node->safe_psql('postgres', q{SELECT NOT pending FROM denorm.mv_status WHERE mv = 'vote_totals'::regclass})
                     eq 't' && outbox_empty() }, 'nothing pending before the subscriber listens');
my $heard = '';
my $subscriber = IPC::Run::start(
    [ 'redis-cli', '-p', $port, '-a', $password, '--no-auth-warning', 'SUBSCRIBE', 'denorm:refreshed' ],
    '>', \$heard, '2>&1', IPC::Run::timeout(60));
my $deadline = time + 30;
$subscriber->pump_nb while $heard !~ /denorm:refreshed\s+1/ && time < $deadline;   # subscribed
like($heard, qr/denorm:refreshed\s+1/, 'the subscriber is subscribed');
$node->safe_psql('postgres', q{SELECT denorm.refresh_now('vote_totals')});       # in a session
$node->safe_psql('postgres', q{INSERT INTO upvotes (post_id, w, by_writer) VALUES (1, 1, 0)});  # by the worker
$deadline = time + 30;
my @refreshed;
while (time < $deadline && @refreshed < 2)
{
    $subscriber->pump_nb;
    @refreshed = $heard =~ /^message\s+denorm:refreshed\s+(\S+)/mg;
    usleep(20_000);
}
is(scalar(@refreshed), 2, 'PUBLISH denorm:refreshed after refresh_now() and after the worker\'s refresh');
is(join(',', @refreshed), 'public.vote_totals,public.vote_totals', 'the message is the view\'s schema-qualified name');
$subscriber->kill_kill;
wait_until(\&outbox_empty, 'the announcements left the outbox');

unlike(slurp_file($node->logfile), qr/\Q$password\E/, 'the password is in no log line');

$node->stop;
$redis->kill;
done_testing();
