// outbox_drain.cpp — denorm._publish_pending(): sends the outbox's oldest entries to
// Redis in pipelined batches (core/redis_publish: hash fields through a compare-and-set
// on the entry's id, so nothing sent again rolls a value back) and deletes what Redis
// acknowledged, in the caller's transaction: if it rolls back the entries are sent again
// (at least once). Called by the worker each pass and by run_pending(), never by a
// writer. While Redis is unreachable the entries wait and this process backs off (100 ms
// doubling to 5 s); the error is in denorm.outbox_status. The password never appears
// in a message. Layer: pg glue. Regime: PostgreSQL; the C++ objects (the connection,
// the batch) live only inside guarded() sections that make no PostgreSQL call.
extern "C" {
#include "postgres.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include <string>
#include <vector>

#include "core/backoff.hpp"
#include "core/redis_publish.hpp"
#include "pg/errors.hpp"
#include "pg/gucs.hpp"
#include "pg/stats/stats.hpp"
#include "redis/hiredis_connection.hpp"

namespace denorm::pg {
namespace {

constexpr int kBatch = 10000;
constexpr int kMostBatchesPerCall = 10;  // a transaction of at most 100,000 entries: the next goes on at once
constexpr core::Micros kFirstBackoff = 100 * core::kMillisecond;
// Trying Redis again costs a connect timeout at most: a short cap brings the backlog out
// within seconds of Redis being back.
constexpr core::Micros kLongestBackoff = 5 * core::kSecond;

// The process's connection and the settings it was made with (malloc'd: it outlives
// every transaction).
redis::HiredisConnection *connection = nullptr;
char *connection_settings = nullptr;
int failures = 0;
TimestampTz next_attempt = 0;

// One batch as the outbox gave it (palloc'd).
struct Rows {
    int n;
    int64 *id;
    char **counter, **redis_key, **mode, **field, **value, **delta;  // mode NULL: no longer published
    int64 *ttl;                                                        // -1: none
};

// The oldest entries after id `after` (the last one this call sent and deleted).
Rows read_batch(int64 after)
{
    Oid types[2] = {INT4OID, INT8OID};
    Datum args[2] = {Int32GetDatum(kBatch), Int64GetDatum(after)};
    if (SPI_execute_with_args("SELECT id, counter, redis_key, mode, field, value, delta, ttl_seconds "
                              "FROM denorm._outbox_batch($1, $2) ORDER BY id",
                              2, types, args, nullptr, false, 0) != SPI_OK_SELECT)
        elog(ERROR, "denorm: reading the outbox failed");
    Rows r;
    r.n = static_cast<int>(SPI_processed);
    r.id = static_cast<int64 *>(palloc(sizeof(int64) * (r.n + 1)));
    r.ttl = static_cast<int64 *>(palloc(sizeof(int64) * (r.n + 1)));
    char ***columns[6] = {&r.counter, &r.redis_key, &r.mode, &r.field, &r.value, &r.delta};
    for (auto *c : columns) *c = static_cast<char **>(palloc0(sizeof(char *) * (r.n + 1)));
    for (int i = 0; i < r.n; i++) {
        HeapTuple row = SPI_tuptable->vals[i];
        TupleDesc desc = SPI_tuptable->tupdesc;
        bool isnull;
        r.id[i] = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
        for (int c = 0; c < 6; c++) (*columns[c])[i] = SPI_getvalue(row, desc, c + 2);  // NULL stays NULL
        Datum ttl = SPI_getbinval(row, desc, 8, &isnull);
        r.ttl[i] = isnull ? -1 : DatumGetInt64(ttl);
    }
    return r;
}

// What one publish did; the error copied into `error` (a buffer of the caller's).
struct Sent {
    bool ok;
    bool connected;
};

// NULL when denorm.redis_url names a server; else why not (palloc'd).
char *url_problem()
{
    return guarded([]() -> char * {
        std::string why;
        return core::parse_redis_url(guc_redis_url, &why) ? nullptr : palloc_string(why);
    });
}

Sent send_batch(const Rows &r, char *error, size_t error_size)
{
    return guarded([&]() -> Sent {
        core::RedisAddress address = *core::parse_redis_url(guc_redis_url, nullptr);  // checked by url_problem
        std::string settings = address.host + "\n" + std::to_string(address.port) + "\n" + std::to_string(address.db) +
                               "\n" + (guc_redis_password ? guc_redis_password : "") + "\n" +
                               std::to_string(guc_redis_timeout_ms);
        if (connection && (!connection_settings || settings != connection_settings)) {
            delete connection;
            connection = nullptr;
        }
        if (!connection) {
            connection = new redis::HiredisConnection(address, guc_redis_password ? guc_redis_password : "",
                                                      guc_redis_timeout_ms);
            free(connection_settings);
            connection_settings = strdup(settings.c_str());
        }
        std::vector<core::OutboxEntry> entries;
        for (int i = 0; i < r.n; i++) {
            if (!r.mode[i]) continue;  // its counter is no longer published: only deleted
            core::OutboxEntry e;
            e.id = r.id[i];
            e.counter = r.counter[i];
            e.mode = strcmp(r.mode[i], "stream") == 0     ? core::PublishMode::Stream
                     : strcmp(r.mode[i], "announce") == 0 ? core::PublishMode::Announce
                                                          : core::PublishMode::Hash;
            e.redis_key = r.redis_key[i];
            e.field = r.field[i] ? r.field[i] : "";
            if (r.value[i]) e.value = std::string(r.value[i]);
            e.delta = r.delta[i] ? r.delta[i] : "";
            if (r.ttl[i] >= 0) e.ttl_seconds = r.ttl[i];
            entries.push_back(std::move(e));
        }
        core::PublishOutcome out = core::publish(*connection, entries);
        strlcpy(error, out.error.c_str(), error_size);
        return Sent{out.ok, connection->connected()};
    });
}

void record(bool ok, bool connected, const char *error)
{
    Oid types[3] = {BOOLOID, BOOLOID, TEXTOID};
    Datum values[3] = {BoolGetDatum(ok), BoolGetDatum(connected), CStringGetTextDatum(error)};
    SPI_execute_with_args("UPDATE denorm._outbox_state SET connected = $2, "
                          "last_success_at = CASE WHEN $1 THEN pg_catalog.now() ELSE last_success_at END, "
                          "last_error = CASE WHEN $1 THEN NULL ELSE $3 END, "
                          "last_error_at = CASE WHEN $1 THEN last_error_at ELSE pg_catalog.now() END",
                          3, types, values, nullptr, false, 0);
}

// denorm.stats: per publication, the drains its entries were in, the entries Redis
// acknowledged, the drains that failed.
void count_batch(const Rows &r, bool ok)
{
    const char **names = static_cast<const char **>(palloc(sizeof(char *) * (r.n + 1)));
    int64 *entries = static_cast<int64 *>(palloc0(sizeof(int64) * (r.n + 1)));
    int distinct = 0;
    for (int i = 0; i < r.n; i++) {
        if (!r.mode[i] || strcmp(r.mode[i], "announce") == 0) continue;
        int at = 0;
        while (at < distinct && strcmp(names[at], r.counter[i]) != 0) at++;  // a batch has few counters
        if (at == distinct) names[distinct++] = r.counter[i];
        entries[at]++;
    }
    for (int at = 0; at < distinct; at++) {
        stat_call(StatKind::Publication, names[at], entries[at]);
        if (ok) stat_written(StatKind::Publication, names[at], entries[at]);
        else stat_failure(StatKind::Publication, names[at]);
    }
}

void delete_sent(const Rows &r)
{
    Datum *ids = static_cast<Datum *>(palloc(sizeof(Datum) * (r.n + 1)));
    for (int i = 0; i < r.n; i++) ids[i] = Int64GetDatum(r.id[i]);
    ArrayType *array = construct_array(ids, r.n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
    Oid types[1] = {INT8ARRAYOID};
    Datum values[1] = {PointerGetDatum(array)};
    SPI_execute_with_args("DELETE FROM denorm._outbox WHERE id OPERATOR(pg_catalog.=) ANY ($1)", 1, types, values, nullptr,
                          false, 0);
}

}  // namespace
}  // namespace denorm::pg

using namespace denorm::pg;

DENORM_FUNCTION(denorm_publish_pending)
{
    if (!guc_redis_url || !*guc_redis_url) PG_RETURN_NULL();  // publishing is off
    if (char *why = url_problem())
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("denorm.redis_url: %s", why)));
    if (GetCurrentTimestamp() < next_attempt) PG_RETURN_INT64(0);  // backing off
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
    // One drainer per database at a time: each key's entries go out in order.
    SPI_execute("SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('denorm outbox'))", false, 1);
    bool isnull;
    if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))) {
        SPI_finish();
        PG_RETURN_INT64(0);
    }
    int64 total = 0;
    char error[512];
    int64 after = 0;
    for (int b = 0; b < kMostBatchesPerCall; b++) {
        Rows rows = read_batch(after);
        if (rows.n == 0) break;
        Sent sent = send_batch(rows, error, sizeof error);
        record(sent.ok, sent.connected, error);
        count_batch(rows, sent.ok);
        if (!sent.ok) {
            failures++;
            next_attempt = TimestampTzPlusMilliseconds(
                GetCurrentTimestamp(), denorm::core::exponential_backoff(failures, kFirstBackoff, kLongestBackoff) / 1000);
            ereport(LOG, (errmsg("denorm: publishing to Redis failed: %s", error),
                          errdetail("A batch of %d entries was not sent (denorm.outbox_status says how many wait); "
                                    "trying again in %ld ms.", rows.n,
                                    static_cast<long>(denorm::core::exponential_backoff(failures, kFirstBackoff,
                                                                                        kLongestBackoff) / 1000))));
            break;
        }
        failures = 0;
        next_attempt = 0;
        delete_sent(rows);
        after = rows.id[rows.n - 1];  // ordered by id
        total += rows.n;
        if (rows.n < kBatch) break;
    }
    SPI_finish();
    PG_RETURN_INT64(total);
}
