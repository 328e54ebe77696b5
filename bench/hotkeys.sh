#!/usr/bin/env bash
# bench/hotkeys.sh — what denorm costs the writer where keys are hot or values non-additive:
#   W2    8 clients INSERT upvotes all on ONE post: (a) none, (b) PL/pgSQL row trigger,
#         (c) denorm count counter, (d) the same counter with deferred => true (target: d/a >= 0.80)
#   W4    70 % INSERT / 30 % DELETE of events over 1,000 parents, 1 and 8 clients: (a) none,
#         (b) PL/pgSQL max triggers, denorm count / max / min counters and a create_latest
#   CONV  the message-conversation workload, 8 clients, 90 % new message / 10 % mark read:
#         (a) none, (b) the seeds' PL/pgSQL upsert triggers, (c) denorm (3 counters + 2 latest)
#   W6    8 clients, transactions of several statements over 1,000 parents in random order
#         (count + sum of the children): (a) none, (b) PL/pgSQL row trigger, (c) denorm
#         (denorm.apply = commit, the default), (d) denorm with denorm.apply = statement,
#         (e) by hand (each statement also updates its parent); failed transactions count
# See bench/README.md. Starts its own throwaway cluster (bench/cluster.sh), prints a markdown
# report on stdout (progress on stderr) and removes the cluster. Benchmarks the installed
# denorm.so (BENCH_BUILD=1: `make install` first). A variant whose setup fails (e.g. a
# feature not implemented yet) is reported as "n/a (setup failed: ...)"; the rest goes on.
#
# Environment (all optional):
#   BENCH_SECONDS=8            duration of each pgbench run (-T)
#   BENCH_ROUNDS=3             runs per variant, interleaved (a,b,c... then ...,c,b,a); medians reported
#   BENCH_WORKLOADS="W2 W4 CONV W6"
#   BENCH_W4_CLIENTS="1 8"     client counts for W4 (W2 and CONV use 8)
#   BENCH_MAX_TRIES=1          pgbench --max-tries: 1 = retries off, so a deadlock or
#                              serialization failure fails its transaction (and is reported)
#   BENCH_PROTOCOL=prepared    pgbench -M
#   BENCH_WARMUP=5             seconds of unrecorded W2 (a) load first
#   BENCH_EXTRA_CONF=""        extra postgresql.conf lines, ';'-separated
#   BENCH_DIR=/tmp/denorm-bench-hot   BENCH_PORT (default: first free in 5640..5689)
#   BENCH_KEEP=1               leave the cluster running      BENCH_BUILD=1  `make install` first
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
PG_BINDIR=/usr/lib/postgresql/15/bin
PG_CONFIG=${PG_CONFIG:-$PG_BINDIR/pg_config}
SECONDS_PER_RUN=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
WORKLOADS=${BENCH_WORKLOADS:-"W2 W4 CONV W6"}
W4_CLIENTS=${BENCH_W4_CLIENTS:-"1 8"}
MAX_TRIES=${BENCH_MAX_TRIES:-1}
PROTOCOL=${BENCH_PROTOCOL:-prepared}
EXTRA_CONF=${BENCH_EXTRA_CONF:-}
DIR=${BENCH_DIR:-/tmp/denorm-bench-hot}
DB=bench
PARENTS=1000 USERS=200 MESSAGES=20000 WINDOW=5000   # W4 parents; CONV users, pre-filled messages, read window

# shellcheck source=bench/cluster.sh
source "$BENCH/cluster.sh"
if [[ ${BENCH_BUILD:-0} == 1 ]]; then build_and_install; fi

PORT=${BENCH_PORT:-}
CLUSTER_KEEP=${BENCH_KEEP:-0}
cluster_init 5640 5689
mapfile -t extra_lines < <([[ -n $EXTRA_CONF ]] && tr ';' '\n' <<<"$EXTRA_CONF")
cluster_start "denorm hot-key bench (identical for every variant)" \
    "shared_preload_libraries = 'denorm'" "denorm.fold_interval = '1s'" "${extra_lines[@]}"
