#!/usr/bin/env bash
# bench/platform.sh — the discovery platform end to end (examples/discovery_platform): the
# seeds' pages before (joins and COUNTs over the normalized tables) and after (denorm's
# counters, conversation rows, registered views and search documents), on one throwaway
# cluster (bench/cluster.sh) loaded with generate.sh at $SCALE:
#   1. pages   each page of pages.sql alone (1 client, idle server): p50/p99 before and
#              after, alternating before, after, after, before; and whether before and
#              after return the same rows (a few parameter sets, views freshly refreshed)
#   2. mixed   CLIENTS clients, reads of every page plus writes (upvotes, comments,
#              messages, follows, badge awards): (a) the application before — the "before"
#              pages, denorm's triggers disabled — against (b) after — the "after" pages,
#              denorm maintaining everything; rounds alternate (a,b then b,a)
#   3. writes  the same writes alone, (a) against (b): what maintenance costs the writers
# After every (b) run: every maintained value against check.sql's recount, denorm's own
# reconcile and search_reconcile (fix => false), the Redis hash against the table, and
# the views' staleness (denorm.refresh_log). After every (a) run the drift its unmaintained
# writes left is fixed by denorm.reconcile() and search_reconcile() (timed, reported).
# Pictures (gnuplot, Debian package gnuplot-nox, installed when missing): a bar chart of
# the pages (log scale) and the views' staleness over the first (b) mixed run.
#
# Markdown report on stdout, progress on stderr; the cluster (and redis-server) are
# removed at the end. Benchmarks the installed denorm.so (BENCH_BUILD=1: make install first).
#
# Environment (all optional):
#   SCALE=0.2                   data size (generate.sh: 1 = 100k users, 200k projects, 2M upvotes...)
#   BENCH_PAGE_SECONDS=6        per page and variant (two runs of half of it)
#   BENCH_MIXED_SECONDS=20      per mixed run        BENCH_WRITE_SECONDS=10  per write-only run
#   BENCH_ROUNDS=2              alternating rounds of (a) and (b) in parts 2 and 3
#   BENCH_CLIENTS=8             clients in parts 2 and 3
#   BENCH_PARTS="pages mixed writes"
#   BENCH_PROTOCOL=prepared     pgbench -M
#   BENCH_REDIS=1               start a redis-server and publish the upvote counter (0: no Redis)
#   BENCH_PICTURES=bench/       where the PNGs go ('' = none)
#   BENCH_EXTRA_CONF=""         extra postgresql.conf lines, ';'-separated
#   BENCH_DIR=/tmp/denorm-bench-platform   BENCH_PORT (default: first free in 5840..5889)
#   BENCH_KEEP=1                leave the cluster running      BENCH_BUILD=1  make install first
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
EX=$ROOT/examples/discovery_platform
PG_BINDIR=/usr/lib/postgresql/15/bin
PG_CONFIG=${PG_CONFIG:-$PG_BINDIR/pg_config}
SCALE=${SCALE:-0.2}
PAGE_SECONDS=${BENCH_PAGE_SECONDS:-6}
MIXED_SECONDS=${BENCH_MIXED_SECONDS:-20}
WRITE_SECONDS=${BENCH_WRITE_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-2}
CLIENTS=${BENCH_CLIENTS:-8}
PARTS=${BENCH_PARTS:-"pages mixed writes"}
PROTOCOL=${BENCH_PROTOCOL:-prepared}
USE_REDIS=${BENCH_REDIS:-1}
PICS=${BENCH_PICTURES-$BENCH}
EXTRA_CONF=${BENCH_EXTRA_CONF:-}
DIR=${BENCH_DIR:-/tmp/denorm-bench-platform}
DB=platform
PAGES=(feed project_leaderboard builder_leaderboard dashboard inbox chains project search admin)
declare -A PAGE_TITLE=([feed]="Feed (trending, first 20)" [project_leaderboard]="Project leaderboard (top 100)"
    [builder_leaderboard]="Builder leaderboard (top 100)" [dashboard]="User dashboard" [inbox]="Inbox (conversations)"
    [chains]="Chains list (first 50)" [project]="Project details" [search]="Search" [admin]="Admin stats")
# The seeds' claims (ms before -> after), where they made one.
declare -A CLAIM=([feed]="800 -> 120" [project_leaderboard]="1200 -> 80" [builder_leaderboard]="1200 -> 80"
    [dashboard]="600 -> 50" [chains]="500 -> 90" [project]="700 -> 100" [search]="1500 -> 150"
    [dashboard_top]="600 -> 50" [project_top]="700 -> 100")
# The per-user and per-project pages again for the heaviest entity of the data (a page the
# seeds may have timed): the builder with the most upvotes received, the user with the
# most messages, the most upvoted project; the keys' titles are set after the load.
HEAVY=(dashboard_top inbox_top project_top)
declare -A SHORT=([dashboard_top]="Dashboard, top builder" [inbox_top]="Inbox, top user" [project_top]="Project, top project")
PAGE_KEYS=("${PAGES[@]}" "${HEAVY[@]}")
# Mixed workload: reads of every page and the writes, weights in % of transactions.
declare -A READ_WEIGHT=([feed]=15 [project]=20 [dashboard]=10 [inbox]=10 [search]=8 [project_leaderboard]=5
    [builder_leaderboard]=4 [chains]=5 [admin]=1)
WRITES=(upvote comment message follow badge)
declare -A WRITE_WEIGHT=([upvote]=10 [comment]=4 [message]=5 [follow]=2 [badge]=1)

