/* bench/app_hincrby.c — the application side of bench/redis.sh, part 4: N threads, each
 * with its own PostgreSQL and Redis connection, run for T seconds
 *
 *     BEGIN; INSERT INTO upvotes (post_id) VALUES (<random 1..keys>);
 *     HINCRBY <key> <post_id> 1;            -- only with -k: the seeds' approach
 *     COMMIT;                               -- or, for -r percent of them, ROLLBACK
 *
 * i.e. Redis is written before the database commits, as the original application did;
 * a rolled-back upvote stays counted in Redis. Without -k the same transactions run
 * without Redis (denorm publishes the count instead). The INSERT is a prepared statement
 * (like pgbench -M prepared); nothing is retried: a failed statement rolls the
 * transaction back and counts as an error.
 *
 * Prints one line on stdout:
 *     committed=N rolled_back=N errors=N seconds=S tps=X
 * (tps counts committed and rolled-back transactions, as pgbench would) and the first
 * error message on stderr. Exit status 1 when a connection fails.
 *
 * Build: cc -O2 -pthread -I/usr/include/postgresql app_hincrby.c -lpq -lhiredis
 * Usage: app_hincrby -d CONNINFO [-h REDIS_HOST] [-p REDIS_PORT] [-k REDIS_KEY]
 *                    [-c CLIENTS] [-T SECONDS] [-r ROLLBACK_PERCENT] [-n KEYS] [-s SEED]
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

static const char *conninfo;
static const char *redis_host = "127.0.0.1";
static int redis_port = 6379;
static const char *redis_key; /* NULL: no Redis */
static int clients = 8;
static double seconds = 8;
static int rollback_percent = 10;
static int keys = 10000;
static unsigned seed = 1;

static pthread_barrier_t ready;
static double deadline;
static pthread_mutex_t first_error_lock = PTHREAD_MUTEX_INITIALIZER;
static int first_error_reported;
static volatile int connect_failed;

