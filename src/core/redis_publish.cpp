// redis_publish.cpp — see redis_publish.hpp. Layer: core (pure C++17).
#include "core/redis_publish.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <utility>

namespace denorm::core {

namespace {

// A decimal in [lo, hi], all of `text`.
std::optional<int> number_in(const std::string &text, int lo, int hi)
{
    if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    int n = std::atoi(text.c_str());
    if (n < lo || n > hi) return std::nullopt;
    return n;
}

std::optional<RedisAddress> refuse(std::string *error, const std::string &why)
{
    if (error) *error = why;
    return std::nullopt;
}

}  // namespace

std::optional<RedisAddress> parse_redis_url(const std::string &url, std::string *error)
{
    const std::string scheme = "redis://";
    if (url.compare(0, scheme.size(), scheme) != 0)
        return refuse(error, "a Redis URL is redis://host[:port][/db]");
    std::string rest = url.substr(scheme.size());
    if (rest.find('@') != std::string::npos)
        return refuse(error, "a Redis URL names no user or password: set denorm.redis_password instead");
    RedisAddress address;
    size_t slash = rest.find('/');
    if (slash != std::string::npos) {
        std::optional<int> db = number_in(rest.substr(slash + 1), 0, 1 << 20);
        if (!db) return refuse(error, "the database of a Redis URL is a number: redis://host[:port]/db");
        address.db = *db;
        rest = rest.substr(0, slash);
    }
    std::string port;
    if (!rest.empty() && rest[0] == '[') {  // [IPv6 address][:port]
        size_t close = rest.find(']');
        if (close == std::string::npos) return refuse(error, "an IPv6 host of a Redis URL ends with ]");
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') return refuse(error, "a Redis URL is redis://host[:port][/db]");
            port = rest.substr(close + 2);
            if (port.empty()) return refuse(error, "the port of a Redis URL is a number from 1 to 65535");
        }
        rest = rest.substr(1, close - 1);
    } else if (size_t colon = rest.find(':'); colon != std::string::npos) {
        port = rest.substr(colon + 1);
        if (port.empty()) return refuse(error, "the port of a Redis URL is a number from 1 to 65535");
        rest = rest.substr(0, colon);
    }
    if (!port.empty()) {
        std::optional<int> n = number_in(port, 1, 65535);
        if (!n) return refuse(error, "the port of a Redis URL is a number from 1 to 65535");
        address.port = *n;
    }
    if (rest.empty()) return refuse(error, "a Redis URL names its host: redis://host[:port][/db]");
    address.host = rest;
    return address;
}

std::vector<RedisCommand> connect_commands(const RedisAddress &address, const std::string &password)
{
    std::vector<RedisCommand> out;
    if (!password.empty()) out.push_back({"AUTH", password});
    if (address.db != 0) out.push_back({"SELECT", std::to_string(address.db)});
    return out;
}

const char *const kHashWriteScript =
    "local written = 0 "
    "for i = 2, #ARGV, 4 do "
    "local v = redis.call('HGET', KEYS[2], ARGV[i]) "
    "if not v or tonumber(v) < tonumber(ARGV[i + 1]) then "
    "redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) "
    "if ARGV[i + 2] == 'del' then redis.call('HDEL', KEYS[1], ARGV[i]) "
    "else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 3]) end "
    "written = written + 1 end end "
    "if ARGV[1] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[2], ARGV[1]) end "
    "return written";

std::vector<RedisCommand> plan_publish(const std::vector<OutboxEntry> &entries)
{
    std::vector<const OutboxEntry *> ordered;
    for (const OutboxEntry &e : entries) ordered.push_back(&e);
    std::stable_sort(ordered.begin(), ordered.end(), [](auto *a, auto *b) { return a->id < b->id; });
    std::vector<RedisCommand> out;
    // Hash: the newest entry of each (key, field), in the order the fields were first seen.
    std::map<std::pair<std::string, std::string>, size_t> newest;
    std::vector<const OutboxEntry *> hash;
    for (const OutboxEntry *e : ordered) {
        if (e->mode == PublishMode::Announce) {
            out.push_back({"PUBLISH", e->redis_key, e->value.value_or("")});
            continue;
        }
        if (e->mode == PublishMode::Stream) {
            RedisCommand xadd = {"XADD", e->redis_key, "MAXLEN", "~", "1000000", "*", "counter", e->counter, "key", e->field,
                                 "value", e->value.value_or(""), "delta", e->delta, "version", std::to_string(e->id)};
            out.push_back(std::move(xadd));
            if (e->ttl_seconds) out.push_back({"EXPIRE", e->redis_key, std::to_string(*e->ttl_seconds)});
            continue;
        }
        auto at = newest.find({e->redis_key, e->field});
        if (at == newest.end()) {
            newest.emplace(std::make_pair(e->redis_key, e->field), hash.size());
            hash.push_back(e);
        } else {
            hash[at->second] = e;  // ordered by id: this one is newer
        }
    }
    // One script call per Redis key and up to kFieldsPerScriptCall fields (a call per
    // field cost Redis more than the writes), the fields in the order first seen.
    std::map<std::string, size_t> open_call;  // redis_key -> its call in `out` still taking fields
    for (const OutboxEntry *e : hash) {
        auto at = open_call.find(e->redis_key);
        if (at == open_call.end() || (out[at->second].size() - 5) / 4 >= kFieldsPerScriptCall) {
            out.push_back({"EVAL", kHashWriteScript, "2", e->redis_key, e->redis_key + ":versions",
                           e->ttl_seconds ? std::to_string(*e->ttl_seconds) : ""});
            at = open_call.insert_or_assign(e->redis_key, out.size() - 1).first;
        }
        RedisCommand &call = out[at->second];
        call.push_back(e->field);
        call.push_back(std::to_string(e->id));
        call.push_back(e->value ? "set" : "del");
        call.push_back(e->value.value_or(""));
    }
    return out;
}

PublishOutcome publish(RedisConnection &connection, const std::vector<OutboxEntry> &entries)
{
    PublishOutcome outcome;
    std::vector<RedisCommand> commands = plan_publish(entries);
    if (commands.empty()) {
        outcome.ok = true;
        return outcome;
    }
    std::vector<RedisReply> replies;
    if (!connection.execute(commands, &replies, &outcome.error)) return outcome;
    if (replies.size() != commands.size()) {
        outcome.error = "Redis answered " + std::to_string(replies.size()) + " of " + std::to_string(commands.size()) +
                        " commands";
        return outcome;
    }
    for (size_t i = 0; i < commands.size(); i++) {
        const RedisReply &r = replies[i];
        if (r.kind == RedisReply::Kind::Error) {
            outcome.error = "Redis refused " + commands[i][0] + " on " + commands[i][commands[i][0] == "EVAL" ? 3 : 1] +
                            ": " + r.text;
            return outcome;
        }
        if (commands[i][0] == "EVAL") {
            std::size_t fields = (commands[i].size() - 6) / 4;
            std::size_t written = r.kind == RedisReply::Kind::Integer && r.integer >= 0
                                      ? std::min(fields, static_cast<std::size_t>(r.integer))
                                      : 0;
            outcome.written += written;
            outcome.stale += fields - written;
        }
        if (commands[i][0] == "XADD") outcome.written++;
        if (commands[i][0] == "PUBLISH") outcome.announced++;
    }
    outcome.ok = true;
    return outcome;
}

}  // namespace denorm::core