# shellcheck source=bench/cluster.sh
source "$BENCH/cluster.sh"
if [[ ${BENCH_BUILD:-0} == 1 ]]; then build_and_install; fi

# gnuplot for the pictures (Debian: gnuplot-nox), installed the way scripts/setup.sh installs.
if [[ -n $PICS ]] && ! command -v gnuplot >/dev/null; then
    echo "bench: installing gnuplot-nox for the pictures" >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >/dev/null 2>&1 ||
        { "${SUDO[@]}" apt-get update -q >/dev/null 2>&1 &&
          "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >/dev/null 2>&1; } ||
        echo "bench: gnuplot-nox could not be installed; no pictures" >&2
fi

PORT=${BENCH_PORT:-}
CLUSTER_KEEP=${BENCH_KEEP:-0}
cluster_init 5840 5889

REDIS_PID= REDIS_PORT=
on_exit() {
    local rc=$?
    set +e
    if [[ -n $REDIS_PID ]]; then
        if [[ $CLUSTER_KEEP == 1 ]]; then
            echo "redis-server left running: redis-cli -p $REDIS_PORT (pid $REDIS_PID)" >&2
        else
            kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null
        fi
    fi
    (exit "$rc"); cluster_on_exit
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

conf=("shared_preload_libraries = 'denorm'")
if [[ $USE_REDIS == 1 ]]; then
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        REDIS_PORT=6440
        while ! port_free "$REDIS_PORT"; do REDIS_PORT=$((REDIS_PORT + 1)); done
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" \
            --logfile "$DIR/redis.log" >/dev/null 2>&1 &
        REDIS_PID=$!
        for _ in $(seq 1 50); do [[ $(redis-cli -p "$REDIS_PORT" PING 2>/dev/null) == PONG ]] && break; sleep 0.1; done
        if [[ $(redis-cli -p "$REDIS_PORT" PING 2>/dev/null) == PONG ]]; then
            conf+=("denorm.redis_url = 'redis://127.0.0.1:$REDIS_PORT'")
        else
            echo "bench: redis-server did not start; running without Redis" >&2; USE_REDIS=0
        fi
    else
        echo "bench: no redis-server/redis-cli; running without Redis" >&2; USE_REDIS=0
    fi
fi
mapfile -t extra_lines < <([[ -n $EXTRA_CONF ]] && tr ';' '\n' <<<"$EXTRA_CONF")
cluster_start "bench/platform.sh" "${conf[@]}" "${extra_lines[@]}"
# The library the server loaded at start (another `make install` during the run does not change it).
SO=$("$PG_CONFIG" --pkglibdir)/denorm.so
SO_INFO="$SO, installed $(date -u -r "$SO" '+%Y-%m-%d %H:%M:%S UTC'), md5 $(md5sum "$SO" | cut -c1-12) (as loaded at server start)"
HEAD_INFO="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ had uncommitted changes)')"
export PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=$DB
RAW=$DIR/raw.txt
: >"$RAW"
log() { echo "$*" | tee -a "$RAW" >&2; }
ms_since() { awk -v t="$1" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", (now - t) * 1000 }'; }
s_since() { awk -v t="$1" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - t }'; }
T_START=$(date +%s)
mkdir -p "$DIR/logs" "$DIR/scripts"

# ---------------------------------------------------------------------------------------
# Load: schema, data, declarations.
t=$(date +%s.%N)
q -f "$EX/schema.sql" >/dev/null
SCALE=$SCALE PSQL="$PG_BINDIR/psql" bash "$EX/generate.sh" 2> >(tee -a "$RAW" >&2)
GEN_S=$(s_since "$t")
t=$(date +%s.%N)
"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -f "$EX/denorm.sql" >/dev/null 2> >(tee -a "$RAW" >&2)
DENORM_S=$(s_since "$t")
log "load: generate.sh $GEN_S s, denorm.sql $DENORM_S s"
q -c "VACUUM ANALYZE" -c "CHECKPOINT"
read -r N_USERS N_PROJECTS N_CHAINS N_MESSAGES <<<"$(q -F ' ' -c "SELECT (SELECT count(*) FROM users),
    (SELECT count(*) FROM projects), (SELECT count(*) FROM chains), (SELECT max(id) FROM messages)")"
PUBLISHED=$(q -c "SELECT count(*) FROM denorm._publications")
PGB_VARS=(-D users="$N_USERS" -D projects="$N_PROJECTS" -D chains="$N_CHAINS" -D messages="$N_MESSAGES")
read -r TOP_BUILDER TOP_BUILDER_UP TOP_INBOX TOP_INBOX_N TOP_PROJECT TOP_PROJECT_UP <<<"$(q -F ' ' -c "
    SELECT * FROM (SELECT p.user_id, count(*) FROM upvotes u JOIN projects p ON p.id = u.project_id
                    WHERE p.deleted_at IS NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1) b,
                  (SELECT x, count(*) FROM (SELECT sender_id AS x FROM messages UNION ALL SELECT recipient_id FROM messages) m
                    GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1) i,
                  (SELECT project_id, count(*) FROM upvotes GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1) t")"
PAGE_TITLE[dashboard_top]="User dashboard, busiest builder ($TOP_BUILDER_UP upvotes received)"
PAGE_TITLE[inbox_top]="Inbox, busiest user ($TOP_INBOX_N messages)"
PAGE_TITLE[project_top]="Project details, most upvoted project ($TOP_PROJECT_UP upvotes)"

# Views settled: nothing pending and no refresh running, twice in a row 0.3 s apart.
settle_views() {
    local t0 ok=0 busy
    t0=$(date +%s.%N)
    for _ in $(seq 1 600); do
        busy=$(q -c "SELECT (SELECT count(*) FROM denorm.mv_status WHERE pending OR requests_pending > 0)
                          + (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'denorm worker'
                                AND state = 'active' AND query ILIKE '%refresh%')")
        if [[ $busy == 0 ]]; then ok=$((ok + 1)); [[ $ok -ge 2 ]] && break; else ok=0; fi
        sleep 0.3
    done
    SETTLE_S=$(s_since "$t0")
    [[ $ok -ge 2 ]] || log "warning: views still pending after $SETTLE_S s"
}
settle_views

# Denorm's triggers on the example's tables, switched as a whole: (a) = disabled (the
# application without its denormalization), (b) = enabled.
TRIGGERS=$(q -F ' ' -c "SELECT tgrelid::regclass, quote_ident(tgname) FROM pg_trigger
                         WHERE NOT tgisinternal AND tgname LIKE 'denorm%' AND tgrelid::regclass::text NOT LIKE 'denorm.%'
                         ORDER BY 1, 2")
set_triggers() {  # set_triggers ENABLE|DISABLE
    awk -v how="$1" '{ printf "ALTER TABLE %s %s TRIGGER %s;\n", $1, how, $2 }' <<<"$TRIGGERS" | q >/dev/null
}

# After (a): what the unmaintained writes left, fixed by denorm itself.
declare -a RECONCILE_NOTES=()
repair_after_a() {  # repair_after_a LABEL
    local t c_rows s_rows
    set_triggers ENABLE
    t=$(date +%s.%N)
    c_rows=$(q -c "SELECT count(*) FROM denorm.reconcile()")
    local c_ms; c_ms=$(ms_since "$t")
    t=$(date +%s.%N)
    s_rows=$(q -c "SELECT count(*) FROM denorm.search_reconcile()")
    local s_ms; s_ms=$(ms_since "$t")
    if [[ $PUBLISHED != 0 ]]; then q -c "SELECT denorm.redis_resync()" >/dev/null; fi
    q -c "SELECT denorm.request_refresh(mv) FROM denorm.mv_status" >/dev/null
    settle_views
    RECONCILE_NOTES+=("| after $1 | $c_rows | $c_ms | $s_rows | $s_ms |")
    log "repair after $1: reconcile() fixed $c_rows rows in $c_ms ms, search_reconcile() $s_rows in $s_ms ms, views settled in $SETTLE_S s"
}

# Exactness after (b): check.sql, denorm's own reconcile and search_reconcile (report only),
# the Redis hash against the table once the outbox is empty.
declare -a EXACT_ROWS=()
CHECK_FAILS=0
check_exact() {  # check_exact LABEL
    local out bad total rec srec redis_off="-" pending
    settle_views
    out=$("$PG_BINDIR/psql" -X -q -At -F '|' -v ON_ERROR_STOP=1 -f "$EX/check.sql")
    echo "$out" >"$DIR/check_$(tr ' ,' '__' <<<"$1").txt"
    total=$(awk -F'|' '{ s += $3 } END { print s + 0 }' <<<"$out")
    bad=$(awk -F'|' '$3 > 0 { printf "%s%s %d", sep, $1, $3; sep = "; " }' <<<"$out")
    rec=$(q -c "SELECT count(*) FROM denorm.reconcile(fix => false)")
    srec=$(q -c "SELECT count(*) FROM denorm.search_reconcile(fix => false)")
    if [[ $PUBLISHED != 0 ]]; then
        for _ in $(seq 1 200); do
            pending=$(q -c "SELECT pending FROM denorm.outbox_status")
            [[ $pending == 0 ]] && break
            sleep 0.2
        done
        redis_off=$(redis-cli -p "$REDIS_PORT" --raw HGETALL denorm:project_upvotes | paste -d' ' - - |
            q -c "CREATE TEMP TABLE r (field text, value text);
                  COPY r FROM STDIN (FORMAT text, DELIMITER ' ');
                  SELECT count(*) FROM projects p FULL JOIN r ON r.field = p.id::text
                   WHERE r.field IS NULL OR p.id IS NULL OR r.value <> p.upvote_count::text")
        [[ $pending == 0 ]] || redis_off="$redis_off (outbox still had $pending entries)"
    fi
    EXACT_ROWS+=("| $1 | $total | ${bad:-none} | $rec | $srec | $redis_off |")
    CHECK_FAILS=$((CHECK_FAILS + total + rec + srec))
    log "exact after $1: check.sql mismatches $total${bad:+ ($bad)}, reconcile(fix => false) $rec rows, search_reconcile $srec, redis fields off: $redis_off"
}

# pgbench log -> latencies in ms of one script (or all: script -1), sorted
latencies() {  # latencies SCRIPT_NO FILES...
    local s=$1; shift
    cat "$@" 2>/dev/null | awk -v s="$s" '(s < 0 || $4 == s) && $3 ~ /^[0-9]+$/ { printf "%.3f\n", $3 / 1000 }' | sort -g
}
failed_in() { local s=$1; shift; cat "$@" 2>/dev/null | awk -v s="$s" '(s < 0 || $4 == s) && $3 !~ /^[0-9]+$/' | wc -l; }
pct() {  # pct P < sorted values: nearest rank
    awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } i = int(p * NR + 0.999999); if (i < 1) i = 1;
                                        printf "%.2f", v[i] }'
}
count_of() { wc -l | tr -d ' '; }
fmt_ms() { awk -v x="$1" 'BEGIN { if (x == "-") print "-"; else if (x >= 100) printf "%.0f", x; else if (x >= 10) printf "%.1f", x; else printf "%.2f", x }'; }

PARAMS='\set user_id random(1, :users)
\set viewer_id random(1, :users)
\set project_id 1 + (int(:projects * pow(random(0, 999999) / 1000000.0, 2)) * 7919 + 17) % :projects
\set term random(1, 10)'
chunk() { awk -v want="$1 $2" '/^-- @page /{ on = ($3 " " $4 == want); next } /^-- @end/{ on = 0 } on' "$EX/pages.sql"; }
params_of() {  # params_of KEY: the \set lines of a page key
    case $1 in
    *_top) printf '\\set user_id %s\n\\set viewer_id 1\n\\set project_id %s\n\\set term 1\n' \
               "$([[ $1 == inbox_top ]] && echo "$TOP_INBOX" || echo "$TOP_BUILDER")" "$TOP_PROJECT" ;;
    *) echo "$PARAMS" ;;
    esac
}
for p in "${PAGE_KEYS[@]}"; do
    for v in before after; do
        { params_of "$p"; chunk "${p%_top}" "$v"; } >"$DIR/scripts/page_${p}_$v.sql"
    done
done
pgb() { "$PG_BINDIR/pgbench" -n -M "$PROTOCOL" "${PGB_VARS[@]}" "$@" "$DB"; }

# ---------------------------------------------------------------------------------------
# 1. Pages alone
declare -A P50 P99 PN SAME
run_pages() {
    local p v i order k cols out_b out_a same_all=yes nrows
    log "== pages alone: 1 client, ${PAGE_SECONDS} s per page and variant; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    # Same rows? Five parameter sets per page, on fresh views.
    for p in "${PAGE_KEYS[@]}"; do
        same_all=yes nrows=0
        for k in 1 2 3 4 5; do
            local prm="\\set user_id $(( 1 + (k * 7919) % N_USERS ))
\\set viewer_id $(( 1 + (k * 104729) % N_USERS ))
\\set project_id $(( 1 + ((k * k - 1) * 7919 + 17) % N_PROJECTS ))
\\set term $(( k * 2 - 1 ))"
            if [[ $p == *_top ]]; then prm=$(params_of "$p"); [[ $k == 1 ]] || continue; fi
            out_b=$({ echo "$prm"; chunk "${p%_top}" before; } | "$PG_BINDIR/psql" -X -q -At -F '|' -v ON_ERROR_STOP=1 2>&1)
            out_a=$({ echo "$prm"; chunk "${p%_top}" after; } | "$PG_BINDIR/psql" -X -q -At -F '|' -v ON_ERROR_STOP=1 2>&1)
            if [[ $p == feed ]]; then   # the score moves with now(): compare everything else
                out_b=$(awk -F'|' -v OFS='|' '{ NF--; print }' <<<"$out_b"); out_a=$(awk -F'|' -v OFS='|' '{ NF--; print }' <<<"$out_a")
            fi
            nrows=$((nrows + $(grep -c . <<<"$out_a" || true)))
            [[ $out_b == "$out_a" ]] || same_all=no
        done
        if [[ $p == search ]]; then
            same_all="n/a (ranking differs by design)"
        fi
        SAME[$p]="$same_all ($nrows rows)"
    done
    for p in "${PAGE_KEYS[@]}"; do
        for v in before after; do   # warm-up, not recorded
            pgb -c 1 -t 2 -f "$DIR/scripts/page_${p}_$v.sql" >/dev/null 2>&1 || true
        done
        i=0
        for v in before after after before; do
            i=$((i + 1))
            pgb -c 1 -T "$(( (PAGE_SECONDS + 1) / 2 ))" -l --log-prefix="$DIR/logs/page_${p}_${v}_$i" \
                -f "$DIR/scripts/page_${p}_$v.sql" >"$DIR/logs/page_${p}_${v}_$i.out" 2>&1 ||
                log "page $p $v run $i failed: $(grep -m1 -iE 'error|abort' "$DIR/logs/page_${p}_${v}_$i.out")"
        done
        for v in before after; do
            local files=("$DIR"/logs/page_"${p}"_"${v}"_*.[0-9]*)
            P50[$p,$v]=$(latencies -1 "${files[@]}" | pct 0.50)
            P99[$p,$v]=$(latencies -1 "${files[@]}" | pct 0.99)
            PN[$p,$v]=$(latencies -1 "${files[@]}" | count_of)
        done
        log "$(printf 'page %-20s before p50 %9s p99 %9s ms (n=%5s)   after p50 %7s p99 %7s ms (n=%5s)   same rows: %s' \
            "$p" "${P50[$p,before]}" "${P99[$p,before]}" "${PN[$p,before]}" "${P50[$p,after]}" "${P99[$p,after]}" \
            "${PN[$p,after]}" "${SAME[$p]}")"
    done
}

# ---------------------------------------------------------------------------------------
# 2./3. Mixed and write-only workloads, (a) against (b)
declare -A TPS MFAIL
declare -a STALE_WINDOWS=()
run_load() {  # run_load PART VARIANT ROUND: one pgbench run; (b) runs are checked afterwards
    local part=$1 v=$2 r=$3 secs args=() p w key out start end i=0
    key="$part,$v,$r"
    if [[ $v == a ]]; then set_triggers DISABLE; fi
    if [[ $part == mixed ]]; then
        secs=$MIXED_SECONDS
        for p in "${PAGES[@]}"; do
            args+=(-f "$DIR/scripts/page_${p}_$([[ $v == a ]] && echo before || echo after).sql@${READ_WEIGHT[$p]}")
        done
    else
        secs=$WRITE_SECONDS
    fi
    for w in "${WRITES[@]}"; do args+=(-f "$BENCH/platform_$w.sql@${WRITE_WEIGHT[$w]}"); done
    q -c "CHECKPOINT" >/dev/null
    start=$(q -c "SELECT clock_timestamp()")
    out=$(pgb -c "$CLIENTS" -j 2 -T "$secs" --max-tries=1 --failures-detailed -l --log-prefix="$DIR/logs/$part.$v.$r" \
              "${args[@]}" 2>&1) || log "$part ($v) round $r: pgbench: $(grep -m1 -iE 'error|abort' <<<"$out")"
    end=$(q -c "SELECT clock_timestamp()")
    echo "$out" >"$DIR/logs/$part.$v.$r.out"
    TPS[$key]=$(awk '/^tps = / { printf "%.1f", $3; exit }' <<<"$out")
    MFAIL[$key]=$(awk '/^number of failed transactions: / { print $5; exit }' <<<"$out")
    log "$(printf '%-6s (%s) round %d: tps %8s  failed %s' "$part" "$v" "$r" "${TPS[$key]:-?}" "${MFAIL[$key]:-?}")"
    if [[ $v == b ]]; then
        settle_views
        log "  views settled $SETTLE_S s after the load stopped"
        [[ $part != mixed ]] || STALE_WINDOWS+=("$r|$start|$end")
        check_exact "$part (b) round $r"
    else
        repair_after_a "$part (a) round $r"
    fi
}
run_part() {  # run_part PART
    local r v order
    log "== $1: $CLIENTS clients, $([[ $1 == mixed ]] && echo "$MIXED_SECONDS" || echo "$WRITE_SECONDS") s per run, --max-tries=1; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for (( r = 1; r <= ROUNDS; r++ )); do
        if (( r % 2 )); then order="a b"; else order="b a"; fi
        for v in $order; do run_load "$1" "$v" "$r"; done
    done
}
script_names() {  # the -f order of run_load: the script number in the log is the index
    local part=$1 p w
    if [[ $part == mixed ]]; then for p in "${PAGES[@]}"; do echo "read:$p"; done; fi
    for w in "${WRITES[@]}"; do echo "write:$w"; done
}

# ---------------------------------------------------------------------------------------
for part in $PARTS; do
    case $part in
    pages) run_pages ;;
    mixed|writes) run_part "$part" ;;
    *) echo "bench: unknown part $part" >&2; exit 1 ;;
    esac