RAW=$DIR/raw.txt
: >"$RAW"
log() { echo "$*" | tee -a "$RAW" >&2; }

# ---------------------------------------------------------------------------------------
# Schemas (re-created before every run, same rows for every variant) and variants.
declare -A LABEL=(
    [W2,a]="no maintenance" [W2,b]="PL/pgSQL row trigger" [W2,c]="denorm counter" [W2,d]="denorm counter, deferred"
    [W4,a]="no maintenance" [W4,b]="PL/pgSQL max triggers" [W4,count]="denorm count" [W4,max]="denorm max"
    [W4,min]="denorm min" [W4,latest]="denorm latest"
    [CONV,a]="no maintenance" [CONV,b]="seeds' PL/pgSQL triggers" [CONV,c]="denorm: 3 counters + 2 latest"
    [W6,a]="no maintenance" [W6,b]="PL/pgSQL row trigger" [W6,c]="denorm (apply = commit)"
    [W6,d]="denorm (apply = statement)" [W6,e]="by hand, same statements")
declare -A VARIANTS=([W2]="a b c d" [W4]="a b count max min latest" [CONV]="a b c" [W6]="a b c d e")
# A variant that runs another pgbench script than its workload's (the same statements written by hand).
declare -A SCRIPT_OF=([W6,e]="w6_txn_by_hand.sql")

DROP_ALL="SELECT denorm.drop_counter(name) FROM denorm.counters;
DROP TABLE IF EXISTS upvotes, posts, events, parents, messages, message_conversations, w6_children, w6_parents CASCADE;
DROP FUNCTION IF EXISTS bench_w2_trg(), bench_w4_max_trg(), seeds_message_insert(), seeds_message_read(),
    bench_w6_trg() CASCADE;
ALTER DATABASE $DB RESET denorm.apply;"

# CONV recount: one row per (user, other user) with what message_conversations should hold
CONV_RECOUNT="WITH m AS (SELECT sender_id AS u, recipient_id AS o, id, created_at, body, false AS incoming, read_at FROM messages
           UNION ALL SELECT recipient_id, sender_id, id, created_at, body, true, read_at FROM messages),
r AS (SELECT u, o, count(*) AS total, count(*) FILTER (WHERE incoming AND read_at IS NULL) AS unread FROM m GROUP BY u, o),
l AS (SELECT DISTINCT ON (u, o) u, o, id, created_at, left(body, 80) AS preview FROM m ORDER BY u, o, created_at DESC, id DESC),
e AS (SELECT * FROM r JOIN l USING (u, o))"
# W4 recount: per parent
W4_RECOUNT="WITH r AS (SELECT parent_id, count(*) AS n, max(amount) AS mx, min(amount) AS mn FROM events GROUP BY parent_id),
l AS (SELECT DISTINCT ON (parent_id) parent_id, id, created_at FROM events ORDER BY parent_id, created_at DESC, id DESC)"

schema_sql() {
    case $1 in
    W2) cat <<SQL
CREATE TABLE posts (id int PRIMARY KEY, upvote_count int NOT NULL DEFAULT 0);
CREATE TABLE upvotes (id bigserial PRIMARY KEY, post_id int NOT NULL, user_id int NOT NULL,
                      created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO posts (id) SELECT generate_series(1, 100);
INSERT INTO upvotes (post_id, user_id) SELECT 1 + g % 100, g FROM generate_series(1, 10000) g;
CREATE INDEX ON upvotes (post_id);
UPDATE posts p SET upvote_count = r.n FROM (SELECT post_id, count(*) AS n FROM upvotes GROUP BY 1) r WHERE r.post_id = p.id;
SQL
    ;;
    W4) cat <<SQL
CREATE TABLE parents (id int PRIMARY KEY, event_count int NOT NULL DEFAULT 0, max_amount int, min_amount int,
                      last_event_id bigint, last_event_at timestamptz);