struct client {
    int index;
    uint64_t rng;
    long committed, rolled_back, errors;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t next_random(uint64_t *s) /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void report_error(const char *what, const char *message)
{
    pthread_mutex_lock(&first_error_lock);
    if (!first_error_reported) {
        first_error_reported = 1;
        fprintf(stderr, "app_hincrby: first error: %s: %s\n", what, message ? message : "?");
    }
    pthread_mutex_unlock(&first_error_lock);
}

/* Runs `sql`; 1 when it did what `expected` says. */
static int exec_ok(PGconn *pg, const char *sql, ExecStatusType expected)
{
    PGresult *res = PQexec(pg, sql);
    int ok = PQresultStatus(res) == expected;
    if (!ok) report_error(sql, PQresultErrorMessage(res));
    PQclear(res);
    return ok;
}

static void *run_client(void *arg)
{
    struct client *c = arg;
    PGconn *pg = PQconnectdb(conninfo);
    redisContext *redis = NULL;
    int usable = PQstatus(pg) == CONNECTION_OK;
    if (!usable) report_error("connecting to PostgreSQL", PQerrorMessage(pg));
    if (usable) {
        PGresult *res = PQprepare(pg, "insert", "INSERT INTO upvotes (post_id) VALUES ($1::int)", 1, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            report_error("PREPARE", PQresultErrorMessage(res));
            usable = 0;
        }
        PQclear(res);
    }
    if (usable && redis_key) {
        struct timeval timeout = {5, 0};
        redis = redisConnectWithTimeout(redis_host, redis_port, timeout);
        if (!redis || redis->err) {
            report_error("connecting to Redis", redis ? redis->errstr : "out of memory");
            usable = 0;
        } else {
            redisSetTimeout(redis, timeout);
        }
    }
    if (!usable) connect_failed = 1;
    pthread_barrier_wait(&ready); /* every client connected: the clock starts */
    pthread_barrier_wait(&ready); /* deadline set by the main thread */
    while (usable && !connect_failed && now() < deadline) {
        int post = 1 + (int)(next_random(&c->rng) % (uint64_t)keys);
        int rollback = (int)(next_random(&c->rng) % 100) < rollback_percent;
        char post_text[16];
        const char *params[1] = {post_text};
        snprintf(post_text, sizeof post_text, "%d", post);
        if (!exec_ok(pg, "BEGIN", PGRES_COMMAND_OK)) {
            c->errors++;
            if (PQstatus(pg) != CONNECTION_OK) break;
            continue;
        }
        PGresult *res = PQexecPrepared(pg, "insert", 1, params, NULL, NULL, 0);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok) report_error("INSERT", PQresultErrorMessage(res));
        PQclear(res);
        if (ok && redis) {
            redisReply *reply = redisCommand(redis, "HINCRBY %s %d 1", redis_key, post);
            if (!reply || reply->type == REDIS_REPLY_ERROR) {
                report_error("HINCRBY", reply ? reply->str : redis->errstr);
                ok = 0;
            }
            if (!reply) { /* the connection is unusable */
                c->errors++;
                break;
            }
            freeReplyObject(reply);
        }
        if (!ok) {
            c->errors++;
            exec_ok(pg, "ROLLBACK", PGRES_COMMAND_OK);
            if (PQstatus(pg) != CONNECTION_OK) break;
        } else if (rollback) {
            if (exec_ok(pg, "ROLLBACK", PGRES_COMMAND_OK)) c->rolled_back++;
            else c->errors++;
        } else {
            if (exec_ok(pg, "COMMIT", PGRES_COMMAND_OK)) c->committed++;
            else c->errors++;
        }
    }
    if (redis) redisFree(redis);
    PQfinish(pg);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: app_hincrby -d CONNINFO [-h REDIS_HOST] [-p REDIS_PORT] [-k REDIS_KEY] [-c CLIENTS]\n"
                    "                   [-T SECONDS] [-r ROLLBACK_PERCENT] [-n KEYS] [-s SEED]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "d:h:p:k:c:T:r:n:s:")) != -1) {
        switch (opt) {
        case 'd': conninfo = optarg; break;
        case 'h': redis_host = optarg; break;
        case 'p': redis_port = atoi(optarg); break;
        case 'k': redis_key = *optarg ? optarg : NULL; break;
        case 'c': clients = atoi(optarg); break;
        case 'T': seconds = atof(optarg); break;
        case 'r': rollback_percent = atoi(optarg); break;
        case 'n': keys = atoi(optarg); break;
        case 's': seed = (unsigned)strtoul(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (!conninfo || clients < 1 || seconds <= 0 || keys < 1 || rollback_percent < 0 || rollback_percent > 100) usage();

    pthread_t *threads = calloc(clients, sizeof *threads);
    struct client *cs = calloc(clients, sizeof *cs);
    pthread_barrier_init(&ready, NULL, clients + 1);
    for (int i = 0; i < clients; i++) {
        cs[i].index = i;
        cs[i].rng = 0x9E3779B97F4A7C15ULL * (seed + 1) + 7919ULL * (i + 1);
        int rc = pthread_create(&threads[i], NULL, run_client, &cs[i]);
        if (rc != 0) {
            fprintf(stderr, "app_hincrby: pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }
    pthread_barrier_wait(&ready);
    double start = now();
    deadline = start + seconds;
    pthread_barrier_wait(&ready);
    long committed = 0, rolled_back = 0, errors = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
        committed += cs[i].committed;
        rolled_back += cs[i].rolled_back;
        errors += cs[i].errors;
    }
    double elapsed = now() - start;
    printf("committed=%ld rolled_back=%ld errors=%ld seconds=%.3f tps=%.1f\n", committed, rolled_back, errors, elapsed,
           (committed + rolled_back) / elapsed);
    return connect_failed ? 1 : 0;
}
