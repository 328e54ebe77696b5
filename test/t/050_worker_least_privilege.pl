# 050_worker_least_privilege.pl — the background worker (a bootstrap-superuser session)
# runs nothing of an ordinary role's with the superuser's rights (README "Security"):
#   A  a deferred counter's target has a BEFORE UPDATE trigger of its owner mallory that
#      makes mallory a superuser when it runs as one; the worker's fold fires it as mallory;
#   B  a materialized view of viewer calls viewer's function returning current_user; the
#      worker's refresh computes it as viewer;
#   C  eve's schema evil has operators = (int, int), = (timestamptz, timestamptz) and
#      + (bigint, bigint) that escalate when a superuser calls them, and search_path puts
#      evil before pg_catalog for eve and for the whole database, so that a worker started
#      after that would resolve its own statements through evil if it did not pin its
#      search_path; eve writes to the source of alice's deferred counter (int keys) and the
#      worker folds it without calling any of them.
# Each trap is first shown to work (sprung by the superuser, rolled back), so that the
# "nobody became superuser" assertions can fail. Before the least-privilege commit A and C
# failed: the fold ran mallory's trigger as the superuser, and the worker's own
# `memory_created_at IS DISTINCT FROM $1` (its first pass after the restart) called
# evil's = (timestamptz, timestamptz) as the superuser; the int and bigint operators were
# not reached (the fold's PL/pgSQL pinned its search_path already), nor could B fail then
# (REFRESH itself runs the query as the view's owner): those guard the pinning and the
# owner switch from regressions.
# Only the worker folds and refreshes here (run_pending() is never called); every wait is
# a poll.
# Layer: TAP (PostgreSQL::Test::Cluster, denorm preloaded, denorm.fold_interval = 200ms).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MvTest;

my $node = PostgreSQL::Test::Cluster->new('worker_least_privilege');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'denorm'
denorm.fold_interval = '200ms'
denorm.naptime = '200ms'
});
$node->start;

# The bootstrap superuser (the worker's user), and every other superuser.
my $boot = $node->safe_psql('postgres', 'SELECT current_user');
my $other_superusers = "SELECT coalesce(string_agg(rolname, ',' ORDER BY rolname), '') FROM pg_roles "
  . "WHERE rolsuper AND rolname <> '$boot'";

# Runs $sql as $role (psql -U), dying on error.
sub as_role
{
    my ($role, $sql) = @_;
    return $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]);
}

$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE ROLE mallory LOGIN;
CREATE ROLE viewer LOGIN;
CREATE ROLE alice LOGIN;
CREATE ROLE eve LOGIN;
GRANT CREATE ON SCHEMA public TO mallory, viewer, alice, eve;
GRANT CREATE ON DATABASE postgres TO mallory, eve;
});
wait_for_worker($node, 0, 'a worker runs for the database');

# ---------------------------------------------------------------- A: a trigger on the target
as_role('mallory', q{
CREATE TABLE m_target (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
CREATE TABLE m_source (id serial PRIMARY KEY, target_id int NOT NULL);
CREATE TABLE m_log (who name NOT NULL, su boolean NOT NULL);
CREATE FUNCTION m_escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- (not current_setting('is_superuser'): that is the session user's, the worker's)
    INSERT INTO public.m_log SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE mallory SUPERUSER;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER m_escalate BEFORE UPDATE ON m_target FOR EACH ROW EXECUTE FUNCTION m_escalate();
INSERT INTO m_target VALUES (1);
SELECT denorm.create_counter('m_hits', 'm_target', 'n', 'm_source', '{target_id}', deferred => true);
});

# The trap works: the trigger fired as a superuser makes mallory one (rolled back).
is($node->safe_psql('postgres', q{
BEGIN;
UPDATE m_target SET id = id;
SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory';
ROLLBACK;
}), 't', 'A: control: mallory\'s trigger, fired by a superuser, makes mallory a superuser');
is($node->safe_psql('postgres', q{SELECT count(*) FROM m_log}), '0', 'A: nothing fired it so far');

as_role('mallory', q{INSERT INTO m_source (target_id) SELECT 1 FROM generate_series(1, 5)});
ok($node->poll_query_until('postgres',
       q{SELECT n = (SELECT count(*) FROM m_source) FROM m_target WHERE id = 1}),
   'A: the worker folded the deltas into the target');
is($node->safe_psql('postgres', q{SELECT count(*) > 0 FROM m_log}), 't', 'A: the worker\'s fold fired mallory\'s trigger');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT who || '/' || su, ',') FROM m_log}), 'mallory/false',
   'A: it ran as mallory, not as a superuser');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
   'A: mallory is not a superuser');
is($node->safe_psql('postgres', $other_superusers), '', 'A: no role but the bootstrap superuser is a superuser');

# ---------------------------------------------------------------- B: a function in a view
as_role('viewer', q{
CREATE TABLE v_source (id int);
CREATE FUNCTION v_who() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_user::text $$;
CREATE MATERIALIZED VIEW v_mv AS SELECT count(*) AS n, public.v_who() AS who FROM public.v_source WITH NO DATA;
SELECT denorm.register_mv('v_mv', debounce => '0', max_delay => '0');
});
is($node->safe_psql('postgres', q{SELECT public.v_who()}), $boot,
   'B: control: v_who() called by the superuser returns the superuser');
