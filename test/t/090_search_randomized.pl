# 090_search_randomized.pl — randomized differential test of search documents: four psql
# sessions run seeded random writes (single statements, transactions, rollbacks,
# savepoints; INSERT, multi-row INSERT, UPDATE of the title, body, boost, filter, key and
# of a column no source reads, DELETE, ON CONFLICT, MERGE, COPY, a partition named
# directly, now and then a TRUNCATE) against a plain table read by two search sources and
# a partitioned one; after every round denorm.search_documents must equal a recomputation
# in SQL (EXCEPT ALL both ways), search_reconcile must find nothing, and search() must find
# each visible row by a word of its own title and no hidden one.
# Layer: TAP (PostgreSQL::Test::Cluster, TEMP_CONFIG preloads denorm).
#
# Each run draws a new seed and prints it; DENORM_SEED=n regenerates the same statements
# (the interleaving still varies); DENORM_ROUNDS changes the number of rounds.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seed = $ENV{DENORM_SEED} // (time() ^ ($$ << 15)) % 2**31;
my $rounds = $ENV{DENORM_ROUNDS} // 6;
my $workers = 4;
my $txns_per_round = 40;    # per worker
srand($seed);
note "seed $seed (DENORM_SEED=$seed regenerates the same statements)";

my $node = PostgreSQL::Test::Cluster->new('search');
$node->init;
$node->append_conf('postgresql.conf', "deadlock_timeout = 50ms\nlog_min_messages = warning\n");
$node->start;
my $tmp = PostgreSQL::Test::Utils::tempdir;

# doc: a plain table read by two sources — 'docs' (primary key, filter, boost) and 'slugs'
# (another key, another title expression, 'simple' language). pdoc: hash-partitioned, one
# partition partitioned again. Every title carries its row's own word (w<id>): search()
# must find the row by it exactly while the row is visible.
$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE doc (id int PRIMARY KEY, slug text NOT NULL UNIQUE, title text, body text, stars int,
                  hidden boolean NOT NULL DEFAULT false, views int NOT NULL DEFAULT 0);
CREATE TABLE pdoc (id int NOT NULL, grp int NOT NULL, title text, archived boolean,
                   PRIMARY KEY (id, grp)) PARTITION BY HASH (grp);
CREATE TABLE pdoc_0 PARTITION OF pdoc FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE pdoc_1 PARTITION OF pdoc FOR VALUES WITH (MODULUS 2, REMAINDER 1) PARTITION BY HASH (id);
CREATE TABLE pdoc_1_0 PARTITION OF pdoc_1 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE pdoc_1_1 PARTITION OF pdoc_1 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO doc (id, slug, title, body, stars)
SELECT g, 's' || g, 'w' || g || ' alpha', 'body of ' || g, g % 7 FROM generate_series(1, 60) g;
INSERT INTO pdoc SELECT g, g % 5, 'p' || g || ' beta', g % 4 = 0 FROM generate_series(1, 60) g;
SELECT denorm.create_search_source('docs', 'doc', title => 'title', body => 'body',
                                   filter => 'NOT hidden', boost => 'stars / 10.0');
SELECT denorm.create_search_source('slugs', 'doc', title => 'upper(title)', doc_key => 'slug',
                                   language => 'simple');
SELECT denorm.create_search_source('pdocs', 'pdoc', title => 'title', filter => 'archived IS NOT TRUE');
});

# The recomputation, independent of denorm's own: what each source's documents must be.
my $drift_sql = q{
WITH expected AS (
    SELECT 'docs' AS source, id::text AS doc_key, title, body, coalesce((stars / 10.0)::real, 0) AS boost
      FROM doc WHERE NOT hidden
    UNION ALL SELECT 'slugs', slug, upper(title), NULL, 0 FROM doc
    UNION ALL SELECT 'pdocs', id || ',' || grp, title, NULL, 0 FROM pdoc WHERE archived IS NOT TRUE),
stored AS (SELECT source, doc_key, title, body, boost FROM denorm.search_documents)
SELECT format('%s %s: %s', d.problem, d.source, d.doc_key) FROM (
    SELECT 'missing or different' AS problem, * FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM stored) m
    UNION ALL
    SELECT 'extra or different', * FROM (SELECT * FROM stored EXCEPT ALL SELECT * FROM expected) e) d
 ORDER BY 1};

