#!/usr/bin/env bash
# bench/mv_refresh.sh — denorm's debounced materialized-view refresh (README
# "Materialized views, refreshed in the background"):
#   (a) write overhead of change capture: pgbench single-row INSERTs into a table, with no
#       registered view vs the same table as the source of a registered view (debounce 1 s,
#       max_delay 5 s, the worker running): a trivial view (capture alone), and the feed of
#       (b) (capture + its refreshes competing for the CPU)
#   (b) the seeds' feed (projects / upvotes / comments, trending score, unique index), a
#       burst of upvotes (default 1,000 over 10 s from 4 clients, one per transaction) with
#       denorm.register_mv(feed, debounce => 1 s, max_delay => 5 s): refreshes, staleness
#       after each commit (p50/p99), whether the view is fresh after the burst
#   (c) the same burst with the seeds' approach: no denorm, a statement trigger
#       AFTER INSERT ON upvotes FOR EACH STATEMENT running REFRESH MATERIALIZED VIEW
#       CONCURRENTLY feed: refreshes, the burst's throughput and duration, whether the
#       view is left stale
# Prints a markdown report on stdout (progress on stderr).
#
# It never touches the system's PostgreSQL install: denorm is installed under a DESTDIR
# (default /tmp/denorm-mvbench-dest) and a throwaway cluster (run as the postgres OS
# user, unix socket only, in $MV_BENCH_DIR) loads it from there:
#   shared_preload_libraries = 'denorm'
#   extension_destdir        = '<DESTDIR>'                 (Debian's PostgreSQL)
#   dynamic_library_path     = '<DESTDIR>/usr/lib/postgresql/15/lib:$libdir'
# The report shows which denorm.so the server mapped. By default the script assumes that
# install exists (`make -j2 && make install DESTDIR=/tmp/denorm-mvbench-dest`);
# MV_BENCH_BUILD=1 does it first. The cluster is stopped and removed at the end.
#
# Environment (all optional):
#   MV_BENCH_BUILD=0           1: make -j2 && make install DESTDIR=$MV_BENCH_DESTDIR first
#   MV_BENCH_DESTDIR=/tmp/denorm-mvbench-dest
#   MV_BENCH_DIR=/tmp/denorm-mvbench   cluster directory (removed at the end)
#   MV_BENCH_PORT              default: first free port in 5570..5599
#   MV_BENCH_KEEP=1            leave the cluster running at the end
#   MV_BENCH_PARTS="a b c"     subset to run
#   MV_BENCH_WAIT_OTHER=0      1: first wait until no bench/run.sh runs (it would disturb both)
#   (a) MV_BENCH_A_SECONDS=8   pgbench -T of one run; MV_BENCH_A_ROUNDS=2 runs per variant,
#                              interleaved none,denorm,denorm,none (so drift hits both alike);
#                              reported: all the variant's transactions / all its time
#       MV_BENCH_A_CLIENTS="1 8"  client counts on the trivial view
#       MV_BENCH_A_FEED_CLIENTS=8 client counts on the feed's upvotes ("" to skip)
#   (b)/(c) MV_BENCH_PROJECTS=10000 MV_BENCH_UPVOTES=100000 MV_BENCH_COMMENTS=20000
#       MV_BENCH_BURST=1000    upvotes in the burst
#       MV_BENCH_RATE=100      offered rate (pgbench -R, all clients together), per second
#       MV_BENCH_BURST_CLIENTS=4
#       MV_BENCH_BUDGET=350    seconds for the whole run: (c), whose writers cannot keep up
#                              (each commit refreshes the view, and those refreshes serialize),
#                              is stopped when the budget would be exceeded; the report then
#                              says how many of the burst's upvotes got in, and extrapolates
#       MV_BENCH_C_MAX_SECONDS (c) is stopped after at most this long (default: the budget)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
PG_BINDIR=/usr/lib/postgresql/15/bin

DESTDIR=${MV_BENCH_DESTDIR:-/tmp/denorm-mvbench-dest}
DIR=${MV_BENCH_DIR:-/tmp/denorm-mvbench}
PARTS=${MV_BENCH_PARTS-"a b c"}
A_SECONDS=${MV_BENCH_A_SECONDS:-8}
A_ROUNDS=${MV_BENCH_A_ROUNDS:-2}
A_CLIENTS=${MV_BENCH_A_CLIENTS:-"1 8"}
A_FEED_CLIENTS=${MV_BENCH_A_FEED_CLIENTS-8}
PROJECTS=${MV_BENCH_PROJECTS:-10000}
UPVOTES=${MV_BENCH_UPVOTES:-100000}
COMMENTS=${MV_BENCH_COMMENTS:-20000}
BURST=${MV_BENCH_BURST:-1000}
RATE=${MV_BENCH_RATE:-100}
BURST_CLIENTS=${MV_BENCH_BURST_CLIENTS:-4}
C_MAX_SECONDS=${MV_BENCH_C_MAX_SECONDS:-}
BUDGET=${MV_BENCH_BUDGET:-350}
DEBOUNCE_S=1
MAX_DELAY_S=5
DB=bench
LIBDIR=$DESTDIR/usr/lib/postgresql/15/lib
COMMAND="$0${*:+ $*}"
ENV_USED=$(env | grep '^MV_BENCH_' | sort | tr '\n' ' ' || true)

