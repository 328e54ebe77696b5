# 010_counters_randomized.pl — randomized differential test of counters: several psql
# sessions run seeded random DML against a plain and a partitioned source at once;
# after every round each counter column is compared with a recount in SQL.
# Layer: TAP (PostgreSQL::Test::Cluster, TEMP_CONFIG preloads denorm).
#
# Each run draws a new seed and prints it; DENORM_SEED=n reproduces the generated
# statements (the interleaving still varies); DENORM_ROUNDS / DENORM_SINGLE_ROUNDS /
# DENORM_TXN_ROUNDS change the number of rounds of each kind;
# DENORM_SCRIPT_DIR=dir keeps the generated scripts and psql's output there.
use strict;
use warnings;
use List::Util qw(max);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seed = $ENV{DENORM_SEED} // (time() ^ ($$ << 15)) % 2**31;
my $mixed_rounds = $ENV{DENORM_ROUNDS} // 6;    # shared rows, transactions of any shape
my $single_rounds = $ENV{DENORM_SINGLE_ROUNDS} // 3;   # single statements, disjoint child rows
# Transactions of several statements, each worker on its own source rows but all on the
# same target rows in random orders (denorm.apply = commit, the default): not one may
# fail — denorm's own locks must never form a cycle.
my $txn_rounds = $ENV{DENORM_TXN_ROUNDS} // 3;
my $workers = 4;
my $txns_per_round = 45;                         # per worker
srand($seed);
note "seed $seed (DENORM_SEED=$seed regenerates the same statements)";

my $node = PostgreSQL::Test::Cluster->new('counters');
$node->init;
$node->append_conf('postgresql.conf', "deadlock_timeout = 50ms\nlog_min_messages = warning\n");
$node->start;
my $tmp = $ENV{DENORM_SCRIPT_DIR} // PostgreSQL::Test::Utils::tempdir;

# ---------------------------------------------------------------- schema and counters
# parent: the target of most counters. item: a plain source with two key columns and a
# text key; pitem: a source hash-partitioned by its key (a key move crosses partitions),
# one partition partitioned again. tag_stats: a create_missing target, empty at first.
# grp: a cascade — the sum of its parents' n_items, kept by a counter on parent, which
# denorm itself writes.
$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE parent (
    id        int PRIMARY KEY,
    note      text,
    n_items   bigint NOT NULL DEFAULT 0,
    n_visible integer NOT NULL DEFAULT 0,
    qty_sum   bigint NOT NULL DEFAULT 0,
    price_sum numeric NOT NULL DEFAULT 0,
    n_refs    bigint NOT NULL DEFAULT 0,
    n_total   bigint NOT NULL DEFAULT 0,
    p_visible smallint NOT NULL DEFAULT 0,
    p_qty     double precision NOT NULL DEFAULT 0,
    last_item int,
    grp       int NOT NULL DEFAULT 1);
CREATE TABLE grp (id int PRIMARY KEY, items bigint NOT NULL DEFAULT 0);
INSERT INTO grp VALUES (1), (2);
CREATE TABLE tag_stats (tag text PRIMARY KEY, n_tagged bigint NOT NULL DEFAULT 0,
                        p_price numeric NOT NULL DEFAULT 0);
CREATE TABLE item (id serial PRIMARY KEY, parent_id int, alt_parent_id int, visible boolean,
                   qty int, price numeric(8,2), tag text, note text);
CREATE INDEX ON item (parent_id);
CREATE INDEX ON item (alt_parent_id);
CREATE INDEX ON item (tag);
CREATE SEQUENCE pitem_id_seq;
CREATE TABLE pitem (id int NOT NULL DEFAULT nextval('pitem_id_seq'), parent_id int NOT NULL,
                    visible boolean, qty int, price numeric(8,2), tag text, note text,
                    PRIMARY KEY (id, parent_id)) PARTITION BY HASH (parent_id);
