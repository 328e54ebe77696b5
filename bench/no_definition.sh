#!/usr/bin/env bash
# bench/no_definition.sh — what denorm costs a table it does not maintain: single-row
# INSERTs (pgbench, 8 clients) into a table with no counter, on one cluster run alternately
# with denorm preloaded (shared_preload_libraries = 'denorm': its executor hook and
# transaction callbacks are installed, the worker runs) and without (the library is
# never loaded: nothing of denorm runs). The extension is installed in the database
# both times. Target: preloaded >= 0.99 of not preloaded. Prints a markdown report.
#
# Environment (all optional): BENCH_SECONDS=8 (each pgbench run), BENCH_ROUNDS=4
# (rounds; each runs both, in alternating order), BENCH_CLIENTS=8,
# BENCH_DIR=/tmp/denorm-bench-nodef, BENCH_PORT.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BINDIR=/usr/lib/postgresql/15/bin
PG_CONFIG=${PG_CONFIG:-$PG_BINDIR/pg_config}
SECONDS_PER_RUN=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-4}
CLIENTS=${BENCH_CLIENTS:-8}
DIR=${BENCH_DIR:-/tmp/denorm-bench-nodef}
DB=bench

# shellcheck source=bench/cluster.sh
source "$ROOT/bench/cluster.sh"
PORT=${BENCH_PORT:-}
CLUSTER_KEEP=0
cluster_init 5690 5739
cluster_start "denorm no-definition bench" "shared_preload_libraries = ''"
q <<<"CREATE TABLE plain (id bigserial PRIMARY KEY, user_id int NOT NULL, name text);"
SCRIPT=$DIR/insert.sql
printf '%s\n' '\set u random(1, 10000)' "INSERT INTO plain (user_id, name) VALUES (:u, 'p');" >"$SCRIPT"
chmod a+r "$SCRIPT"

restart_with() {  # restart_with PRELOAD ('denorm' or '')
    as_pg sed -i "s/^shared_preload_libraries = .*/shared_preload_libraries = '$1'/" "$DIR/data/postgresql.conf"
    as_pg "$PG_BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w restart >/dev/null
}
run() {
    "$PG_BINDIR/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M prepared -c "$CLIENTS" -j "$(nproc)" \
        -T "$SECONDS_PER_RUN" -f "$SCRIPT" "$DB" 2>&1 | awk '/^tps = / {print $3; exit}'
}

declare -A TPS
ratios=()
echo "# denorm on a table it does not maintain (bench/no_definition.sh)"
echo
echo '```'
echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, repo $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "pgbench:   -M prepared -c $CLIENTS -T $SECONDS_PER_RUN, $ROUNDS rounds, orders alternating"
for (( r = 1; r <= ROUNDS; r++ )); do
    order=("denorm" ""); (( r % 2 )) || order=("" "denorm")
    for preload in "${order[@]}"; do
        restart_with "$preload"
        TPS[$r,${preload:-none}]=$(run)
        echo "round $r  preload '${preload}'  tps ${TPS[$r,${preload:-none}]}"
    done
    ratios+=("$(awk -v a="${TPS[$r,denorm]}" -v b="${TPS[$r,none]}" 'BEGIN {printf "%.3f", a / b}')")
done
echo '```'
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')
echo
echo "| preloaded / not preloaded, per round | median | target |"
echo "|---|---:|---:|"
echo "| ${ratios[*]} | $median | >= 0.99 |"