# shellcheck source=bench/cluster.sh
source "$BENCH/cluster.sh"
say() { echo "mv_refresh: $*" >&2; }

if [[ ${MV_BENCH_BUILD:-0} == 1 ]]; then
    say "building and installing into $DESTDIR"
    (cd "$ROOT" && make -s -j2 && make -s install DESTDIR="$DESTDIR") >&2
fi
[[ -f $LIBDIR/denorm.so && -f $DESTDIR/usr/share/postgresql/15/extension/denorm.control ]] || {
    say "no denorm install under $DESTDIR: run with MV_BENCH_BUILD=1 (or: make -j2 && make install DESTDIR=$DESTDIR)"
    exit 1
}
if [[ ${MV_BENCH_WAIT_OTHER:-0} == 1 ]]; then
    while pgrep -f 'bench/run\.sh' >/dev/null; do echo "mv_refresh: waiting for bench/run.sh to finish" >&2; sleep 10; done
fi
T_START=$(date +%s)
OTHER_AT_START=$(pgrep -f 'bench/run\.sh' >/dev/null && echo yes || echo no)

# ---------------------------------------------------------------------------------------
# Cluster (bench/cluster.sh)
PORT=${MV_BENCH_PORT:-}
CLUSTER_KEEP=${MV_BENCH_KEEP:-0}
cluster_init 5570 5599
CONF_LINES=(
    "shared_preload_libraries = 'denorm'"
    "extension_destdir = '$DESTDIR'"
    "dynamic_library_path = '$LIBDIR:\$libdir'"
)
cluster_start "denorm mv benchmark" "${CONF_LINES[@]}"
PGBENCH=("$PG_BINDIR/pgbench" -h "$DIR" -p "$PORT" -U postgres -n)

worker_pid() {  # the 'denorm worker' of $DB, waiting up to 10 s for it
    local pid="" i
    for (( i = 0; i < 100; i++ )); do
        pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'denorm worker' AND datname = '$DB'")
        [[ -n $pid ]] && break
        sleep 0.1
    done
    echo "$pid"
}
proc_cpu() {  # CPU seconds (user + system) of process $1 so far
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{printf "%.2f", ($12 + $13) / 100}' || echo 0
}
# Interference: share of the machine's CPU used by processes other than this cluster
# and its clients between two snapshots (as in bench/run.sh).
cpu_snapshot() {
    local pm cpu ours
    pm=$(head -1 "$DIR/data/postmaster.pid")
    cpu=($(head -1 /proc/stat))
    ours=$(for p in $$ "$pm" $(ps -o pid= --ppid "$pm"); do sed 's/.*) //' "/proc/$p/stat" 2>/dev/null; done |
           awk '{s += $12 + $13 + $14 + $15} END {print s + 0}')
    echo "$(( cpu[1]+cpu[2]+cpu[3]+cpu[6]+cpu[7]+cpu[8] )) $(( cpu[1]+cpu[2]+cpu[3]+cpu[4]+cpu[5]+cpu[6]+cpu[7]+cpu[8] )) $ours"
}
other_pct() {
    awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " ");
        t = y[2] - x[2]; o = (y[1] - x[1]) - (y[3] - x[3]); if (o < 0) o = 0;
        printf "%.0f", (t > 0 ? 100 * o / t : 0)}'
}
ratio() { awk -v x="$1" -v y="$2" 'BEGIN {if (y+0 == 0) print "nan"; else printf "%.3f", x/y}'; }

WPID=$(worker_pid)
[[ -n $WPID ]] || { say "no 'denorm worker' for database $DB after 10 s"; tail -n 30 "$DIR/server.log" >&2; exit 1; }
# Which denorm.so the processes mapped: the worker's, and a backend's after calling into denorm.
LIB_WORKER=$(grep -o '/[^ ]*denorm\.so' "/proc/$WPID/maps" | sort -u | tr '\n' ' ')
LIB_BACKEND=$(q <<'SQL' | tail -1
SELECT denorm.run_pending();
SELECT string_agg(DISTINCT substring(line FROM '/\S*denorm\.so'), ' ')
  FROM regexp_split_to_table(pg_read_file('/proc/self/maps'), E'\n') line WHERE line LIKE '%denorm.so%';
SQL
)
for lib in $LIB_WORKER $LIB_BACKEND; do
    [[ $lib == "$LIBDIR/denorm.so" ]] || { say "the server mapped $lib, not $LIBDIR/denorm.so"; exit 1; }
done

RAW=$DIR/raw.txt
: >"$RAW"
log() { echo "$*" | tee -a "$RAW" >&2; }

