// GoogleTest for core::redis_publish: denorm.redis_url parsing, what a new connection
// sends, the commands a batch of outbox entries becomes (hash: one compare-and-set per
// field, the newest entry winning; stream: one XADD per entry in outbox order) and how
// the replies decide whether the entries may be deleted — against a fake connection.
#include <gtest/gtest.h>

#include "core/backoff.hpp"
#include "core/redis_publish.hpp"

using namespace denorm::core;

namespace {

// Answers each command with the next scripted reply (default: integer 1), or fails.
class FakeConnection : public RedisConnection {
public:
    std::vector<std::vector<RedisCommand>> sent;
    std::vector<RedisReply> answers;
    bool fail = false;
    bool execute(const std::vector<RedisCommand> &commands, std::vector<RedisReply> *replies, std::string *error) override
    {
        sent.push_back(commands);
        if (fail) {
            *error = "Connection refused";
            return false;
        }
        for (size_t i = 0; i < commands.size(); i++) {
            RedisReply r;
            r.kind = RedisReply::Kind::Integer;
            r.integer = 1;
            replies->push_back(i < answers.size() ? answers[i] : r);
        }
        return true;
    }
};

OutboxEntry hash_entry(std::int64_t id, const std::string &field, std::optional<std::string> value)
{
    OutboxEntry e;
    e.id = id;
    e.counter = "post_upvotes";
    e.redis_key = "denorm:post_upvotes";
    e.field = field;
    e.value = std::move(value);
    return e;
}

OutboxEntry stream_entry(std::int64_t id, const std::string &field, const std::string &value, const std::string &delta)
{
    OutboxEntry e = hash_entry(id, field, value);
    e.mode = PublishMode::Stream;
    e.redis_key = "denorm:votes";
    e.delta = delta;
    return e;
}

std::string parse_error(const std::string &url)
{
    std::string error;
    EXPECT_FALSE(parse_redis_url(url, &error)) << url;
    return error;
}

}  // namespace

TEST(RedisUrl, HostPortAndDatabase)
{
    std::string error;
    auto a = parse_redis_url("redis://127.0.0.1:6380/2", &error);
    ASSERT_TRUE(a) << error;
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 6380);
    EXPECT_EQ(a->db, 2);
    auto b = parse_redis_url("redis://cache.internal", &error);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->host, "cache.internal");
    EXPECT_EQ(b->port, 6379);
    EXPECT_EQ(b->db, 0);
    auto c = parse_redis_url("redis://[::1]:7000", &error);
    ASSERT_TRUE(c) << error;
    EXPECT_EQ(c->host, "::1");
    EXPECT_EQ(c->port, 7000);
}

TEST(RedisUrl, RefusesWhatItCannotUse)
{
    EXPECT_NE(parse_error("http://localhost:6379").find("redis://host"), std::string::npos);
    EXPECT_NE(parse_error("redis://:secret@localhost").find("denorm.redis_password"), std::string::npos);
    EXPECT_NE(parse_error("redis://localhost:0").find("port"), std::string::npos);
    EXPECT_NE(parse_error("redis://localhost:65536").find("port"), std::string::npos);
    EXPECT_NE(parse_error("redis://localhost:63x9").find("port"), std::string::npos);
    EXPECT_NE(parse_error("redis://localhost:").find("port"), std::string::npos);
    EXPECT_NE(parse_error("redis://localhost/one").find("database"), std::string::npos);
    EXPECT_NE(parse_error("redis://:6379").find("host"), std::string::npos);
    EXPECT_NE(parse_error("redis://[::1").find("]"), std::string::npos);
}

TEST(RedisConnect, AuthAndSelectOnlyWhenNeeded)
{
    RedisAddress plain{"localhost", 6379, 0};
    EXPECT_TRUE(connect_commands(plain, "").empty());
    RedisAddress db3{"localhost", 6379, 3};
    EXPECT_EQ(connect_commands(db3, "pw"), (std::vector<RedisCommand>{{"AUTH", "pw"}, {"SELECT", "3"}}));
}

TEST(RedisPlan, HashWritesTheNewestEntryOfEachFieldOnce)
{
    std::vector<OutboxEntry> batch = {hash_entry(7, "42", "10"), hash_entry(3, "42", "9"), hash_entry(5, "43", "1")};
    std::vector<RedisCommand> plan = plan_publish(batch);
    ASSERT_EQ(plan.size(), 1u);  // one script call for the key's fields
    // In id order of first appearance: field 42 (ids 3, 7: 7 wins), then 43.
    EXPECT_EQ(plan[0], (RedisCommand{"EVAL", kHashWriteScript, "2", "denorm:post_upvotes", "denorm:post_upvotes:versions",
                                     "", "42", "7", "set", "10", "43", "5", "set", "1"}));
}

TEST(RedisPlan, HashFieldsGoInCallsOfBoundedSizePerKey)
{
    std::vector<OutboxEntry> batch;
    for (int i = 0; i < 1201; i++) batch.push_back(hash_entry(i + 1, std::to_string(i), "1"));
    OutboxEntry other = hash_entry(5000, "1", "2");
    other.redis_key = "app:other";
    batch.push_back(other);
    std::vector<RedisCommand> plan = plan_publish(batch);
    ASSERT_EQ(plan.size(), 4u);  // 500 + 500 + 201 fields of one key, 1 of the other
    EXPECT_EQ(plan[0].size(), 6u + 4 * kFieldsPerScriptCall);
    EXPECT_EQ(plan[1][3], "denorm:post_upvotes");
    EXPECT_EQ(plan[2].size(), 6u + 4 * 201);
    EXPECT_EQ(plan[3][3], "app:other");
    EXPECT_EQ(plan[3].size(), 6u + 4);
}