done
log "run time $(( $(date +%s) - T_START )) s; load average at end $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------------------
# Report
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x == "" || y == "" || x == "-" || y == "-" || y + 0 == 0) print "-";
                                          else if (x / y >= 100) printf "%.0f", x / y; else printf "%.1f", x / y }'; }
# (b) against (a) for one latency: "12× faster" or "2.5× slower"
versus() { awk -v b="$1" -v a="$2" 'BEGIN { if (a == "-" || b == "-" || a + 0 == 0 || b + 0 == 0) print "-";
                                           else if (a / b >= 1) printf (a / b >= 100 ? "%.0f× faster" : "%.1f× faster"), a / b;
                                           else printf "%.1f× slower", b / a }'; }
cat <<EOF
# The discovery platform on denorm (bench/platform.sh)

Command: \`SCALE=$SCALE bash bench/platform.sh\`$( [[ $PARTS != "pages mixed writes" ]] && echo " with BENCH_PARTS=\"$PARTS\"" ). **SCALE=$SCALE**:
$(q -c "SELECT format('%s users, %s projects, %s upvotes, %s comments, %s messages, %s notifications, %s badges, %s chains with %s follows; database %s',
    (SELECT count(*) FROM users), (SELECT count(*) FROM projects), (SELECT count(*) FROM upvotes),
    (SELECT count(*) FROM comments), (SELECT count(*) FROM messages), (SELECT count(*) FROM notifications),
    (SELECT count(*) FROM validation_badges), (SELECT count(*) FROM chains), (SELECT count(*) FROM chain_followers),
    pg_size_pretty(pg_database_size(current_database())))")$( [[ " $PARTS " == *" mixed "* || " $PARTS " == *" writes "* ]] && echo " (after the benchmark's own writes)").

\`\`\`
EOF
{
    echo "date:            $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host:            $(uname -sr), $(nproc) cores, load average at start of report $(cut -d' ' -f1-3 /proc/loadavg) (shared with other work)"
    echo "repo HEAD:       $HEAD_INFO at the start"
    echo "denorm.so:       $SO_INFO"
    q -c "SELECT 'server:          ' || version()"
    q -c "SELECT format('setting:         %s = %s', name, setting) FROM pg_settings
          WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'work_mem', 'max_parallel_workers_per_gather',
                         'shared_preload_libraries', 'denorm.redis_url', 'denorm.naptime') ORDER BY name"
    echo "extra conf:      ${EXTRA_CONF:-none (PostgreSQL defaults apart from socket/port/preload/redis_url)}"
    echo "redis:           $([[ $USE_REDIS == 1 ]] && echo "redis-server $(redis-server --version | awk '{print $3}' | sed 's/^v=//') on 127.0.0.1:$REDIS_PORT, project_upvotes published: $PUBLISHED publication(s)" || echo "none (project_upvotes not published)")"
    echo "load:            generate.sh $GEN_S s, denorm.sql $DENORM_S s (27 counters/latest copies backfilled, 5 views, 3 search sources)"
    echo "pgbench:         -M $PROTOCOL; pages: 1 client, 2 x $(( (PAGE_SECONDS + 1) / 2 )) s per variant; mixed/writes: $CLIENTS clients -j 2, $ROUNDS rounds, --max-tries=1"
}
echo '```'