CREATE TABLE pitem_0 PARTITION OF pitem FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE pitem_1 PARTITION OF pitem FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE pitem_2 PARTITION OF pitem FOR VALUES WITH (MODULUS 3, REMAINDER 2) PARTITION BY HASH (id);
CREATE TABLE pitem_2_0 PARTITION OF pitem_2 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE pitem_2_1 PARTITION OF pitem_2 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE INDEX ON pitem (parent_id);
CREATE INDEX ON pitem (tag);
INSERT INTO parent (id, grp) SELECT g, 1 + g % 2 FROM generate_series(1, 20) g;

-- create_missing counters first, on empty sources: every tag_stats row is made by them
SELECT denorm.create_counter('item_tag_count', 'tag_stats', 'n_tagged', 'item', '{tag}',
                             create_missing => true);
SELECT denorm.create_counter('pitem_tag_price', 'tag_stats', 'p_price', 'pitem', '{tag}',
                             aggregate => 'sum', value => 'price', create_missing => true);

-- rows before the parent counters exist: backfill counts them
INSERT INTO item (parent_id, alt_parent_id, visible, qty, price, tag)
SELECT 1 + g % 8, CASE WHEN g % 3 = 0 THEN 1 + g % 11 END, g % 4 <> 0, g % 7, g * 0.25, 'red'
  FROM generate_series(1, 40) g;
INSERT INTO pitem (parent_id, visible, qty, price, tag)
SELECT 1 + g % 10, g % 3 <> 0, g % 9, g * 0.5, CASE WHEN g % 2 = 0 THEN 'blue' END
  FROM generate_series(1, 40) g;

SELECT denorm.create_counter('item_count', 'parent', 'n_items', 'item', '{parent_id}');
SELECT denorm.create_counter('item_visible', 'parent', 'n_visible', 'item', '{parent_id}',
                             filter => 'visible');
SELECT denorm.create_counter('item_qty', 'parent', 'qty_sum', 'item', '{parent_id}',
                             aggregate => 'sum', value => 'qty');
SELECT denorm.create_counter('item_price', 'parent', 'price_sum', 'item', '{parent_id}',
                             aggregate => 'sum', value => 'price');
-- n_refs: an item counts for its parent and for its alt parent (same source, two keys)
SELECT denorm.create_counter('item_refs', 'parent', 'n_refs', 'item', '{parent_id}');
SELECT denorm.create_counter('item_alt_refs', 'parent', 'n_refs', 'item', '{alt_parent_id}');
-- n_total: items and pitems (two sources, one column)
SELECT denorm.create_counter('item_total', 'parent', 'n_total', 'item', '{parent_id}');
SELECT denorm.create_counter('pitem_total', 'parent', 'n_total', 'pitem', '{parent_id}');
SELECT denorm.create_counter('pitem_visible', 'parent', 'p_visible', 'pitem', '{parent_id}',
                             filter => 'visible AND qty > 2');
SELECT denorm.create_counter('pitem_qty', 'parent', 'p_qty', 'pitem', '{parent_id}',
                             aggregate => 'sum', value => 'qty');
SELECT denorm.create_latest('item_last', 'parent', '{last_item}', 'item', '{parent_id}', '{id}', '{id}');
SELECT denorm.create_counter('parent_items', 'grp', 'items', 'parent', '{grp}', aggregate => 'sum', value => 'n_items');
});