CREATE TABLE events (id bigserial PRIMARY KEY, parent_id int NOT NULL, amount int NOT NULL,
                     created_at timestamptz NOT NULL DEFAULT clock_timestamp());
INSERT INTO parents (id) SELECT generate_series(1, $PARENTS);
SELECT setseed(0.42);
INSERT INTO events (parent_id, amount) SELECT 1 + g % $PARENTS, 1 + floor(random() * 1000)::int FROM generate_series(0, 10 * $PARENTS - 1) g;
CREATE INDEX ON events (parent_id, amount);
CREATE INDEX ON events (parent_id, created_at, id);
$W4_RECOUNT
UPDATE parents p SET event_count = r.n, max_amount = r.mx, min_amount = r.mn, last_event_id = l.id, last_event_at = l.created_at
  FROM r JOIN l USING (parent_id) WHERE r.parent_id = p.id;
SQL
    ;;
    W6) cat <<SQL
CREATE TABLE w6_parents (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0, total bigint NOT NULL DEFAULT 0);
CREATE TABLE w6_children (id bigserial PRIMARY KEY, parent_id int NOT NULL, amount int NOT NULL);
INSERT INTO w6_parents (id) SELECT generate_series(1, $PARENTS);
INSERT INTO w6_children (parent_id, amount) SELECT 1 + g % $PARENTS, 1 + g % 100 FROM generate_series(0, 10 * $PARENTS - 1) g;
CREATE INDEX ON w6_children (parent_id);
UPDATE w6_parents p SET n = r.n, total = r.t FROM (SELECT parent_id, count(*) AS n, sum(amount) AS t FROM w6_children GROUP BY 1) r
 WHERE r.parent_id = p.id;
SQL
    ;;
    CONV) cat <<SQL
CREATE TABLE messages (id bigserial PRIMARY KEY, sender_id int NOT NULL, recipient_id int NOT NULL, body text NOT NULL,
                       created_at timestamptz NOT NULL DEFAULT clock_timestamp(), read_at timestamptz);
CREATE TABLE message_conversations (user_id int, other_user_id int, total_messages int NOT NULL DEFAULT 0,
    unread_count int NOT NULL DEFAULT 0, last_message_id bigint, last_message_at timestamptz, last_message_preview text,
    PRIMARY KEY (user_id, other_user_id));
SELECT setseed(0.42);
INSERT INTO messages (sender_id, recipient_id, body, read_at)
SELECT s, r, 'message from ' || s || ' to ' || r || ': ' || repeat('lorem ipsum ', 10), CASE WHEN g % 2 = 0 THEN now() END
  FROM (SELECT g, s, CASE WHEN r >= s THEN r + 1 ELSE r END AS r
          FROM (SELECT g, 1 + floor(random() * $USERS)::int AS s, 1 + floor(random() * ($USERS - 1))::int AS r
                  FROM generate_series(1, $MESSAGES) g) x) y;
CREATE INDEX ON messages (sender_id, recipient_id, created_at);
CREATE INDEX ON messages (recipient_id, read_at);
$CONV_RECOUNT
INSERT INTO message_conversations SELECT u, o, total, unread, id, created_at, preview FROM e;
SQL
    ;;
    esac
}

install_sql() {  # install_sql WORKLOAD VARIANT: the maintenance of that variant
    case $1,$2 in
    *,a) ;;
    W2,b) cat <<'SQL'
CREATE FUNCTION bench_w2_trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE posts SET upvote_count = upvote_count + 1 WHERE id = NEW.post_id;
    ELSE
        UPDATE posts SET upvote_count = upvote_count - 1 WHERE id = OLD.post_id;
    END IF;
    RETURN NULL;
