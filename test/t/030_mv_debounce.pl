# 030_mv_debounce.pl — registered materialized views refreshed by the background worker
# (README "Materialized views, refreshed in the background"): a burst of commits is
# coalesced into few refreshes and the view ends equal to its query; a rolled-back
# transaction requests nothing; request_refresh() and refresh_now() work; max_delay
# bounds the wait under a steady stream of changes; CONCURRENTLY is used exactly when
# the view has a usable unique index (otherwise register_mv() warns); bad input to
# register_mv() is refused with the SQLSTATEs the README lists.
# Layer: TAP (PostgreSQL::Test::Cluster, TEMP_CONFIG preloads denorm, so the worker runs).
# Every wait is a poll; refresh counts are only bounded from above, never timed.
use strict;
use warnings;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MvTest;

my $node = PostgreSQL::Test::Cluster->new('mv_debounce');
$node->init;
$node->start;

# Each view <v> has a plain view <v>_query with the same definition: the oracle.
$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE sale (id int PRIMARY KEY, region text NOT NULL, amount int NOT NULL);
INSERT INTO sale SELECT g, 'r' || (g % 3), g FROM generate_series(1, 30) g;
CREATE MATERIALIZED VIEW region_totals AS
  SELECT region, count(*) AS sales, sum(amount) AS amount FROM sale GROUP BY region;
CREATE UNIQUE INDEX ON region_totals (region);
CREATE VIEW region_totals_query AS
  SELECT region, count(*) AS sales, sum(amount) AS amount FROM sale GROUP BY region;

-- the sentinel: a second view whose refresh shows that the worker has gone round
CREATE TABLE tick (id serial PRIMARY KEY);
CREATE MATERIALIZED VIEW tick_count AS SELECT count(*) AS n FROM tick;
CREATE UNIQUE INDEX ON tick_count (n);
SELECT denorm.register_mv('tick_count', debounce => '1 second', max_delay => '5 seconds');
});

# True when the view holds exactly the rows of its query.
sub fresh_sql { return 'SELECT ' . view_equals_query($_[0]); }

sub last_log_id
{
    return $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM denorm.refresh_log');
}

sub log_count    # refresh_log rows of $mv with this status, after log id $after
{
    my ($mv, $status, $after) = @_;
    return $node->safe_psql('postgres',
        "SELECT count(*) FROM denorm.refresh_log WHERE mv = '$mv'::regclass AND status = '$status' AND id > $after");
}

