#!/usr/bin/env bash
# bench/run.sh — throughput/latency cost of keeping projects-per-user exact, three ways:
#   (a) no maintenance (no trigger)
#   (b) the PL/pgSQL AFTER INSERT/UPDATE/DELETE row trigger a team would write
#   (c) denorm: denorm.create_counter('project_count', 'user_stats', 'project_count',
#                                     'projects', '{user_id}')
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
#   BENCH_SECONDS=12      duration of each pgbench run (-T)
#   BENCH_ROUNDS=2        pgbench runs per (workload, clients, variant); the median is reported.
#                         Variants run a,b,c in odd rounds and c,b,a in even ones, so drift
#                         (e.g. a compile starting on the machine) hits them alike.
#   BENCH_CLIENTS="1 8"   client counts for W1 and W5
#   BENCH_W1_KEYS=10000   W1: user_id uniform over 1..N (user_stats has N rows)
#   BENCH_W3_ROWS=100000  W3: rows in the one INSERT ... SELECT
#   BENCH_W3_KEYS=1000    W3: distinct user_ids among them
#   BENCH_W3_RUNS=5       W3: timed runs per variant (median reported)
#   BENCH_W5_ROWS=100000  W5: rows pre-filled in projects (ids 1..N), user_id over BENCH_W1_KEYS
#   BENCH_PROTOCOL=prepared  pgbench -M (simple|extended|prepared)
#   BENCH_WORKLOADS="W1 W3 W5"  subset to run
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

SECONDS_PER_RUN=${BENCH_SECONDS:-12}
ROUNDS=${BENCH_ROUNDS:-2}
CLIENTS=${BENCH_CLIENTS:-"1 8"}
W1_KEYS=${BENCH_W1_KEYS:-10000}
W3_ROWS=${BENCH_W3_ROWS:-100000}
W3_KEYS=${BENCH_W3_KEYS:-1000}
W3_RUNS=${BENCH_W3_RUNS:-5}
W5_ROWS=${BENCH_W5_ROWS:-100000}
PROTOCOL=${BENCH_PROTOCOL:-prepared}
WORKLOADS=${BENCH_WORKLOADS:-"W1 W3 W5"}
EXTRA_CONF=${BENCH_EXTRA_CONF:-}
DIR=${BENCH_DIR:-/tmp/denorm-bench}
DB=bench
VARIANTS=(a b c)
declare -A VNAME=([a]="no trigger" [b]="PL/pgSQL row trigger" [c]="denorm")

SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
as_pg() { "${SUDO[@]}" runuser -u postgres -- "$@"; }