if [[ " $PARTS " == *" pages "* ]]; then
    cat <<EOF

## 1. Pages, before and after (1 client, idle server, SCALE=$SCALE)

Method: each page's statements from \`examples/discovery_platform/pages.sql\` as one pgbench
script (\`-M $PROTOCOL -c 1\`), parameters drawn per transaction (user uniform, project by
popularity as in the generator, one of ten search queries); runs before, after, after,
before of $(( (PAGE_SECONDS + 1) / 2 )) s each after two unrecorded transactions; latency =
the whole page (all its statements, client round trips included) from \`pgbench -l\`,
nearest-rank percentiles. "Same rows": before and after compared on five parameter sets
each (the feed without its score column, which moves with now()) right after the views
were refreshed. The last three rows repeat the per-user and per-project pages with fixed
parameters: the heaviest builder, inbox and project of the data.

| page | before p50 ms | before p99 ms | after p50 ms | after p99 ms | speedup p50 | speedup p99 | n before / after | same rows |
|---|---:|---:|---:|---:|---:|---:|---:|---|
EOF
    for p in "${PAGE_KEYS[@]}"; do
        echo "| ${PAGE_TITLE[$p]} | $(fmt_ms "${P50[$p,before]}") | $(fmt_ms "${P99[$p,before]}") | $(fmt_ms "${P50[$p,after]}") | $(fmt_ms "${P99[$p,after]}") | $(ratio "${P50[$p,before]}" "${P50[$p,after]}")× | $(ratio "${P99[$p,before]}" "${P99[$p,after]}")× | ${PN[$p,before]} / ${PN[$p,after]} | ${SAME[$p]} |"
    done
    cat <<EOF

The seeds' claims next to this run (their production numbers, hardware and data size
unknown; here SCALE=$SCALE on a shared 2-core VM). The issue's goal: every page ≥ 10×
faster and after p99 ≤ 5 ms at SCALE=1.

| page | seeds: before -> after ms (speedup) | here: before -> after p50 ms (speedup) | ≥ 10× | after p99 ≤ 5 ms |
|---|---|---|---|---|
EOF
    for p in "${PAGE_KEYS[@]}"; do
        claim=${CLAIM[$p]:-}
        if [[ -n $claim ]]; then
            claim="$claim ($(awk -v c="$claim" 'BEGIN { split(c, a, " -> "); printf "%.0f", a[1] / a[2] }')×)"
        else
            claim="– (no claim)"
        fi
        sp=$(ratio "${P50[$p,before]}" "${P50[$p,after]}")
        echo "| ${PAGE_TITLE[$p]} | $claim | $(fmt_ms "${P50[$p,before]}") -> $(fmt_ms "${P50[$p,after]}") (${sp}×) | $(awk -v s="$sp" 'BEGIN { print (s != "-" && s + 0 >= 10) ? "yes" : "**no**" }') | $(awk -v x="${P99[$p,after]}" 'BEGIN { print (x != "-" && x + 0 <= 5) ? "yes" : "**no**" }') |"
    done
fi

for part in mixed writes; do
    [[ " $PARTS " == *" $part "* ]] || continue
    mapfile -t names < <(script_names "$part")
    echo
    if [[ $part == mixed ]]; then
        cat <<EOF
## 2. Mixed workload: reads of every page and writes, $CLIENTS clients (SCALE=$SCALE)

(a) = the application before: "before" pages, denorm's triggers disabled (\`ALTER TABLE
... DISABLE TRIGGER\` on each of its triggers, so nothing is maintained; the drift is
repaired by \`denorm.reconcile()\` after the run, table below). (b) = after: "after" pages,
everything maintained. Weights (% of transactions): reads $(for p in "${PAGES[@]}"; do printf '%s %s, ' "$p" "${READ_WEIGHT[$p]}"; done)writes $(for w in "${WRITES[@]}"; do printf '%s %s, ' "$w" "${WRITE_WEIGHT[$w]}"; done | sed 's/, $//'). ${MIXED_SECONDS} s per run, rounds alternate (a,b), (b,a).
EOF
    else
        cat <<EOF
## 3. Writes alone: what maintenance costs the writers, $CLIENTS clients (SCALE=$SCALE)

The writes of part 2 only (same weights): (a) denorm's triggers disabled, (b) every counter,
latest copy, view request, search document and Redis outbox entry maintained in the
writer's transaction. ${WRITE_SECONDS} s per run, rounds alternate.
EOF
    fi
    echo
    echo "| variant | round | tps | failed |"
    echo "|---|---:|---:|---:|"
    for (( r = 1; r <= ROUNDS; r++ )); do
        for v in a b; do echo "| ($v) | $r | ${TPS[$part,$v,$r]:--} | ${MFAIL[$part,$v,$r]:--} |"; done
    done
    ta=$(for (( r = 1; r <= ROUNDS; r++ )); do echo "${TPS[$part,a,$r]:-}"; done | grep . | median)
    tb=$(for (( r = 1; r <= ROUNDS; r++ )); do echo "${TPS[$part,b,$r]:-}"; done | grep . | median)
    rr=$(for (( r = 1; r <= ROUNDS; r++ )); do ratio "${TPS[$part,b,$r]:-}" "${TPS[$part,a,$r]:-}" | awk '{printf "%s ", $1}'; done)
    echo
    echo "Median tps (a) $ta, (b) $tb: (b)/(a) = $(awk -v x="$tb" -v y="$ta" 'BEGIN { if (y > 0) printf "%.2f", x / y; else print "-" }') (per round: ${rr% })."
    echo
    echo "Latency per transaction type, all rounds of a variant together (ms; n = transactions; failed = --max-tries=1 failures):"
    echo
    echo "| transaction | (a) p50 | (a) p99 | (a) n | (b) p50 | (b) p99 | (b) n | (b) against (a), p50 | failed (a) / (b) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for i in "${!names[@]}"; do
        fa=("$DIR"/logs/"$part".a.*.[0-9]*) fb=("$DIR"/logs/"$part".b.*.[0-9]*)
        a50=$(latencies "$i" "${fa[@]}" | pct 0.50); a99=$(latencies "$i" "${fa[@]}" | pct 0.99); an=$(latencies "$i" "${fa[@]}" | count_of)
        b50=$(latencies "$i" "${fb[@]}" | pct 0.50); b99=$(latencies "$i" "${fb[@]}" | pct 0.99); bn=$(latencies "$i" "${fb[@]}" | count_of)
        echo "| ${names[$i]} | $(fmt_ms "$a50") | $(fmt_ms "$a99") | $an | $(fmt_ms "$b50") | $(fmt_ms "$b99") | $bn | $(versus "$b50" "$a50") | $(failed_in "$i" "${fa[@]}") / $(failed_in "$i" "${fb[@]}") |"
    done
done

# Staleness of the views over the (b) mixed runs, from denorm.refresh_log: at each instant
# (every 100 ms of a run) the age of the oldest committed change a view does not show yet.
if ((${#STALE_WINDOWS[@]})); then
    q -c "CREATE TABLE IF NOT EXISTS bench_stale (run int, t float8, mv text, staleness float8)"
    for win in "${STALE_WINDOWS[@]}"; do
        IFS='|' read -r r s e <<<"$win"
        q -c "INSERT INTO bench_stale
              SELECT $r, extract(epoch FROM g.t - '$s'::timestamptz), v.mv::text,
                     coalesce(extract(epoch FROM g.t - (SELECT min(l.first_request_at) FROM denorm.refresh_log l
                                                         WHERE l.mv = v.mv AND l.first_request_at <= g.t AND l.finished_at > g.t)), 0)
                FROM generate_series('$s'::timestamptz, '$e'::timestamptz, interval '100 ms') g(t), denorm.mv_status v"
    done
    cat <<EOF

## 4. Staleness of the registered views during the (b) mixed runs (SCALE=$SCALE)

At each instant (sampled every 100 ms of each (b) run) a view's staleness is the age of
the oldest committed change it does not show yet (0 when it shows all), computed from
\`denorm.refresh_log\` (first_request_at, finished_at); per refresh, the worst change of its
batch waited finished_at - first_request_at.

| view | debounce / max_delay | refreshes in the runs | failed | avg refresh ms | staleness p50 s | p99 s | max s | per refresh p99 s |
|---|---|---:|---:|---:|---:|---:|---:|---:|
EOF
    cond=$(for win in "${STALE_WINDOWS[@]}"; do IFS='|' read -r r s e <<<"$win"; printf "OR (l.started_at BETWEEN '%s' AND '%s') " "$s" "$e"; done)
    q -F '|' -c "SELECT '| ' || s.mv || ' | ' || s.debounce || ' / ' || s.max_delay || ' | ' ||
                        (SELECT count(*) FROM denorm.refresh_log l WHERE l.mv = s.mv AND (false $cond)) || ' | ' ||
                        (SELECT count(*) FROM denorm.refresh_log l WHERE l.mv = s.mv AND l.status <> 'completed' AND (false $cond)) || ' | ' ||
                        coalesce((SELECT round(avg(duration_ms)::numeric, 1) FROM denorm.refresh_log l WHERE l.mv = s.mv AND (false $cond))::text, '-') || ' | ' ||
                        (SELECT round(percentile_disc(0.5) WITHIN GROUP (ORDER BY staleness)::numeric, 2) FROM bench_stale b WHERE b.mv = s.mv::text) || ' | ' ||
                        (SELECT round(percentile_disc(0.99) WITHIN GROUP (ORDER BY staleness)::numeric, 2) FROM bench_stale b WHERE b.mv = s.mv::text) || ' | ' ||
                        (SELECT round(max(staleness)::numeric, 2) FROM bench_stale b WHERE b.mv = s.mv::text) || ' | ' ||
                        coalesce((SELECT round(percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM l.finished_at - l.first_request_at))::numeric, 2)
                                    FROM denorm.refresh_log l WHERE l.mv = s.mv AND (false $cond))::text, '-') || ' |'
                   FROM denorm.mv_status s ORDER BY s.mv::text"
fi

if ((${#EXACT_ROWS[@]})); then
    cat <<EOF

## 5. Exactness after every (b) run (SCALE=$SCALE)

\`check.sql\`: every maintained column (projects, user_dashboard_stats,
message_conversations, intro_request_stats, chains, search documents, the views against
their own query) against a recount written by hand; then denorm's own
\`reconcile(fix => false)\` and \`search_reconcile(fix => false)\` (rows reported), and the
Redis hash \`denorm:project_upvotes\` against \`projects.upvote_count\` once the outbox was
empty (fields wrong, missing or extra).

| after | check.sql mismatches | which | reconcile rows | search_reconcile rows | Redis fields off |
|---|---:|---|---:|---:|---:|
EOF
    printf '%s\n' "${EXACT_ROWS[@]}"
    echo
    echo "Total: **$CHECK_FAILS** mismatches over $(( ${#EXACT_ROWS[@]} )) checks."
fi
if ((${#RECONCILE_NOTES[@]})); then
    cat <<EOF

Repairs after the (a) runs (their writes were not maintained): \`denorm.reconcile()\` and
\`denorm.search_reconcile()\` with fix, then the views refreshed$( [[ $PUBLISHED != 0 ]] && echo " and \`redis_resync()\`").

| after | reconcile rows fixed | ms | search_reconcile rows | ms |
|---|---:|---:|---:|---:|
EOF
    printf '%s\n' "${RECONCILE_NOTES[@]}"
fi

cat <<EOF

## What an operator sees (\`denorm.stats\` at the end of the run)

| kind | name | calls | rows_seen | target_rows_written | refreshes | failures | avg_refresh_ms | max_refresh_ms | outbox_pending |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
q -F ' | ' -c "SELECT '| ' || kind, name, calls, rows_seen, target_rows_written, refreshes, failures,
                      coalesce(round(avg_refresh_ms::numeric, 1)::text, '-'), coalesce(round(max_refresh_ms::numeric, 1)::text, '-'),
                      coalesce(outbox_pending::text, '-') || ' |'
                 FROM denorm.stats ORDER BY kind, name"

# ---------------------------------------------------------------------------------------
# Pictures
if [[ -n $PICS ]] && command -v gnuplot >/dev/null; then
    if [[ " $PARTS " == *" pages "* ]]; then
        for p in "${PAGE_KEYS[@]}"; do
            printf '%s\t%s\t%s\n' "${SHORT[$p]:-${PAGE_TITLE[$p]% (*}}" "${P50[$p,before]}" "${P50[$p,after]}"
        done >"$DIR/pages.dat"
        ymin=$(awk -F'\t' '{ for (i = 2; i <= 3; i++) if ($i != "-" && (m == "" || $i + 0 < m)) m = $i + 0 }
                    END { e = 10 ^ int(log(m / 2) / log(10) - (m / 2 < 1 ? 1 : 0)); print e }' "$DIR/pages.dat")
        gnuplot <<EOF
set terminal pngcairo size 1100,580 font "sans,10"
set output "$PICS/platform_pages.png"
set title "Discovery platform pages: p50 latency before and after denorm (SCALE=$SCALE, 1 client, 2-core VM)"
set ylabel "ms (log scale)"
set logscale y
set yrange [$ymin:*]
set grid ytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by -30 nomirror
set bmargin 7
set key top left
set datafile separator "\\t"
plot "$DIR/pages.dat" using 2:xtic(1) title "before: joins and COUNTs on the normalized tables" lc rgb "#c0504d", \
     "" using 3 title "after: denorm's counters, views and search documents" lc rgb "#4f81bd", \
     "" using (\$0 - 1.0/6):(\$2 * 1.15):(\$2 >= 100 ? sprintf("%.0f", \$2) : sprintf("%.3g", \$2)) with labels font ",8" notitle, \
     "" using (\$0 + 1.0/6):(\$3 * 1.15):(\$3 >= 100 ? sprintf("%.0f", \$3) : sprintf("%.3g", \$3)) with labels font ",8" notitle
EOF
        log "picture: $PICS/platform_pages.png"
    fi
    if ((${#STALE_WINDOWS[@]})); then
        first_run=$(cut -d'|' -f1 <<<"${STALE_WINDOWS[0]}")
        # Top: the views with a max_delay of a few seconds; bottom: those with a longer one.
        plots_fast="" plots_slow=""
        while IFS='|' read -r v md; do
            q -c "SELECT t, staleness FROM bench_stale WHERE run = $first_run AND mv = '$v' ORDER BY t" | tr '|' ' ' >"$DIR/stale_$v.dat"
            line="\"$DIR/stale_$v.dat\" using 1:2 with lines lw 1.5 title \"${v#public.}\""
            if (( md <= 10 )); then plots_fast+="${plots_fast:+, }$line"; else plots_slow+="${plots_slow:+, }$line"; fi
        done < <(q -c "SELECT DISTINCT b.mv, extract(epoch FROM s.max_delay)::int FROM bench_stale b
                         JOIN denorm.mv_status s ON s.mv::text = b.mv ORDER BY 1")
        fast_md=$(q -c "SELECT max(extract(epoch FROM max_delay))::int FROM denorm.mv_status WHERE max_delay <= '10 s'")
        gnuplot <<EOF
set terminal pngcairo size 1000,$([[ -n $plots_slow ]] && echo 640 || echo 420) font "sans,10"
set output "$PICS/platform_staleness.png"
set termoption noenhanced
$([[ -n $plots_slow ]] && echo 'set multiplot layout 2,1')
set title "Staleness of the registered views during mixed run $first_run (SCALE=$SCALE, $CLIENTS clients): age of the oldest change a view does not show"
set xlabel "seconds into the run"
set ylabel "seconds"
set grid
set key outside right
set arrow from graph 0, first ${fast_md:-5} to graph 1, first ${fast_md:-5} nohead dt 2 lc rgb "#888888"
set label "max_delay ${fast_md:-5} s" at graph 0.01, first ${fast_md:-5} offset 0,0.6 tc rgb "#666666"
plot $plots_fast
$([[ -n $plots_slow ]] && printf 'unset arrow\nunset label\nset title "views with a longer max_delay"\nplot %s\nunset multiplot' "$plots_slow")
EOF
        log "picture: $PICS/platform_staleness.png"
    fi
fi

cat <<EOF

## Measurement log

\`\`\`
EOF
cat "$RAW"
echo '```'
