#!/usr/bin/env bash
# bench/run.sh — throughput/latency cost of keeping projects-per-user exact, three ways:
#   (a) no maintenance (no trigger)
#   (b) the PL/pgSQL AFTER INSERT/UPDATE/DELETE row trigger a team would write
#   (c) denorm: denorm.create_counter('project_count', 'user_stats', 'project_count',
#                                     'projects', '{user_id}')
#   (e) reference for W1/W3: no trigger, the application's statement itself also updates
#       user_stats (WITH i AS (INSERT ... RETURNING) UPDATE user_stats ...): the cheapest
#       exact synchronous maintenance, i.e. the floor for (b) and (c)
# Workloads: W1 single-row INSERTs (pgbench, 1 and 8 clients), W3 one bulk
# INSERT ... SELECT of 100,000 rows (median of several runs), W5 single-row UPDATEs of a
# column no counter reads (pgbench). See bench/README.md.
#
# Starts its own throwaway cluster (as the postgres OS user, unix socket only, in
# $BENCH_DIR), runs everything there with one postgresql.conf for all variants, prints a
# markdown report on stdout and stops/removes the cluster. It does not build denorm: it
# benchmarks the denorm.so that is installed (`make && make install` first; or
# BENCH_BUILD=1).
#
# Environment (all optional):
#   BENCH_SECONDS=8       duration of each pgbench run (-T)
#   BENCH_ROUNDS=3        pgbench runs per (workload, clients, variant); reported: the median
#                         tps, and the median of the per-round ratios against (a).
#                         Variants run a,b,c,e in odd rounds and e,c,b,a in even ones, so drift
#                         (e.g. a compile starting on the machine) hits them alike; several
#                         short interleaved runs resist such interference better than one long.
#   BENCH_CLIENTS="1 8"   client counts for W1 and W5
#   BENCH_W1_KEYS=10000   W1: user_id uniform over 1..N (user_stats has N rows)
#   BENCH_W3_ROWS=100000  W3: rows in the one INSERT ... SELECT
#   BENCH_W3_KEYS=1000    W3: distinct user_ids among them
#   BENCH_W3_RUNS=7       W3: timed runs per variant (median reported)
#   BENCH_W5_ROWS=100000  W5: rows pre-filled in projects (ids 1..N), user_id over BENCH_W1_KEYS
#   BENCH_WARMUP=10       seconds of unrecorded W1 load before the first measurement
#   BENCH_BY_HAND=1       also measure reference variant (e) in W1 and W3 (0: skip it)
#   BENCH_PROTOCOL=prepared  pgbench -M (simple|extended|prepared)
#   BENCH_WORKLOADS="W1 W3 W5"  subset to run
#   BENCH_MAX_OTHER=15    a run during which other processes used more than this % of the
#                         machine's CPU,
#   BENCH_MAX_FLUSHES=20  or the disk completed more than this many flushes/s that were not
#                         this cluster's WAL syncs,
#   BENCH_RETRIES=2       is repeated, at most BENCH_RETRIES times
#   BENCH_EXTRA_CONF=""   extra postgresql.conf lines (';'-separated), e.g.
#                         "synchronous_commit=off" — printed in the report; default: none,
#                         i.e. PostgreSQL defaults (fsync on, synchronous_commit on)
#   BENCH_DIR=/tmp/denorm-bench   cluster directory (removed at the end)
#   BENCH_PORT            default: first free port in 5440..5539
#   BENCH_KEEP=1          leave the cluster running at the end
#   BENCH_BUILD=1         `make install` denorm first
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
PG_BINDIR=/usr/lib/postgresql/15/bin
PG_CONFIG=${PG_CONFIG:-$PG_BINDIR/pg_config}