# ---------------------------------------------------------------- random statements
sub pick   { return $_[ int(rand(@_)) ]; }
sub chance { return rand() < $_[0]; }
sub rint   { my ($lo, $hi) = @_; return $lo + int(rand($hi - $lo + 1)); }
my @words = qw(alpha beta gamma delta postgres search index vacuum tuple page);
sub rtitle { my ($id) = @_; return "'w$id " . join(' ', map { pick(@words) } 1 .. rint(1, 3)) . "'"; }
sub rtext  { return chance(0.15) ? 'NULL' : "'" . join(' ', map { pick(@words) } 1 .. rint(0, 5)) . "'"; }
sub rstars { return chance(0.1) ? 'NULL' : rint(0, 30); }
sub rid    { return rint(1, 90); }

# One random statement on doc or pdoc.
sub statement
{
    my ($ctx) = @_;
    my $id = rid();
    my $lo = rid();
    my $range = "id BETWEEN $lo AND " . ($lo + rint(0, 5));
    my $fresh = 1000 * ($ctx->{w} + 1) + $ctx->{next}++;   # ids no other worker writes
    my @ops = (
        [ 10, sub { "INSERT INTO doc (id, slug, title, body, stars) VALUES ($fresh, 's$fresh', " . rtitle($fresh)
                    . ', ' . rtext() . ', ' . rstars() . ')' } ],
        [ 5,  sub { my @r = map { my $i = $fresh + 100 * $_; "($i, 's$i', " . rtitle($i) . ', ' . rtext() . ', ' . rstars() . ')' } 1 .. rint(2, 5);
                    'INSERT INTO doc (id, slug, title, body, stars) VALUES ' . join(', ', @r) } ],
        [ 10, sub { "UPDATE doc SET title = 'w' || id || ' ' || coalesce(" . rtext() . ", '') WHERE $range" } ],
        [ 6,  sub { 'UPDATE doc SET body = ' . rtext() . ", stars = " . rstars() . " WHERE $range" } ],
        [ 8,  sub { "UPDATE doc SET hidden = NOT hidden WHERE $range" } ],
        [ 6,  sub { "UPDATE doc SET views = views + 1 WHERE $range" } ],
        [ 4,  sub { "UPDATE doc SET slug = slug || 'x' WHERE id = $id" } ],
        [ 3,  sub { "UPDATE doc SET id = id + 5000, title = 'w' || (id + 5000) || ' moved' WHERE id = $id" } ],
        [ 6,  sub { "DELETE FROM doc WHERE $range" } ],
        [ 5,  sub { "INSERT INTO doc AS d (id, slug, title, body) VALUES ($id, 'u$id', " . rtitle($id) . ', ' . rtext()
                    . ') ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body, hidden = false' } ],
        [ 4,  sub { "MERGE INTO doc d USING (VALUES ($id, " . rtitle($id) . ", " . (chance(0.3) ? 'true' : 'false') . "), ($fresh, "
                    . rtitle($fresh) . ", false)) AS v(id, title, del) ON d.id = v.id"
                    . ' WHEN MATCHED AND v.del THEN DELETE WHEN MATCHED THEN UPDATE SET title = v.title'
                    . " WHEN NOT MATCHED THEN INSERT (id, slug, title) VALUES (v.id, 'm' || v.id, v.title)" } ],
        [ 3,  sub { copy_rows($ctx, $fresh) } ],
        [ 8,  sub { my $g = rint(0, 4); "INSERT INTO pdoc VALUES ($fresh, $g, 'p$fresh " . pick(@words) . "', " . pick('true', 'false', 'NULL') . ')' } ],
        [ 6,  sub { "UPDATE pdoc SET grp = (grp + 1) % 5 WHERE $range" } ],
        [ 6,  sub { "UPDATE pdoc SET archived = NOT coalesce(archived, false), title = title || ' " . pick(@words) . "' WHERE $range" } ],
        [ 4,  sub { my $part = pick('pdoc_0', 'pdoc_1_0', 'pdoc_1_1'); "UPDATE $part SET title = 'p' || id || ' direct' WHERE $range" } ],
        [ 4,  sub { "DELETE FROM pdoc WHERE $range" } ],
        [ 1,  sub { pick('TRUNCATE pdoc_0', 'TRUNCATE pdoc_1_1', 'TRUNCATE doc') } ],
    );
    my $total = 0;
    $total += $_->[0] for @ops;
    my $r = rand($total);
    for my $op (@ops) {
        return $op->[1]->() if ($r -= $op->[0]) < 0;
    }
    return $ops[0][1]->();
}