END $f$;
CREATE TRIGGER bench_w2 AFTER INSERT OR DELETE ON upvotes FOR EACH ROW EXECUTE FUNCTION bench_w2_trg();
SQL
    ;;
    W2,c) echo "SELECT denorm.create_counter('post_upvotes', 'posts', 'upvote_count', 'upvotes', '{post_id}');" ;;
    W2,d) echo "SELECT denorm.create_counter('post_upvotes', 'posts', 'upvote_count', 'upvotes', '{post_id}', deferred => true);" ;;
    W4,b) cat <<'SQL'
CREATE FUNCTION bench_w4_max_trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE parents SET max_amount = greatest(max_amount, NEW.amount) WHERE id = NEW.parent_id;
    ELSE   -- only when the deleted row held the max: recompute it
        UPDATE parents SET max_amount = (SELECT max(amount) FROM events WHERE parent_id = OLD.parent_id)
         WHERE id = OLD.parent_id AND max_amount = OLD.amount;
    END IF;
    RETURN NULL;
END $f$;
CREATE TRIGGER bench_w4_max AFTER INSERT OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION bench_w4_max_trg();
SQL
    ;;
    W4,count) echo "SELECT denorm.create_counter('parent_count', 'parents', 'event_count', 'events', '{parent_id}');" ;;
    W4,max) echo "SELECT denorm.create_counter('parent_max', 'parents', 'max_amount', 'events', '{parent_id}', aggregate => 'max', value => 'amount');" ;;
    W4,min) echo "SELECT denorm.create_counter('parent_min', 'parents', 'min_amount', 'events', '{parent_id}', aggregate => 'min', value => 'amount');" ;;
    W4,latest) echo "SELECT denorm.create_latest('parent_last', 'parents', '{last_event_id,last_event_at}', 'events', '{parent_id}', '{id,created_at}', '{created_at,id}');" ;;
    CONV,b) cat <<'SQL'
CREATE FUNCTION seeds_message_insert() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO message_conversations AS c (user_id, other_user_id, total_messages, unread_count,
                                            last_message_id, last_message_at, last_message_preview)
    VALUES (NEW.sender_id, NEW.recipient_id, 1, 0, NEW.id, NEW.created_at, left(NEW.body, 80))
    ON CONFLICT (user_id, other_user_id) DO UPDATE
       SET total_messages = c.total_messages + 1, last_message_id = EXCLUDED.last_message_id,
           last_message_at = EXCLUDED.last_message_at, last_message_preview = EXCLUDED.last_message_preview;
    INSERT INTO message_conversations AS c (user_id, other_user_id, total_messages, unread_count,
                                            last_message_id, last_message_at, last_message_preview)
    VALUES (NEW.recipient_id, NEW.sender_id, 1, CASE WHEN NEW.read_at IS NULL THEN 1 ELSE 0 END,
            NEW.id, NEW.created_at, left(NEW.body, 80))
    ON CONFLICT (user_id, other_user_id) DO UPDATE
       SET total_messages = c.total_messages + 1, unread_count = c.unread_count + EXCLUDED.unread_count,
           last_message_id = EXCLUDED.last_message_id, last_message_at = EXCLUDED.last_message_at,
           last_message_preview = EXCLUDED.last_message_preview;
    RETURN NULL;
END $f$;
CREATE FUNCTION seeds_message_read() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF OLD.read_at IS NULL AND NEW.read_at IS NOT NULL THEN
        UPDATE message_conversations SET unread_count = unread_count - 1
         WHERE user_id = NEW.recipient_id AND other_user_id = NEW.sender_id;
    END IF;
    RETURN NULL;
END $f$;
CREATE TRIGGER seeds_message_insert AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION seeds_message_insert();
CREATE TRIGGER seeds_message_read AFTER UPDATE OF read_at ON messages FOR EACH ROW EXECUTE FUNCTION seeds_message_read();
SQL
    ;;
    W6,b) cat <<'SQL'
CREATE FUNCTION bench_w6_trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE w6_parents SET n = n - 1, total = total - OLD.amount WHERE id = OLD.parent_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE w6_parents SET n = n + 1, total = total + NEW.amount WHERE id = NEW.parent_id;
    END IF;
    RETURN NULL;
