# 060_upgrade.pl — ALTER EXTENSION denorm UPDATE from every released version (README
# "Living with the schema"): for each version the extension directory offers besides
# the default, a database installs that version, defines counters and a view, updates,
# and must then (1) have exactly the catalog a fresh install of the default version
# has — every function's definition, rights and settings, every table's columns,
# rights and row security, views, indexes, policies, event triggers and initial
# privileges — and (2) keep working: the counters are still exact, new writes are
# counted, counter_value, reconcile and health answer.
# Layer: TAP (PostgreSQL::Test::Cluster, denorm preloaded).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'denorm'\n");
$node->start;

# One line per catalog object of the extension, independent of OIDs and of the name of
# the extension's owner.
my $fingerprint = q{
WITH m AS (
    SELECT d.classid, d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
     WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'denorm' AND d.deptype = 'e'),
owner AS (SELECT r.rolname FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner WHERE e.extname = 'denorm')
SELECT line FROM (
    SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
           || E'\n  acl ' || coalesce(replace(p.proacl::text, (SELECT rolname FROM owner), 'OWNER'), 'default') AS line
      FROM pg_proc p JOIN m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
    UNION ALL
    SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text || ' rls ' || c.relrowsecurity
           || ' acl ' || coalesce(replace(c.relacl::text, (SELECT rolname FROM owner), 'OWNER'), 'default')
           || ' columns ' || coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                                  || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                                  || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
                                                  ', ' ORDER BY a.attnum)
                                        FROM pg_attribute a
                                        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
           || coalesce(E'\n  view ' || pg_get_viewdef(c.oid), '')
      FROM pg_class c JOIN m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
      FROM pg_index i JOIN m ON m.classid = 'pg_class'::regclass AND m.objid = i.indrelid
    UNION ALL
    SELECT 'policy ' || p.tablename || ' ' || p.policyname || ' ' || p.cmd || ' ' || p.roles::text || ' '
           || coalesce(p.qual, '') || ' ' || coalesce(p.with_check, '')
      FROM pg_policies p WHERE p.schemaname = 'denorm'
    UNION ALL
    SELECT 'event trigger ' || t.evtname || ' ' || t.evtevent || ' ' || t.evtfoid::regproc::text || ' '
           || coalesce(t.evttags::text, '')
      FROM pg_event_trigger t JOIN m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = t.oid
    UNION ALL
    SELECT 'initial privileges ' || pg_describe_object(i.classoid, i.objoid, i.objsubid) || ' '
           || replace(i.initprivs::text, (SELECT rolname FROM owner), 'OWNER')
      FROM pg_init_privs i JOIN m ON m.classid = i.classoid AND m.objid = i.objoid
    UNION ALL
    SELECT 'configuration ' || extconfig::regclass[]::text || ' ' || coalesce(extcondition::text, '')
      FROM pg_extension WHERE extname = 'denorm'
) lines ORDER BY line
};

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION denorm CASCADE');
my $default = $node->safe_psql('fresh', "SELECT extversion FROM pg_extension WHERE extname = 'denorm'");
my $expected = $node->safe_psql('fresh', $fingerprint);
my @released = split /\n/, $node->safe_psql('postgres',
    "SELECT version FROM pg_available_extension_versions WHERE name = 'denorm' AND version <> '$default' ORDER BY 1");
ok(@released > 0, "released versions to update from: @released (default $default)");

# The counters' meaning, recounted.
my $recount = q{
SELECT string_agg(format('%s:%s:%s', p.id, p.votes, p.amount), ' ' ORDER BY p.id) FROM up.projects p
};
my $truth = q{
SELECT string_agg(format('%s:%s:%s', p.id, coalesce(v.n, 0), coalesce(v.s, 0)), ' ' ORDER BY p.id)
  FROM up.projects p LEFT JOIN (SELECT project_id, count(*) AS n, sum(amount) AS s FROM up.votes GROUP BY 1) v
    ON v.project_id = p.id
};