TEST(RedisPlan, HashDeletesAGoneRowAndSetsItsTtl)
{
    OutboxEntry gone = hash_entry(9, "42", std::nullopt);
    gone.ttl_seconds = 3600;
    std::vector<RedisCommand> plan = plan_publish({gone});
    ASSERT_EQ(plan.size(), 1u);
    EXPECT_EQ(plan[0][5], "3600");
    EXPECT_EQ(plan[0][8], "del");
}

TEST(RedisPlan, StreamAddsEveryEntryInOutboxOrder)
{
    OutboxEntry later = stream_entry(12, "42", "11", "1");
    later.ttl_seconds = 60;
    std::vector<RedisCommand> plan = plan_publish({later, stream_entry(11, "42", "10", "1")});
    ASSERT_EQ(plan.size(), 3u);
    EXPECT_EQ(plan[0], (RedisCommand{"XADD", "denorm:votes", "MAXLEN", "~", "1000000", "*", "counter", "post_upvotes", "key",
                                     "42", "value", "10", "delta", "1", "version", "11"}));
    EXPECT_EQ(plan[1][15], "12");
    EXPECT_EQ(plan[2], (RedisCommand{"EXPIRE", "denorm:votes", "60"}));
}

TEST(RedisPlan, AnnouncementsArePublishedInOutboxOrderBesideTheWrites)
{
    OutboxEntry refreshed;
    refreshed.id = 7;
    refreshed.counter = "public.trending";
    refreshed.mode = PublishMode::Announce;
    refreshed.redis_key = "denorm:refreshed";
    refreshed.value = "public.trending";
    OutboxEntry again = refreshed;
    again.id = 9;
    std::vector<RedisCommand> plan = plan_publish({again, hash_entry(8, "1", "5"), refreshed});
    ASSERT_EQ(plan.size(), 3u);
    EXPECT_EQ(plan[0], (RedisCommand{"PUBLISH", "denorm:refreshed", "public.trending"}));
    EXPECT_EQ(plan[1], plan[0]);  // each refresh is announced, even of the same view
    EXPECT_EQ(plan[2][0], "EVAL");
    FakeConnection redis;
    PublishOutcome out = publish(redis, {refreshed, hash_entry(8, "1", "5")});
    EXPECT_TRUE(out.ok);
    EXPECT_EQ(out.announced, 1u);
    EXPECT_EQ(out.written, 1u);
}

TEST(RedisPublish, AcknowledgedBatchCountsWrittenAndStale)
{
    FakeConnection redis;
    RedisReply stale;
    stale.kind = RedisReply::Kind::Integer;
    stale.integer = 0;
    redis.answers = {RedisReply{RedisReply::Kind::Integer, 1, "", {}}, stale};
    PublishOutcome out = publish(redis, {hash_entry(1, "1", "5"), hash_entry(2, "2", "6")});
    EXPECT_TRUE(out.ok);
    EXPECT_EQ(out.written, 1u);  // the script wrote one of the two fields
    EXPECT_EQ(out.stale, 1u);
    ASSERT_EQ(redis.sent.size(), 1u);  // one pipelined round trip
    EXPECT_EQ(redis.sent[0].size(), 1u);
}

TEST(RedisPublish, AnErrorReplyOrALostConnectionKeepsTheEntries)
{
    FakeConnection refusing;
    refusing.answers = {RedisReply{RedisReply::Kind::Error, 0, "WRONGTYPE Operation against a key holding the wrong kind of value", {}}};
    PublishOutcome out = publish(refusing, {hash_entry(1, "1", "5")});
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(out.error, "Redis refused EVAL on denorm:post_upvotes: WRONGTYPE Operation against a key holding the wrong kind of value");
    FakeConnection down;
    down.fail = true;
    out = publish(down, {stream_entry(1, "1", "5", "1")});
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(out.error, "Connection refused");
}

TEST(RedisPublish, NothingToSendSendsNothing)
{
    FakeConnection redis;
    EXPECT_TRUE(publish(redis, {}).ok);
    EXPECT_TRUE(redis.sent.empty());
}

TEST(Backoff, DoublesFromFirstUpToTheCap)
{
    EXPECT_EQ(exponential_backoff(0, 100 * kMillisecond, 30 * kSecond), 0);
    EXPECT_EQ(exponential_backoff(1, 100 * kMillisecond, 30 * kSecond), 100 * kMillisecond);
    EXPECT_EQ(exponential_backoff(4, 100 * kMillisecond, 30 * kSecond), 800 * kMillisecond);
    EXPECT_EQ(exponential_backoff(9, 100 * kMillisecond, 30 * kSecond), 25600 * kMillisecond);
    EXPECT_EQ(exponential_backoff(10, 100 * kMillisecond, 30 * kSecond), 30 * kSecond);
    EXPECT_EQ(exponential_backoff(1000000, 100 * kMillisecond, 30 * kSecond), 30 * kSecond);
}
