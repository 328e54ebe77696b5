# RedisTest.pm — the real redis-server the publishing TAP tests run against (README
# "Publishing to Redis"): started by the test on a free loopback port with a password
# and an append-only file (a killed server comes back with what it acknowledged),
# killed and started again at will, and never left running after the test.
package RedisTest;
use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my @servers;    # every server a test made: killed at exit

sub new
{
    my ($class) = @_;
    my ($binary) = grep { -x $_ } map { "$_/redis-server" } split /:/, "$ENV{PATH}:/usr/bin:/usr/sbin";
    BAIL_OUT('redis-server is not installed (scripts/setup.sh installs it)') unless $binary;
    my $self = bless {
        binary   => $binary,
        dir      => PostgreSQL::Test::Utils::tempdir,
        port     => PostgreSQL::Test::Cluster::get_free_port(),
        password => 'tap-secret-' . int(rand(1e9)),
        harness  => undef,    # undef while it is down
    }, $class;
    push @servers, $self;
    return $self;
}

sub port     { $_[0]{port} }
sub password { $_[0]{password} }

sub start
{
    my ($self) = @_;
    $self->{harness} = IPC::Run::start(
        [ $self->{binary}, '--port', $self->{port}, '--bind', '127.0.0.1', '--requirepass', $self->{password},
          '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', $self->{dir},
          '--loglevel', 'warning' ],
        '>>', "$self->{dir}/redis.log", '2>&1');
    for (1 .. 100)
    {
        return if $self->cmd('PING') eq 'PONG';
        usleep(50_000);
    }
    BAIL_OUT("redis-server did not start on port $self->{port}");
}

sub kill
{
    my ($self) = @_;
    return unless $self->{harness};
    $self->{harness}->signal('KILL');
    eval { $self->{harness}->finish };
    undef $self->{harness};
}

# One redis-cli command; its output, trimmed.
sub cmd
{
    my ($self, @command) = @_;
    my ($out, $err) = ('', '');
    IPC::Run::run([ 'redis-cli', '-p', $self->{port}, '-a', $self->{password}, '--no-auth-warning', @command ],
                  '>', \$out, '2>', \$err);
    $out =~ s/\s+$//;
    return $out;
}

# A hash as "field=value" lines, sorted by field (the fields are numbers).
sub hash
{
    my ($self, $key) = @_;
    my %h = split /\n/, $self->cmd('HGETALL', $key);
    return join("\n", map { "$_=$h{$_}" } sort { $a <=> $b } keys %h);
}

# A stream's entries in stream order: { counter, key, value, delta, version } each
# (XRANGE's reply, flat: per entry its id and five field/value pairs).
sub stream
{
    my ($self, $key) = @_;
    my @lines = split /\n/, $self->cmd('XRANGE', $key, '-', '+');
    my @entries;
    while (@lines)
    {
        my ($id, %f) = splice(@lines, 0, 11);
        push @entries, \%f;
    }
    return @entries;
}

# The servers must not outlive the test, whether it passed, failed or died ($? is the
# test's exit status: finishing the harnesses must not change it).
END
{
    local $?;
    $_->kill for @servers;
}

1;