# Each stored counter column and its recount over the source tables (t = target row).
my @columns = (
    [ 'parent.n_items (count)',          'parent', 'id', 'n_items',
      '(SELECT count(*) FROM item s WHERE s.parent_id = t.id)' ],
    [ 'parent.n_visible (filtered count)', 'parent', 'id', 'n_visible',
      '(SELECT count(*) FROM item s WHERE s.parent_id = t.id AND s.visible)' ],
    [ 'parent.qty_sum (sum of int)',     'parent', 'id', 'qty_sum',
      '(SELECT coalesce(sum(s.qty), 0) FROM item s WHERE s.parent_id = t.id)' ],
    [ 'parent.price_sum (sum of numeric)', 'parent', 'id', 'price_sum',
      '(SELECT coalesce(sum(s.price), 0) FROM item s WHERE s.parent_id = t.id)' ],
    [ 'parent.n_refs (two keys of one source into one column)', 'parent', 'id', 'n_refs',
      '(SELECT count(*) FROM item s WHERE s.parent_id = t.id)'
      . ' + (SELECT count(*) FROM item s WHERE s.alt_parent_id = t.id)' ],
    [ 'parent.n_total (two sources into one column, one partitioned)', 'parent', 'id', 'n_total',
      '(SELECT count(*) FROM item s WHERE s.parent_id = t.id)'
      . ' + (SELECT count(*) FROM pitem s WHERE s.parent_id = t.id)' ],
    [ 'parent.p_visible (filtered count, partitioned source)', 'parent', 'id', 'p_visible',
      '(SELECT count(*) FROM pitem s WHERE s.parent_id = t.id AND s.visible AND s.qty > 2)' ],
    [ 'parent.p_qty (sum into double precision, partitioned source)', 'parent', 'id', 'p_qty',
      '(SELECT coalesce(sum(s.qty), 0) FROM pitem s WHERE s.parent_id = t.id)' ],
    [ 'parent.last_item (latest)',        'parent', 'id', 'last_item',
      '(SELECT max(s.id) FROM item s WHERE s.parent_id = t.id)' ],
    [ 'grp.items (sum of a counter column: a cascade)', 'grp', 'id', 'items',
      '(SELECT count(*) FROM item s JOIN parent p ON p.id = s.parent_id WHERE p.grp = t.id)' ],
    [ 'tag_stats.n_tagged (create_missing count, text key)', 'tag_stats', 'tag', 'n_tagged',
      '(SELECT count(*) FROM item s WHERE s.tag = t.tag)' ],
    [ 'tag_stats.p_price (create_missing sum, partitioned source)', 'tag_stats', 'tag', 'p_price',
      '(SELECT coalesce(sum(s.price), 0) FROM pitem s WHERE s.tag = t.tag)' ],
);

# Rows (key, stored, recount) where stored EXCEPT ALL recount or the reverse is not empty.
sub mismatches
{
    my ($target, $key, $column, $recount) = @{ $_[0] };
    my $sql = qq{
WITH stored AS (SELECT t.${key}::text AS key, t.${column}::numeric AS v FROM $target t),
     recount AS (SELECT t.${key}::text AS key, ($recount)::numeric AS v FROM $target t),
     diff AS ((SELECT * FROM stored EXCEPT ALL SELECT * FROM recount)
              UNION ALL (SELECT * FROM recount EXCEPT ALL SELECT * FROM stored))
SELECT format('%s: stored %s, recount %s', coalesce(quote_literal(d.key), 'NULL'), s.v, r.v)
  FROM (SELECT DISTINCT key FROM diff) d
  JOIN stored s ON s.key IS NOT DISTINCT FROM d.key JOIN recount r ON r.key IS NOT DISTINCT FROM d.key
 ORDER BY d.key};
    my $out = $node->safe_psql('postgres', $sql);
    return grep { length } split /\n/, $out;
}

# Tags that have source rows with a non-zero contribution but no tag_stats row.
my $missing_tags_sql = q{
SELECT coalesce(quote_literal(tag), 'NULL') FROM (
    SELECT tag FROM item WHERE tag IS NOT NULL
    UNION SELECT tag FROM pitem WHERE tag IS NOT NULL GROUP BY tag HAVING sum(price) <> 0) s
 WHERE NOT EXISTS (SELECT 1 FROM tag_stats t WHERE t.tag = s.tag) ORDER BY 1};

# ---------------------------------------------------------------- random statements
sub pick   { return $_[ int(rand(@_)) ]; }
sub chance { return rand() < $_[0]; }
sub rint   { my ($lo, $hi) = @_; return $lo + int(rand($hi - $lo + 1)); }