END $f$;
CREATE TRIGGER bench_w6 AFTER INSERT OR DELETE OR UPDATE OF parent_id, amount ON w6_children
    FOR EACH ROW EXECUTE FUNCTION bench_w6_trg();
SQL
    ;;
    W6,c|W6,d) cat <<SQL
SELECT denorm.create_counter('w6_n', 'w6_parents', 'n', 'w6_children', '{parent_id}');
SELECT denorm.create_counter('w6_total', 'w6_parents', 'total', 'w6_children', '{parent_id}', aggregate => 'sum', value => 'amount');
$([[ $2 == d ]] && echo "ALTER DATABASE $DB SET denorm.apply = statement;")
SQL
    ;;
    CONV,c) cat <<'SQL'
SELECT denorm.create_counter('conv_total_out', 'message_conversations', 'total_messages', 'messages',
       '{sender_id,recipient_id}', '{user_id,other_user_id}', create_missing => true);
SELECT denorm.create_counter('conv_total_in', 'message_conversations', 'total_messages', 'messages',
       '{recipient_id,sender_id}', '{user_id,other_user_id}', create_missing => true);
SELECT denorm.create_counter('conv_unread', 'message_conversations', 'unread_count', 'messages',
       '{recipient_id,sender_id}', '{user_id,other_user_id}', filter => 'read_at IS NULL', create_missing => true);
SELECT denorm.create_latest('conv_last_out', 'message_conversations', '{last_message_id,last_message_at,last_message_preview}',
       'messages', '{sender_id,recipient_id}', '{id,created_at,"left(body, 80)"}', '{created_at,id}',
       target_key => '{user_id,other_user_id}', create_missing => true);
SELECT denorm.create_latest('conv_last_in', 'message_conversations', '{last_message_id,last_message_at,last_message_preview}',
       'messages', '{recipient_id,sender_id}', '{id,created_at,"left(body, 80)"}', '{created_at,id}',
       target_key => '{user_id,other_user_id}', create_missing => true);
SQL
    ;;
    esac
}