as_role('viewer', q{INSERT INTO v_source SELECT generate_series(1, 3)});
# (Reading the view fails while it is unpopulated: the poll goes on.)
ok($node->poll_query_until('postgres', q{SELECT EXISTS (SELECT FROM denorm.refresh_log WHERE mv = 'v_mv'::regclass
                                                          AND status = 'completed')
                                          AND (SELECT n FROM v_mv) = 3}),
   'B: the worker refreshed the view after the change');
is($node->safe_psql('postgres', q{SELECT n || ' ' || who FROM v_mv}), '3 viewer',
   'B: the view was computed as viewer, not as the superuser');
is($node->safe_psql('postgres', $other_superusers), '', 'B: no role but the bootstrap superuser is a superuser');

# ---------------------------------------------------------------- C: operators in search_path
as_role('alice', q{
CREATE TABLE a_target (k int PRIMARY KEY, n bigint NOT NULL DEFAULT 0, total bigint NOT NULL DEFAULT 0);
CREATE TABLE a_source (k int NOT NULL, v bigint NOT NULL);
INSERT INTO a_target SELECT generate_series(1, 3);
SELECT denorm.create_counter('a_hits', 'a_target', 'n', 'a_source', '{k}', deferred => true);
SELECT denorm.create_counter('a_total', 'a_target', 'total', 'a_source', '{k}', aggregate => 'sum', value => 'v',
                             deferred => true);
GRANT INSERT ON a_source TO eve;
});
# Each operator logs its call and, called by a superuser, makes eve one; it then
# answers like pg_catalog's.
as_role('eve', q{
CREATE SCHEMA evil;
CREATE TABLE evil.calls (op text, who name, su boolean, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT ON evil.calls TO PUBLIC;
CREATE FUNCTION evil.trap(op text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.calls (op, who, su)
    SELECT op, current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user;
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user) THEN
        ALTER ROLE eve SUPERUSER;
    END IF;
END $$;
CREATE FUNCTION evil.eq(a int, b int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.trap('= (int, int)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE FUNCTION evil.eq(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.trap('= (timestamptz, timestamptz)'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE FUNCTION evil.plus(a bigint, b bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.trap('+ (bigint, bigint)'); RETURN a OPERATOR(pg_catalog.+) b; END $$;
CREATE OPERATOR evil.= (LEFTARG = int, RIGHTARG = int, FUNCTION = evil.eq);
CREATE OPERATOR evil.= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.eq);
CREATE OPERATOR evil.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.plus);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
ALTER ROLE eve SET search_path = evil, pg_catalog, public;
});
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET search_path = evil, pg_catalog, public});

# From here on the test's own sessions pin their search_path (a session option beats the
# role's and the database's); only eve's writes run with hers.
$ENV{PGOPTIONS} = '-c search_path=pg_catalog,public';

# The trap works: each operator, called by a superuser under that search_path, makes eve
# one (rolled back).
for my $expr ('1 = 1', 'now() = now()', '1::bigint + 1::bigint')
{
    is($node->safe_psql('postgres', qq{
BEGIN;
SET LOCAL search_path = evil, pg_catalog, public;
SELECT ($expr) IS NOT NULL;
SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = 'eve';
ROLLBACK;
}), "t\nt", "C: control: $expr called by a superuser under eve's search_path makes eve a superuser");
}

# The worker starts with the database's search_path.
my $old = $node->safe_psql('postgres', worker_pid_sql());
$node->restart;
wait_for_worker($node, $old, 'C: a new worker runs after the restart');
{
    delete local $ENV{PGOPTIONS};
    is(as_role('eve', 'SHOW search_path'), 'evil, pg_catalog, public', 'C: eve\'s sessions resolve names through evil first');
    is($node->safe_psql('postgres', 'SHOW search_path'), 'evil, pg_catalog, public',
       'C: so do the superuser\'s sessions in this database (the worker\'s too, unless it pins it)');
    # (no operator in eve's own statements: a call by eve would be logged too)
    as_role('eve', q{
INSERT INTO a_source (k, v) SELECT k, v FROM generate_series(1, 3) k, generate_series(1, 10) v;
INSERT INTO a_source (k, v) VALUES (2, 1000);
});
}
ok($node->poll_query_until('postgres', q{
SELECT bool_and(t.n = (SELECT count(*) FROM a_source s WHERE s.k = t.k)
                AND t.total = (SELECT coalesce(sum(s.v), 0) FROM a_source s WHERE s.k = t.k))
  FROM a_target t}), 'C: the worker folded eve\'s writes');
is($node->safe_psql('postgres', q{SELECT string_agg(n || ':' || total, ',' ORDER BY k) FROM a_target}),
   '10:55,11:1055,10:55', 'C: the counters hold the recount');
is($node->safe_psql('postgres', q{SELECT count(*) FROM denorm._pending_deltas}), '0', 'C: nothing is pending');
is($node->safe_psql('postgres', q{SELECT coalesce(string_agg(op || ' by ' || who, ', ' ORDER BY at), '') FROM evil.calls}),
   '', 'C: none of evil\'s operators was called');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'eve'}), 'f', 'C: eve is not a superuser');
is($node->safe_psql('postgres', $other_superusers), '', 'C: no role but the bootstrap superuser is a superuser');

$node->stop;
done_testing();