# Keys: mostly 8 hot parents (contention), some cold ones, some without a parent row.
sub rkey
{
    my %o = @_;
    my $r = rand();
    return 'NULL' if $o{nullable} && $r < 0.07;
    return rint(21, 24) if $r < 0.13;
    return rint(9, 20) if $r < 0.35;
    return rint(1, 8);
}
my @tags = ('red', 'green', 'blue', 'a', 'ab', 'b', 'two words', '');
sub rbool  { return pick('true', 'true', 'false', 'false', 'NULL::boolean'); }
sub rqty   { return chance(0.1) ? 'NULL::int' : rint(-3, 20); }
sub rprice { return chance(0.1) ? 'NULL::numeric' : sprintf('%d.%02d', rint(0, 40), rint(0, 99)); }
# Tags: a few hot ones, and many rare ones whose tag_stats row does not exist yet; half
# of the statements give several of their rows one rare tag (one statement creates it).
my $statement_tag;
sub rtag
{
    return $statement_tag if defined $statement_tag && chance(0.6);
    return chance(0.1) ? 'NULL::text' : "'" . (chance(0.7) ? pick(@tags) : 't' . rint(1, 400)) . "'";
}

# A row of each source as SQL literals, in @{$cols{$table}} order.
my %cols = (
    item  => [qw(parent_id alt_parent_id visible qty price tag)],
    pitem => [qw(parent_id visible qty price tag)]);
sub rrow
{
    my ($table) = @_;
    return $table eq 'item'
      ? [ rkey(nullable => 1), (chance(0.5) ? rkey(nullable => 1) : 'NULL'), rbool(), rqty(), rprice(), rtag() ]
      : [ rkey(), rbool(), rqty(), rprice(), rtag() ];
}

# Context of one worker's round: {w, owned (single-statement rounds), max => {item, pitem},
# files => counter for COPY data files, round}.
sub rid
{
    my ($ctx, $table) = @_;
    my $id = rint(1, max(1, $ctx->{max}{$table}));
    return $id unless $ctx->{owned};
    # the worker's own ids, never above the sequence (an explicit id must not meet nextval)
    $id -= ($id - $ctx->{w}) % $workers;
    return $id >= 1 ? $id : $id + $workers;
}

# A predicate choosing a few rows (in single-statement rounds only the worker's own).
sub rpred
{
    my ($ctx, $table) = @_;
    my $r = rand();
    my $p;
    if ($r < 0.45) {
        my $a = rint(1, max(1, $ctx->{max}{$table}));
        $p = "id BETWEEN $a AND " . ($a + rint(0, 6));
    } elsif ($r < 0.75) {
        my $k = rkey(nullable => $table eq 'item');
        $p = ($k eq 'NULL' ? 'parent_id IS NULL' : "parent_id = $k") . ' AND id % 3 = ' . rint(0, 2);
    } else {
        my %ids = map { rid($ctx, $table) => 1 } 1 .. rint(1, 4);
        $p = 'id IN (' . join(', ', sort { $a <=> $b } keys %ids) . ')';
    }
    $p .= " AND id % $workers = $ctx->{w}" if $ctx->{owned};
    return $p;
}

sub values_list { return join(', ', map { '(' . join(', ', @$_) . ')' } @_); }

