// hiredis_connection.hpp — core::RedisConnection over hiredis 0.14, the one place that
// calls it. Both timeouts are always set (connect, and every command: 0.14 has no command
// timeout unless one is set, and would block forever on a server that never answers).
// After any connection error the context is freed; the next execute() connects again,
// sending AUTH and SELECT first. Not thread-safe; owned by one process (the worker, or the
// backend running run_pending()). Layer: redis (no PostgreSQL headers).
#pragma once

#include <string>

#include "core/redis_publish.hpp"

struct redisContext;  // hiredis

namespace denorm::redis {

class HiredisConnection final : public core::RedisConnection {
public:
    HiredisConnection(core::RedisAddress address, std::string password, int timeout_ms);
    ~HiredisConnection() override;
    HiredisConnection(const HiredisConnection &) = delete;
    HiredisConnection &operator=(const HiredisConnection &) = delete;

    bool execute(const std::vector<core::RedisCommand> &commands, std::vector<core::RedisReply> *replies,
                 std::string *error) override;
    bool connected() const { return context_ != nullptr; }

private:
    bool connect(std::string *error);
    void disconnect();

    core::RedisAddress address_;
    std::string password_;
    int timeout_ms_;
    ::redisContext *context_ = nullptr;
};

}  // namespace denorm::redis
