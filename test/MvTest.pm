# MvTest.pm — SQL conditions and helpers the materialized-view TAP tests share.
# Each test view <mv> has a plain view <mv>_query with the same query, the oracle.
package MvTest;
use strict;
use warnings;
use Test::More;
use Exporter 'import';
our @EXPORT = qw(view_equals_query nothing_pending settle);

# The view holds exactly the rows of its query (EXCEPT ALL both ways).
sub view_equals_query
{
    my ($mv) = @_;
    return "NOT EXISTS ((TABLE $mv EXCEPT ALL TABLE ${mv}_query)"
      . " UNION ALL (TABLE ${mv}_query EXCEPT ALL TABLE $mv))";
}

# No change of the view waits for a refresh.
sub nothing_pending
{
    my ($mv) = @_;
    return "(SELECT NOT pending FROM denorm.mv_status WHERE mv = '$mv'::regclass)";
}

# Requests a refresh of each view and waits until one completed after the request and
# nothing is pending, so that everything requested by earlier steps has been refreshed
# and refresh_log counts taken next are stable.
sub settle
{
    my ($node, @mvs) = @_;
    my $since = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
    $node->safe_psql('postgres', join('', map { "SELECT denorm.request_refresh('$_');\n" } @mvs));
    my $cond = join(' AND ', map {
        "EXISTS (SELECT FROM denorm.refresh_log WHERE mv = '$_'::regclass AND status = 'completed'"
          . " AND started_at > '$since') AND " . nothing_pending($_)
    } @mvs);
    ok($node->poll_query_until('postgres', "SELECT $cond"), "settled: refreshes requested so far ran (@mvs)");
}

1;