# ---------------------------------------------------------------------------------------
# (a) write overhead of change capture
declare -A A_TPS A_LAT
A_ROWS=()
a_setup_events() {
    q >/dev/null <<'SQL'
SELECT denorm.unregister_mv(to_regclass('events_latest'), if_exists => true);
DROP MATERIALIZED VIEW IF EXISTS events_latest;
DROP TABLE IF EXISTS events;
CREATE TABLE events (id bigserial PRIMARY KEY, k int NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE MATERIALIZED VIEW events_latest AS SELECT 1 AS one, max(id) AS last_id, max(created_at) AS last_at FROM events;
CREATE UNIQUE INDEX ON events_latest (one);
VACUUM ANALYZE events;
SQL
}
# a_series KEY LABEL MV SCRIPT CLIENTS DEFINE "VARIANTS": A_ROUNDS x variants, the order
# reversed every other round. Variants: none (the view is not registered), denorm (registered,
# worker on), capture (registered, denorm.enabled = off: capture and the wake-up at commit
# only, the worker neither looks for due views nor refreshes).
a_series() {
    local key=$1 label=$2 mv=$3 script=$4 c=$5 define=$6 variants=$7
    local j=$(( c < 2 ? c : 2 )) r v out tps lat txns s0 s1 other w0 w1 n0 n1 pend
    declare -A sum_tx=() sum_s=() lats=()
    A_ROWS+=("$key|$label|$variants")
    for (( r = 1; r <= A_ROUNDS; r++ )); do
        local order=$variants; (( r % 2 )) || order=$(printf '%s\n' $variants | tac | tr '\n' ' ')
        for v in $order; do
            q -c "SELECT denorm.unregister_mv('$mv', if_exists => true)" >/dev/null
            q -c "ALTER SYSTEM SET denorm.enabled = $([[ $v == capture ]] && echo off || echo on)" -c "SELECT pg_reload_conf()" >/dev/null
            if [[ $v != none ]]; then
                q -c "SELECT denorm.register_mv('$mv', debounce => '$DEBOUNCE_S second', max_delay => '$MAX_DELAY_S seconds')" >/dev/null
            fi
            q -c "CHECKPOINT" >/dev/null
            n0=$(q -c "SELECT count(*) FROM denorm.refresh_log WHERE mv::oid = '$mv'::regclass::oid")
            WPID=$(worker_pid); w0=$(proc_cpu "$WPID"); s0=$(cpu_snapshot)
            out=$("${PGBENCH[@]}" -M prepared -c "$c" -j "$j" -T "$A_SECONDS" -D "$define" -f "$script" "$DB" 2>&1) ||
                { echo "$out" >&2; say "pgbench failed ($key $v)"; exit 1; }
            sleep 0.3
            s1=$(cpu_snapshot); w1=$(proc_cpu "$WPID"); other=$(other_pct "$s0" "$s1")
            n1=$(q -c "SELECT count(*) FROM denorm.refresh_log WHERE mv::oid = '$mv'::regclass::oid")
            pend=$(q -c "SELECT coalesce((SELECT requests_pending FROM denorm.mv_status WHERE mv::oid = '$mv'::regclass::oid), 0)")
            tps=$(awk '/^tps = / {print $3; exit}' <<<"$out")
            lat=$(awk '/^latency average = / {print $4; exit}' <<<"$out")
            txns=$(awk -F': ' '/^number of transactions actually processed/ {split($2, a, "/"); print a[1]; exit}' <<<"$out")
            grep -q 'number of failed transactions: 0 ' <<<"$out" || { echo "$out" >&2; say "failed transactions ($key $v)"; exit 1; }
            sum_tx[$v]=$(( ${sum_tx[$v]:-0} + txns )); sum_s[$v]=$(( ${sum_s[$v]:-0} + A_SECONDS ))
            lats[$v]+="$lat "
            log "$(printf '(a) %-22s round %d  %-7s tps %9.1f  latency %7.3f ms  worker CPU %5.2f s  refreshes %2d  requests pending after %6d  other CPU %3d%%' \
                   "$key" "$r" "$v" "$tps" "$lat" "$(awk -v a="$w0" -v b="$w1" 'BEGIN {print b - a}')" \
                   $(( n1 - n0 )) "$pend" "$other")"
        done
    done
    q -c "SELECT denorm.unregister_mv('$mv', if_exists => true)" >/dev/null
    q -c "ALTER SYSTEM RESET denorm.enabled" -c "SELECT pg_reload_conf()" >/dev/null
    for v in $variants; do
        A_TPS[$key,$v]=$(awk -v t="${sum_tx[$v]}" -v s="${sum_s[$v]}" 'BEGIN {printf "%.1f", t / s}')
        A_LAT[$key,$v]=$(tr ' ' '\n' <<<"${lats[$v]}" | grep . | awk '{s += $1} END {printf "%.3f", s / NR}')
    done
}

# ---------------------------------------------------------------------------------------
# (b) and (c): the feed
load_feed() {
    q -v projects="$PROJECTS" -v upvotes="$UPVOTES" -v comments="$COMMENTS" -f "$BENCH/mv_schema.sql" >/dev/null
}
# fresh_check: "rows in the view not in its query / rows of the query not in the view" (0/0 = fresh)
fresh_check() {
    q -c "SELECT (SELECT count(*) FROM (SELECT project_id, title, created_at, upvotes_7d, comments FROM feed
                                        EXCEPT ALL
                                        SELECT project_id, title, created_at, upvotes_7d, comments FROM feed_live) x)
             || '/' ||
                 (SELECT count(*) FROM (SELECT project_id, title, created_at, upvotes_7d, comments FROM feed_live
                                        EXCEPT ALL
                                        SELECT project_id, title, created_at, upvotes_7d, comments FROM feed) y)
             || ' (' || (SELECT sum(upvotes_7d) FROM feed_live) - (SELECT sum(upvotes_7d) FROM feed) || ' upvotes missing)'"
}
is_fresh() { [[ $1 == 0/0* ]] && echo "yes" || echo "no: $1 rows differ (view-only/query-only)"; }
# burst TAG MAX_SECONDS: the upvote burst (pgbench -R RATE -t BURST/CLIENTS), stopped after
# MAX_SECONDS if not done; sets BURST_OUT, BURST_T0/T1 (server clock), BURST_RC, BURST_CUT (yes/no)
burst() {
    local tag=$1 max=$2 pid i
    local j=$(( BURST_CLIENTS < 2 ? BURST_CLIENTS : 2 ))
    BURST_T0=$(q -c "SELECT clock_timestamp()")
    "${PGBENCH[@]}" -M prepared -c "$BURST_CLIENTS" -j "$j" -R "$RATE" -t $(( BURST / BURST_CLIENTS )) \
        -D projects="$PROJECTS" -f "$BENCH/mv_burst.sql" "$DB" >"$DIR/burst_$tag.out" 2>&1 &
    pid=$!
    BURST_CUT=no
    for (( i = 0; i < max * 10; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        BURST_CUT=yes
        kill -TERM "$pid" 2>/dev/null || true   # (SIGINT is ignored by background jobs of a script)
    fi
    set +e; wait "$pid"; BURST_RC=$?; set -e
    # A backend whose client went away still finishes (and commits) its statement.
    for (( i = 0; i < 100; i++ )); do
        [[ $(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = '$DB'
                     AND pid <> pg_backend_pid()") == 0 ]] && break
        sleep 0.1
    done
    BURST_T1=$(q -c "SELECT clock_timestamp()")
    BURST_OUT=$(cat "$DIR/burst_$tag.out")
    if [[ $BURST_CUT == yes ]]; then
        log "($tag) pgbench stopped after $max s (MV_BENCH_C_MAX_SECONDS / the run's time budget)"
    else
        log "$(printf '(%s) pgbench exit %d: %s' "$tag" "$BURST_RC" \
               "$(grep -E '^(number of (transactions actually processed|failed transactions)|latency average|latency stddev|rate limit schedule lag|tps)' <<<"$BURST_OUT" | tr '\n' ';' | sed 's/;$//; s/;/; /g')")"
        if (( BURST_RC != 0 )); then
            grep -vE '^(transaction type|scaling factor|query mode|number of (clients|threads))' <<<"$BURST_OUT" | tail -n 15 | sed 's/^/    /' | tee -a "$RAW" >&2
        fi
    fi
}
# burst_stats: commits in the burst, first -> last commit (s), commits/s, INSERT -> commit acknowledged p50/p99 (ms)
burst_stats() {
    q -F ' ' -c "SELECT count(*), round(extract(epoch FROM max(u.created_at) - min(u.created_at))::numeric, 2),
                        round((count(*) / nullif(extract(epoch FROM max(u.created_at) - min(u.created_at)), 0))::numeric, 1),
                        round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.acked_at - u.created_at) * 1000)::numeric, 1),
                        round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM a.acked_at - u.created_at) * 1000)::numeric, 1)
                   FROM upvotes u LEFT JOIN burst_ack a ON a.upvote_id = u.id WHERE u.id > $UPVOTES"
}

