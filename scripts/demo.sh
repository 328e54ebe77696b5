#!/usr/bin/env bash
# demo.sh — `make demo`: build and install denorm, start a throwaway PostgreSQL 15 cluster
# (as the postgres OS user, socket only, in $DENORM_DEMO_DIR, default /tmp/denorm-demo)
# with shared_preload_libraries = 'denorm', and walk through the counter API
# (scripts/demo.sql: the user_dashboard_stats example). The cluster keeps running
# afterwards; `make demo-stop` stops it and removes the directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PG_CONFIG=${PG_CONFIG:-pg_config}
DEMO_DIR=${DENORM_DEMO_DIR:-/tmp/denorm-demo}
DB=denorm_demo
SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
as_pg() { "${SUDO[@]}" runuser -u postgres -- "$@"; }

"$ROOT/scripts/setup.sh"
PG_BINDIR=$("$PG_CONFIG" --bindir)   # the server pg_config names (PG_CONFIG=... to choose)
export PG_BINDIR
echo "== build and install"
make -s -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$PG_CONFIG"
"${SUDO[@]}" make -s install PG_CONFIG="$PG_CONFIG"

# A fresh cluster every time: stop and remove the previous demo, if any.
DENORM_DEMO_DIR=$DEMO_DIR "$ROOT/scripts/demo-stop.sh" >/dev/null

port_free() {  # nothing listening on TCP localhost:$1 and no socket file of that port around
    local p=$1
    ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || return 1
    [[ -z $(find /tmp /var/run/postgresql -maxdepth 2 -name ".s.PGSQL.$p" 2>/dev/null) ]]
}
PORT=${DENORM_DEMO_PORT:-}
if [[ -z $PORT ]]; then
    for p in $(seq 5433 5532); do
        if port_free "$p"; then PORT=$p; break; fi
    done
fi
[[ -n $PORT ]] || { echo "demo: no free port in 5433..5532" >&2; exit 1; }

echo "== initdb in $DEMO_DIR (port $PORT)"
"${SUDO[@]}" mkdir -p "$DEMO_DIR"
"${SUDO[@]}" chown postgres: "$DEMO_DIR"
"${SUDO[@]}" chmod 755 "$DEMO_DIR"
as_pg env LC_ALL=C.UTF-8 "$PG_BINDIR/initdb" -D "$DEMO_DIR/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 -N >"$DEMO_DIR/initdb.log" 2>&1 ||
    { cat "$DEMO_DIR/initdb.log"; exit 1; }
as_pg tee -a "$DEMO_DIR/data/postgresql.conf" >/dev/null <<EOF

# denorm demo
shared_preload_libraries = 'denorm'
listen_addresses = ''
unix_socket_directories = '$DEMO_DIR'
port = $PORT
EOF
echo "$PORT" | as_pg tee "$DEMO_DIR/port" >/dev/null
as_pg "$PG_BINDIR/pg_ctl" -D "$DEMO_DIR/data" -l "$DEMO_DIR/server.log" -w start >/dev/null ||
    { tail -n 30 "$DEMO_DIR/server.log"; exit 1; }

PSQL=("$PG_BINDIR/psql" -X -h "$DEMO_DIR" -p "$PORT" -U postgres)
"${PSQL[@]}" -q -d postgres -c "CREATE DATABASE $DB"

echo "== scripts/demo.sql"
rc=0
"${PSQL[@]}" -d "$DB" -v ON_ERROR_STOP=1 --echo-queries -P pager=off -f "$ROOT/scripts/demo.sql" || rc=$?

cat <<EOF

The demo cluster is still running (log: $DEMO_DIR/server.log). Connect with:
    $PG_BINDIR/psql -h $DEMO_DIR -p $PORT -U postgres $DB
Stop it with:
    make demo-stop
EOF
if [[ $rc -ne 0 ]]; then echo "demo: scripts/demo.sql failed (psql exit $rc)" >&2; fi
exit "$rc"
