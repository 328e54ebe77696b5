#!/usr/bin/env bash
# bench/backfill.sh — what creating a counter on a table that already has rows costs,
# against the floor: one INSERT ... SELECT key, count(*) ... GROUP BY key into a fresh
# table (the least any backfill must do). Target: backfill <= 2x the floor. Two cases:
# the target already has every key's row (a recount), and an empty target with
# create_missing (adoption: the rows are created).
# Starts a throwaway cluster as the postgres OS user (unix socket in $DIR); reports the
# median of RUNS runs of each; checks the counters against a recount after every run.
# Benchmarks the installed denorm (`make install` first).
# Environment: BACKFILL_ROWS=1000000 BACKFILL_KEYS=100000 BACKFILL_RUNS=5
set -euo pipefail
ROWS=${BACKFILL_ROWS:-1000000}
KEYS=${BACKFILL_KEYS:-100000}
RUNS=${BACKFILL_RUNS:-5}
PG_BINDIR=$(pg_config --bindir)
DIR=${BACKFILL_DIR:-/tmp/denorm-bench-backfill}
DB=bench
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
cluster_init 5561 5599
cluster_start "bench/backfill.sh" "shared_preload_libraries = 'denorm'" "shared_buffers = 512MB" "max_wal_size = 4GB"

q >/dev/null <<SQL
CREATE TABLE source (id bigserial PRIMARY KEY, k int NOT NULL);
INSERT INTO source (k) SELECT 1 + g % $KEYS FROM generate_series(1, $ROWS) g;
CREATE INDEX ON source (k);
VACUUM ANALYZE source;
SQL

ms() { "${PSQL[@]}" -d "$DB" -At -f - 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
exact=yes
floor=() recount=() adopt=()
for run in $(seq "$RUNS"); do
    q -c 'DROP TABLE IF EXISTS floor_t, target_full, target_empty CASCADE' >/dev/null
    q -c "CREATE TABLE floor_t (k int PRIMARY KEY, n bigint NOT NULL)" >/dev/null
    q -c "CREATE TABLE target_full (k int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)" >/dev/null
    q -c "INSERT INTO target_full SELECT generate_series(1, $KEYS)" >/dev/null
    q -c "VACUUM ANALYZE target_full" >/dev/null
    q -c "CREATE TABLE target_empty (k int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)" >/dev/null
    floor+=("$(printf '%s\n' '\timing on' 'INSERT INTO floor_t SELECT k, count(*) FROM source GROUP BY k;' | ms)")
    recount+=("$(printf '%s\n' '\timing on' "SELECT denorm.create_counter('bf_full', 'target_full', 'n', 'source', '{k}');" | ms)")
    adopt+=("$(printf '%s\n' '\timing on' "SELECT denorm.create_counter('bf_empty', 'target_empty', 'n', 'source', '{k}', create_missing => true);" | ms)")
    for t in target_full target_empty; do
        bad=$(q -c "SELECT count(*) FROM (SELECT k, n FROM $t EXCEPT SELECT k, count(*) FROM source GROUP BY k) d")
        [[ $bad == 0 ]] || exact=no
    done
    q -c "SELECT denorm.drop_counter('bf_full')" >/dev/null
    q -c "SELECT denorm.drop_counter('bf_empty')" >/dev/null
done
f=$(printf '%s\n' "${floor[@]}" | median)
r=$(printf '%s\n' "${recount[@]}" | median)
a=$(printf '%s\n' "${adopt[@]}" | median)
echo "backfill of $ROWS source rows over $KEYS keys, median of $RUNS runs (ms)"
echo "| case | ms | ratio to the GROUP BY floor | target |"
echo "|---|---:|---:|---:|"
printf '| INSERT ... SELECT ... GROUP BY (floor) | %s | 1.00 | |\n' "$f"
printf '| create_counter, target rows present (recount) | %s | %.2f | <= 2 |\n' "$r" "$(awk -v a="$r" -v b="$f" 'BEGIN {print a / b}')"
printf '| create_counter, create_missing, empty target (adoption) | %s | %.2f | <= 2 |\n' "$a" "$(awk -v a="$a" -v b="$f" 'BEGIN {print a / b}')"
echo "counters exact after every run: $exact"