declare -A R   # results
if [[ " $PARTS " == *" a "* ]]; then
    say "(a) change-capture overhead"
    a_setup_events
    # Warm-up, not recorded: page cache, WAL segments, pgbench's first-use costs.
    "${PGBENCH[@]}" -M prepared -c 8 -j 2 -T 5 -D keys=10000 -f "$BENCH/mv_insert.sql" "$DB" >/dev/null 2>&1
    log "(a) warm-up: 5 s of single-row INSERTs, 8 clients, not recorded"
    for c in $A_CLIENTS; do
        a_setup_events
        a_series "events c=$c" "INSERT into events, $c client$([[ $c == 1 ]] || echo s); view events_latest (max(id): trivial refresh)" \
            events_latest "$BENCH/mv_insert.sql" "$c" keys=10000 "none capture denorm"
    done
    if [[ -n $A_FEED_CLIENTS ]]; then
        load_feed
        for c in $A_FEED_CLIENTS; do
            a_series "upvotes c=$c" "INSERT into upvotes, $c client$([[ $c == 1 ]] || echo s); view feed (10,000 rows, refreshed CONCURRENTLY)" \
                feed "$BENCH/mv_upvote.sql" "$c" projects="$PROJECTS" "none denorm"
        done
    fi
fi

if [[ " $PARTS " == *" b "* ]]; then
    say "(b) burst with denorm"
    load_feed
    q -c "SELECT denorm.register_mv('feed', debounce => '$DEBOUNCE_S second', max_delay => '$MAX_DELAY_S seconds')" >/dev/null
    R[b_idle_ms]=$(q -c "SELECT round(duration_ms::numeric) FROM denorm.refresh_log WHERE id = (SELECT max(id) FROM denorm.refresh_log WHERE mv = 'feed'::regclass)" 2>/dev/null || true)
    q -c "SELECT denorm.refresh_now('feed')" >/dev/null   # warm; its duration on an idle machine
    R[b_idle_ms]=$(q -c "SELECT round(duration_ms::numeric) FROM denorm.refresh_log WHERE mv = 'feed'::regclass ORDER BY id DESC LIMIT 1")
    q -c "CHECKPOINT" >/dev/null
    sleep 0.5
    R[b_pending_before]=$(q -c "SELECT pending FROM denorm.mv_status WHERE mv = 'feed'::regclass")
    WPID=$(worker_pid); s0=$(cpu_snapshot); w0=$(proc_cpu "$WPID")
    burst b 600
    R[b_rc]=$BURST_RC
    R[b_tps]=$(awk '/^tps = / {print $3; exit}' <<<"$BURST_OUT")
    R[b_lat]=$(awk '/^latency average = / {print $4; exit}' <<<"$BURST_OUT")
    R[b_t0]=$BURST_T0
    R[b_after]=$(fresh_check)          # right after the last commit, no waiting
    # Then wait until nothing is pending and no refresh runs, at most max_delay + 3 refreshes + 2 s.
    deadline=$(awk -v m="$MAX_DELAY_S" -v d="${R[b_idle_ms]}" 'BEGIN {printf "%d", (m + 2 + 3 * d / 1000) * 10}')
    for (( i = 0; i < deadline; i++ )); do
        busy=$(q -c "SELECT (SELECT pending FROM denorm.mv_status WHERE mv = 'feed'::regclass)
                         OR EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'denorm worker'
                                     AND query LIKE '%refreshing%' AND state = 'active')")
        [[ $busy == f ]] && break
        sleep 0.1
    done
    R[b_waited]=$(q -c "SELECT round(extract(epoch FROM clock_timestamp() - '$BURST_T1'::timestamptz)::numeric, 1)")
    R[b_settled]=$([[ $busy == f ]] && echo yes || echo no)
    R[b_final]=$(fresh_check)
    s1=$(cpu_snapshot); w1=$(proc_cpu "$WPID")
    R[b_other]=$(other_pct "$s0" "$s1")
    R[b_worker_cpu]=$(awk -v a="$w0" -v b="$w1" 'BEGIN {printf "%.2f", b - a}')
    read -r R[b_commits] R[b_span] R[b_rate] R[b_ack50] R[b_ack99] <<<"$(burst_stats)"
    log "(b) burst: ${R[b_commits]} upvotes committed over ${R[b_span]} s (${R[b_rate]}/s); view right after: ${R[b_after]}; after waiting ${R[b_waited]} s: ${R[b_final]}"
    log "(b) refresh_log rows since the burst started (started_at relative to the burst's first commit):"
    q -F ' | ' <<SQL | sed 's/^/    /' | tee -a "$RAW" >&2