SECONDS_PER_RUN=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-"1 8"}
W1_KEYS=${BENCH_W1_KEYS:-10000}
W3_ROWS=${BENCH_W3_ROWS:-100000}
W3_KEYS=${BENCH_W3_KEYS:-1000}
W3_RUNS=${BENCH_W3_RUNS:-7}
W5_ROWS=${BENCH_W5_ROWS:-100000}
PROTOCOL=${BENCH_PROTOCOL:-prepared}
WORKLOADS=${BENCH_WORKLOADS:-"W1 W3 W5"}
MAX_OTHER=${BENCH_MAX_OTHER:-15}
MAX_FLUSHES=${BENCH_MAX_FLUSHES:-20}
RETRIES=${BENCH_RETRIES:-2}
EXTRA_CONF=${BENCH_EXTRA_CONF:-}
DIR=${BENCH_DIR:-/tmp/denorm-bench}
DB=bench
BY_HAND=${BENCH_BY_HAND:-1}
INSERT_VARIANTS="a b c"; [[ $BY_HAND == 1 ]] && INSERT_VARIANTS="a b c e"
declare -A VNAME=([a]="no trigger" [b]="PL/pgSQL row trigger" [c]="denorm" [e]="by hand, same statement")

# shellcheck source=bench/cluster.sh
source "$BENCH/cluster.sh"

if [[ ${BENCH_BUILD:-0} == 1 ]]; then build_and_install; fi

# ---------------------------------------------------------------------------------------
# Cluster (bench/cluster.sh)
PORT=${BENCH_PORT:-}
CLUSTER_KEEP=${BENCH_KEEP:-0}
cluster_init 5440 5539
mapfile -t extra_lines < <([[ -n $EXTRA_CONF ]] && tr ';' '\n' <<<"$EXTRA_CONF")
cluster_start "denorm bench (identical for every variant)" "shared_preload_libraries = 'denorm'" "${extra_lines[@]}"

# ---------------------------------------------------------------------------------------
# Schema, one variant at a time. Every measurement starts from freshly created tables:
#   user_stats: rows 1..keys; projects: `prefill` rows with user_id uniform over 1..keys
#   (fixed seed, so every variant gets the same rows), user_stats already holding their
#   count; then the variant's maintenance is installed; VACUUM ANALYZE; CHECKPOINT.
setup() {  # setup VARIANT KEYS PREFILL
    local v=$1 keys=$2 prefill=$3 install=""
    case $v in
    a|e) install="" ;;
    b) install="
CREATE FUNCTION bench_project_count_trg() RETURNS trigger LANGUAGE plpgsql AS \$f\$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE user_stats SET project_count = project_count + 1 WHERE user_id = NEW.user_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE user_stats SET project_count = project_count - 1 WHERE user_id = OLD.user_id;
    ELSIF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        UPDATE user_stats SET project_count = project_count - 1 WHERE user_id = OLD.user_id;
        UPDATE user_stats SET project_count = project_count + 1 WHERE user_id = NEW.user_id;
    END IF;
    RETURN NULL;
END
\$f\$;
CREATE TRIGGER bench_project_count AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION bench_project_count_trg();" ;;
    c) install="SELECT denorm.create_counter('project_count', 'user_stats', 'project_count', 'projects', '{user_id}');" ;;
    esac
    q >/dev/null <<SQL
SELECT denorm.drop_counter('project_count', if_exists => true);
DROP TABLE IF EXISTS projects, user_stats CASCADE;
DROP FUNCTION IF EXISTS bench_project_count_trg() CASCADE;
CREATE TABLE user_stats (user_id int PRIMARY KEY, project_count int DEFAULT 0);
CREATE TABLE projects (id bigserial PRIMARY KEY, user_id int, deleted_at timestamptz,
                       proof_score int NOT NULL DEFAULT 0);
INSERT INTO user_stats (user_id) SELECT g FROM generate_series(1, $keys) g;
SELECT setseed(0.42);
INSERT INTO projects (user_id) SELECT 1 + floor(random() * $keys)::int FROM generate_series(1, $prefill);
UPDATE user_stats s SET project_count = r.n
  FROM (SELECT user_id, count(*)::int AS n FROM projects GROUP BY user_id) r WHERE s.user_id = r.user_id;