SETUP_ERR=""
setup() {  # setup WORKLOAD VARIANT: fresh tables + the variant; on failure SETUP_ERR = first error line
    local err
    if ! err=$(q 2>&1 >/dev/null <<<"$DROP_ALL
$(schema_sql "$1")
$(install_sql "$1" "$2")"); then
        SETUP_ERR=$(grep -m1 'ERROR' <<<"$err" | sed 's/^.*ERROR: *//')
        SETUP_ERR=${SETUP_ERR:-$(head -1 <<<"$err")}
        return 1
    fi
    q -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
}

# Exactness after a run: "yes", "no (...)", or "-" for (a)
yes_no() { if [[ $1 == 0 ]]; then echo yes; else echo "no ($1 $2 off)"; fi; }
check() {  # check WORKLOAD VARIANT
    local cond cv behind
    case $1,$2 in
    *,a) echo "-" ;;
    W2,*)
        if [[ $2 == d ]]; then  # exact value while deltas may still be pending, then fold and compare the table
            cv=$(q -c "SELECT CASE WHEN denorm.counter_value('post_upvotes', '1') = (SELECT count(*) FROM upvotes WHERE post_id = 1)
                                   THEN 'yes' ELSE 'no' END" 2>&1) || cv="n/a ($(grep -m1 ERROR <<<"$cv" | sed 's/^.*ERROR: *//'))"
            behind=$(q -c "SELECT (SELECT count(*) FROM upvotes WHERE post_id = 1) - upvote_count FROM posts WHERE id = 1")
            q -c "SELECT denorm.run_pending()" >/dev/null 2>&1 || true
            echo -n "counter_value: $cv; table $behind behind before run_pending(), after: "
        fi
        yes_no "$(q -c "SELECT count(*) FROM posts p LEFT JOIN (SELECT post_id, count(*) AS n FROM upvotes GROUP BY 1) r
                         ON r.post_id = p.id WHERE p.upvote_count IS DISTINCT FROM coalesce(r.n, 0)")" posts ;;
    W4,*)
        case $2 in
        count) cond="p.event_count IS DISTINCT FROM coalesce(r.n, 0)" ;;
        b|max) cond="p.max_amount IS DISTINCT FROM r.mx" ;;
        min) cond="p.min_amount IS DISTINCT FROM r.mn" ;;
        latest) cond="(p.last_event_id, p.last_event_at) IS DISTINCT FROM (l.id, l.created_at)" ;;
        esac
        yes_no "$(q -c "$W4_RECOUNT SELECT count(*) FROM parents p LEFT JOIN r ON r.parent_id = p.id
                         LEFT JOIN l ON l.parent_id = p.id WHERE $cond")" parents ;;
    W6,*)
        yes_no "$(q -c "SELECT count(*) FROM w6_parents p LEFT JOIN (SELECT parent_id, count(*) AS n, sum(amount) AS t
                         FROM w6_children GROUP BY 1) r ON r.parent_id = p.id
                         WHERE (p.n, p.total) IS DISTINCT FROM (coalesce(r.n, 0), coalesce(r.t, 0))")" parents ;;
    CONV,*)
        q -F ' ' -c "$CONV_RECOUNT SELECT count(*) FILTER (WHERE c.user_id IS NULL OR e.u IS NULL),
                 count(*) FILTER (WHERE c.total_messages IS DISTINCT FROM e.total),
                 count(*) FILTER (WHERE c.unread_count IS DISTINCT FROM e.unread),
                 count(*) FILTER (WHERE (c.last_message_id, c.last_message_at, c.last_message_preview)
                                        IS DISTINCT FROM (e.id, e.created_at, e.preview))
            FROM message_conversations c FULL JOIN e ON (c.user_id, c.other_user_id) = (e.u, e.o)" |
        awk '{ if ($1 + $2 + $3 + $4 == 0) print "yes";
               else printf "no (rows missing/extra %d, total_messages off %d, unread_count off %d, last_message_* off %d)\n", $1, $2, $3, $4 }' ;;
    esac
}

# ---------------------------------------------------------------------------------------
declare -A TPS NA EXACT RETRIED FAILED   # TPS[key,variant,round]; the others [key,variant]
KEYS=()   # key|workload|clients
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print ""; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
order_for_round() { if (( $1 % 2 )); then echo "$2"; else tr ' ' '\n' <<<"$2" | tac | tr '\n' ' '; fi; }