SELECT id, status, '+' || round(extract(epoch FROM started_at - (SELECT min(created_at) FROM upvotes WHERE id > $UPVOTES))::numeric, 3) || ' s',
       round(duration_ms::numeric, 1) || ' ms', requests_coalesced || ' requests', CASE WHEN "concurrently" THEN 'concurrently' ELSE 'plain' END,
       coalesce(error, '')
  FROM denorm.refresh_log WHERE mv = 'feed'::regclass AND started_at >= '$BURST_T0' ORDER BY id
SQL
    read -r R[b_refreshes] R[b_failed] R[b_max_ms] R[b_avg_ms] <<<"$(q -F ' ' -c "
        SELECT count(*), count(*) FILTER (WHERE status <> 'completed'),
               round(coalesce(max(duration_ms) FILTER (WHERE status = 'completed'), 0)::numeric),
               round(coalesce(avg(duration_ms) FILTER (WHERE status = 'completed'), 0)::numeric)
          FROM denorm.refresh_log WHERE mv = 'feed'::regclass AND started_at >= '$BURST_T0'")"
    # Staleness after each commit. The commit of upvote u happened between u.created_at
    # (clock_timestamp() at its INSERT) and burst_ack.acked_at (written once the commit had
    # returned). A refresh that started at or after acked_at certainly sees u (its snapshot
    # is taken after started_at); so staleness = finished_at of the first completed refresh
    # started at or after acked_at, minus created_at: an upper bound of "commit -> view shows
    # it". 'ambiguous' counts upvotes with a refresh started between created_at and acked_at
    # (which may or may not have seen them; the upper bound assumes not).
    read -r R[b_n] R[b_covered] R[b_p50] R[b_p99] R[b_max] R[b_ambiguous] R[b_commit_ms] <<<"$(q -F ' ' <<SQL
