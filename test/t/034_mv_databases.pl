# 034_mv_databases.pl — one launcher, one refresh worker per database that has the
# extension, none elsewhere (README "The worker"): a database gets its worker within a
# few seconds of CREATE EXTENSION, each worker refreshes its own database's views,
# denorm.databases (reloaded) restricts the set of databases served, run_pending() does
# the work in a database without a worker, and DROP EXTENSION ends its worker.
# Layer: TAP (PostgreSQL::Test::Cluster, TEMP_CONFIG preloads denorm).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MvTest;

my $node = PostgreSQL::Test::Cluster->new('mv_databases');
$node->init;
$node->start;

# "app1:1,app2:1": databases with a denorm worker and how many each has.
my $workers_sql = q{SELECT coalesce(string_agg(datname || ':' || n, ',' ORDER BY datname), 'none')
                      FROM (SELECT datname, count(*) AS n FROM pg_stat_activity
                             WHERE backend_type = 'denorm worker' GROUP BY datname) w};

sub workers_are
{
    my ($expected, $what) = @_;
    ok($node->poll_query_until('postgres', $workers_sql, $expected), $what)
      or diag('workers now: ' . $node->safe_psql('postgres', $workers_sql));
}

sub fresh_sql { return 'SELECT ' . view_equals_query('item_count') . ' AND ' . nothing_pending('item_count'); }

my $setup = q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE item (id int PRIMARY KEY);
CREATE MATERIALIZED VIEW item_count AS SELECT count(*) AS n FROM item;
CREATE UNIQUE INDEX ON item_count (n);
CREATE VIEW item_count_query AS SELECT count(*) AS n FROM item;
SELECT denorm.register_mv('item_count', debounce => '0', max_delay => '0');
};

$node->safe_psql('postgres', "CREATE DATABASE $_") for qw(app1 app2 plain);
is($node->safe_psql('postgres', $workers_sql), 'none', 'no worker while no database has the extension');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'denorm launcher'}),
   'one launcher');

$node->safe_psql('app1', $setup);
workers_are('app1:1', 'CREATE EXTENSION in app1 starts its worker');
$node->safe_psql('app2', $setup);
workers_are('app1:1,app2:1', 'CREATE EXTENSION in app2 starts a second worker; none for plain or postgres');

# ---------------------------------------------------------------- each refreshes its own views
$node->safe_psql('app1', 'INSERT INTO item SELECT generate_series(1, 3)');
$node->safe_psql('app2', 'INSERT INTO item SELECT generate_series(1, 5)');
ok($node->poll_query_until('app1', fresh_sql()), 'app1: its view is refreshed');
ok($node->poll_query_until('app2', fresh_sql()), 'app2: its view is refreshed');
is($node->safe_psql('app1', 'SELECT n FROM item_count') . ',' . $node->safe_psql('app2', 'SELECT n FROM item_count'),
   '3,5', 'each view counts the rows of its own database');

# ---------------------------------------------------------------- denorm.databases
# Listing a database without the extension (plain) starts nothing there.
$node->safe_psql('postgres', q{ALTER SYSTEM SET denorm.databases = 'plain,app1'});
$node->reload;
workers_are('app1:1', 'denorm.databases = plain,app1: only app1 keeps a worker');

$node->safe_psql('app2', 'INSERT INTO item VALUES (6)');
is($node->safe_psql('app2', q{SELECT pending FROM denorm.mv_status WHERE mv = 'item_count'::regclass}),
   't', 'app2: the change is pending');
# app1's worker refreshing a later change shows time has passed; app2 has no worker.
$node->safe_psql('app1', 'INSERT INTO item VALUES (4)');
ok($node->poll_query_until('app1', fresh_sql()), 'app1 is still served');
is($node->safe_psql('app2', q{SELECT pending FROM denorm.mv_status WHERE mv = 'item_count'::regclass})
   . ',' . $node->safe_psql('app2', 'SELECT n FROM item_count'),
   't,5', 'app2 is not served: still pending, view unchanged');
is($node->safe_psql('app2', 'SELECT denorm.run_pending()'), '1', 'run_pending() in app2 does the one due refresh');
is($node->safe_psql('app2', fresh_sql()), 't', 'app2: fresh after run_pending()');
is($node->safe_psql('app2', 'SELECT denorm.run_pending()'), '0', 'run_pending() again: nothing due');

$node->safe_psql('postgres', 'ALTER SYSTEM RESET denorm.databases');
$node->reload;
workers_are('app1:1,app2:1', 'denorm.databases reset: app2 has a worker again');
$node->safe_psql('app2', 'INSERT INTO item VALUES (7)');
ok($node->poll_query_until('app2', fresh_sql()), 'app2 is served again');

# ---------------------------------------------------------------- DROP EXTENSION
$node->safe_psql('app2', 'DROP EXTENSION denorm CASCADE');
workers_are('app1:1', 'DROP EXTENSION in app2 ends its worker');
$node->safe_psql('app1', 'INSERT INTO item VALUES (5)');
ok($node->poll_query_until('app1', fresh_sql()), 'app1 is not affected');

# ---------------------------------------------------------------- copying and dropping a served database
# A worker is a session: CREATE DATABASE ... TEMPLATE and DROP DATABASE would refuse a
# database with one; denorm stops the worker first.
$node->safe_psql('postgres', 'CREATE DATABASE app1_copy TEMPLATE app1');
is($node->safe_psql('app1_copy', 'SELECT count(*) FROM denorm.mv_status'), '1', 'CREATE DATABASE ... TEMPLATE a served database');
workers_are('app1:1,app1_copy:1', 'the copy gets its own worker, app1 gets its worker back');
$node->safe_psql('postgres', 'DROP DATABASE app1');
workers_are('app1_copy:1', 'DROP DATABASE of a served database');

$node->stop;
done_testing();