$install
VACUUM ANALYZE user_stats;
VACUUM ANALYZE projects;
CHECKPOINT;
SQL
}

# W3's statement; (e) keeps the counter in the same statement
w3_statement() {
    if [[ $1 == e ]]; then
        echo "WITH i AS (INSERT INTO projects (user_id, proof_score)
                    SELECT 1 + (g % $W3_KEYS), g % 100 FROM generate_series(1, $W3_ROWS) g RETURNING user_id)
UPDATE user_stats s SET project_count = s.project_count + d.n
  FROM (SELECT user_id, count(*) AS n FROM i GROUP BY user_id) d WHERE s.user_id = d.user_id;"
    else
        echo "INSERT INTO projects (user_id, proof_score)
SELECT 1 + (g % $W3_KEYS), g % 100 FROM generate_series(1, $W3_ROWS) g;"
    fi
}

# "yes" when every user_stats.project_count equals a recount of projects, else "no (N keys off)"
check_exact() {
    local off
    off=$(q -c "SELECT count(*) FROM user_stats s
                FULL JOIN (SELECT user_id, count(*) AS n FROM projects WHERE user_id IS NOT NULL
                           GROUP BY user_id) r USING (user_id)
                WHERE s.user_id IS NULL OR s.project_count IS DISTINCT FROM coalesce(r.n, 0)")
    if [[ $off == 0 ]]; then echo yes; else echo "no ($off keys off)"; fi
}

# The share of user_stats' updates since its setup that were HOT (no index entry written):
# what advise() watches on a target.
hot_share() {
    q -c "SELECT CASE WHEN n_tup_upd > 0 THEN round(100.0 * n_tup_hot_upd / n_tup_upd) || '%' ELSE '-' END
            FROM pg_stat_user_tables WHERE relname = 'user_stats'"
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else printf "%.6g\n", (v[NR/2]+v[NR/2+1])/2}'; }
# paired_ratios KEY V W: V/W of each round (W3: each run) on its own, in round order
paired_ratios() {
    awk -v x="${SAMPLES[$1,$2]}" -v y="${SAMPLES[$1,$3]}" 'BEGIN {
        n = split(x, a, " "); split(y, b, " ");
        for (i = 1; i <= n; i++) printf "%s%.3f", (i > 1 ? " " : ""), (b[i] > 0 ? a[i] / b[i] : 0) }'
}
# paired_ratio KEY V W: the median of paired_ratios, printed as %.3f
paired_ratio() { paired_ratios "$@" | tr ' ' '\n' | grep . | median | awk '{printf "%.3f", $1}'; }
# Interference: what the rest of the machine did while a measurement ran.
# - other CPU: machine busy time (/proc/stat) minus this benchmark's own CPU: this script
#   and its reaped children (psql, pgbench), the postmaster with its reaped children (the
#   pgbench backends, once exited) and its live children; as % of all cores.
# - other flushes/s: cache flushes the disk holding $DIR completed (/proc/diskstats)
#   minus this cluster's WAL syncs (pg_stat_wal.wal_sync). At 1 client every commit waits
#   for one flush, and other guests' or processes' fsync storms (initdb, test clusters)
#   slow it down without using CPU here: on this VM 500 foreign flushes/s cost ~40% tps.
# - steal: CPU time the hypervisor gave to other guests, % of all cores.
DISK=$(basename "$(df --output=source "$DIR" 2>/dev/null | tail -1)")
awk -v d="$DISK" '$3 == d {f = 1} END {exit !f}' /proc/diskstats 2>/dev/null || DISK=""
snapshot() {  # prints: busy total ours steal flushes wal_syncs nanoseconds
    local ws pm cpu ours fl
    ws=$(q -c "SELECT wal_sync FROM pg_stat_wal")
    sleep 0.2   # let that backend (and the one of a psql just before) exit and be reaped
    pm=$(head -1 "$DIR/data/postmaster.pid")
    cpu=($(head -1 /proc/stat))
    ours=$(for p in $$ "$pm" $(ps -o pid= --ppid "$pm"); do sed 's/.*) //' "/proc/$p/stat" 2>/dev/null; done |
           awk '{s += $12 + $13 + $14 + $15} END {print s + 0}')
    fl=-1
    [[ -n $DISK ]] && fl=$(awk -v d="$DISK" '$3 == d {print $19}' /proc/diskstats)
    echo "$(( cpu[1]+cpu[2]+cpu[3]+cpu[6]+cpu[7]+cpu[8] )) $(( cpu[1]+cpu[2]+cpu[3]+cpu[4]+cpu[5]+cpu[6]+cpu[7]+cpu[8] )) $ours ${cpu[8]} ${fl:--1} $ws $(date +%s%N)"
}
interference() {  # interference "SNAPSHOT_BEFORE" "SNAPSHOT_AFTER" -> "other_cpu_% other_flushes_per_s steal_%"
    awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " ");
        t = y[2] - x[2]; o = (y[1] - x[1]) - (y[3] - x[3]); if (o < 0) o = 0;
        secs = (y[7] - x[7]) / 1e9;
        f = (x[5] < 0 || secs <= 0) ? -1 : ((y[5] - x[5]) - (y[6] - x[6])) / secs; if (x[5] >= 0 && f < 0) f = 0;
        printf "%.0f %.0f %.0f", (t > 0 ? 100 * o / t : 0), f, (t > 0 ? 100 * (y[4] - x[4]) / t : 0)}'  # ( ): a bare > is a redirection in printf
}
is_disturbed() {  # is_disturbed OTHER_CPU OTHER_FLUSHES
    (( $1 > MAX_OTHER || $2 > MAX_FLUSHES ))
}
order_for_round() {  # ROUND VARIANTS...: as given in odd rounds, reversed in even ones
    local r=$1; shift
    if (( r % 2 )); then echo "$@"; else printf '%s\n' "$@" | tac | tr '\n' ' '; fi
}