sub sqlstate_of    # the SQLSTATE $sql fails with, or 'no error'
{
    my ($sql) = @_;
    my ($rc, $out, $err) = $node->psql('postgres', $sql, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
    return 'no error' if $rc == 0;
    return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : $err;
}

# ---------------------------------------------------------------- registration
# A view with a plain unique index on a column: CONCURRENTLY, so no warning.
my ($rc, $out, $err) = $node->psql('postgres',
    q{SELECT denorm.register_mv('region_totals', debounce => '1 second', max_delay => '5 seconds')});
is($rc, 0, 'register_mv on a view with a unique index');
unlike($err, qr/WARNING/, 'no warning when the refresh can be CONCURRENTLY') or diag($err);
is($node->safe_psql('postgres', q{SELECT debounce = '1 second' AND max_delay = '5 seconds'
                                    FROM denorm.mv_status WHERE mv = 'region_totals'::regclass}),
   't', 'mv_status shows the registration with its debounce and max_delay');

# ---------------------------------------------------------------- bad input: documented SQLSTATEs
$node->safe_psql('postgres', q{
CREATE MATERIALIZED VIEW spare AS SELECT id FROM sale;
CREATE VIEW plain_view AS SELECT id FROM sale;
});
is(sqlstate_of(q{SELECT denorm.register_mv('sale')}), '42809', 'register_mv on a table: 42809');
is(sqlstate_of(q{SELECT denorm.register_mv('plain_view')}), '42809', 'register_mv on a plain view: 42809');
is(sqlstate_of(q{SELECT denorm.register_mv('region_totals', debounce => '7 seconds', max_delay => '9 seconds')}),
   '42710', 'a view registered twice: 42710');
is(sqlstate_of(q{SELECT denorm.register_mv('spare', debounce => '-1 second')}), '22023', 'debounce < 0: 22023');
is(sqlstate_of(q{SELECT denorm.register_mv('spare', debounce => '10 seconds', max_delay => '1 second')}),
   '22023', 'max_delay < debounce: 22023');
is($node->safe_psql('postgres', q{SELECT (SELECT debounce = '1 second' FROM denorm.mv_status WHERE mv = 'region_totals'::regclass)
                                       AND NOT EXISTS (SELECT FROM denorm.mv_status WHERE mv = 'spare'::regclass)}),
   't', 'refused calls changed nothing');

settle($node, 'region_totals');

# ---------------------------------------------------------------- a burst of commits
# 20 transactions, each one INSERT, about 100 ms apart: never a quiet second (debounce)
# and over in well under max_delay (5 s), so the burst needs one refresh, a few at most.
my $listener = $node->background_psql('postgres');
$listener->set_query_timer_restart;
$listener->query_safe('LISTEN denorm_refreshed');

my $mark = last_log_id();
$node->safe_psql('postgres', join('', map {
    "INSERT INTO sale VALUES (" . (100 + $_) . ", 'r" . ($_ % 4) . "', $_);\nSELECT pg_sleep(0.1);\n"
} 1 .. 20));
ok($node->poll_query_until('postgres',
       fresh_sql('region_totals') . q{ AND (SELECT NOT pending FROM denorm.mv_status WHERE mv = 'region_totals'::regclass)}),
   'after the burst the view equals its query, nothing pending');
my $burst_refreshes = log_count('region_totals', 'completed', $mark);
ok($burst_refreshes >= 1 && $burst_refreshes <= 5,
   "20 commits coalesced into few refreshes ($burst_refreshes, at most 5)");
is(log_count('region_totals', 'failed', $mark), 0, 'no failed refresh');
is($node->safe_psql('postgres', "SELECT max(requests_coalesced) > 1 FROM denorm.refresh_log
                                  WHERE mv = 'region_totals'::regclass AND id > $mark"),
   't', 'refresh_log.requests_coalesced shows a refresh that served several commits');

# The worker announces each refresh: NOTIFY denorm_refreshed, '<view name>'. psql prints
# a notification after the next query it runs in the listening session. The name is the
# view's regclass text, which the worker (search_path pg_catalog) may schema-qualify.
{
    my $notified = qr/Asynchronous notification "denorm_refreshed" with payload "(public\.)?region_totals" received/;
    my $seen = '';
    my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
    while (time < $deadline)
    {
        $seen .= $listener->query('SELECT 1') . "\n";
        last if $seen =~ $notified;
        usleep(100_000);
    }
    like($seen, $notified, 'NOTIFY denorm_refreshed with the view name after the refresh');
}
$listener->quit;

# ---------------------------------------------------------------- a rolled-back change
settle($node, 'region_totals');
my $n_before = log_count('region_totals', 'completed', 0);
is($node->safe_psql('postgres', q{
BEGIN;
INSERT INTO sale VALUES (900, 'r9', 9);
UPDATE sale SET amount = amount + 1;
ROLLBACK;
SELECT pending, coalesce(requests_pending, 0) FROM denorm.mv_status WHERE mv = 'region_totals'::regclass;
}), 'f|0', 'a rolled-back transaction leaves nothing pending');

# A commit to the sentinel's table after the rollback; once the sentinel has been
# refreshed, a refresh wrongly requested by the rollback (same debounce, requested
# earlier) would have been due before it.
my $since = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
$node->safe_psql('postgres', 'INSERT INTO tick DEFAULT VALUES');
ok($node->poll_query_until('postgres', qq{SELECT EXISTS (SELECT FROM denorm.refresh_log WHERE mv = 'tick_count'::regclass
                                            AND status = 'completed' AND started_at > '$since')}),
   'sentinel view refreshed after its own change');
is($node->safe_psql('postgres', q{SELECT pending FROM denorm.mv_status WHERE mv = 'region_totals'::regclass}),
   'f', 'still nothing pending for the rolled-back change');
is(log_count('region_totals', 'completed', 0), $n_before, 'and no refresh was made for it');

# ---------------------------------------------------------------- request_refresh
$mark = last_log_id();
like($node->safe_psql('postgres', q{
SELECT denorm.request_refresh('region_totals');
SELECT pending, pending_since IS NOT NULL, requests_pending > 0
  FROM denorm.mv_status WHERE mv = 'region_totals'::regclass;
}), qr/^t\|t\|t$/m, 'request_refresh makes the view pending at once (the debounce has not passed yet)');
ok($node->poll_query_until('postgres', "SELECT EXISTS (SELECT FROM denorm.refresh_log WHERE mv = 'region_totals'::regclass
                                         AND status = 'completed' AND id > $mark)"
                                       . q{ AND (SELECT NOT pending FROM denorm.mv_status WHERE mv = 'region_totals'::regclass)}),
   'request_refresh without any data change leads to a refresh');
is($node->safe_psql('postgres', "SELECT first_request_at IS NOT NULL AND requests_coalesced >= 1
                                   AND finished_at >= started_at AND duration_ms >= 0
                                   FROM denorm.refresh_log WHERE mv = 'region_totals'::regclass AND id > $mark
                                  ORDER BY id DESC LIMIT 1"),
   't', 'the refresh_log row is filled in');

# ---------------------------------------------------------------- refresh_now
$mark = last_log_id();
my $rows = $node->safe_psql('postgres', q{SELECT denorm.refresh_now('region_totals')});
is($rows, $node->safe_psql('postgres', 'SELECT count(*) FROM region_totals'),
   'refresh_now returns the row count of the view');
is($node->safe_psql('postgres', "SELECT status, row_count = (SELECT count(*) FROM region_totals)
                                   FROM denorm.refresh_log WHERE mv = 'region_totals'::regclass AND id > $mark"),
   'completed|t', 'refresh_now is logged in refresh_log');
is($node->safe_psql('postgres', q{SELECT last_status, last_refresh_at IS NOT NULL FROM denorm.mv_status
                                   WHERE mv = 'region_totals'::regclass}),
   'completed|t', 'mv_status shows the last refresh');

# ---------------------------------------------------------------- CONCURRENTLY or not
# Without a unique index, or with only a partial one (CONCURRENTLY needs a unique index
# on plain columns without WHERE), the refresh is plain and register_mv warns that it
# blocks readers.
$node->safe_psql('postgres', q{
CREATE MATERIALIZED VIEW sale_top AS SELECT region, max(amount) AS top FROM sale GROUP BY region;
CREATE VIEW sale_top_query AS SELECT region, max(amount) AS top FROM sale GROUP BY region;
CREATE MATERIALIZED VIEW sale_regions AS SELECT DISTINCT region FROM sale;
CREATE UNIQUE INDEX ON sale_regions (region) WHERE region <> '';
CREATE VIEW sale_regions_query AS SELECT DISTINCT region FROM sale;
});
for my $mv (qw(sale_top sale_regions))
{
    ($rc, $out, $err) = $node->psql('postgres',
        qq{SELECT denorm.register_mv('$mv', debounce => '1 second', max_delay => '5 seconds')});
    is($rc, 0, "register_mv on $mv, which has no usable unique index");
    like($err, qr/WARNING:/, "register_mv warns that refreshing $mv will block its readers") or diag("stderr: $err");
}

# Unpopulated (WITH NO DATA), with a unique index: the first refresh cannot be CONCURRENTLY.
$node->safe_psql('postgres', q{
CREATE MATERIALIZED VIEW big_sales AS SELECT id, amount FROM sale WHERE amount >= 25 WITH NO DATA;
CREATE UNIQUE INDEX ON big_sales (id);
CREATE VIEW big_sales_query AS SELECT id, amount FROM sale WHERE amount >= 25;
});
$node->safe_psql('postgres', q{SELECT denorm.register_mv('big_sales', debounce => '1 second', max_delay => '5 seconds')});
$node->safe_psql('postgres', q{SELECT denorm.request_refresh('big_sales')});
ok($node->poll_query_until('postgres', q{SELECT relispopulated FROM pg_class WHERE oid = 'big_sales'::regclass}),
   'a WITH NO DATA view is populated by its first refresh');
is($node->safe_psql('postgres', q{SELECT l.concurrently FROM denorm.refresh_log l WHERE mv = 'big_sales'::regclass
                                   AND status = 'completed' ORDER BY id LIMIT 1}),
   'f', 'its first refresh is plain');
is(log_count('big_sales', 'failed', 0), 0, 'without a failed CONCURRENTLY attempt first');

$mark = last_log_id();
$node->safe_psql('postgres', q{INSERT INTO sale VALUES (500, 'r7', 99)});
for my $mv (qw(region_totals sale_top sale_regions big_sales))
{
    ok($node->poll_query_until('postgres',
           fresh_sql($mv) . " AND EXISTS (SELECT FROM denorm.refresh_log WHERE mv = '$mv'::regclass"
           . " AND status = 'completed' AND id > $mark)"),
       "$mv refreshed after an insert into its table");
}
is($node->safe_psql('postgres', "SELECT string_agg(l.mv::text || '=' || l.concurrently, ',' ORDER BY l.mv::text)
                                   FROM (SELECT DISTINCT r.mv, r.concurrently FROM denorm.refresh_log r
                                          WHERE status = 'completed' AND id > $mark) l"),
   'big_sales=true,region_totals=true,sale_regions=false,sale_top=false',
   'CONCURRENTLY with a usable unique index (once populated), plain without one');

# ---------------------------------------------------------------- max_delay
# Inserts every 200 ms for about 6 s never leave a quiet second, so only max_delay (2 s)
# can start a refresh while they go on.
$node->safe_psql('postgres', q{
CREATE TABLE stream (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE MATERIALIZED VIEW stream_count AS SELECT count(*) AS n FROM stream;
CREATE UNIQUE INDEX ON stream_count (n);
CREATE VIEW stream_count_query AS SELECT count(*) AS n FROM stream;
SELECT denorm.register_mv('stream_count', debounce => '1 second', max_delay => '2 seconds');
});
settle($node, 'stream_count');
$mark = last_log_id();
$node->safe_psql('postgres', "INSERT INTO stream DEFAULT VALUES;\nSELECT pg_sleep(0.2);\n" x 30);
is($node->safe_psql('postgres', "SELECT EXISTS (SELECT FROM denorm.refresh_log WHERE mv = 'stream_count'::regclass
                                   AND status = 'completed' AND id > $mark
                                   AND started_at < (SELECT max(at) FROM stream))"),
   't', 'a refresh started while the changes kept coming (max_delay)');
ok($node->poll_query_until('postgres', fresh_sql('stream_count')), 'and the view ends equal to its query');

# ---------------------------------------------------------------- unregister
$node->safe_psql('postgres', q{SELECT denorm.unregister_mv('region_totals')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM denorm.mv_status WHERE mv = 'region_totals'::regclass}),
   '0', 'unregister_mv removes the view from mv_status');
isnt(sqlstate_of(q{SELECT denorm.unregister_mv('region_totals')}), 'no error', 'unregistering twice is an error');
is(sqlstate_of(q{SELECT denorm.unregister_mv('region_totals', if_exists => true)}), 'no error',
   '... unless if_exists');

$node->stop;
done_testing();