WITH b AS (SELECT u.id, u.created_at, a.acked_at FROM upvotes u JOIN burst_ack a ON a.upvote_id = u.id WHERE u.id > $UPVOTES),
r AS (SELECT started_at, finished_at FROM denorm.refresh_log
       WHERE mv = 'feed'::regclass AND status = 'completed' AND started_at >= '$BURST_T0'),
s AS (SELECT b.id,
             extract(epoch FROM (SELECT min(r.finished_at) FROM r WHERE r.started_at >= b.acked_at) - b.created_at) AS stale,
             EXISTS (SELECT 1 FROM r WHERE r.started_at > b.created_at AND r.started_at < b.acked_at) AS ambiguous,
             extract(epoch FROM b.acked_at - b.created_at) * 1000 AS commit_ms
        FROM b)
SELECT count(*), count(stale),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY stale)::numeric, 3),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY stale)::numeric, 3),
       round(max(stale)::numeric, 3),
       count(*) FILTER (WHERE ambiguous),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY commit_ms)::numeric, 2)
  FROM s
SQL
)"
    R[b_bound]=$(awk -v m="$MAX_DELAY_S" -v d="${R[b_max_ms]}" 'BEGIN {printf "%.3f", m + d / 1000}')
    log "(b) staleness (s): p50 ${R[b_p50]}, p99 ${R[b_p99]}, max ${R[b_max]} over ${R[b_covered]}/${R[b_n]} upvotes covered by a completed refresh; ambiguous ${R[b_ambiguous]}; created_at -> acked_at median ${R[b_commit_ms]} ms; worker CPU ${R[b_worker_cpu]} s; other CPU ${R[b_other]}%"
    q -c "SELECT denorm.unregister_mv('feed')" >/dev/null
fi

if [[ " $PARTS " == *" c "* ]]; then
    say "(c) burst with the seeds' statement trigger"
    load_feed
    base=$(q -c "SELECT sum(upvotes_7d) FROM feed")
    # The seeds' trigger, plus instrumentation (the INSERT INTO seeds_check, not part of the
    # seeds' code): how many committed upvotes the state this transaction leaves in the view
    # lacks. It is exact: no other upvote can commit between that check and this commit,
    # since every other writer is waiting for the view's lock in its own REFRESH.
    q >/dev/null <<SQL
CREATE TABLE seeds_check (id bigserial PRIMARY KEY, missing bigint NOT NULL,
                          at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION seeds_refresh_feed() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY feed;
    INSERT INTO seeds_check (missing)
    SELECT (SELECT count(*) FROM upvotes WHERE id > $UPVOTES) - ((SELECT sum(upvotes_7d) FROM feed) - $base);
    RETURN NULL;
END \$\$;
CREATE TRIGGER seeds_refresh_feed AFTER INSERT ON upvotes FOR EACH STATEMENT EXECUTE FUNCTION seeds_refresh_feed();
REFRESH MATERIALIZED VIEW CONCURRENTLY feed;
SQL
    R[c_idle_ms]=$(q <<'SQL' | awk '/^Time: / {printf "%.0f", $2}'
\timing on
REFRESH MATERIALIZED VIEW CONCURRENTLY feed;
SQL
)
    q -c "CHECKPOINT" >/dev/null
    s0=$(cpu_snapshot)
    export PGOPTIONS="$PGOPTIONS -c track_functions=pl"   # pg_stat_user_functions: refreshes and their time
    # The offered schedule of (b); stopped after C_MAX_SECONDS, or what is left of the run's
    # time budget (less 20 s for the rest), whichever is shorter, if it falls behind.
    c_max=$(( BUDGET - ($(date +%s) - T_START) - 20 ))
    if [[ -n $C_MAX_SECONDS ]] && (( C_MAX_SECONDS < c_max )); then c_max=$C_MAX_SECONDS; fi
    (( c_max >= 15 )) || c_max=15
    burst c "$c_max"
    R[c_cut]=$BURST_CUT
    export PGOPTIONS='-c client_min_messages=warning'
    R[c_rc]=$BURST_RC
    R[c_tps]=$(awk '/^tps = / {print $3; exit}' <<<"$BURST_OUT")
    R[c_lat]=$(awk '/^latency average = / {print $4; exit}' <<<"$BURST_OUT")
    R[c_after]=$(fresh_check)          # no further refresh
    s1=$(cpu_snapshot)
    R[c_other]=$(other_pct "$s0" "$s1")
    read -r R[c_commits] R[c_span] R[c_rate] R[c_ack50] R[c_ack99] <<<"$(burst_stats)"
    sleep 0.6   # function statistics are flushed at most every 0.5 s... by the backends at exit
    read -r R[c_calls] R[c_fn_ms] <<<"$(q -F ' ' -c "SELECT calls, round(total_time::numeric) FROM pg_stat_user_functions WHERE funcname = 'seeds_refresh_feed'")"
    R[c_avg_ms]=$(awk -v t="${R[c_fn_ms]:-0}" -v n="${R[c_calls]:-0}" 'BEGIN {printf "%.0f", (n > 0 ? t / n : 0)}')
    # The refreshes serialize (REFRESH ... CONCURRENTLY takes an EXCLUSIVE lock on the view):
    # the burst's span over its commits is the time of one refresh (plus the commit).
    read -r R[c_checks] R[c_stale_states] R[c_max_missing] <<<"$(q -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE missing > 0), coalesce(max(missing), 0) FROM seeds_check")"
    R[c_trig_ms]=$(awk -v s="${R[c_span]:-0}" -v n="${R[c_commits]:-0}" 'BEGIN {printf "%.0f", (n > 1 ? 1000 * s / (n - 1) : 0)}')
    log "(c) burst: ${R[c_commits]} upvotes committed over ${R[c_span]} s (${R[c_rate]}/s); refreshes (trigger calls) ${R[c_calls]}, one every ${R[c_trig_ms]} ms, ${R[c_avg_ms]} ms in the trigger per commit on average; view after the burst, no further refresh: ${R[c_after]}; states left stale at commit: ${R[c_stale_states]} of ${R[c_checks]} (at most ${R[c_max_missing]} upvotes missing); other CPU ${R[c_other]}%"
