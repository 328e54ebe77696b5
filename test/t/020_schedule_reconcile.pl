# schedule_reconcile() with pg_cron (README "Reconciliation: find and fix drift"): in
# the cron database it creates a cron.job running reconcile; in another database it
# refuses with 55000 and a HINT whose cron.schedule_in_database(...) call, run in the
# cron database, schedules it there. Checks the cron.job rows, not a run (pg_cron 1.4
# schedules by the minute).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'denorm,pg_cron'
cron.database_name = 'postgres'
});
$node->start;

my $setup = q{
  CREATE EXTENSION denorm CASCADE;
  CREATE TABLE parent (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
  CREATE TABLE child (id int PRIMARY KEY, parent_id int);
  SELECT denorm.create_counter('parent_children', 'parent', 'n', 'child', '{parent_id}');
};
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', $setup);
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', $setup);

# In the cron database: a job, returned by id.
my $job = $node->safe_psql('postgres', q{SELECT denorm.schedule_reconcile('*/5 * * * *', 'parent_children')});
like($job, qr/^\d+$/, 'schedule_reconcile returns the job id');
is($node->safe_psql('postgres', "SELECT jobname, schedule, command, database FROM cron.job WHERE jobid = $job"),
   q{denorm-reconcile-parent_children|*/5 * * * *|SELECT pg_catalog.count(*) FROM denorm.reconcile('parent_children')|postgres},
   'cron.job runs reconcile of that counter in this database');

# Scheduling again under the same name updates the job instead of adding one.
$node->safe_psql('postgres', q{SELECT denorm.schedule_reconcile('0 3 * * *', 'parent_children')});
is($node->safe_psql('postgres', "SELECT count(*), min(schedule) FROM cron.job WHERE jobname = 'denorm-reconcile-parent_children'"),
   '1|0 3 * * *', 'one job per counter, with the latest schedule');

# Every counter: name NULL.
$node->safe_psql('postgres', q{SELECT denorm.schedule_reconcile()});
is($node->safe_psql('postgres', "SELECT schedule, command FROM cron.job WHERE jobname = 'denorm-reconcile-all'"),
   '0 3 * * *|SELECT pg_catalog.count(*) FROM denorm.reconcile(NULL)', 'default: every counter, nightly at 3');

# Elsewhere: 55000, and the HINT holds the call to run in the cron database.
my ($rc, $out, $err) = $node->psql('app', q{SELECT denorm.schedule_reconcile('0 4 * * *', 'parent_children')},
                                   extra_params => ['-v', 'VERBOSITY=verbose']);
isnt($rc, 0, 'refused outside the cron database');
like($err, qr/55000/, 'SQLSTATE 55000');
my ($call) = $err =~ /HINT:\s+Run this in database postgres, where pg_cron is installed: (SELECT cron\.schedule_in_database\(.*\);)/;
ok(defined $call, 'HINT names the cron database and gives the call') or diag($err);
$node->safe_psql('postgres', $call);
is($node->safe_psql('postgres', "SELECT schedule, command, database FROM cron.job WHERE jobname = 'denorm-reconcile-parent_children-app'"),
   q{0 4 * * *|SELECT pg_catalog.count(*) FROM denorm.reconcile('parent_children')|app},
   'the hinted call schedules reconcile in the application database');

$node->stop;
done_testing();