# One random statement: {sql, table, op}.
sub statement
{
    my ($ctx) = @_;
    $statement_tag = chance(0.5) ? "'t" . rint(1, 400) . "'" : undef;
    my $t = chance(0.55) ? 'item' : 'pitem';
    my $c = join(', ', @{ $cols{$t} });
    my $pred = rpred($ctx, $t);
    my @ops = (
        [ 12, 'insert one',   sub { "INSERT INTO $t ($c) VALUES " . values_list(rrow($t)) } ],
        [ 8,  'insert many',  sub { "INSERT INTO $t ($c) VALUES " . values_list(map { rrow($t) } 1 .. rint(2, 6)) } ],
        [ 3,  'insert select', sub {
              my $keys = join(', ', map { rkey() } 1 .. 3);
              "INSERT INTO $t (parent_id, visible, qty, price, tag) SELECT (ARRAY[$keys])[1 + g % 3],"
                . " g % 3 <> 0, g - 2, g * 1.25, (ARRAY['red', 'ab', ''])[1 + g % 3]"
                . ' FROM generate_series(1, ' . rint(2, 12) . ') g' } ],
        [ 8,  'key move',     sub { "UPDATE $t SET parent_id = " . rkey(nullable => $t eq 'item') . " WHERE $pred" } ],
        [ 3,  'key shift',    sub { "UPDATE $t SET parent_id = parent_id % 24 + 1 WHERE $pred" } ],
        [ 3,  'alt key move', sub { $t eq 'item'
              ? 'UPDATE item SET alt_parent_id = ' . rkey(nullable => 1) . " WHERE $pred"
              : "UPDATE $t SET tag = " . rtag() . " WHERE $pred" } ],
        [ 2,  'key swap',     sub { $t eq 'item'
              ? "UPDATE item SET parent_id = alt_parent_id, alt_parent_id = parent_id WHERE $pred"
              : "UPDATE $t SET parent_id = 25 - parent_id WHERE $pred" } ],
        [ 7,  'filter flip',  sub { chance(0.5) ? "UPDATE $t SET visible = NOT visible WHERE $pred"
                                                : "UPDATE $t SET visible = " . rbool() . " WHERE $pred" } ],
        [ 7,  'value change', sub { pick("UPDATE $t SET qty = qty + " . rint(-5, 5) . " WHERE $pred",
                                         "UPDATE $t SET price = price * 2 % 997 WHERE $pred",
                                         "UPDATE $t SET qty = " . rqty() . ', price = ' . rprice() . " WHERE $pred") } ],
        [ 3,  'unrelated column', sub { "UPDATE $t SET note = 'n' || id WHERE $pred" } ],
        [ 5,  'key, filter and value', sub {
              "UPDATE $t SET parent_id = " . rkey(nullable => $t eq 'item') . ', visible = ' . rbool()
                . ', qty = ' . rqty() . ', price = ' . rprice() . ', tag = ' . rtag() . " WHERE $pred" } ],
        [ 3,  'tag change',   sub { "UPDATE $t SET tag = " . rtag() . " WHERE $pred" } ],
        [ 8,  'delete',       sub { "DELETE FROM $t WHERE $pred" } ],
        [ 5,  'on conflict',  sub { $t eq 'item' ? upsert_item($ctx) : upsert_pitem($ctx, $pred) } ],
        [ 3,  'copy',         sub { copy_rows($ctx, $t) } ],
        [ 5,  'merge',        sub { merge($ctx, $t) } ],
        [ 5,  'partition dml', sub { partition_dml($ctx) } ],
        [ $ctx->{owned} ? 0 : 0.4, 'truncate', sub { 'TRUNCATE ' . pick('item', 'pitem', 'pitem_1', 'pitem_2') } ],
    );
    my $total = 0;
    $total += $_->[0] for @ops;
    my $r = rand($total);
    for my $op (@ops) {
        $r -= $op->[0];
        next if $r >= 0;
        my $sql = $op->[2]->();
        my $table = $sql =~ /\bpitem/ ? 'pitem' : $t;
        return { sql => $sql, table => $table, op => $op->[1] };
    }
    die "unreachable";
}

sub upsert_item
{
    my ($ctx) = @_;
    my %ids = map { rid($ctx, 'item') => 1 } 1 .. rint(1, 4);
    my @rows = map { [ $_, @{ rrow('item') } ] } sort { $a <=> $b } keys %ids;
    return 'INSERT INTO item AS i (id, parent_id, alt_parent_id, visible, qty, price, tag) VALUES '
      . values_list(@rows)
      . ' ON CONFLICT (id) DO UPDATE SET parent_id = EXCLUDED.parent_id, visible = EXCLUDED.visible,'
      . ' qty = coalesce(i.qty, 0) + EXCLUDED.qty, price = EXCLUDED.price, tag = EXCLUDED.tag';
}

