#!/usr/bin/env bash
# bench/redis.sh — publishing counters to Redis (README "Publishing to Redis"), on a
# throwaway cluster (bench/cluster.sh) and a redis-server of its own on loopback.
# Schema: posts (10,001 rows: ids 1..10000 for the load, 10001 the lag probe's own key)
# with upvote_count, counted from upvotes (counter post_upvotes, published as a hash), and
# comment_count, counted from comments (counter post_comments, published as a stream).
#   1. write overhead  single-row INSERT transactions into upvotes (pgbench, BENCH_CLIENTS
#                      clients) with post_upvotes published in hash mode (the worker
#                      draining meanwhile) against the same counter unpublished; rounds
#                      alternate (u,p then p,u...), ratio per round and its median. Before
#                      each published run the counter is (re)published and every value sent
#                      again (redis_resync, drained); after it every Redis field is compared
#                      with posts.upvote_count.
#   2. lag             commit -> visible in Redis, p50/p99, by bench/redis_lag.c (one kept
#                      connection to each side): the probe commits a change to its own key
#                      (post 10001, which the load never writes) and polls Redis until the
#                      new value shows, while pgbench writes at a fixed rate:
#                      (a) hash mode, BENCH_RATE single-row INSERT commits/s, HGET polled
#                          every BENCH_POLL_US µs;
#                      (b) stream mode, BENCH_STREAM_CHANGES key changes/s: transactions
#                          inserting BENCH_STREAM_KEYS comments on as many different posts,
#                          at BENCH_STREAM_CHANGES / BENCH_STREAM_KEYS transactions/s; the
#                          probe reads the stream with XREAD BLOCK from the id before its
#                          commit. The rate achieved is reported, and every stream entry
#                          is checked (each value = previous value + delta, per key; the
#                          last value per key = posts.comment_count).
#   3. drain           BENCH_REDIS_BACKLOG outbox entries of post_upvotes queued while
#                      publishing is off (denorm.redis_url = ''), then publishing on again:
#                      entries per second until the outbox is empty; Redis compared after.
#   4. seeds vs denorm the application itself keeps Redis (bench/app_hincrby.c, BENCH_CLIENTS
#                      threads: BEGIN; INSERT; HINCRBY; COMMIT — or ROLLBACK for
#                      BENCH_ROLLBACK_PCT % of them, whose upvotes stay counted in Redis),
#                      post_upvotes unpublished; against the same program and transactions
#                      without HINCRBY, post_upvotes published. tps (commits + rollbacks),
#                      and the Redis fields that differ from the database afterwards.
# Prints a markdown report on stdout (progress on stderr). Retries off (pgbench
# --max-tries=1, the C clients never retry); every figure is reported next to its failed
# transactions / mismatches.
# Environment (defaults):
#   BENCH_SECONDS=8         seconds per pgbench / app run in 1 and 4
#   BENCH_ROUNDS=3          alternating rounds in 1 and 4 (median reported)
#   BENCH_CLIENTS=8         clients of every load (pgbench -c, app_hincrby threads)
#   BENCH_RATE=1000         2a: commits/s of the background load (pgbench -R)
#   BENCH_STREAM_CHANGES=10000  2b: key changes/s asked of the background load
#   BENCH_STREAM_KEYS=10    2b: posts (stream entries) per transaction of that load
#   BENCH_PROBES=200        2: lag probes per mode
#   BENCH_PROBE_GAP_MS=20   2: mean pause between probes (0.5..1.5 x this)
#   BENCH_POLL_US=500       2a: pause between two HGETs of a probe
#   BENCH_REDIS_BACKLOG=1000000  3: outbox entries to drain
#   BENCH_ROLLBACK_PCT=10   4: share of transactions rolled back
#   BENCH_DIR=/tmp/denorm-bench-redis (removed at the end)   BENCH_PORT (first free in
#   5690..5739)   BENCH_KEEP=1 (leave the cluster and redis-server running)
#   BENCH_BUILD=1 (make install first)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
PG_BINDIR=/usr/lib/postgresql/15/bin
PG_CONFIG=${PG_CONFIG:-$PG_BINDIR/pg_config}
SECONDS_PER_RUN=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-8}
RATE=${BENCH_RATE:-1000}
STREAM_CHANGES=${BENCH_STREAM_CHANGES:-10000}
STREAM_KEYS=${BENCH_STREAM_KEYS:-10}
PROBES=${BENCH_PROBES:-200}
PROBE_GAP_MS=${BENCH_PROBE_GAP_MS:-20}
POLL_US=${BENCH_POLL_US:-500}
BACKLOG=${BENCH_REDIS_BACKLOG:-1000000}
ROLLBACK_PCT=${BENCH_ROLLBACK_PCT:-10}
DIR=${BENCH_DIR:-/tmp/denorm-bench-redis}
DB=bench
KEYS=10000        # posts 1..KEYS take the load
PROBE_KEY=10001   # written by the lag probe only
for tool in redis-server redis-cli cc; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done
for header in "$("$PG_CONFIG" --includedir)/libpq-fe.h" /usr/include/hiredis/hiredis.h; do
    [[ -f $header ]] || { echo "bench: $header missing (libpq-dev, libhiredis-dev)" >&2; exit 1; }
