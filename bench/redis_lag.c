/* bench/redis_lag.c — the lag probe of bench/redis.sh, part 2: how long after a commit its
 * value is visible in Redis. One PostgreSQL and one Redis connection, kept open, so the
 * probe costs one round trip per poll and no process start. Each probe
 *
 *     reads the probe key's committed value v (-v SQL; only the probe writes that key),
 *     [stream: reads the stream's last id (XREVRANGE key + - COUNT 1)],
 *     BEGIN; <-i SQL, which adds -D to the key>;  t0;  COMMIT;
 *     hash:   HGET <key> <field> every -u µs until it returns v + D;
 *     stream: XREAD BLOCK ... STREAMS <key> <last id> until an entry with
 *             key = <field> and value = v + D arrives (reading every entry after it);
 *     lag = the time the value was seen - t0 (t0 is taken before COMMIT is sent, so the
 *           lag includes the commit's own WAL flush; its median is printed as commit_p50).
 *
 * Probes are spaced by a random pause of 0.5..1.5 x -g ms; it stops after -n probes or at
 * the deadline (-T seconds after it started), whichever comes first. A probe whose value
 * does not show within -W seconds counts as a timeout (and is not in the percentiles).
 *
 * Prints one line on stdout:
 *   probes=N timeouts=N p50_ms=X p99_ms=X max_ms=X commit_p50_ms=X rtt_us=X polls=X
 * (rtt_us: mean round trip of one HGET (hash) or XREVRANGE (stream) — the cost of one poll;
 * polls: mean HGETs or XREADs per probe), and with -o every lag in µs, one per line.
 *
 * Build: cc -O2 -I/usr/include/postgresql redis_lag.c -lpq -lhiredis
 * Usage: redis_lag -d CONNINFO -h HOST -p PORT -m hash|stream -k REDIS_KEY -f FIELD
 *                  -i INSERT_SQL -v VALUE_SQL [-D DELTA] [-n PROBES] [-g GAP_MS]
 *                  [-T SECONDS] [-u POLL_US] [-W TIMEOUT_S] [-o FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *message)
{
    fprintf(stderr, "redis_lag: %s: %s\n", what, message ? message : "?");
    exit(1);
}

static void exec_or_die(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        die(sql, PQresultErrorMessage(res));
    PQclear(res);
}

static long long value_or_die(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        die(sql, PQresultStatus(res) == PGRES_TUPLES_OK ? "not exactly one non-null value" : PQresultErrorMessage(res));
    long long v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, int n, double p) /* nearest rank */
{
    if (n == 0) return 0;
    int rank = (int)(p * n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

/* The value of `name` in a stream entry's field list, or NULL. */
static const char *entry_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING && strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->type == REDIS_REPLY_STRING ? fields->element[i + 1]->str : NULL;
    return NULL;
}

int main(int argc, char **argv)
{
    const char *conninfo = NULL, *host = "127.0.0.1", *mode = "hash", *key = NULL, *field = NULL;
    const char *insert_sql = NULL, *value_sql = NULL, *out_path = NULL;
    int port = 6379, probes = 200, poll_us = 500;
    long long delta = 1;
    double gap_ms = 20, seconds = 60, timeout_s = 10;
    int opt;
    while ((opt = getopt(argc, argv, "d:h:p:m:k:f:i:v:D:n:g:T:u:W:o:")) != -1) {
        switch (opt) {
        case 'd': conninfo = optarg; break;
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'm': mode = optarg; break;
        case 'k': key = optarg; break;
        case 'f': field = optarg; break;
        case 'i': insert_sql = optarg; break;
        case 'v': value_sql = optarg; break;
        case 'D': delta = strtoll(optarg, NULL, 10); break;
        case 'n': probes = atoi(optarg); break;
        case 'g': gap_ms = atof(optarg); break;
        case 'T': seconds = atof(optarg); break;
        case 'u': poll_us = atoi(optarg); break;
        case 'W': timeout_s = atof(optarg); break;
        case 'o': out_path = optarg; break;
        default: die("usage", "see the header of bench/redis_lag.c");
        }
    }
    int stream = strcmp(mode, "stream") == 0;
    if (!conninfo || !key || !field || !insert_sql || !value_sql || probes < 1 || (!stream && strcmp(mode, "hash") != 0))
        die("usage", "see the header of bench/redis_lag.c");

    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) die("connecting to PostgreSQL", PQerrorMessage(pg));
    struct timeval tv = {5, 0};
    redisContext *redis = redisConnectWithTimeout(host, port, tv);
    if (!redis || redis->err) die("connecting to Redis", redis ? redis->errstr : "out of memory");
    redisSetTimeout(redis, tv);
    FILE *out = NULL;
    if (out_path && !(out = fopen(out_path, "w"))) die("opening", out_path);

    double *lags = calloc(probes, sizeof *lags), *commits = calloc(probes, sizeof *commits);
    int n = 0, timeouts = 0;
    double rtt_total = 0;
    long rtt_count = 0, polls = 0;
    double deadline = now() + seconds;
    srand(12345);
    for (int p = 0; p < probes; p++) {
        usleep((useconds_t)(gap_ms * 1000 * (0.5 + (double)rand() / RAND_MAX)));
        if (now() >= deadline) break;
        long long want = value_or_die(pg, value_sql) + delta;
        char last_id[64] = "0-0";
        if (stream) {
            double r0 = now();
            redisReply *reply = redisCommand(redis, "XREVRANGE %s + - COUNT 1", key);
            rtt_total += now() - r0;
            rtt_count++;
            if (!reply || reply->type == REDIS_REPLY_ERROR) die("XREVRANGE", reply ? reply->str : redis->errstr);
            if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1)
                snprintf(last_id, sizeof last_id, "%s", reply->element[0]->element[0]->str);
            freeReplyObject(reply);
        }
        exec_or_die(pg, "BEGIN");
        exec_or_die(pg, insert_sql);
        double t0 = now();
        exec_or_die(pg, "COMMIT");
        commits[p] = now() - t0;
        double seen = 0;
        while (!seen) {
            double left = t0 + timeout_s - now();
            if (left <= 0) break;
            redisReply *reply;
            if (!stream) {
                double r0 = now();
                reply = redisCommand(redis, "HGET %s %s", key, field);
                double r1 = now();
                rtt_total += r1 - r0;
                rtt_count++;
                polls++;
                if (!reply || reply->type == REDIS_REPLY_ERROR) die("HGET", reply ? reply->str : redis->errstr);
                if (reply->type == REDIS_REPLY_STRING && strtoll(reply->str, NULL, 10) == want) seen = r1;
                freeReplyObject(reply);
                if (!seen) usleep(poll_us);
            } else {
                int block_ms = left > 1 ? 1000 : (int)(left * 1000) + 1;
                reply = redisCommand(redis, "XREAD COUNT 1000 BLOCK %d STREAMS %s %s", block_ms, key, last_id);
                double r1 = now();
                polls++;
                if (!reply || reply->type == REDIS_REPLY_ERROR) die("XREAD", reply ? reply->str : redis->errstr);
                if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1) {
                    redisReply *entries = reply->element[0]->element[1];
                    for (size_t e = 0; e < entries->elements; e++) {
                        redisReply *entry = entries->element[e];
                        snprintf(last_id, sizeof last_id, "%s", entry->element[0]->str);
                        const char *k = entry_field(entry->element[1], "key");
                        const char *v = entry_field(entry->element[1], "value");
                        if (!seen && k && v && strcmp(k, field) == 0 && strtoll(v, NULL, 10) == want) seen = r1;
                    }
                }
                freeReplyObject(reply);
            }
        }
        if (!seen) {
            timeouts++;
            continue;
        }
        lags[n++] = seen - t0;
        if (out) fprintf(out, "%.0f\n", (seen - t0) * 1e6);
    }
    int attempted = n + timeouts;
    if (out) fclose(out);
    qsort(lags, n, sizeof *lags, compare_doubles);
    qsort(commits, attempted, sizeof *commits, compare_doubles);
    printf("probes=%d timeouts=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f commit_p50_ms=%.2f rtt_us=%.0f polls=%.1f\n", n,
           timeouts, percentile(lags, n, 0.50) * 1e3, percentile(lags, n, 0.99) * 1e3, n ? lags[n - 1] * 1e3 : 0,
           percentile(commits, attempted, 0.50) * 1e3, rtt_count ? rtt_total / rtt_count * 1e6 : 0,
           attempted ? (double)polls / attempted : 0);
    redisFree(redis);
    PQfinish(pg);
    return 0;
}