declare -A RES     # RES[key,variant] = reported number
declare -A SAMPLES # SAMPLES[key,variant] = the accepted samples, in round order
declare -A EXACT   # EXACT[key,variant] = yes/no...
ROWS_ORDER=()      # table rows in order: key|label|unit|target
RAW=$DIR/raw.txt
: >"$RAW"
log() { echo "$*" | tee -a "$RAW" >&2; }

# One pgbench workload (W1 or W5) for one client count: ROUNDS x variants. A run during
# which other processes used more than MAX_OTHER % of the machine is repeated (at most
# RETRIES times; the least disturbed attempt counts).
pgbench_workload() {  # KEY "VARIANTS" SCRIPT SCRIPT_FOR_E CLIENTS PREFILL DEFINES...
    local key=$1 variants=$2 script=$3 script_e=$4 c=$5 prefill=$6; shift 6
    local j=$(( c < $(nproc) ? c : $(nproc) ))
    local r v out tps lat s0 s1 other flushes steal score attempt best best_other ex note
    declare -A samples=()
    for (( r = 1; r <= ROUNDS; r++ )); do
        for v in $(order_for_round "$r" $variants); do
            best="" best_other=""
            for (( attempt = 0; attempt <= RETRIES; attempt++ )); do
                setup "$v" "$W1_KEYS" "$prefill"
                s0=$(snapshot)
                out=$("$PG_BINDIR/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M "$PROTOCOL" \
                      -c "$c" -j "$j" -T "$SECONDS_PER_RUN" "$@" \
                      -f "$([[ $v == e ]] && echo "$script_e" || echo "$script")" "$DB" 2>&1) ||
                    { echo "$out" >&2; echo "bench: pgbench failed ($key $v)" >&2; exit 1; }
                sleep 0.3   # let the backends exit, so the postmaster has reaped their CPU time
                s1=$(snapshot)
                read -r other flushes steal <<<"$(interference "$s0" "$s1")"
                tps=$(awk '/^tps = / {print $3; exit}' <<<"$out")
                lat=$(awk '/^latency average = / {print $4; exit}' <<<"$out")
                grep -q 'number of failed transactions: 0 ' <<<"$out" ||
                    { echo "$out" >&2; echo "bench: failed transactions ($key $v)" >&2; exit 1; }
                ex="-"
                if [[ $v != a ]]; then ex=$(check_exact); EXACT[$key,$v]+="$ex;"; ex+=", HOT updates $(hot_share)"; fi
                note=""
                if is_disturbed "$other" "$flushes"; then
                    note=$( (( attempt < RETRIES )) && echo "  disturbed: repeated" || echo "  disturbed: kept the least disturbed attempt")
                fi
                log "$(printf '%-9s round %d  %-28s tps %8.1f  lat %6.3f ms  other: CPU %3d%% flushes/s %4d steal %2d%%  exact: %s%s' \
                       "$key" "$r" "(${v}) ${VNAME[$v]}" "$tps" "$lat" "$other" "$flushes" "$steal" "$ex" "$note")"
                score=$(( other + flushes ))
                if [[ -z $best_other ]] || (( score < best_other )); then best=$tps best_other=$score; fi
                is_disturbed "$other" "$flushes" || break
            done
            samples[$v]+="$best "
        done
    done
    for v in $variants; do
        RES[$key,$v]=$(tr ' ' '\n' <<<"${samples[$v]}" | grep . | median)
        SAMPLES[$key,$v]=${samples[$v]}
    done
}

# ---------------------------------------------------------------------------------------
cat <<EOF
# denorm benchmark

## Setup

\`\`\`
EOF
{
    echo "date:            $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host:            $(uname -sr), $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
    echo "load average:    $(cut -d' ' -f1-3 /proc/loadavg) (at start)"
    echo "repo HEAD:       $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src sql 2>/dev/null || echo ' (src/ has uncommitted changes)')"
    lib="$("$PG_CONFIG" --pkglibdir)/denorm.so"
    echo "denorm.so:       $lib, installed $(date -u -r "$lib" '+%Y-%m-%d %H:%M:%S UTC'), md5 $(md5sum "$lib" | cut -c1-12)"
    q -c "SELECT 'server:          ' || version()"
    q -c "SELECT 'extension:       denorm ' || extversion FROM pg_extension WHERE extname = 'denorm'"
    q -c "SELECT format('setting:         %s = %s', name, current_setting(name)) FROM pg_settings
          WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'wal_level',
                         'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'autovacuum', 'jit',
                         'shared_preload_libraries')
          ORDER BY name"
    if [[ -n $EXTRA_CONF ]]; then echo "extra conf:      $EXTRA_CONF"; else echo "extra conf:      none (PostgreSQL defaults apart from socket/port/preload)"; fi
    echo "pgbench:         -M $PROTOCOL -T $SECONDS_PER_RUN, $ROUNDS round(s) per variant (median), -j min(clients, cores)"
    echo "W3:              $W3_RUNS runs per variant (median), $W3_ROWS rows over $W3_KEYS keys"
    echo "interference:    a run during which other processes used > $MAX_OTHER % of the CPU, or the disk ($DISK) did"
    echo "                 > $MAX_FLUSHES flushes/s besides our WAL syncs, is repeated (at most $RETRIES times)"
}
echo '```'
echo
echo '## Measurements'
echo
echo '```'

# Warm-up, not recorded: page cache, WAL segment files (created once, then recycled),
# pgbench's and PL/pgSQL's first-use costs, so that the first measured run is not the
# odd one out.
setup b "$W1_KEYS" 0
"$PG_BINDIR/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M "$PROTOCOL" -c 8 -j "$(nproc)" -T "${BENCH_WARMUP:-10}" \
    -D keys="$W1_KEYS" -f "$BENCH/w1_insert.sql" "$DB" >/dev/null 2>&1
log "warm-up: ${BENCH_WARMUP:-10} s of W1 with 8 clients on variant (b), not recorded"

for w in $WORKLOADS; do
    case $w in
    W1)
        for c in $CLIENTS; do
            key="W1 c=$c"
            ROWS_ORDER+=("$key|W1 single-row INSERT, $c client$([[ $c == 1 ]] || echo s) (tps)|tps|$([[ $c == 1 ]] && echo 0.95 || echo 0.90)")
            pgbench_workload "$key" "$INSERT_VARIANTS" "$BENCH/w1_insert.sql" "$BENCH/w1_insert_by_hand.sql" "$c" 0 \
                -D keys="$W1_KEYS"
        done
        ;;
    W3)
        key="W3"
        ROWS_ORDER+=("$key|W3 INSERT ... SELECT $W3_ROWS rows / $W3_KEYS keys (ms)|ms|1.10")
        declare -A w3=()
        read -r -a rot <<<"$INSERT_VARIANTS"
        n=${#rot[@]}
        for (( r = 1; r <= W3_RUNS; r++ )); do
            for (( i = 0; i < n; i++ )); do
                v=${rot[$(( (r - 1 + i) % n ))]}   # rotate the order from run to run
                best="" best_other=""
                for (( attempt = 0; attempt <= RETRIES; attempt++ )); do
                    setup "$v" "$W3_KEYS" 0
                    s0=$(snapshot)
                    ms=$(q <<SQL | awk '/^Time: / {print $2}'
\timing on
$(w3_statement "$v")
SQL
)
                    s1=$(snapshot)
                    read -r other flushes steal <<<"$(interference "$s0" "$s1")"
                    ex="-"
                    if [[ $v != a ]]; then ex=$(check_exact); EXACT[$key,$v]+="$ex;"; fi
                    note=""
                    if is_disturbed "$other" "$flushes"; then
                        note=$( (( attempt < RETRIES )) && echo "  disturbed: repeated" || echo "  disturbed: kept the least disturbed attempt")
                    fi
                    log "$(printf '%-9s run   %d  %-28s time %7.1f ms            other: CPU %3d%% flushes/s %4d steal %2d%%  exact: %s%s' \
                           "$key" "$r" "(${v}) ${VNAME[$v]}" "$ms" "$other" "$flushes" "$steal" "$ex" "$note")"
                    score=$(( other + flushes ))
                    if [[ -z $best_other ]] || (( score < best_other )); then best=$ms best_other=$score; fi
                    is_disturbed "$other" "$flushes" || break
                done
                w3[$v]+="$best "
            done
        done
        for v in $INSERT_VARIANTS; do
            RES[$key,$v]=$(tr ' ' '\n' <<<"${w3[$v]}" | grep . | median)
            SAMPLES[$key,$v]=${w3[$v]}
        done
        # Where the time goes: EXPLAIN ANALYZE shows the Insert node (which includes
        # capturing the transition table) and the time of each AFTER trigger; temp files
        # show whether a tuplestore spilled past work_mem.
        for v in a b c; do
            setup "$v" "$W3_KEYS" 0
            log "W3 EXPLAIN ANALYZE, (${v}) ${VNAME[$v]}:"
            t0=$(q -c "SELECT temp_files || ' ' || temp_bytes FROM pg_stat_database WHERE datname = current_database()")
            q <<SQL | grep -E 'Trigger|Execution Time|Insert on' | sed 's/^/    /' | tee -a "$RAW" >&2
EXPLAIN (ANALYZE, COSTS OFF) $(w3_statement "$v")
SQL
            sleep 0.6   # cumulative statistics are flushed at most every 0.5 s
            t1=$(q -c "SELECT temp_files || ' ' || temp_bytes FROM pg_stat_database WHERE datname = current_database()")
            log "$(awk -v a="$t0" -v b="$t1" 'BEGIN {split(a, x, " "); split(b, y, " ");
                   printf "    temp files written: %d (%.1f MB)", y[1] - x[1], (y[2] - x[2]) / 1048576}')"
        done
        ;;
    W5)
        for c in $CLIENTS; do
            key="W5 c=$c"
            ROWS_ORDER+=("$key|W5 single-row UPDATE of proof_score, $c client$([[ $c == 1 ]] || echo s) (tps)|tps|0.95")
            pgbench_workload "$key" "a b c" "$BENCH/w5_update.sql" "" "$c" "$W5_ROWS" -D rows="$W5_ROWS"
        done
        ;;
    *) echo "bench: unknown workload $w" >&2; exit 1 ;;
    esac