if [[ ${BENCH_BUILD:-0} == 1 ]]; then
    (cd "$ROOT" && make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" && "${SUDO[@]}" make -s install PG_CONFIG="$PG_CONFIG") >&2
fi

# ---------------------------------------------------------------------------------------
# Cluster
stop_cluster() {
    if [[ -f $DIR/data/postmaster.pid ]]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 ||
            as_pg "$PG_BINDIR/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    "${SUDO[@]}" rm -rf "$DIR"
}
on_exit() {
    local rc=$?
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "cluster left running: $PG_BINDIR/psql -h $DIR -p $PORT -U postgres $DB" >&2
    else
        stop_cluster
    fi
    exit "$rc"
}

port_free() {  # nothing listening on TCP localhost:$1 and no socket file of that port around
    local p=$1
    ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || return 1
    [[ -z $(find /tmp /var/run/postgresql -maxdepth 2 -name ".s.PGSQL.$p" 2>/dev/null) ]]
}

stop_cluster  # leftovers of an interrupted run
PORT=${BENCH_PORT:-}
if [[ -z $PORT ]]; then
    for p in $(seq 5440 5539); do
        if port_free "$p"; then PORT=$p; break; fi
    done
fi
[[ -n $PORT ]] || { echo "bench: no free port in 5440..5539" >&2; exit 1; }
trap on_exit EXIT

"${SUDO[@]}" mkdir -p "$DIR"
"${SUDO[@]}" chown postgres: "$DIR"
"${SUDO[@]}" chmod 755 "$DIR"
as_pg env LC_ALL=C.UTF-8 "$PG_BINDIR/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
{
    printf '\n# denorm bench (identical for every variant)\n'
    printf "shared_preload_libraries = 'denorm'\n"
    printf "listen_addresses = ''\n"
    printf "unix_socket_directories = '%s'\n" "$DIR"
    printf 'port = %s\n' "$PORT"
    printf 'max_connections = 50\n'
    if [[ -n $EXTRA_CONF ]]; then tr ';' '\n' <<<"$EXTRA_CONF"; echo; fi
} | as_pg tee -a "$DIR/data/postgresql.conf" >/dev/null
as_pg "$PG_BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null ||
    { tail -n 30 "$DIR/server.log" >&2; exit 1; }

export PGOPTIONS='-c client_min_messages=warning'
PSQL=("$PG_BINDIR/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION denorm CASCADE"
q() { "${PSQL[@]}" -d "$DB" -At "$@"; }   # q -c 'SQL'  or  q <<<'SQL script'

# ---------------------------------------------------------------------------------------
# Schema, one variant at a time. Every measurement starts from freshly created tables:
#   user_stats: rows 1..keys; projects: `prefill` rows with user_id uniform over 1..keys
#   (fixed seed, so every variant gets the same rows), user_stats already holding their
#   count; then the variant's maintenance is installed; VACUUM ANALYZE; CHECKPOINT.
setup() {  # setup VARIANT KEYS PREFILL
    local v=$1 keys=$2 prefill=$3 install=""
    case $v in
    a) install="" ;;
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

# "yes" when every user_stats.project_count equals a recount of projects, else "no (N keys off)"
check_exact() {
    local off
    off=$(q -c "SELECT count(*) FROM user_stats s
                FULL JOIN (SELECT user_id, count(*) AS n FROM projects WHERE user_id IS NOT NULL
                           GROUP BY user_id) r USING (user_id)
                WHERE s.user_id IS NULL OR s.project_count IS DISTINCT FROM coalesce(r.n, 0)")
    if [[ $off == 0 ]]; then echo yes; else echo "no ($off keys off)"; fi
}

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else printf "%.6g\n", (v[NR/2]+v[NR/2+1])/2}'; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN {if (y+0 == 0) print "nan"; else printf "%.3f", x/y}'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
order_for_round() { if (( $1 % 2 )); then echo a b c; else echo c b a; fi; }

declare -A RES     # RES[key,variant] = reported number
declare -A EXACT   # EXACT[key,variant] = yes/no...
ROWS_ORDER=()      # table rows in order: key|label|unit|target
RAW=$DIR/raw.txt
: >"$RAW"
log() { echo "$*" | tee -a "$RAW" >&2; }

# One pgbench workload (W1 or W5) for one client count: ROUNDS x 3 variants.
pgbench_workload() {  # KEY SCRIPT CLIENTS PREFILL DEFINES...
    local key=$1 script=$2 c=$3 prefill=$4; shift 4
    local j=$(( c < $(nproc) ? c : $(nproc) ))
    local r v out tps lat
    declare -A samples=()
    for (( r = 1; r <= ROUNDS; r++ )); do
        for v in $(order_for_round "$r"); do
            setup "$v" "$W1_KEYS" "$prefill"
            local l0; l0=$(load1)
            out=$("$PG_BINDIR/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M "$PROTOCOL" \
                  -c "$c" -j "$j" -T "$SECONDS_PER_RUN" "$@" -f "$script" "$DB" 2>&1) ||
                { echo "$out" >&2; echo "bench: pgbench failed ($key $v)" >&2; exit 1; }
            tps=$(awk '/^tps = / {print $3; exit}' <<<"$out")
            lat=$(awk '/^latency average = / {print $4; exit}' <<<"$out")
            grep -q 'number of failed transactions: 0 ' <<<"$out" ||
                { echo "$out" >&2; echo "bench: failed transactions ($key $v)" >&2; exit 1; }
            samples[$v]+="$tps "
            local ex="-"
            if [[ $v != a ]]; then ex=$(check_exact); EXACT[$key,$v]+="$ex;"; fi
            log "$(printf '%-9s round %d  %-24s tps %10.1f  latency %7.3f ms  load(before) %s  counters exact: %s' \
                   "$key" "$r" "(${v}) ${VNAME[$v]}" "$tps" "$lat" "$l0" "$ex")"
        done
    done
    for v in "${VARIANTS[@]}"; do RES[$key,$v]=$(tr ' ' '\n' <<<"${samples[$v]}" | grep . | median); done
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
    q -c "SELECT format('%-18s%s', name || ':', current_setting(name)) FROM pg_settings
          WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'wal_level',
                         'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'autovacuum', 'jit',
                         'shared_preload_libraries')
          ORDER BY name"
    if [[ -n $EXTRA_CONF ]]; then echo "extra conf:      $EXTRA_CONF"; else echo "extra conf:      none (PostgreSQL defaults apart from socket/port/preload)"; fi
    echo "pgbench:         -M $PROTOCOL -T $SECONDS_PER_RUN, $ROUNDS round(s) per variant (median), -j min(clients, cores)"
    echo "W3:              $W3_RUNS runs per variant (median), $W3_ROWS rows over $W3_KEYS keys"
}
echo '```'
echo
echo '## Measurements'
echo
echo '```'

for w in $WORKLOADS; do
    case $w in
    W1)
        for c in $CLIENTS; do
            key="W1 c=$c"
            ROWS_ORDER+=("$key|W1 single-row INSERT, $c client$([[ $c == 1 ]] || echo s) (tps)|tps|$([[ $c == 1 ]] && echo 0.95 || echo 0.90)")
            pgbench_workload "$key" "$BENCH/w1_insert.sql" "$c" 0 -D keys="$W1_KEYS"
        done
        ;;
    W3)
        key="W3"
        ROWS_ORDER+=("$key|W3 INSERT ... SELECT $W3_ROWS rows / $W3_KEYS keys (ms)|ms|1.10")
        declare -A w3=()
        variants_rot=(a b c)
        for (( r = 1; r <= W3_RUNS; r++ )); do
            for (( i = 0; i < 3; i++ )); do
                v=${variants_rot[$(( (r - 1 + i) % 3 ))]}
                setup "$v" "$W3_KEYS" 0
                l0=$(load1)
                ms=$(q <<SQL | awk '/^Time: / {print $2}'
\timing on
INSERT INTO projects (user_id, proof_score)
SELECT 1 + (g % $W3_KEYS), g % 100 FROM generate_series(1, $W3_ROWS) g;
SQL
)
                w3[$v]+="$ms "
                ex="-"
                if [[ $v != a ]]; then ex=$(check_exact); EXACT[$key,$v]+="$ex;"; fi
                log "$(printf '%-9s run   %d  %-24s time %9.1f ms  load(before) %s  counters exact: %s' \
                       "$key" "$r" "(${v}) ${VNAME[$v]}" "$ms" "$l0" "$ex")"
            done
        done
        for v in "${VARIANTS[@]}"; do RES[$key,$v]=$(tr ' ' '\n' <<<"${w3[$v]}" | grep . | median); done
        # Where the time goes: EXPLAIN ANALYZE reports the time of each AFTER trigger.
        for v in b c; do
            setup "$v" "$W3_KEYS" 0
            log "W3 EXPLAIN ANALYZE, (${v}) ${VNAME[$v]}:"
            q <<SQL | grep -E 'Trigger|Execution Time|Insert on' | sed 's/^/    /' | tee -a "$RAW" >&2
