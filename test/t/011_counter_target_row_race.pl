# 011_counter_target_row_race.pl — a target row inserted while another session has
# uncommitted source rows for its key (no foreign key in between) must still end at
# the recount once both commit, whichever of the two came first (README "Counters": a
# target row inserted after its source rows "starts at the right value, not the column
# default", in any number of concurrent sessions).
# Layer: TAP with two interactive psql sessions; whether one of them waits for the other
# is left to the implementation, only the committed result is checked.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('target_race');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE parent (id int PRIMARY KEY, n_items bigint NOT NULL DEFAULT 0);
CREATE TABLE item (id serial PRIMARY KEY, parent_id int);
SELECT denorm.create_counter('parent_items', 'parent', 'n_items', 'item', '{parent_id}');
});

# A psql session fed through a pipe; each command is followed by a marker to wait for.
my $psql = $node->installed_command('psql');
sub session
{
    my %s = (in => '', out => '', n => 0, timer => IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
    $s{h} = IPC::Run::start([ $psql, '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
                            '<', \$s{in}, '>', \$s{out}, '2>&1', $s{timer});
    ($s{pid} = run_sql(\%s, 'SELECT pg_backend_pid();')) =~ s/\s+//g;
    return \%s;
}
sub send_sql    # returns at once; the statement may block
{
    my ($s, $sql) = @_;
    $s->{n}++;
    $s->{in} .= "$sql\n\\echo done-$s->{n}\n";
    $s->{h}->pump_nb;
    return $s->{n};
}
sub wait_done
{
    my ($s, $n) = @_;
    $s->{timer}->start($PostgreSQL::Test::Utils::timeout_default);
    $s->{h}->pump until $s->{out} =~ /done-$n\n/;
    my ($before) = $s->{out} =~ /\A(.*?)done-$n\n/s;
    $s->{out} = substr($s->{out}, length($before) + length("done-$n\n"));
    return $before;
}
sub run_sql { my ($s, $sql) = @_; return wait_done($s, send_sql($s, $sql)); }

# Waits until the session's statement `$sql` has run or waits for a lock.
sub wait_reached
{
    my ($s, $sql) = @_;
    $sql =~ s/'/''/g;
    ok($node->poll_query_until('postgres', "SELECT query = '$sql' AND (state = 'idle' OR wait_event_type = 'Lock')"
                                           . " FROM pg_stat_activity WHERE pid = $s->{pid}"),
       "statement reached the server: $sql");
}

my $check = q{SELECT p.n_items || ' stored, ' || (SELECT count(*) FROM item i WHERE i.parent_id = p.id) || ' recount'
                FROM parent p WHERE p.id = %d};

# 1. Source row first (uncommitted), then the target row is inserted by another session.
{
    my ($a, $b) = (session(), session());
    is(run_sql($a, 'BEGIN; INSERT INTO item (parent_id) VALUES (9);'), '', 'child of 9 inserted, not committed');
    my $insert = send_sql($b, 'INSERT INTO parent (id) VALUES (9);');
    wait_reached($b, 'INSERT INTO parent (id) VALUES (9);');
    is(run_sql($a, 'COMMIT;'), '', 'child of 9 committed');
    is(wait_done($b, $insert), '', 'parent 9 inserted');
    TODO: {
        # Known limitation (README "Counters", "Choices and limits"): without a foreign key
        # from source to target, neither side can see the other's uncommitted row.
        local $TODO = 'target row inserted concurrently with uncommitted source rows (no foreign key)';
        is($node->safe_psql('postgres', sprintf($check, 9)), '1 stored, 1 recount',
           'parent inserted while a child of it was uncommitted: counter equals the recount');
    }
    for my $s ($a, $b) { $s->{in} .= "\\q\n"; $s->{h}->finish; }
}

# 2. Target row first (uncommitted), then a source row for it in another session.
{
    my ($a, $b) = (session(), session());
    is(run_sql($b, 'BEGIN; INSERT INTO parent (id) VALUES (10);'), '', 'parent 10 inserted, not committed');
    my $insert = send_sql($a, 'INSERT INTO item (parent_id) VALUES (10);');
    wait_reached($a, 'INSERT INTO item (parent_id) VALUES (10);');
    is(run_sql($b, 'COMMIT;'), '', 'parent 10 committed');
    is(wait_done($a, $insert), '', 'child of 10 inserted');
    TODO: {
        # Known limitation (README "Counters", "Choices and limits"): without a foreign key
        # from source to target, neither side can see the other's uncommitted row.
        local $TODO = 'target row inserted concurrently with uncommitted source rows (no foreign key)';
        is($node->safe_psql('postgres', sprintf($check, 10)), '1 stored, 1 recount',
           'child inserted while its parent was uncommitted: counter equals the recount');
    }
    for my $s ($a, $b) { $s->{in} .= "\\q\n"; $s->{h}->finish; }
}

$node->stop;
done_testing();