fi

# ---------------------------------------------------------------------------------------
# Report
T_END=$(date +%s)
cat <<EOF
# denorm: debounced materialized-view refresh (bench/mv_refresh.sh)

## Setup

\`\`\`
EOF
{
    echo "date:            $(date -u -d "@$T_START" '+%Y-%m-%d %H:%M:%S UTC') (start)"
    echo "command:         ${ENV_USED}${COMMAND}"
    echo "host:            $(uname -sr), $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "other benchmark: bench/run.sh running at start: $OTHER_AT_START, at end: $(pgrep -f 'bench/run\.sh' >/dev/null && echo yes || echo no)"
    echo "repo HEAD:       $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ has uncommitted changes)')"
    echo "denorm.so:       $LIBDIR/denorm.so (mapped by the worker and by a backend), md5 $(md5sum "$LIBDIR/denorm.so" | cut -c1-12)"
    q -c "SELECT 'server:          ' || version()"
    printf 'conf:            %s\n' "${CONF_LINES[@]:0:3}"
    echo "                 otherwise PostgreSQL defaults ($(q -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_wal_size')"))"
    echo "                 denorm GUCs: $(q -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name LIKE 'denorm.%'")"
    echo "registration:    denorm.register_mv(view, debounce => '$DEBOUNCE_S second', max_delay => '$MAX_DELAY_S seconds')"
    echo "feed data:       $PROJECTS projects, $UPVOTES upvotes, $COMMENTS comments (bench/mv_schema.sql)"
    echo "burst:           $BURST upvotes, one per transaction, $BURST_CLIENTS clients, pgbench -R $RATE (bench/mv_burst.sql)"
    echo "run time:        $(( T_END - T_START )) s"
}
echo '```'
echo
echo '## Measurements (log)'
echo
echo '```'
cat "$RAW"
echo '```'
echo
echo '## Results'
echo

if [[ " $PARTS " == *" a "* ]]; then
    echo '### (a) Write overhead of change capture'
    echo
    echo "pgbench -M prepared, single-row INSERT per transaction; $A_ROUNDS runs of $A_SECONDS s per variant, interleaved;"
    echo 'tps = all its transactions / all its time. "denorm" = the table is a source of a registered view'
    echo '(statement-level capture trigger, one request row per transaction, worker woken at each commit'
    echo 'and refreshing every max_delay while the load lasts). Target: ratio ≥ 0.95.'
    echo
    echo '| workload | tps, no view | tps, denorm | ratio | met | latency ms (no view / denorm) | tps, capture only (worker off) | ratio |'
    echo '|---|---:|---:|---:|:-:|---:|---:|---:|'
    for row in "${A_ROWS[@]}"; do
        IFS='|' read -r key label variants <<<"$row"
        rt=$(ratio "${A_TPS[$key,denorm]}" "${A_TPS[$key,none]}")
        met=$(awk -v r="$rt" 'BEGIN {print (r >= 0.95 ? "yes" : "**no**")}')
        cap="-|-"
        if [[ " $variants " == *" capture "* ]]; then cap="${A_TPS[$key,capture]}|$(ratio "${A_TPS[$key,capture]}" "${A_TPS[$key,none]}")"; fi
        echo "| $label | ${A_TPS[$key,none]} | ${A_TPS[$key,denorm]} | $rt | $met | ${A_LAT[$key,none]} / ${A_LAT[$key,denorm]} | ${cap%%|*} | ${cap#*|} |"
    done
    echo