# COPY from a server-side file (psql would read inline data as SQL after a failed COPY).
sub copy_rows
{
    my ($ctx, $fresh) = @_;
    my $file = sprintf('%s/copy_r%d_w%d_%d.tsv', $tmp, $ctx->{round}, $ctx->{w}, $ctx->{next}++);
    open my $fh, '>', $file or die "$file: $!";
    for my $k (1 .. rint(1, 4)) {
        my $i = $fresh + 50 * $k;
        print $fh join("\t", $i, "c$i", "w$i copied " . pick(@words), pick(@words), rint(0, 9)), "\n";
    }
    close $fh;
    return "COPY doc (id, slug, title, body, stars) FROM '$file'";
}

sub script
{
    my ($ctx) = @_;
    my @lines;
    for (1 .. $txns_per_round) {
        my $r = rand();
        if ($r < 0.45) {
            push @lines, statement($ctx);
        } elsif ($r < 0.75) {
            push @lines, 'BEGIN', (map { statement($ctx) } 1 .. rint(2, 4)), 'COMMIT';
        } elsif ($r < 0.85) {
            push @lines, 'BEGIN', (map { statement($ctx) } 1 .. rint(1, 3)), 'ROLLBACK';
        } else {
            push @lines, 'BEGIN', statement($ctx), 'SAVEPOINT sp', (map { statement($ctx) } 1 .. rint(1, 3)),
              (chance(0.7) ? 'ROLLBACK TO SAVEPOINT sp' : 'RELEASE SAVEPOINT sp'), statement($ctx),
              (chance(0.85) ? 'COMMIT' : 'ROLLBACK');
        }
    }
    return map { "$_;" } @lines;
}

# ---------------------------------------------------------------- run the rounds
my $psql = $node->installed_command('psql');
my ($statements, %errors);
for my $round (1 .. $rounds) {
    my @runs;
    for my $w (0 .. $workers - 1) {
        my $ctx = { w => $w, round => $round, next => $round * 10000 };
        my $file = "$tmp/round${round}_w$w.sql";
        open my $fh, '>', $file or die "$file: $!";
        my @lines = script($ctx);
        print $fh "$_\n" for @lines;
        close $fh;
        $statements += @lines;
        my $h = IPC::Run::start(
            [ $psql, '-X', '-q', '-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=sqlstate',
              '-d', $node->connstr('postgres'), '-f', $file ],
            '<', \undef, '>', "$file.out", '2>', "$file.err", IPC::Run::timeout(240));
        push @runs, { h => $h, file => $file, w => $w };
    }
    for my $run (@runs) {
        my $ok = eval { $run->{h}->finish; 1 };
        ok($ok && $run->{h}->result == 0, "round $round worker $run->{w}: psql ran to the end");
        # Expected failures: deadlocks between transactions writing rows in other orders,
        # key collisions (an id moved onto another, a slug made equal), a row moved to
        # another partition by another session; each rolls its transaction back.
        open my $fh, '<', "$run->{file}.err" or die;
        while (my $line = <$fh>) {
            next unless $line =~ /(ERROR|FATAL|PANIC):\s+([0-9A-Z]{5})/;
            $errors{$2}++;
        }
    }
    my @drift = grep { length } split /\n/, $node->safe_psql('postgres', $drift_sql);
    is(scalar(@drift), 0, "round $round: search_documents equals the recomputation")
      or diag(join("\n", @drift[0 .. ($#drift < 20 ? $#drift : 20)]));
    is($node->safe_psql('postgres', 'SELECT count(*) FROM denorm.search_reconcile(fix => false)'), '0',
        "round $round: search_reconcile finds nothing");
    # Each row by the word of its own title: found while visible, not when hidden.
    my $wrong = $node->safe_psql('postgres', q{
SELECT string_agg(format('%s visible %s found %s', d.id, NOT d.hidden, f.found), '; ')
  FROM (SELECT * FROM doc ORDER BY id LIMIT 25) d,
       LATERAL (SELECT count(*) FILTER (WHERE s.doc_key = d.id::text) > 0 AS found
                  FROM denorm.search('w' || d.id || ' ', sources => '{docs}', max_results => 5, fuzzy => false) s) f
 WHERE f.found <> NOT d.hidden});
    is($wrong, '', "round $round: search() finds every visible row by its own word and no hidden one");
}
my @unexpected = grep { !/^(40P01|23505|40001|25P02|3B001)$/ } sort keys %errors;
is(join(', ', @unexpected), '', 'no error but deadlocks, key collisions and their aborted transactions')
  or diag(join("\n", map { "$_: $errors{$_}" } sort keys %errors));
note "$statements statements; errors by SQLSTATE: "
  . join(', ', map { "$_ $errors{$_}" } sort keys %errors);

done_testing();