bench_key() {  # bench_key WORKLOAD CLIENTS PGBENCH_ARGS...: ROUNDS x the workload's variants
    local w=$1 c=$2; shift 2
    local key="$w c=$c" j=$(( c < $(nproc) ? c : $(nproc) )) r v out tps lat ret fail ex
    KEYS+=("$key|$w|$c")
    for (( r = 1; r <= ROUNDS; r++ )); do
        for v in $(order_for_round "$r" "${VARIANTS[$w]}"); do
            [[ -z ${NA[$key,$v]:-} ]] || continue
            if ! setup "$w" "$v"; then
                NA[$key,$v]="setup failed: $SETUP_ERR"
                log "$(printf '%-9s round %d  %-34s n/a (%s)' "$key" "$r" "($v) ${LABEL[$w,$v]}" "${NA[$key,$v]}")"
                continue
            fi
            local args=() arg
            for arg in "$@"; do  # a variant's own script replaces the workload's
                [[ -n ${SCRIPT_OF[$w,$v]:-} && $arg == *.sql ]] && arg="$BENCH/${SCRIPT_OF[$w,$v]}"
                args+=("$arg")
            done
            if ! out=$("$PG_BINDIR/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M "$PROTOCOL" -c "$c" -j "$j" \
                       -T "$SECONDS_PER_RUN" --max-tries="$MAX_TRIES" "${args[@]}" "$DB" 2>&1); then
                NA[$key,$v]="run failed: $(grep -m1 -iE 'error|abort' <<<"$out" || echo "pgbench exit status")"
                log "$(printf '%-9s round %d  %-34s n/a (%s)' "$key" "$r" "($v) ${LABEL[$w,$v]}" "${NA[$key,$v]}")"
                continue
            fi
            tps=$(awk '/^tps = / {print $3; exit}' <<<"$out")
            lat=$(awk '/^latency average = / {print $4; exit}' <<<"$out")
            ret=$(awk '/^number of transactions retried: / {print $5; exit}' <<<"$out")
            fail=$(awk '/^number of failed transactions: / {print $5; exit}' <<<"$out")
            ex=$(check "$w" "$v")
            TPS[$key,$v,$r]=$tps
            RETRIED[$key,$v]=$(( ${RETRIED[$key,$v]:-0} + ${ret:-0} ))
            FAILED[$key,$v]=$(( ${FAILED[$key,$v]:-0} + ${fail:-0} ))
            EXACT[$key,$v]+="$ex"$'\n'
            log "$(printf '%-9s round %d  %-34s tps %8.1f  lat %7.3f ms  retried %4d  failed %3d  exact: %s' \
                   "$key" "$r" "($v) ${LABEL[$w,$v]}" "$tps" "$lat" "${ret:-0}" "${fail:-0}" "$ex")"
        done
    done
}

# ---------------------------------------------------------------------------------------
T_START=$(date +%s)
cat <<EOF
# denorm hot-key / min-max-latest benchmark (bench/hotkeys.sh)

## Setup

\`\`\`
EOF
{
    echo "date:            $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host:            $(uname -sr), $(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "repo HEAD:       $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ has uncommitted changes)')"
    lib="$("$PG_CONFIG" --pkglibdir)/denorm.so"
    echo "denorm.so:       $lib, installed $(date -u -r "$lib" '+%Y-%m-%d %H:%M:%S UTC'), md5 $(md5sum "$lib" | cut -c1-12)"
    q -c "SELECT 'server:          ' || version()"
    q -c "SELECT format('setting:         %s = %s', name, setting) FROM pg_settings
          WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_wal_size', 'shared_preload_libraries')
             OR name LIKE 'denorm.%' ORDER BY name"
    q -c "SELECT 'note:            denorm.fold_interval is not a GUC of this denorm.so (the server dropped it with a WARNING)'
          WHERE NOT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'denorm.fold_interval')"
    echo "extra conf:      ${EXTRA_CONF:-none (PostgreSQL defaults apart from socket/port/preload/fold_interval)}"
    echo "pgbench:         -M $PROTOCOL -T $SECONDS_PER_RUN --max-tries=$MAX_TRIES, $ROUNDS round(s) per variant, -j min(clients, cores)"
}
echo '```'
echo
echo '## Measurements'
echo
echo '```'

setup W2 a
"$PG_BINDIR/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M "$PROTOCOL" -c 8 -j "$(nproc)" -T "${BENCH_WARMUP:-5}" \
    -f "$BENCH/w2_upvote.sql" "$DB" >/dev/null 2>&1 || true
log "warm-up: ${BENCH_WARMUP:-5} s of W2 (a), not recorded"

for w in $WORKLOADS; do
    case $w in
    W2) bench_key W2 8 -f "$BENCH/w2_upvote.sql" ;;
    W4) for c in $W4_CLIENTS; do
            bench_key W4 "$c" -D parents="$PARENTS" -f "$BENCH/w4_insert.sql@7" -f "$BENCH/w4_delete.sql@3"
        done ;;
    CONV) bench_key CONV 8 -D users="$USERS" -D window="$WINDOW" -f "$BENCH/conv_send.sql@9" -f "$BENCH/conv_read.sql@1" ;;
    W6) bench_key W6 8 -D parents="$PARENTS" -f "$BENCH/w6_txn.sql" ;;
    *) echo "bench: unknown workload $w" >&2; exit 1 ;;
    esac