done
log "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
log "(other: what the rest of the machine did during the run. CPU = % of all cores used by"
log " processes other than this cluster, psql and pgbench; flushes/s = disk cache flushes that"
log " were not this cluster's WAL syncs (fsync storms of other clusters slow every commit here);"
log " steal = % of CPU time the hypervisor gave to other guests. Above $MAX_OTHER % CPU or"
log " $MAX_FLUSHES flushes/s a run is repeated, at most $RETRIES times; -1 = not measurable)"
# The measurement log went to stderr as it happened (progress); repeat it on stdout.
cat "$RAW"
echo '```'

# ---------------------------------------------------------------------------------------
echo
echo '## Results'
echo
echo 'tps: higher is better; ms: lower is better; the tps and ms columns are medians over the rounds.'
echo 'ratio = variant / no trigger, taken round by round (each round'"'"'s variant run against the same'
echo 'round'"'"'s no-trigger run, which drift on the machine affects alike) and the median of those'
echo 'per-round ratios reported. A tps ratio below 1 and a time ratio above 1 are costs.'
echo 'met: the denorm ratio against the target.'
echo '(e) "by hand" = no trigger, the same statement also updates user_stats: the cheapest exact'
echo 'synchronous maintenance, the floor any trigger (b, c) is measured against; "-" = not measured.'
echo
echo 'denorm ratio by round: the per-round ratios (c)/(a) the denorm ratio is the median of; their'
echo 'spread shows how far one pair of runs can be trusted on this machine.'
echo
echo '| workload | no trigger | PL/pgSQL row trigger | denorm | PL/pgSQL ratio | denorm ratio | target | met | by hand (e) | by-hand ratio | denorm / by hand | counters exact | denorm ratio by round |'
echo '|---|---:|---:|---:|---:|---:|---:|:-:|---:|---:|---:|:-:|---|'
all_exact=yes
for row in "${ROWS_ORDER[@]}"; do
    IFS='|' read -r key label unit target <<<"$row"
    a=${RES[$key,a]} b=${RES[$key,b]} c=${RES[$key,c]} e=${RES[$key,e]:-}
    rb=$(paired_ratio "$key" b a) rc=$(paired_ratio "$key" c a)
    if [[ $unit == tps ]]; then
        met=$(awk -v r="$rc" -v t="$target" 'BEGIN {print (r >= t) ? "yes" : "**no**"}'); tgt=">= $target"
        fmt='%.0f'
    else
        met=$(awk -v r="$rc" -v t="$target" 'BEGIN {print (r <= t) ? "yes" : "**no**"}'); tgt="<= $target"
        fmt='%.1f'
    fi
    if [[ -n $e ]]; then
        ev=$(printf "$fmt" "$e") re=$(paired_ratio "$key" e a) rce=$(paired_ratio "$key" c e)
    else
        ev=- re=- rce=-
    fi
    ex=yes
    [[ ${EXACT[$key,c]:-} == *no* || ${EXACT[$key,b]:-} == *no* || ${EXACT[$key,e]:-} == *no* ]] && { ex=no; all_exact=no; }
    byround=$(paired_ratios "$key" c a | awk '{for (i = 1; i <= NF; i++) printf "%s%.2f", (i > 1 ? " " : ""), $i}')
    printf "| %s | $fmt | $fmt | $fmt | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" \
        "$label" "$a" "$b" "$c" "$rb" "$rc" "$tgt" "$met" "$ev" "$re" "$rce" "$ex" "$byround"
done
echo
echo "counters exact: $all_exact (checked after every run of (b), (c) and (e): each user_stats.project_count"
echo "equals SELECT user_id, count(*) FROM projects GROUP BY user_id, and no key is missing)"
