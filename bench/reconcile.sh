#!/usr/bin/env bash
# bench/reconcile.sh — how long reconcile() takes over a large source, against the
# floor: one SELECT key, count(*) ... GROUP BY key over the same table (the least any
# recount must read). Target (issue 4): reconcile <= 2x the floor.
#
# Starts a throwaway cluster as the postgres OS user (unix socket in $DIR), loads
# ROWS source rows over KEYS keys, creates a count and a sum counter, then times, as
# the median of RUNS runs each: the GROUP BY floor, reconcile(fix => false), and
# reconcile() (fix) with nothing to fix; finally reconcile() fixing 1% drifted rows.
# Benchmarks the installed denorm.so (`make install` first), or the one installed with
# `make install DESTDIR=<dir>` when RECONCILE_DESTDIR=<dir> is set (Debian's extension_destdir).
# Environment: RECONCILE_ROWS=1000000 RECONCILE_KEYS=10000 RECONCILE_RUNS=5 RECONCILE_DESTDIR=
set -euo pipefail
ROWS=${RECONCILE_ROWS:-1000000}
KEYS=${RECONCILE_KEYS:-10000}
RUNS=${RECONCILE_RUNS:-5}
BIN=/usr/lib/postgresql/15/bin
DIR=${RECONCILE_DIR:-/tmp/denorm-bench-reconcile}
PORT=${RECONCILE_PORT:-5560}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

rm -rf "$DIR" && mkdir -p "$DIR" && chown postgres "$DIR" 2>/dev/null || true
as_pg "$BIN/initdb" -D "$DIR/data" -A trust >/dev/null
if [ -n "${RECONCILE_DESTDIR:-}" ]; then
    printf "extension_destdir = '%s'\ndynamic_library_path = '%s/usr/lib/postgresql/15/lib:\$libdir'\n" \
        "$RECONCILE_DESTDIR" "$RECONCILE_DESTDIR" >> "$DIR/data/postgresql.conf"
fi
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
    -o "-k $DIR -p $PORT -c listen_addresses='' -c shared_preload_libraries=denorm -c shared_buffers=512MB -c max_wal_size=4GB" start >/dev/null
trap 'as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null; rm -rf "$DIR"' EXIT
psql_() { as_pg "$BIN/psql" -h "$DIR" -p "$PORT" -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

psql_ >/dev/null <<SQL
CREATE EXTENSION denorm CASCADE;
CREATE TABLE parent (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0, total bigint NOT NULL DEFAULT 0);
CREATE TABLE child (id bigserial PRIMARY KEY, parent_id int NOT NULL, amount int NOT NULL);
INSERT INTO parent SELECT generate_series(1, $KEYS);
INSERT INTO child (parent_id, amount) SELECT 1 + g % $KEYS, g % 100 FROM generate_series(1, $ROWS) g;
CREATE INDEX ON child (parent_id);
VACUUM ANALYZE parent, child;
SELECT denorm.create_counter('parent_n', 'parent', 'n', 'child', '{parent_id}');
SELECT denorm.create_counter('parent_total', 'parent', 'total', 'child', '{parent_id}', aggregate => 'sum', value => 'amount');
SQL

# Median wall time (ms) of RUNS executions of one statement, measured by the server.
time_ms() {
    local sql=$1 runs=${2:-$RUNS} i out times=()
    for i in $(seq "$runs"); do
        out=$(psql_ -At -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN PERFORM count(*) FROM ($sql) q; RAISE NOTICE 'ms=%', round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1); END \$\$" 2>&1)
        times+=("$(sed -n 's/.*ms=//p' <<<"$out")")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

floor=$(time_ms "SELECT parent_id, count(*) FROM child GROUP BY parent_id")
report=$(time_ms "SELECT * FROM denorm.reconcile('parent_n', fix => false)")
fixnone=$(time_ms "SELECT * FROM denorm.reconcile('parent_n')")
psql_ -c "UPDATE parent SET n = n + 1 WHERE id % 100 = 0" >/dev/null   # 1% of the keys drift
fixsome=$(time_ms "SELECT * FROM denorm.reconcile('parent_n')" 1)   # one run: it fixes 100 rows
exact=$(psql_ -At -c "SELECT count(*) = 0 FROM denorm.reconcile(fix => false)")

echo "reconcile over $ROWS source rows, $KEYS keys (median of $RUNS, ms; $(date -u +%F))"
echo
echo "| statement | ms | x floor |"
echo "|---|---:|---:|"
awk -v f="$floor" -v r="$report" -v a="$fixnone" -v s="$fixsome" 'BEGIN {
  printf "| SELECT parent_id, count(*) FROM child GROUP BY parent_id (floor) | %s | 1.00 |\n", f
  printf "| denorm.reconcile(%s, fix => false) | %s | %.2f |\n", "'"'"'parent_n'"'"'", r, r / f
  printf "| denorm.reconcile(%s), nothing to fix | %s | %.2f |\n", "'"'"'parent_n'"'"'", a, a / f
  printf "| denorm.reconcile(%s), fixing 1%% of keys (one run) | %s | %.2f |\n", "'"'"'parent_n'"'"'", s, s / f
}'
echo
echo "counters exact afterwards: $exact"