# Existing rows (they conflict) plus a new one; DO UPDATE cannot move a row to another partition.
sub upsert_pitem
{
    my ($ctx, $pred) = @_;
    my $new = rrow('pitem');
    return 'INSERT INTO pitem AS p (id, parent_id, visible, qty, price, tag)'
      . ' SELECT id, parent_id, ' . join(', ', rbool(), rqty(), rprice(), rtag()) . " FROM pitem WHERE $pred"
      . " UNION ALL SELECT nextval('pitem_id_seq')::int, " . join(', ', @$new)
      . ' ON CONFLICT (id, parent_id) DO UPDATE SET visible = EXCLUDED.visible,'
      . ' qty = coalesce(p.qty, 0) + EXCLUDED.qty, price = EXCLUDED.price, tag = EXCLUDED.tag';
}

# COPY from a server-side file (psql would read inline data as SQL after a failed COPY).
sub copy_rows
{
    my ($ctx, $t) = @_;
    my $file = sprintf('%s/copy_r%d_w%d_%d.tsv', $tmp, $ctx->{round}, $ctx->{w}, $ctx->{files}++);
    open my $fh, '>', $file or die "$file: $!";
    for (1 .. rint(1, 8)) {
        my @v = map {
            my $x = $_;
            $x =~ /^NULL/ ? '\N' : $x =~ /^'(.*)'$/ ? $1 : $x
        } @{ rrow($t) };
        print $fh join("\t", @v), "\n";
    }
    close $fh;
    return "COPY $t (" . join(', ', @{ $cols{$t} }) . ") FROM '$file'";
}

# Matched rows are deleted or updated (pitem: possibly into another partition), unmatched
# source rows (ids that do not exist) are inserted with a new id.
sub merge
{
    my ($ctx, $t) = @_;
    my %ids = map { (chance(0.7) ? rid($ctx, $t) : 2000000000 - rint(1, 100000)) => 1 } 1 .. rint(1, 5);
    my @rows = map {
        [ "${_}::int", rkey() . '::int', rbool() . '::boolean', rqty() . '::int', rtag() . '::text',
          (chance(0.25) ? 'true' : 'false') ]
    } sort { $a <=> $b } keys %ids;
    return "MERGE INTO $t t USING (VALUES " . values_list(@rows) . ') AS s(id, parent_id, visible, qty, tag, del)'
      . ' ON t.id = s.id WHEN MATCHED AND s.del THEN DELETE'
      . ' WHEN MATCHED THEN UPDATE SET parent_id = s.parent_id, visible = s.visible,'
      . ' qty = coalesce(t.qty, 0) + s.qty, tag = s.tag'
      . ' WHEN NOT MATCHED THEN INSERT (parent_id, visible, qty, price, tag)'
      . ' VALUES (s.parent_id, s.visible, s.qty, 2.50, s.tag)';
}

# DML naming a partition (its own statement triggers fire, not the root's); no key changes,
# which the partition constraint would refuse.
sub partition_dml
{
    my ($ctx) = @_;
    my $part = pick('pitem_0', 'pitem_1', 'pitem_2', 'pitem_2_1');
    my $pred = rpred($ctx, 'pitem');
    return pick("UPDATE $part SET visible = NOT visible, qty = qty + 1 WHERE $pred",
                "UPDATE $part SET price = " . rprice() . ', tag = ' . rtag() . " WHERE $pred",
                "DELETE FROM $part WHERE $pred");
}

