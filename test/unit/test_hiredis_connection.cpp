// GoogleTest for redis::HiredisConnection against a real redis-server started on a free
// loopback port by each test (Debian's redis-server, which scripts/setup.sh installs):
// the compare-and-set keeps a value from rolling back when an older batch is sent again,
// a deleted field stays deleted, stream entries keep outbox order, AUTH, reconnecting
// after a restart, and a command timeout against a server that never answers.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/redis_publish.hpp"
#include "redis/hiredis_connection.hpp"

using namespace denorm;
using core::OutboxEntry;
using core::RedisReply;

namespace {

int free_port()
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

// A redis-server of its own: no persistence, loopback only.
class RedisServer {
public:
    explicit RedisServer(int port, std::string password = "") : port_(port), password_(std::move(password)) { start(); }
    ~RedisServer() { stop(); }
    void start()
    {
        pid_ = fork();
        if (pid_ == 0) {
            std::string port = std::to_string(port_);
            std::vector<const char *> argv = {"redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
                                              "--appendonly", "no", "--loglevel", "warning"};
            if (!password_.empty()) {
                argv.push_back("--requirepass");
                argv.push_back(password_.c_str());
            }
            argv.push_back(nullptr);
            execvp("redis-server", const_cast<char *const *>(argv.data()));
            _exit(127);
        }
        // Up once it accepts a connection.
        for (int i = 0; i < 100; i++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(port_);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            bool up = connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
            close(fd);
            if (up) return;
            int status;
            if (waitpid(pid_, &status, WNOHANG) == pid_) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ADD_FAILURE() << "redis-server did not start on port " << port_ << " (is it installed? scripts/setup.sh)";
    }
    void stop()
    {
        if (pid_ <= 0) return;
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    core::RedisAddress address() const { return {"127.0.0.1", port_, 0}; }

private:
    int port_;
    std::string password_;
    pid_t pid_ = -1;
};

RedisReply run(core::RedisConnection &c, const core::RedisCommand &command)
{
    std::vector<RedisReply> replies;
    std::string error;
    EXPECT_TRUE(c.execute({command}, &replies, &error)) << error;
    return replies.empty() ? RedisReply{} : replies[0];
}

OutboxEntry entry(std::int64_t id, std::optional<std::string> value, core::PublishMode mode = core::PublishMode::Hash)
{
    OutboxEntry e;
    e.id = id;
    e.counter = "votes";
    e.mode = mode;
    e.redis_key = mode == core::PublishMode::Hash ? "denorm:votes" : "denorm:votes:stream";
    e.field = "42";
    e.value = std::move(value);
    e.delta = "1";
    return e;
}

}  // namespace

TEST(HiredisConnection, AnOlderBatchSentAgainNeverRollsAValueBack)
{
    RedisServer server(free_port());
    redis::HiredisConnection c(server.address(), "", 1000);
    EXPECT_TRUE(core::publish(c, {entry(5, "10")}).ok);
    core::PublishOutcome again = core::publish(c, {entry(3, "9")});
    EXPECT_TRUE(again.ok);
    EXPECT_EQ(again.stale, 1u);
    EXPECT_EQ(run(c, {"HGET", "denorm:votes", "42"}).text, "10");
    EXPECT_EQ(core::publish(c, {entry(8, "11")}).written, 1u);
    EXPECT_EQ(run(c, {"HGET", "denorm:votes", "42"}).text, "11");
}

TEST(HiredisConnection, ADeletedFieldStaysDeleted)
{
    RedisServer server(free_port());
    redis::HiredisConnection c(server.address(), "", 1000);
    EXPECT_TRUE(core::publish(c, {entry(5, "10"), entry(9, std::nullopt)}).ok);
    EXPECT_EQ(run(c, {"HEXISTS", "denorm:votes", "42"}).integer, 0);
    EXPECT_EQ(core::publish(c, {entry(5, "10")}).stale, 1u);
    EXPECT_EQ(run(c, {"HEXISTS", "denorm:votes", "42"}).integer, 0);
}

TEST(HiredisConnection, StreamEntriesKeepOutboxOrderAndTtl)
{
    RedisServer server(free_port());
    redis::HiredisConnection c(server.address(), "", 1000);
    OutboxEntry second = entry(12, "11", core::PublishMode::Stream);
    second.ttl_seconds = 600;
    EXPECT_TRUE(core::publish(c, {second, entry(11, "10", core::PublishMode::Stream)}).ok);
    RedisReply all = run(c, {"XRANGE", "denorm:votes:stream", "-", "+"});
    ASSERT_EQ(all.elements.size(), 2u);
    // Each entry: [id, [field, value, ...]]: the value at 5, the version at 9.
    EXPECT_EQ(all.elements[0].elements[1].elements[9].text, "11");
    EXPECT_EQ(all.elements[0].elements[1].elements[5].text, "10");
    EXPECT_EQ(all.elements[1].elements[1].elements[9].text, "12");
    long long ttl = run(c, {"TTL", "denorm:votes:stream"}).integer;
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 600);
}

TEST(HiredisConnection, AuthenticatesAndNeverRepeatsThePassword)
{
    RedisServer server(free_port(), "s3cret-pw");
    redis::HiredisConnection good(server.address(), "s3cret-pw", 1000);
    EXPECT_EQ(run(good, {"PING"}).text, "PONG");
    redis::HiredisConnection bad(server.address(), "wrong-pw", 1000);
    std::vector<RedisReply> replies;
    std::string error;
    EXPECT_FALSE(bad.execute({{"PING"}}, &replies, &error));
    EXPECT_NE(error.find("Redis refused AUTH"), std::string::npos) << error;
    EXPECT_EQ(error.find("wrong-pw"), std::string::npos) << error;
    redis::HiredisConnection none(server.address(), "", 1000);
    EXPECT_EQ(run(none, {"PING"}).kind, RedisReply::Kind::Error);  // NOAUTH: a reply, not a lost connection
}

TEST(HiredisConnection, ConnectsAgainAfterTheServerRestarts)
{
    int port = free_port();
    RedisServer server(port);
    redis::HiredisConnection c(server.address(), "", 1000);
    EXPECT_TRUE(core::publish(c, {entry(1, "1")}).ok);
    server.stop();
    core::PublishOutcome down = core::publish(c, {entry(2, "2")});
    EXPECT_FALSE(down.ok);
    EXPECT_FALSE(down.error.empty());
    EXPECT_FALSE(c.connected());
    server.start();
    EXPECT_TRUE(core::publish(c, {entry(2, "2")}).ok);  // a new server: nothing stored, so written
    EXPECT_EQ(run(c, {"HGET", "denorm:votes", "42"}).text, "2");
}

TEST(HiredisConnection, AServerThatNeverAnswersTimesOut)
{
    // A socket that listens but never accepts: the connection succeeds through the
    // backlog, and no reply ever comes.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
    ASSERT_EQ(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
    redis::HiredisConnection c({"127.0.0.1", ntohs(a.sin_port), 0}, "", 200);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<RedisReply> replies;
    std::string error;
    EXPECT_FALSE(c.execute({{"PING"}}, &replies, &error));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(ms, 150);
    EXPECT_LT(ms, 2000);
    EXPECT_FALSE(error.empty());
    close(fd);
}