done
log "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); run time $(( $(date +%s) - T_START )) s"
cat "$RAW"
echo '```'

# ---------------------------------------------------------------------------------------
# ratios KEY V BASE: tps(V)/tps(BASE) of each round both ran in; ratio: their median
ratios() {
    local r
    for (( r = 1; r <= ROUNDS; r++ )); do
        [[ -n ${TPS[$1,$2,$r]:-} && -n ${TPS[$1,$3,$r]:-} ]] || continue
        awk -v x="${TPS[$1,$2,$r]}" -v y="${TPS[$1,$3,$r]}" 'BEGIN {printf "%.3f\n", (y > 0 ? x / y : 0)}'
    done
}
ratio() { ratios "$@" | median | awk 'NF {printf "%.3f", $1}'; }
samples() { local r; for (( r = 1; r <= ROUNDS; r++ )); do [[ -z ${TPS[$1,$2,$r]:-} ]] || echo "${TPS[$1,$2,$r]}"; done; }
cat <<'EOF'

## Results

tps = median over the rounds; ratios are taken round by round (each run against the same
round's run of the baseline) and the median reported; "by round" lists them. exact = the
maintained columns equal a recount after the run (every round; distinct outcomes listed).
retried/failed = pgbench transactions retried after a deadlock or serialization failure /
given up, summed over the rounds.
EOF
for row in "${KEYS[@]}"; do
    IFS='|' read -r key w c <<<"$row"
    echo
    case $w in
    W2) echo "### W2 — $c clients, single-row INSERTs all on one hot key (post 1)" ;;
    W4) echo "### W4 — $c client$([[ $c == 1 ]] || echo s), 70 % INSERT / 30 % DELETE over $PARENTS parents" ;;
    CONV) echo "### CONV — $c clients, 90 % new message / 10 % mark read, $USERS users" ;;
    W6) echo "### W6 — $c clients, transactions of five statements over $PARENTS parents in random order (retries: --max-tries=$MAX_TRIES)" ;;
    esac
    echo
    vs2=""; [[ $w == W4 ]] && vs2=count
    echo "| variant | tps | vs (a) | $([[ -n $vs2 ]] && echo 'vs count | ')(v)/(a) by round | retried / failed | exact |"
    echo "|---|---:|---:|$([[ -n $vs2 ]] && echo '---:|')---|---:|---|"
    for v in ${VARIANTS[$w]}; do
        na=${NA[$key,$v]:-}; na=${na//|/\\|}
        if [[ -z $(samples "$key" "$v") ]]; then
            echo "| ($v) ${LABEL[$w,$v]} | n/a ($na) | | $([[ -n $vs2 ]] && echo '| ')| | |"
            continue
        fi
        tps=$(samples "$key" "$v" | median | awk '{printf "%.0f", $1}')
        r2=""; [[ -n $vs2 ]] && r2="$(ratio "$key" "$v" "$vs2") | "
        ex=$(grep . <<<"${EXACT[$key,$v]:-}" | sort -u | paste -sd ';' - | sed 's/;/; /g')
        echo "| ($v) ${LABEL[$w,$v]}${na:+ (later rounds n/a: $na)} | $tps | $(ratio "$key" "$v" a) | $r2$(ratios "$key" "$v" a | paste -sd ' ' -) | ${RETRIED[$key,$v]:-0} / ${FAILED[$key,$v]:-0} | ${ex:--} |"
    done
    if [[ $w == W2 ]]; then
        rd=$(ratio "$key" d a)
        echo
        echo "Target: (d) deferred / (a) ≥ 0.80: $( [[ -z $rd ]] && echo "not measured" || awk -v r="$rd" 'BEGIN {print (r >= 0.80 ? "met" : "**not met**")}' )$( [[ -n $rd ]] && echo " ($rd)")."
    fi
done
