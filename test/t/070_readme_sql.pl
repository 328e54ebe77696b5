# 070_readme_sql.pl — every SQL block in README.md runs as pasted, in order, on a fresh
# database (the project's standard for the README).
#
# Convention for fenced blocks in README.md (the info string after ```):
#   ```sql            run: each block, in README order, in one fresh database `readme`,
#                     through psql with ON_ERROR_STOP; one assertion per block, failing
#                     with psql's error. Blocks build on the earlier ones (tables created
#                     in one block are used by the next), as a reader pasting them would.
#   ```sql error      run the same way, but must fail: its first error must have the
#                     SQLSTATE of a `-- ERROR: <sqlstate>` comment in the block (put the
#                     failing statement last: nothing after it runs).
#   ```sql signature  not run: a function signature or column listing, not a statement.
# Any other info string beginning with "sql" fails the test, so that a misspelt fence
# cannot slip out of it. Other fences (```sh, none) are not run. GitHub highlights
# "sql error" and "sql signature" as SQL (it reads the first word).
#
# The node has what the blocks need: denorm and pg_cron preloaded (this line comes after
# TEMP_CONFIG's test/denorm.conf, so it wins), and pg_cron's database is `readme` (the
# blocks schedule jobs there). The blocks' cron.schedule_in_database calls name an
# application database `app`; pg_cron refuses a database that does not exist, so it
# exists (empty), as it would on a real set-up.
# Layer: TAP (PostgreSQL::Test::Cluster).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $readme = ($ENV{DENORM_SRC} // '.') . '/README.md';
open(my $fh, '<', $readme) or die "cannot open $readme: $!";
my @lines = <$fh>;
close($fh);

# The fenced blocks: [info string, first line number, text].
my @blocks;
my $open;
for my $i (0 .. $#lines)
{
    my $line = $lines[$i];
    if (!$open && $line =~ /^```\s*(.*?)\s*$/)
    {
        $open = [ $1, $i + 1, '' ];
    }
    elsif ($open && $line =~ /^```\s*$/)
    {
        push @blocks, $open;
        undef $open;
    }
    elsif ($open)
    {
        $open->[2] .= $line;
    }
}
die "$readme: fence opened at line $open->[1] is never closed" if $open;

my %kinds = (sql => 'run', 'sql error' => 'error', 'sql signature' => 'skip');
my @sql = grep { $_->[0] =~ /^sql\b/i } @blocks;
ok(@sql > 0, scalar(@sql) . " SQL blocks in $readme, "
     . scalar(grep { ($kinds{$_->[0]} // '') ne 'skip' } @sql) . ' to run');

my $node = PostgreSQL::Test::Cluster->new('readme');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'denorm,pg_cron'
cron.database_name = 'readme'
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE readme');
$node->safe_psql('postgres', 'CREATE DATABASE app');

my $n = 0;
for my $block (@sql)
{
    my ($info, $at, $text) = @$block;
    my $kind = $kinds{$info};
    next if defined $kind && $kind eq 'skip';
    $n++;
    my ($first) = $text =~ /^\s*(\S[^\n]*)/;
    $first //= '(empty)';
    $first =~ s/\s+/ /g;
    my $name = "block $n (README line $at): $first";
    if (!defined $kind)
    {
        fail("$name: unknown fence info string '$info' (sql, sql error or sql signature)");
        next;
    }
    my ($state) = $text =~ /--\s*ERROR:\s*([0-9A-Z]{5})/;
    if ($kind eq 'error' && !defined $state)
    {
        fail("$name: a sql error block needs a '-- ERROR: <sqlstate>' comment");
        next;
    }
    # -A -t -q; the output goes to the log, to compare with the block's comments.
    my ($rc, $out, $err) = $node->psql('readme', $text, on_error_stop => 1,
                                       extra_params => ['-v', 'VERBOSITY=verbose']);
    note("$name:\n$out\n$err");
    if ($kind eq 'run')
    {
        ok($rc == 0, $name) or diag("psql exited with $rc:\n$err");
    }
    else
    {
        my ($got) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
        ok($rc != 0 && defined $got && $got eq $state, "$name: fails with $state")
          or diag("psql exited with $rc, expected SQLSTATE $state:\n$err");
    }
}

$node->stop;
done_testing();
