// hiredis_connection.cpp — see hiredis_connection.hpp. Layer: redis (no PostgreSQL headers).
#include "redis/hiredis_connection.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <utility>

namespace denorm::redis {

namespace {

core::RedisReply converted(const redisReply *r)
{
    core::RedisReply out;
    switch (r->type) {
    case REDIS_REPLY_INTEGER:
        out.kind = core::RedisReply::Kind::Integer;
        out.integer = r->integer;
        break;
    case REDIS_REPLY_STRING:
        out.kind = core::RedisReply::Kind::Text;
        out.text.assign(r->str, r->len);
        break;
    case REDIS_REPLY_STATUS:
        out.kind = core::RedisReply::Kind::Status;
        out.text.assign(r->str, r->len);
        break;
    case REDIS_REPLY_ERROR:
        out.kind = core::RedisReply::Kind::Error;
        out.text.assign(r->str, r->len);
        break;
    case REDIS_REPLY_ARRAY:
        out.kind = core::RedisReply::Kind::Array;
        for (size_t i = 0; i < r->elements; i++) out.elements.push_back(converted(r->element[i]));
        break;
    default:
        out.kind = core::RedisReply::Kind::Nil;
    }
    return out;
}

// Appends every command, then reads one reply each: the batch's round trip is one.
bool pipeline(redisContext *c, const std::vector<core::RedisCommand> &commands, std::vector<core::RedisReply> *replies,
              std::string *error)
{
    for (const core::RedisCommand &command : commands) {
        std::vector<const char *> argv;
        std::vector<size_t> lengths;
        for (const std::string &a : command) {
            argv.push_back(a.data());
            lengths.push_back(a.size());
        }
        if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK) {
            *error = c->errstr;
            return false;
        }
    }
    for (size_t i = 0; i < commands.size(); i++) {
        void *reply = nullptr;
        if (redisGetReply(c, &reply) != REDIS_OK || !reply) {
            *error = c->err ? c->errstr : "no reply from Redis";
            if (reply) freeReplyObject(reply);
            return false;
        }
        replies->push_back(converted(static_cast<redisReply *>(reply)));
        freeReplyObject(reply);
    }
    return true;
}

}  // namespace

HiredisConnection::HiredisConnection(core::RedisAddress address, std::string password, int timeout_ms)
    : address_(std::move(address)), password_(std::move(password)), timeout_ms_(timeout_ms)
{
}

HiredisConnection::~HiredisConnection() { disconnect(); }

void HiredisConnection::disconnect()
{
    if (context_) redisFree(context_);
    context_ = nullptr;
}

bool HiredisConnection::connect(std::string *error)
{
    struct timeval tv;
    tv.tv_sec = timeout_ms_ / 1000;
    tv.tv_usec = (timeout_ms_ % 1000) * 1000;
    redisContext *c = redisConnectWithTimeout(address_.host.c_str(), address_.port, tv);
    if (!c) {
        *error = "cannot allocate a Redis connection";
        return false;
    }
    if (c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        *error = std::string("cannot connect to Redis at ") + address_.host + ":" + std::to_string(address_.port) + ": " +
                 c->errstr;
        redisFree(c);
        return false;
    }
    redisEnableKeepAlive(c);
    std::vector<core::RedisCommand> first = core::connect_commands(address_, password_);
    std::vector<core::RedisReply> replies;
    if (!pipeline(c, first, &replies, error)) {
        redisFree(c);
        return false;
    }
    for (size_t i = 0; i < replies.size(); i++)
        if (replies[i].kind == core::RedisReply::Kind::Error) {
            // (The password itself is never part of a message.)
            *error = "Redis refused " + first[i][0] + ": " + replies[i].text;
            redisFree(c);
            return false;
        }
    context_ = c;
    return true;
}

bool HiredisConnection::execute(const std::vector<core::RedisCommand> &commands, std::vector<core::RedisReply> *replies,
                                std::string *error)
{
    replies->clear();
    if (!context_ && !connect(error)) return false;
    if (pipeline(context_, commands, replies, error)) return true;
    disconnect();  // after an error the context is finished: which commands ran is unknown
    replies->clear();
    return false;
}

}  // namespace denorm::redis
