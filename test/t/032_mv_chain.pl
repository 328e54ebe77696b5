# 032_mv_chain.pl — registered views that read other registered views (README
# "Materialized views, refreshed in the background", Change capture): with depends_on
# NULL their sources are found through the views they read, a change of the base table
# refreshes the chain in order (customer_totals, then top_customers, then top_count,
# which reads top_customers through a plain view), and each ends equal to a
# recomputation from the base table. A refresh of the first view alone (refresh_now
# after a change no trigger saw) counts as a change of the views that read it.
# Layer: TAP (PostgreSQL::Test::Cluster, TEMP_CONFIG preloads denorm, so the worker runs).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MvTest;

my $node = PostgreSQL::Test::Cluster->new('mv_chain');
$node->init;
$node->start;

# The *_query views compute each level from the base table alone: the oracle.
$node->safe_psql('postgres', q{
CREATE EXTENSION denorm CASCADE;
CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, amount int NOT NULL);
INSERT INTO orders VALUES (1, 'ann', 60), (2, 'ann', 70), (3, 'bob', 40), (4, 'carol', 90);
CREATE MATERIALIZED VIEW customer_totals AS
  SELECT customer, count(*) AS orders, sum(amount) AS total FROM orders GROUP BY customer;
CREATE UNIQUE INDEX ON customer_totals (customer);
CREATE MATERIALIZED VIEW top_customers AS
  SELECT customer, total FROM customer_totals WHERE total >= 100;
CREATE UNIQUE INDEX ON top_customers (customer);
CREATE VIEW top_customers_v AS SELECT customer FROM top_customers;
CREATE MATERIALIZED VIEW top_count AS SELECT count(*) AS n FROM top_customers_v;
CREATE UNIQUE INDEX ON top_count (n);

CREATE VIEW customer_totals_query AS
  SELECT customer, count(*) AS orders, sum(amount) AS total FROM orders GROUP BY customer;
CREATE VIEW top_customers_query AS SELECT customer, total FROM customer_totals_query WHERE total >= 100;
CREATE VIEW top_count_query AS SELECT count(*) AS n FROM top_customers_query;

-- registered last to first: the refresh order must come from the definitions, not from
-- the order of registration
SELECT denorm.register_mv('top_count');
SELECT denorm.register_mv('top_customers');
SELECT denorm.register_mv('customer_totals');
});

my @chain = qw(customer_totals top_customers top_count);

sub fresh_sql { return view_equals_query($_[0]); }
my $chain_settled = 'SELECT ' . join(' AND ', map {
    fresh_sql($_) . ' AND ' . nothing_pending($_)
} @chain);

# The last completed refresh of each view of the chain after log id $mark, in the order
# of their starts, e.g. "customer_totals,top_customers,top_count".
sub order_of_last_refreshes
{
    my ($mark) = @_;
    return $node->safe_psql('postgres', "
        SELECT string_agg(mv::text, ',' ORDER BY last_start, mv::text)
          FROM (SELECT mv, max(started_at) AS last_start FROM denorm.refresh_log
                 WHERE status = 'completed' AND id > $mark GROUP BY mv) l");
}

is($node->safe_psql('postgres', q{SELECT count(*) FROM denorm.mv_status
                                   WHERE mv IN ('customer_totals'::regclass, 'top_customers'::regclass, 'top_count'::regclass)}),
   '3', 'the three views are registered');

# Start from a quiet state: everything requested by registering has run.
{
    my $since = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
    $node->safe_psql('postgres', join('', map { "SELECT denorm.request_refresh('$_');\n" } @chain));
    ok($node->poll_query_until('postgres', $chain_settled . ' AND ' . join(' AND ', map {
           "EXISTS (SELECT FROM denorm.refresh_log WHERE mv = '$_'::regclass AND status = 'completed'"
           . " AND started_at > '$since')" } @chain)),
       'settled: refreshes requested so far ran');
}

# ---------------------------------------------------------------- a change of the base table
my $mark = $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM denorm.refresh_log');
$node->safe_psql('postgres', q{INSERT INTO orders VALUES (5, 'carol', 50)});    # carol: 90 -> 140, joins the top
ok($node->poll_query_until('postgres', $chain_settled), 'all three views end equal to the recomputation');
is($node->safe_psql('postgres', 'SELECT n FROM top_count'), '2', 'top_count sees carol (through two views)');
is(order_of_last_refreshes($mark), 'customer_totals,top_customers,top_count',
   'each view was last refreshed after the view it reads (refresh_log started_at order)');
is($node->safe_psql('postgres', "SELECT count(*) FROM denorm.refresh_log WHERE status = 'failed' AND id > $mark"),
   '0', 'no refresh failed');

# ---------------------------------------------------------------- a refresh of the first view alone
# With session_replication_role = replica ordinary triggers do not fire, so (if changes
# are captured by triggers) nothing is requested for this insert; refresh_now then
# changes customer_totals, and that refresh must count as a change of the views reading it.
$mark = $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM denorm.refresh_log');
$node->safe_psql('postgres', q{
SET session_replication_role = replica;
INSERT INTO orders VALUES (6, 'bob', 80);    -- bob: 40 -> 120, joins the top
RESET session_replication_role;
SELECT denorm.refresh_now('customer_totals');
});
ok($node->poll_query_until('postgres', $chain_settled),
   'after refresh_now of the first view the views reading it follow');
is($node->safe_psql('postgres', 'SELECT n FROM top_count'), '3', 'top_count sees bob');
is(order_of_last_refreshes($mark), 'customer_totals,top_customers,top_count',
   'again in dependency order');

$node->stop;
done_testing();