fi

if [[ " $PARTS " == *" b "* || " $PARTS " == *" c "* ]]; then
    echo '### (b) denorm vs (c) the seeds'"'"' statement trigger: a burst of upvotes'
    echo
    echo "$BURST upvotes offered at $RATE/s (pgbench -R $RATE, $BURST_CLIENTS clients, one upvote per transaction) into the feed"
    echo "of $PROJECTS projects / $UPVOTES upvotes. Fresh = the view holds exactly the rows of its query"
    echo '(EXCEPT ALL both ways, the score column aside since it moves with now()).'
    echo
    echo '| | (b) denorm | (c) seeds trigger |'
    echo '|---|---:|---:|'
    c_total=$(awk -v n="$BURST" -v r="${R[c_rate]:-0}" 'BEGIN {if (r > 0) printf "%.0f", n / r; else print "?"}')
    echo "| upvotes committed | ${R[b_commits]:--} | ${R[c_commits]:--}$([[ ${R[c_cut]:-no} == yes ]] && echo " of $BURST: **stopped** after the time budget") |"
    echo "| pgbench exit status | ${R[b_rc]:--} | ${R[c_rc]:--}$([[ ${R[c_cut]:-no} == yes ]] && echo " (interrupted)") |"
    echo "| burst duration (first → last commit), s | ${R[b_span]:--} | ${R[c_span]:--}$([[ ${R[c_cut]:-no} == yes ]] && echo " (all $BURST at this rate: ~$c_total s)") |"
    echo "| achieved throughput, upvotes/s (offered: $RATE) | ${R[b_rate]:--} | ${R[c_rate]:--} |"
    echo "| writer: upvote INSERT → commit acknowledged, p50 / p99 ms | ${R[b_ack50]:--} / ${R[b_ack99]:--} | ${R[c_ack50]:--} / ${R[c_ack99]:--} |"
    echo "| refreshes during/after the burst | ${R[b_refreshes]:--} (target ≤ 3) | ${R[c_calls]:--} (one per commit) |"
    echo "| failed refreshes | ${R[b_failed]:--} | - |"
    echo "| refresh duration, ms: idle / during the burst (avg) | ${R[b_idle_ms]:--} / ${R[b_avg_ms]:--} | ${R[c_idle_ms]:--} / ${R[c_trig_ms]:--} (time in the trigger per commit, including waiting for the other writers' refreshes: ${R[c_avg_ms]:--}) |"
    echo "| staleness after commit p50, s | ${R[b_p50]:--} | n/a: a writer's refresh shows its own upvote, a later writer's may drop it again (stale states, below) |"
    echo "| staleness after commit p99, s (target ≤ max_delay + 1 refresh = ${R[b_bound]:--}) | ${R[b_p99]:--} $(awk -v p="${R[b_p99]:-}" -v b="${R[b_bound]:-}" 'BEGIN {if (p == "" || b == "") print ""; else print (p + 0 <= b + 0 ? "(met)" : "(**not met**)")}') | - |"
    echo "| staleness max, s | ${R[b_max]:--} | - |"
    echo "| view stale right after the last commit (no further refresh) | $( [[ -n ${R[b_after]:-} ]] && { [[ ${R[b_after]} == 0/0* ]] && echo "no" || echo "yes, ${R[b_after]} (expected: debounce pending)"; } || echo - ) | $( [[ -n ${R[c_after]:-} ]] && { [[ ${R[c_after]} == 0/0* ]] && echo "no" || echo "**yes**, ${R[c_after]}"; } || echo - ) |"
    echo "| states the view was left in at a commit that lacked committed upvotes | - (by design: changes committed during a refresh wait for the next) | ${R[c_stale_states]:--} of ${R[c_checks]:--} (at most ${R[c_max_missing]:--} upvotes missing) |"
    echo "| view fresh after waiting (${R[b_waited]:--} s after the last commit, nothing pending: ${R[b_settled]:--}) | ${R[b_final]:+$(is_fresh "${R[b_final]}")} | stays stale until the next write |"
    echo
    echo 'Staleness: for each upvote, time from its commit to the end of the first completed refresh that'
    echo 'started after the commit (an upper bound: from the INSERT'"'"'s clock_timestamp(), to the first refresh'
    echo 'started after the client had its commit acknowledged).'
    echo "${R[b_covered]:-?} of ${R[b_n]:-?} burst upvotes were covered by a completed refresh; ${R[b_ambiguous]:-?} had a refresh"
    echo "start between their INSERT and their acknowledged commit (median INSERT → ack ${R[b_commit_ms]:-?} ms)."
    echo
fi
