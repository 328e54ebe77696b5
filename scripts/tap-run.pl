#!/usr/bin/perl
# tap-run.pl — run TAP test files (like `prove`) and print one machine-readable line
#   TAP_COUNTS <passed> <failed>
# counting each assertion. A file that has problems without a failed assertion (died
# early, wrong plan, nonzero exit, parse error) counts as one extra failure, so a test
# that crashes before its first `ok` is never silently green.
# Usage: tap-run.pl -I <perl lib dir> ... file.pl ...
use strict;
use warnings;
use TAP::Harness;

my @lib;
while (@ARGV && $ARGV[0] =~ /^-I(.*)$/) {
    shift @ARGV;
    push @lib, length($1) ? $1 : shift @ARGV;
}
my @files = @ARGV;
if (!@files) {
    print "TAP_COUNTS 0 0\n";
    exit 0;
}

my $harness = TAP::Harness->new({
    lib       => \@lib,
    verbosity => ($ENV{TAP_VERBOSE} ? 1 : 0),
    failures  => 1,       # echo each failed assertion
    comments  => 1,       # and the diagnostics around it
    color     => 0,
    merge     => 1,       # stderr of the test script goes into the TAP stream (shown on failure)
});
my $agg = $harness->runtests(@files);

my $passed = scalar $agg->passed;    # includes TODO tests, as prove does
my $failed = scalar $agg->failed;
my @bad_files;
for my $file ($agg->descriptions) {
    my ($p) = $agg->parsers($file);
    next unless $p && $p->has_problems;
    push @bad_files, $file;
    $failed += 1 if scalar($p->failed) == 0;  # died / bad plan / exit code without a failed assertion
}
print "TAP_FAILED_FILES @bad_files\n" if @bad_files;
print "TAP_COUNTS $passed $failed\n";
exit($failed ? 1 : 0);
