# bench/cluster.sh — the throwaway cluster every benchmark runs on (sourced, not run).
# The caller sets PG_BINDIR, DIR (removed at the end), DB, and optionally PORT and
# CLUSTER_KEEP=1 (leave it running); cluster_init picks a free port, arranges the
# cleanup and runs initdb as the postgres OS user (PostgreSQL refuses root);
# cluster_start configures and starts it and creates $DB with denorm.

SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
as_pg() { "${SUDO[@]}" runuser -u postgres -- "$@"; }

stop_cluster() {
    if [[ -f $DIR/data/postmaster.pid ]]; then
        as_pg "$PG_BINDIR/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 ||
            as_pg "$PG_BINDIR/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    "${SUDO[@]}" rm -rf "$DIR"
}

cluster_on_exit() {
    local rc=$?
    if [[ ${CLUSTER_KEEP:-0} == 1 ]]; then
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

# cluster_init FIRST_PORT LAST_PORT: a fresh $DIR/data, PORT set (unless given).
cluster_init() {
    local first=$1 last=$2 p
    stop_cluster  # leftovers of an interrupted run
    if [[ -z ${PORT:-} ]]; then
        for p in $(seq "$first" "$last"); do
            if port_free "$p"; then PORT=$p; break; fi
        done
    fi
    [[ -n ${PORT:-} ]] || { echo "bench: no free port in $first..$last" >&2; exit 1; }
    trap cluster_on_exit EXIT
    "${SUDO[@]}" mkdir -p "$DIR"
    "${SUDO[@]}" chown postgres: "$DIR"
    "${SUDO[@]}" chmod 755 "$DIR"
    as_pg env LC_ALL=C.UTF-8 "$PG_BINDIR/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
}

# cluster_start HEADER [CONF_LINE...]: appends the lines every benchmark needs (socket,
# port, connection limit) and the caller's to postgresql.conf under "# HEADER", starts
# the server, creates $DB with the extension, and defines PSQL and q (q -c 'SQL', or
# q <<<'SQL script': psql on $DB, unaligned, tuples only).
cluster_start() {
    local header=$1; shift
    { printf '\n# %s\n' "$header"
      printf '%s\n' "$@" "listen_addresses = ''" "unix_socket_directories = '$DIR'" "port = $PORT" "max_connections = 50"
    } | as_pg tee -a "$DIR/data/postgresql.conf" >/dev/null
    as_pg "$PG_BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null ||
        { tail -n 30 "$DIR/server.log" >&2; exit 1; }
    export PGOPTIONS='-c client_min_messages=warning'
    PSQL=("$PG_BINDIR/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
    "${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION denorm CASCADE"
}
q() { "${PSQL[@]}" -d "$DB" -At "$@"; }

# build_and_install: `make install` into the system directories (BENCH_BUILD=1).
build_and_install() {
    (cd "$ROOT" && make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" && "${SUDO[@]}" make -s install PG_CONFIG="$PG_CONFIG") >&2
}