EXPLAIN (ANALYZE, COSTS OFF)
INSERT INTO projects (user_id, proof_score)
SELECT 1 + (g % $W3_KEYS), g % 100 FROM generate_series(1, $W3_ROWS) g;
SQL
        done
        ;;
    W5)
        for c in $CLIENTS; do
            key="W5 c=$c"
            ROWS_ORDER+=("$key|W5 single-row UPDATE of proof_score, $c client$([[ $c == 1 ]] || echo s) (tps)|tps|0.95")
            pgbench_workload "$key" "$BENCH/w5_update.sql" "$c" "$W5_ROWS" -D rows="$W5_ROWS"
        done
        ;;
    *) echo "bench: unknown workload $w" >&2; exit 1 ;;
    esac
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RAW" >&2
# The measurement log went to stderr as it happened (progress); repeat it on stdout.
cat "$RAW"
echo '```'

# ---------------------------------------------------------------------------------------
echo
echo '## Results'
echo
echo 'tps: higher is better, ratio = variant / no trigger (target: denorm ratio >= target).'
echo 'ms: lower is better, ratio = variant / no trigger (target: denorm ratio <= target).'
echo
echo '| workload | no trigger | PL/pgSQL row trigger | denorm | PL/pgSQL ratio | denorm ratio | target | met | counters exact |'
echo '|---|---:|---:|---:|---:|---:|---:|:-:|:-:|'
all_exact=yes
for row in "${ROWS_ORDER[@]}"; do
    IFS='|' read -r key label unit target <<<"$row"
    a=${RES[$key,a]} b=${RES[$key,b]} c=${RES[$key,c]}
    rb=$(ratio "$b" "$a") rc=$(ratio "$c" "$a")
    if [[ $unit == tps ]]; then
        met=$(awk -v r="$rc" -v t="$target" 'BEGIN {print (r >= t) ? "yes" : "**no**"}'); tgt=">= $target"
        fmt='%.0f'
    else
        met=$(awk -v r="$rc" -v t="$target" 'BEGIN {print (r <= t) ? "yes" : "**no**"}'); tgt="<= $target"
        fmt='%.1f'
    fi
    ex=yes
    [[ ${EXACT[$key,c]} == *no* || ${EXACT[$key,b]} == *no* ]] && { ex=no; all_exact=no; }
    printf "| %s | $fmt | $fmt | $fmt | %s | %s | %s | %s | %s |\n" "$label" "$a" "$b" "$c" "$rb" "$rc" "$tgt" "$met" "$ex"
done
echo
echo "counters exact: $all_exact (after every run of (b) and (c): user_stats.project_count = count(*) ... GROUP BY user_id)"