# One worker's script for a round: lines, and per line the transaction it belongs to.
sub script
{
    my ($ctx) = @_;
    my (@lines, @meta);
    my $emit = sub { my ($sql, $txn, $st) = @_; push @lines, "$sql;"; push @meta, { txn => $txn, %{ $st // {} } }; };
    for my $txn (1 .. $txns_per_round) {
        my $r = $ctx->{owned} && !$ctx->{txns} ? 0 : rand();
        if ($r < 0.40) {
            $emit->($_->{sql}, $txn, $_) for statement($ctx);
        } elsif ($r < 0.70) {
            $emit->('BEGIN', $txn);
            $emit->($_->{sql}, $txn, $_) for map { statement($ctx) } 1 .. rint(2, 4);
            $emit->('COMMIT', $txn);
        } elsif ($r < 0.82) {
            $emit->('BEGIN', $txn);
            $emit->($_->{sql}, $txn, $_) for map { statement($ctx) } 1 .. rint(1, 3);
            $emit->('ROLLBACK', $txn);
        } else {
            $emit->('BEGIN', $txn);
            $emit->($_->{sql}, $txn, $_) for statement($ctx);
            $emit->('SAVEPOINT sp', $txn);
            $emit->($_->{sql}, $txn, $_) for map { statement($ctx) } 1 .. rint(1, 3);
            $emit->(chance(0.75) ? 'ROLLBACK TO SAVEPOINT sp' : 'RELEASE SAVEPOINT sp', $txn);
            $emit->($_->{sql}, $txn, $_) for map { statement($ctx) } 1 .. rint(0, 1);
            $emit->(chance(0.85) ? 'COMMIT' : 'ROLLBACK', $txn);
        }
    }
    return (\@lines, \@meta);
}

# ---------------------------------------------------------------- run the rounds
my $psql = $node->installed_command('psql');
my (%first_drift, @unexpected, %expected_errors, $statements_run, $missing_tags, $most_rows);
my $round = 0;
for my $phase (('mixed') x $mixed_rounds, ('single') x $single_rounds, ('transactions') x $txn_rounds) {
    $round++;
    my %max = map { $_ => $node->safe_psql('postgres', "SELECT last_value FROM ${_}_id_seq") } qw(item pitem);
    my @runs;
    for my $w (0 .. $workers - 1) {
        my $ctx = { w => $w, owned => $phase ne 'mixed', txns => $phase eq 'transactions', max => \%max,
                    round => $round, files => 0 };
        my ($lines, $meta) = script($ctx);
        my $file = "$tmp/round${round}_w$w.sql";
        open my $fh, '>', $file or die "$file: $!";
        print $fh "$_\n" for @$lines;
        close $fh;
        $statements_run += @$lines;
        local $ENV{PGOPTIONS} = '-c statement_timeout=60s';
        my $h = IPC::Run::start(
            [ $psql, '-X', '-q', '-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose',
              '-d', $node->connstr('postgres'), '-f', $file ],
            '<', \undef, '>', "$file.out", '2>', "$file.err", IPC::Run::timeout(240));
        push @runs, { h => $h, file => $file, lines => $lines, meta => $meta, w => $w };
    }
    for my $run (@runs) {
        my $ok = eval { $run->{h}->finish; 1 };
        push @unexpected, "round $round worker $run->{w}: psql " . ($ok ? 'exited ' . $run->{h}->result : "timed out: $@")
          if !$ok || $run->{h}->result != 0;
        # The first error of each transaction (later ones only say it is aborted).
        open my $fh, '<', "$run->{file}.err" or die;
        my %failed_txn;
        while (my $line = <$fh>) {
            if ($line =~ /^psql:[^:]*:(\d+): (ERROR|FATAL|PANIC):\s+([0-9A-Z]{5}): (.*)$/) {
                my ($no, $state, $msg) = ($1, $3, $4);
                my $m = $run->{meta}[ $no - 1 ];
                next if $failed_txn{ $m->{txn} }++ && $state =~ /^(25P02|3B001)$/;
                my $what = sprintf('round %d (%s) worker %d line %d: %s %s [%s] in: %s', $round, $phase,
                                   $run->{w}, $no, $state, $msg, $m->{op} // 'control', $run->{lines}[ $no - 1 ]);
                # Mixed rounds: deadlocks between transactions that write in different orders
                # are the application's; a partitioned row moved by another session gives
                # 40001; a pitem upsert racing with a move can duplicate an (id, parent) pair.
                my $allowed = $phase eq 'mixed'
                  && ($state eq '40P01' || ($m->{table} // '') eq 'pitem' && $state =~ /^(40001|23505)$/);
                if ($allowed) { $expected_errors{"$phase $state"}++; }
                else { push @unexpected, $what; }
            } elsif ($line =~ /^psql:.*(FATAL|PANIC|server closed|connection to server)/) {
                push @unexpected, "round $round worker $run->{w}: $line";
            }
        }
        close $fh;
    }

    for my $col (@columns) {
        next if $first_drift{ $col->[0] };
        my @bad = mismatches([ @$col[ 1 .. 4 ] ]);
        $first_drift{ $col->[0] } = { round => "$round ($phase)", rows => \@bad } if @bad;
    }
    my $rows = $node->safe_psql('postgres', 'SELECT (SELECT count(*) FROM item) + (SELECT count(*) FROM pitem)');
    $most_rows = $rows if !defined $most_rows || $rows > $most_rows;
    my $missing = $node->safe_psql('postgres', $missing_tags_sql);
    $missing_tags //= "after round $round: $missing" if length $missing;

    # Between rounds, alone: target rows inserted after their source rows exist start at the
    # right value (a parent and a tag deleted and inserted again; parents 21..24 are new).
    my $p = 1 + ($round * 7) % 20;
    my $tag = $tags[ $round % @tags ];
    $node->safe_psql('postgres', "DELETE FROM parent WHERE id = $p; INSERT INTO parent (id) VALUES ($p);"
        . "DELETE FROM tag_stats WHERE tag = '$tag'; INSERT INTO tag_stats (tag) VALUES ('$tag');");
    $node->safe_psql('postgres', 'INSERT INTO parent (id) VALUES (21), (22)') if $round == 2;
    $node->safe_psql('postgres', 'INSERT INTO parent (id) VALUES (23), (24)') if $round == 4;
    # Before the single-statement rounds: no two pitem rows share an id, so that every
    # worker's rows (id % workers) stay its own and no key move can collide.
    $node->safe_psql('postgres', q{DELETE FROM pitem p USING (SELECT id, min(parent_id) AS keep FROM pitem
        GROUP BY id HAVING count(*) > 1) d WHERE p.id = d.id AND p.parent_id <> d.keep})
      if $round == $mixed_rounds;
    # Check again: the target rows inserted just now must start at their recount.
    for my $col (@columns) {
        next if $first_drift{ $col->[0] };
        my @bad = mismatches([ @$col[ 1 .. 4 ] ]);
        $first_drift{ $col->[0] } = { round => "$round (target rows inserted again)", rows => \@bad } if @bad;
    }
}

# ---------------------------------------------------------------- verdict
my $rows = $node->safe_psql('postgres',
    "SELECT (SELECT count(*) FROM item) || ' items, ' || (SELECT count(*) FROM pitem) || ' pitems, '"
    . " || (SELECT count(*) FROM tag_stats) || ' tags'");
note "seed $seed: $statements_run script lines; finally $rows; tolerated errors: "
  . (join(', ', map { "$_ x$expected_errors{$_}" } sort keys %expected_errors) || 'none');
cmp_ok($most_rows, '>', 200, "[seed $seed] the workload wrote rows ($statements_run script lines)");

for my $col (@columns) {
    my $d = $first_drift{ $col->[0] };
    is($d ? scalar @{ $d->{rows} } : 0, 0, "[seed $seed] $col->[0] equals a recount after every round");
    diag("first drift after round $d->{round}:\n  " . join("\n  ", @{ $d->{rows} })) if $d;
}
is($missing_tags // '', '', "[seed $seed] create_missing made a tag_stats row for every tag with source rows");
is(scalar @unexpected, 0,
   "[seed $seed] no errors but deadlocks of multi-statement transactions on shared source rows and"
   . ' moved-partition conflicts; none at all from statements and transactions on disjoint source rows');
diag(join("\n", @unexpected[ 0 .. ($#unexpected < 29 ? $#unexpected : 29) ])) if @unexpected;

$node->stop;
done_testing();
