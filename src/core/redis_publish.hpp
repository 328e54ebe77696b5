// redis_publish.hpp — what denorm sends to Redis for the outbox's changes, and how it
// reads the answers, behind a small connection interface (src/redis/hiredis_connection
// in the server, a fake in test/unit). Hash mode writes each (Redis key, field) through a
// compare-and-set script that keeps the field's version (the outbox id, which only grows
// per key) in a companion hash `<redis_key>:versions`: a batch sent again after a crash
// or a reconnect can never roll a value back, nor bring a deleted field back. Stream mode
// adds one entry per change in outbox order, carrying its version for consumers to drop
// a repeated entry. An announcement (a registered view was refreshed) is a PUBLISH on a
// channel. Layer: core (pure C++17: no I/O; the connection does it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace denorm::core {

// A Redis server as denorm.redis_url names it: redis://host[:port][/db].
struct RedisAddress {
    std::string host;
    int port = 6379;
    int db = 0;
};

// nullopt, and *error, when `url` is not redis://host[:port][/db]; a password in the URL
// is refused (it belongs in denorm.redis_password, which only superusers can read).
std::optional<RedisAddress> parse_redis_url(const std::string &url, std::string *error);

using RedisCommand = std::vector<std::string>;  // argv, binary-safe

struct RedisReply {
    enum class Kind { Integer, Text, Status, Error, Nil, Array };
    Kind kind = Kind::Nil;
    long long integer = 0;
    std::string text;  // Text, Status, Error
    std::vector<RedisReply> elements;
};

class RedisConnection {
public:
    virtual ~RedisConnection() = default;
    // Sends the commands pipelined and reads one reply per command. False, with *error,
    // when the connection failed on the way: then which commands Redis applied is unknown.
    virtual bool execute(const std::vector<RedisCommand> &commands, std::vector<RedisReply> *replies,
                         std::string *error) = 0;
};

// What a connection sends first: AUTH when there is a password, SELECT when db is not 0.
std::vector<RedisCommand> connect_commands(const RedisAddress &address, const std::string &password);

enum class PublishMode { Hash, Stream, Announce };

// One change of a published counter, as the outbox and the target row give it at
// publish time.
struct OutboxEntry {
    std::int64_t id = 0;                 // the outbox order; per key the commit order
    std::string counter;
    PublishMode mode = PublishMode::Hash;
    std::string redis_key;               // announce: the channel
    std::string field;                   // the target key values joined with ':'
    std::optional<std::string> value;    // nullopt: the target row is gone (hash: HDEL);
                                         // announce: the message
    std::string delta;                   // stream: the change this entry made
    std::optional<std::int64_t> ttl_seconds;
};

// The script hash mode runs: KEYS[1] the hash, KEYS[2] its versions; ARGV[1] the ttl in
// seconds or '', then per field: field, version, 'set' or 'del', value. A field is written
// only when its stored version is older; returns how many were written.
extern const char *const kHashWriteScript;
constexpr std::size_t kFieldsPerScriptCall = 500;

// Hash: one script call per Redis key and up to kFieldsPerScriptCall fields, each field
// with its newest entry's value and id;
// stream: an XADD per entry, in id order (each followed by its EXPIRE when it has a TTL);
// announce: a PUBLISH per entry, in id order.
std::vector<RedisCommand> plan_publish(const std::vector<OutboxEntry> &entries);

struct PublishOutcome {
    bool ok = false;         // every command was acknowledged: the entries may be deleted
    std::string error;       // otherwise: why not (the connection's, or Redis's reply)
    std::size_t written = 0; // hash fields written or stream entries added
    std::size_t stale = 0;   // hash fields whose stored version was already as new
    std::size_t announced = 0;  // PUBLISH messages sent
};

PublishOutcome publish(RedisConnection &connection, const std::vector<OutboxEntry> &entries);

}  // namespace denorm::core
