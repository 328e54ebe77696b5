#!/usr/bin/env bash
# demo-stop.sh — `make demo-stop`: stop the cluster started by scripts/demo.sh and remove
# its directory ($DENORM_DEMO_DIR, default /tmp/denorm-demo). Safe to run when no demo runs.
set -uo pipefail
PG_BINDIR=${PG_BINDIR:-$("${PG_CONFIG:-pg_config}" --bindir 2>/dev/null)}
DEMO_DIR=${DENORM_DEMO_DIR:-/tmp/denorm-demo}
SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi

if [[ -f $DEMO_DIR/data/postmaster.pid ]]; then
    "${SUDO[@]}" runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$DEMO_DIR/data" -m fast -w stop ||
        "${SUDO[@]}" runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$DEMO_DIR/data" -m immediate -w stop
fi
if [[ -d $DEMO_DIR ]]; then
    "${SUDO[@]}" rm -rf "$DEMO_DIR"
    echo "demo cluster in $DEMO_DIR stopped and removed"
else
    echo "no demo cluster in $DEMO_DIR"
fi