for my $version (@released)
{
    my $db = "from_" . ($version =~ s/\W/_/gr);
    $node->safe_psql('postgres', "CREATE DATABASE $db");
    $node->safe_psql($db, qq{
CREATE EXTENSION pg_trgm;
CREATE EXTENSION denorm VERSION '$version';
CREATE SCHEMA up;
CREATE TABLE up.projects (id int PRIMARY KEY, votes bigint NOT NULL DEFAULT 0, amount numeric NOT NULL DEFAULT 0);
CREATE TABLE up.votes (id serial PRIMARY KEY, project_id int, amount numeric NOT NULL DEFAULT 1);
INSERT INTO up.projects SELECT g FROM generate_series(1, 3) g;
INSERT INTO up.votes (project_id, amount) VALUES (1, 5), (1, 7), (2, 1);
SELECT denorm.create_counter('up_votes', 'up.projects', 'votes', 'up.votes', '{project_id}');
SELECT denorm.create_counter('up_amount', 'up.projects', 'amount', 'up.votes', '{project_id}',
                             aggregate => 'sum', value => 'amount', deferred => true);
CREATE MATERIALIZED VIEW up.totals AS SELECT id, votes FROM up.projects;
CREATE UNIQUE INDEX ON up.totals (id);
SELECT denorm.register_mv('up.totals', debounce => '1 hour', max_delay => '1 hour');
INSERT INTO up.votes (project_id, amount) VALUES (3, 2);
});
    $node->safe_psql($db, 'ALTER EXTENSION denorm UPDATE');
    is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'denorm'"),
        $default, "$version: updated to $default");

    my $got = $node->safe_psql($db, $fingerprint);
    if ($got eq $expected)
    {
        pass("$version -> $default: the catalog equals a fresh install's");
    }
    else
    {
        my %want = map { $_ => 1 } split /\n(?=function |relation |index |policy |event trigger |initial privileges |configuration )/, $expected;
        my %have = map { $_ => 1 } split /\n(?=function |relation |index |policy |event trigger |initial privileges |configuration )/, $got;
        my @missing = grep { !$have{$_} } sort keys %want;
        my @extra = grep { !$want{$_} } sort keys %have;
        fail("$version -> $default: the catalog equals a fresh install's");
        diag("only in a fresh install:\n" . join("\n", @missing) . "\nonly after the update:\n" . join("\n", @extra));
    }

    # Still working: writes after the update are counted, the deferred deltas fold, and
    # the functions answer as 0.2 does.
    $node->safe_psql($db, q{
INSERT INTO up.votes (project_id, amount) VALUES (2, 10), (3, 1);
DELETE FROM up.votes WHERE amount = 7;
UPDATE up.votes SET project_id = 3 WHERE amount = 5;
});
    is($node->safe_psql($db, "SELECT denorm.counter_value('up_amount', '3')"),
        $node->safe_psql($db, "SELECT sum(amount) FROM up.votes WHERE project_id = 3"),
        "$version: counter_value is exact after the update");
    $node->safe_psql($db, 'SELECT denorm.run_pending()');
    is($node->safe_psql($db, $recount), $node->safe_psql($db, $truth), "$version: counters exact after the update");
    is($node->safe_psql($db, 'SELECT count(*) FROM denorm.reconcile(fix => false)'), '0',
        "$version: reconcile finds no mismatch");
    $node->safe_psql($db, 'CREATE ROLE upgrade_nobody_' . $db);
    is($node->safe_psql($db, "SET ROLE upgrade_nobody_$db; SELECT count(*) > 0 FROM denorm.health()"), 't',
        "$version: health() answers a role with no rights");
    is($node->safe_psql($db, "SET ROLE upgrade_nobody_$db; SELECT count(*) FROM denorm.reconcile_log"), '0',
        "$version: the audit trail is hidden from it");
}

# Key columns whose names sort differently under the database's collation than byte
# by byte (ICU's en-US puts abc before "Zed", C the other way round). denorm orders key
# columns byte by byte everywhere — the unique-index check, the pending key, the lock
# order — so such a counter is accepted, and its pending deltas fold into their own
# rows. (0.1 compared the key with the index's columns in two different orders and
# refused it, so no 0.1 counter has such a key: the update need not rewrite pending keys.)
my $icu = $node->safe_psql('postgres', "SELECT count(*) > 0 FROM pg_collation WHERE collprovider = 'i'") eq 't';
SKIP:
{
    skip 'no ICU collations', 6 unless $icu;
    $node->safe_psql('postgres',
        "CREATE DATABASE collated TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'");
    is($node->safe_psql('collated', q{SELECT string_agg(k, ',' ORDER BY k) FROM unnest('{Zed,abc}'::text[]) k}),
        'abc,Zed', 'the database collation puts abc before Zed');
    $node->safe_psql('collated', q{
CREATE EXTENSION pg_trgm;
CREATE EXTENSION denorm;
CREATE TABLE daily ("Zed" int, abc int, n bigint NOT NULL DEFAULT 0, PRIMARY KEY ("Zed", abc));
CREATE TABLE hits (z int, a int);
INSERT INTO daily VALUES (1, 2), (2, 1);
SELECT denorm.create_counter('daily_hits', 'daily', 'n', 'hits', '{z,a}', '{Zed,abc}', deferred => true);
});
    # Read in the writing transaction (which appends them statement by statement): the
    # worker may fold them as soon as they commit.
    is($node->safe_psql('collated', q{
BEGIN;
SET LOCAL denorm.apply = statement;
INSERT INTO hits VALUES (1, 2), (1, 2), (2, 1);
SELECT string_agg(key::text, ' ' ORDER BY key::text) FROM denorm._pending_deltas;
COMMIT;
}), '{1,2} {2,1}', 'pending keys list "Zed" before abc');
    is($node->safe_psql('collated', q{SELECT denorm.counter_value('daily_hits', '1', '2') || ' ' || denorm.counter_value('daily_hits', '2', '1')}),
        '2 1', 'counter_value reads the pending deltas of each key');
    is($node->safe_psql('collated', 'SELECT count(*) FROM denorm.reconcile(fix => false)'), '0',
        'reconcile agrees with the pending deltas');
    $node->safe_psql('collated', 'SELECT denorm.run_pending()');
    is($node->safe_psql('collated', q{SELECT string_agg(format('%s/%s:%s', "Zed", abc, n), ' ' ORDER BY 1) FROM daily}),
        '1/2:2 2/1:1', 'the pending deltas fold into their own rows');
    is($node->safe_psql('collated', 'SELECT count(*) FROM denorm._pending_deltas'), '0', 'and are gone');
}

$node->stop;
done_testing();