done
(( STREAM_KEYS >= 1 && STREAM_KEYS <= KEYS )) || { echo "bench: BENCH_STREAM_KEYS must be 1..$KEYS" >&2; exit 1; }
# shellcheck source=bench/cluster.sh
source "$BENCH/cluster.sh"
[[ ${BENCH_BUILD:-0} == 1 ]] && build_and_install
PORT=${BENCH_PORT:-}
CLUSTER_KEEP=${BENCH_KEEP:-0}
cluster_init 5690 5739

# Cleanup, whatever happens: background loads, redis-server, then the cluster.
REDIS_PID=
LOAD_PID=
on_exit() {
    local rc=$?
    set +e   # (under set -e the `(exit $rc)` below would end the trap before the cluster stops)
    [[ -z $LOAD_PID ]] || kill "$LOAD_PID" 2>/dev/null || true
    if [[ -n $REDIS_PID ]]; then
        if [[ $CLUSTER_KEEP == 1 ]]; then
            echo "redis-server left running: redis-cli -p $REDIS_PORT (pid $REDIS_PID)" >&2
        else
            kill "$REDIS_PID" 2>/dev/null || true
            wait "$REDIS_PID" 2>/dev/null || true
        fi
    fi
    (exit "$rc"); cluster_on_exit
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

REDIS_PORT=6390
while ! port_free "$REDIS_PORT"; do REDIS_PORT=$((REDIS_PORT + 1)); done
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" \
    --logfile "$DIR/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
r() { redis-cli -p "$REDIS_PORT" "$@"; }
for _ in $(seq 1 50); do [[ $(r PING 2>/dev/null) == PONG ]] && break; sleep 0.1; done
[[ $(r PING 2>/dev/null) == PONG ]] || { echo "bench: redis-server did not start" >&2; cat "$DIR/redis.log" >&2; exit 1; }

cluster_start "bench/redis.sh" "shared_preload_libraries = 'denorm'" "denorm.naptime = '100ms'" \
    "denorm.redis_url = 'redis://127.0.0.1:$REDIS_PORT'"
q >/dev/null <<SQL
CREATE TABLE posts (id int PRIMARY KEY, upvote_count int NOT NULL DEFAULT 0,
                    comment_count int NOT NULL DEFAULT 0) WITH (fillfactor = 90);
CREATE TABLE upvotes (id bigserial PRIMARY KEY, post_id int NOT NULL);
CREATE TABLE comments (id bigserial PRIMARY KEY, post_id int NOT NULL);
INSERT INTO posts SELECT generate_series(1, $PROBE_KEY);
SELECT denorm.create_counter('post_upvotes', 'posts', 'upvote_count', 'upvotes', '{post_id}');
SELECT denorm.create_counter('post_comments', 'posts', 'comment_count', 'comments', '{post_id}');
CREATE UNLOGGED TABLE bench_redis (field text PRIMARY KEY, value numeric);  -- Redis read back
VACUUM ANALYZE posts;
SQL

# The two C clients, built for this run (never committed as binaries).
CFLAGS=(-O2 -Wall -pthread -I"$("$PG_CONFIG" --includedir)")
for prog in app_hincrby redis_lag; do
    cc "${CFLAGS[@]}" -o "$DIR/$prog" "$BENCH/$prog.c" -lpq -lhiredis
done
CONNINFO="host=$DIR port=$PORT user=postgres dbname=$DB"

cat >"$DIR/insert.sql" <<EOF
\set p random(1, $KEYS)
INSERT INTO upvotes (post_id) VALUES (:p);
EOF
# STREAM_KEYS different posts per transaction (997 is prime to 10000: distinct keys).
cat >"$DIR/comments.sql" <<EOF
\set b random(0, $((KEYS - 1)))
INSERT INTO comments (post_id) SELECT 1 + (:b + g * 997) % $KEYS FROM generate_series(1, $STREAM_KEYS) g;
EOF
chmod a+r "$DIR/insert.sql" "$DIR/comments.sql"
THREADS=$(( $(nproc) < CLIENTS ? $(nproc) : CLIENTS ))
PGB=("$PG_BINDIR/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M prepared --max-tries=1)
pgbench_result() {  # pgbench_result OUTPUT_FILE: "tps failed" (failed: failed transactions + aborted clients)
    awk '/number of failed transactions/ {f = $5} /^tps = / {t = $3} /aborted in command/ {a++}
         END {printf "%.1f %d\n", t, f + a}' "$1"
}
run() {  # run OUTPUT_FILE [pgbench options]: pgbench, retries off; its status is not fatal
    local out=$1; shift
    "${PGB[@]}" "$@" "$DB" >"$out" 2>&1 || true
}
log() { echo "$*"; echo "$*" >&2; }   # into the report's measurement log and onto stderr (tee /dev/stderr
                                      # would reopen, and so truncate, a stderr redirected to a file)

# wait_drained [SECONDS=60]: until the outbox is empty (the index on id, like the drain:
# no count(*) over a backlog).
wait_drained() {
    local limit=$(( ${1:-60} * 20 ))
    for (( i = 0; i < limit; i++ )); do
        [[ $(q -c 'SELECT min(id) IS NULL FROM denorm._outbox') == t ]] && return 0
        sleep 0.05
    done
    echo "bench: the outbox did not drain: $(q -c 'SELECT * FROM denorm.outbox_status')" >&2; return 1
}

# set_published COUNTER hash|stream|off: idempotent. Publishing a counter in hash mode
# that was not published (so) sends every current value again (redis_resync, as after
# any gap in publication: publish_counter itself sends nothing) and waits until it is
# out. A stream gets no resync entries (it is published before its source has rows).
set_published() {
    local counter=$1 mode=$2 now
    now=$(q -c "SELECT mode FROM denorm._publications WHERE counter = '$counter'")
    [[ $now == "${mode/off/}" ]] && return 0
    [[ -z $now ]] || q -c "SELECT denorm.unpublish_counter('$counter')" >/dev/null
    [[ $mode == off ]] && return 0
    q -c "SELECT denorm.publish_counter('$counter', mode => '$mode')" >/dev/null
    [[ $mode == hash ]] || return 0
    q -c "SELECT denorm.redis_resync('$counter')" >/dev/null
    wait_drained
}

# diff_fields 'SELECT field, value ...': reads "field<TAB>value" lines (what Redis holds)
# on stdin and prints "wrong excess": fields whose value differs from the query's (a
# missing one counts as 0 on either side) and the sum of Redis minus expected.
diff_fields() {
    q -c 'TRUNCATE bench_redis'
    q -c '\copy bench_redis FROM pstdin'
    q -c "SELECT count(*) FILTER (WHERE coalesce(r.value, 0) <> coalesce(e.value, 0)),
                 coalesce(sum(coalesce(r.value, 0) - coalesce(e.value, 0)), 0)
            FROM ($1) e (field, value) FULL JOIN bench_redis r USING (field)" | tr '|' ' '
}
hash_fields() { r HGETALL "$1" | awk 'NR % 2 {f = $0; next} {print f "\t" $0}'; }
# check_hash REDIS_KEY 'SELECT field, value ...' (or check_file FILE SQL): sets WRONG and
# EXCESS (a failure stops the script, unlike a process substitution).
check_hash() { local d; d=$(hash_fields "$1" | diff_fields "$2"); read -r WRONG EXCESS <<<"$d"; }
check_file() { local d; d=$(diff_fields "$2" <"$1"); read -r WRONG EXCESS <<<"$d"; }
UPVOTES_EXPECTED='SELECT id::text, upvote_count::numeric FROM posts'
# shortfall ACHIEVED ASKED: a warning when the load fell more than 5 % short of its rate
shortfall() { awk -v a="$1" -v w="$2" 'BEGIN {if (a < 0.95 * w) printf " — NOT sustained: %.0f %% of the rate asked", 100 * a / w}'; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
settle() { q -c 'VACUUM posts' -c 'VACUUM denorm._outbox' >/dev/null; q -c CHECKPOINT >/dev/null; }
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }   # kv "a=1 b=2" b

echo "# Publishing to Redis (bench/redis.sh)"
echo
echo '```'
echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, repo $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "server:    $(q -c 'SHOW server_version'), redis $(redis-server --version | awk '{print $3}' | sed 's/^v=//'), denorm.naptime 100ms"
echo "pgbench:   -M prepared --max-tries=1 -c $CLIENTS -j $THREADS; runs of $SECONDS_PER_RUN s, $ROUNDS rounds alternating"

# ---------------------------------------------------------------- 1. write overhead
log "-- 1. write overhead (single-row INSERTs, post_upvotes published as a hash or not)"
ratios=(); overhead_failed=0; overhead_wrong=0
for (( round = 1; round <= ROUNDS; round++ )); do
    order=(unpublished published); (( round % 2 )) || order=(published unpublished)
    for v in "${order[@]}"; do
        if [[ $v == published ]]; then set_published post_upvotes hash; else set_published post_upvotes off; fi
        settle
        run "$DIR/w.out" -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_PER_RUN" -f "$DIR/insert.sql"
        read -r tps failed < <(pgbench_result "$DIR/w.out")
        overhead_failed=$(( overhead_failed + failed ))
        declare "TPS_${v}_$round=$tps"
        line="round $round  $v  tps $tps  failed $failed"
        if [[ $v == published ]]; then
            wait_drained
            check_hash denorm:post_upvotes "$UPVOTES_EXPECTED"
            overhead_wrong=$(( overhead_wrong + WRONG ))
            line+="  Redis fields wrong $WRONG (excess $EXCESS)"
        fi
        log "$line"
    done
    a=TPS_published_$round; b=TPS_unpublished_$round
    ratios+=("$(awk -v a="${!a}" -v b="${!b}" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}')")
done

# ---------------------------------------------------------------- 2. lag
# lag_run LABEL MODE REDIS_KEY INSERT_SQL VALUE_SQL PGBENCH_SCRIPT RATE: background load
# at RATE transactions/s while redis_lag probes; sets LAG (probe summary), LOAD_TPS,
# LOAD_FAILED, LOAD_SECONDS.
lag_run() {
    local label=$1 mode=$2 key=$3 insert=$4 value=$5 script=$6 rate=$7 secs
    secs=$(( PROBES * PROBE_GAP_MS * 3 / 2000 + 4 ))
    settle
    "${PGB[@]}" -c "$CLIENTS" -j "$THREADS" -T "$secs" -R "$rate" -f "$script" "$DB" >"$DIR/lag_$label.out" 2>&1 &
    LOAD_PID=$!
    sleep 1
    LAG=$("$DIR/redis_lag" -d "$CONNINFO" -p "$REDIS_PORT" -m "$mode" -k "$key" -f "$PROBE_KEY" \
          -i "$insert" -v "$value" -n "$PROBES" -g "$PROBE_GAP_MS" -u "$POLL_US" -T $(( secs - 2 )) \
          -o "$DIR/lag_$label.us")
    wait "$LOAD_PID" || true
    LOAD_PID=
    read -r LOAD_TPS LOAD_FAILED < <(pgbench_result "$DIR/lag_$label.out")
    LOAD_SECONDS=$secs
    log "lag $label ($mode): load $LOAD_TPS tps asked $rate, failed $LOAD_FAILED, $(grep -o 'schedule lag: .*' "$DIR/lag_$label.out" || echo 'schedule lag: ?')"
    log "lag $label ($mode): $LAG"
}
log "-- 2. lag commit -> visible in Redis (bench/redis_lag.c)"
set_published post_upvotes hash
lag_run hash hash denorm:post_upvotes "INSERT INTO upvotes (post_id) VALUES ($PROBE_KEY)" \
    "SELECT upvote_count FROM posts WHERE id = $PROBE_KEY" "$DIR/insert.sql" "$RATE"
LAG_A=$LAG; LOAD_A=$LOAD_TPS; FAILED_A=$LOAD_FAILED
wait_drained
check_hash denorm:post_upvotes "$UPVOTES_EXPECTED"; WRONG_A=$WRONG
log "lag hash: Redis fields wrong $WRONG (excess $EXCESS)"

set_published post_comments stream
stream_added() { r XINFO STREAM denorm:post_comments 2>/dev/null | awk 'p == "entries-added" {print; exit} {p = $0} END {if (!NR) print 0}'; }
added0=$(stream_added); added0=${added0:-0}
STREAM_RATE=$(awk -v c="$STREAM_CHANGES" -v k="$STREAM_KEYS" 'BEGIN {printf "%.1f", c / k}')
lag_run stream stream denorm:post_comments "INSERT INTO comments (post_id) VALUES ($PROBE_KEY)" \
    "SELECT comment_count FROM posts WHERE id = $PROBE_KEY" "$DIR/comments.sql" "$STREAM_RATE"
LAG_B=$LAG; FAILED_B=$LOAD_FAILED
CHANGES_B=$(awk -v t="$LOAD_TPS" -v k="$STREAM_KEYS" 'BEGIN {printf "%.0f", t * k}')
wait_drained
added1=$(stream_added); added1=${added1:-0}
# Every stream entry: per key, versions grow, value = previous value + delta (a repeated
# version, sent again, is skipped); then the last value per key against the table.
r XRANGE denorm:post_comments - + | awk -v breaks="$DIR/stream_breaks" '
    function flush(   k, v, d, ver) {
        if (id == "") return
        k = e["key"]; v = e["value"]; d = e["delta"]; ver = e["version"] + 0
        if ((k in version) && ver <= version[k]) { if (ver < version[k]) bad++ }
        else {
            if ((k in last) && d != "" && last[k] + d != v) bad++
            if (!(k in last) && d != "" && d != v) bad++   # published before any comment: starts at 0
            version[k] = ver; last[k] = v
        }
        delete e; id = ""
    }
    /^[0-9]+-[0-9]+$/ { flush(); id = $0; name = ""; next }
    { if (name == "") name = $0; else { e[name] = $0; name = "" } }
    END { flush(); for (k in last) print k "\t" last[k]; print bad + 0 > breaks }' >"$DIR/stream_last"
check_file "$DIR/stream_last" 'SELECT id::text, comment_count::numeric FROM posts'; WRONG_B=$WRONG
BREAKS_B=$(cat "$DIR/stream_breaks")
log "lag stream: load $CHANGES_B key changes/s (asked $STREAM_CHANGES), stream entries added $(( added1 - added0 )) (a load of ${LOAD_SECONDS} s and the probes); last values wrong $WRONG_B (excess $EXCESS), chain breaks $BREAKS_B"
set_published post_comments off   # the drain below is hash-only (and the stream index goes)

# ---------------------------------------------------------------- 3. drain
log "-- 3. drain of a backlog"
q -c "ALTER SYSTEM SET denorm.redis_url = ''" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
settle
q -c "INSERT INTO denorm._outbox (counter, key, delta)
      SELECT 'post_upvotes', ARRAY[(1 + g % $KEYS)::text], 1 FROM generate_series(1, $BACKLOG) g" >/dev/null
q -c CHECKPOINT >/dev/null
q -c "ALTER SYSTEM RESET denorm.redis_url" -c "SELECT pg_reload_conf()" >/dev/null
t0=$(date +%s%N)
wait_drained $(( BACKLOG / 5000 + 60 ))
drain_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
DRAIN_RATE=$(( BACKLOG * 1000 / (drain_ms > 0 ? drain_ms : 1) ))
check_hash denorm:post_upvotes "$UPVOTES_EXPECTED"; WRONG_DRAIN=$WRONG
log "drain: $BACKLOG entries in $drain_ms ms: $DRAIN_RATE entries/s; Redis fields wrong $WRONG (excess $EXCESS)"

# ---------------------------------------------------------------- 4. seeds vs denorm
log "-- 4. the application keeps Redis (HINCRBY) vs denorm publishes; $ROLLBACK_PCT % rolled back"
app_ratios=(); seeds_tps=(); denorm_tps=()
seeds_wrong=0; seeds_excess=0; seeds_rolled=0; seeds_errors=0; denorm_wrong=0; denorm_errors=0
for (( round = 1; round <= ROUNDS; round++ )); do
    order=(seeds denorm); (( round % 2 )) || order=(denorm seeds)
    for v in "${order[@]}"; do
        if [[ $v == seeds ]]; then
            set_published post_upvotes off
            r DEL app:post_upvotes >/dev/null
            key=(-k app:post_upvotes)
        else
            set_published post_upvotes hash
            key=()
        fi
        first=$(q -c 'SELECT coalesce(max(id), 0) FROM upvotes')
        settle
        out=$("$DIR/app_hincrby" -d "$CONNINFO" -p "$REDIS_PORT" "${key[@]}" -c "$CLIENTS" -T "$SECONDS_PER_RUN" \
              -r "$ROLLBACK_PCT" -n "$KEYS" -s "$round")
        tps=$(kv "$out" tps)
        if [[ $v == seeds ]]; then
            # Redis against what the database committed in this run (the hash started empty).
            check_hash app:post_upvotes \
                "SELECT post_id::text, count(*)::numeric FROM upvotes WHERE id > $first GROUP BY post_id"
            seeds_wrong=$(( seeds_wrong + WRONG )); seeds_excess=$(( seeds_excess + ${EXCESS%.*} ))
            seeds_rolled=$(( seeds_rolled + $(kv "$out" rolled_back) )); seeds_errors=$(( seeds_errors + $(kv "$out" errors) ))
            seeds_tps+=("$tps")
        else
            wait_drained
            check_hash denorm:post_upvotes "$UPVOTES_EXPECTED"
            denorm_wrong=$(( denorm_wrong + WRONG )); denorm_errors=$(( denorm_errors + $(kv "$out" errors) ))
            denorm_tps+=("$tps")
        fi
        declare "APP_${v}_$round=$tps"
        log "round $round  $v  $out  Redis fields wrong $WRONG (excess $EXCESS)"
    done
    a=APP_denorm_$round; b=APP_seeds_$round
    app_ratios+=("$(awk -v a="${!a}" -v b="${!b}" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}')")
done
echo '```'

# ---------------------------------------------------------------- report
pct() { echo "$(kv "$1" p50_ms) / $(kv "$1" p99_ms)"; }
probes_line() { echo "$(kv "$1" probes) probes, $(kv "$1" timeouts) timed out, max $(kv "$1" max_ms) ms"; }
echo
echo "| measurement | result | failed / mismatches | target |"
echo "|---|---:|---|---:|"
echo "| 1. single-row INSERTs, $CLIENTS clients: published (hash) / unpublished tps, per round ${ratios[*]} | $(printf '%s\n' "${ratios[@]}" | median) | $overhead_failed failed; Redis fields wrong after the published runs: $overhead_wrong | >= 0.90 |"
echo "| 2a. lag commit -> visible, hash, p50 / p99 (ms), load $LOAD_A commits/s (asked $RATE$(shortfall "$LOAD_A" "$RATE")); $(probes_line "$LAG_A"); commit itself p50 $(kv "$LAG_A" commit_p50_ms) ms; poll every $POLL_US µs + HGET $(kv "$LAG_A" rtt_us) µs | $(pct "$LAG_A") | $FAILED_A failed; Redis fields wrong: $WRONG_A | p99 <= 50 |"
echo "| 2b. lag commit -> visible, stream, p50 / p99 (ms), load $CHANGES_B key changes/s (asked $STREAM_CHANGES, $STREAM_KEYS per transaction$(shortfall "$CHANGES_B" "$STREAM_CHANGES")); $(probes_line "$LAG_B"); commit itself p50 $(kv "$LAG_B" commit_p50_ms) ms; XREAD BLOCK | $(pct "$LAG_B") | $FAILED_B failed; keys whose last stream value is wrong: $WRONG_B; chain breaks: $BREAKS_B | p99 <= 50 |"
echo "| 3. drain of a $BACKLOG-entry backlog (hash), entries/s | $DRAIN_RATE | Redis fields wrong: $WRONG_DRAIN | >= 100000 |"
echo "| 4a. seeds: app BEGIN; INSERT; HINCRBY; COMMIT ($ROLLBACK_PCT % ROLLBACK), $CLIENTS clients, tps (median; per round ${seeds_tps[*]}) | $(printf '%s\n' "${seeds_tps[@]}" | median) | $seeds_errors errors; Redis fields wrong: $seeds_wrong, excess +$seeds_excess ($seeds_rolled rolled back) | |"
echo "| 4b. denorm: same transactions without HINCRBY, published (hash), tps (median; per round ${denorm_tps[*]}) | $(printf '%s\n' "${denorm_tps[@]}" | median) | $denorm_errors errors; Redis fields wrong: $denorm_wrong | 0 wrong |"
echo "| 4. denorm / seeds tps, per round ${app_ratios[*]} | $(printf '%s\n' "${app_ratios[@]}" | median) | | |"
