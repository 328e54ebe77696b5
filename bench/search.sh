#!/usr/bin/env bash
# bench/search.sh — search documents kept in step by denorm (README "Search") against the
# seeds' way, a materialized search index refreshed on writes, on a throwaway cluster
# (bench/cluster.sh). Data: BENCH_PROJECTS projects (generated titles such as "Lightweight
# Redis exporter for data teams", a description, stars, soft deletes), BENCH_USERS users
# (login, bio) and BENCH_CHAINS chains (name), one search source each.
#   1. latency     BENCH_QUERIES queries through denorm.search() (a third exact title
#                  words, a third typos of them, a third prefixes of 3-5 letters; some of
#                  two words), each timed by psql: p50/p99/max, (a) while BENCH_CLIENTS
#                  clients update titles, (b) after BENCH_UPDATES more single-row updates
#                  (a search index that degrades as it is written shows here).
#   2. write overhead  single-row title updates (pgbench, BENCH_CLIENTS clients, retries
#                  off): a copy of projects without a search source vs projects with one;
#                  rounds alternate, ratio per round and its median (target >= 0.80). The
#                  same updates on a third copy whose statement trigger refreshes
#                  mv_search_index CONCURRENTLY per write (the seeds' way), and on a fourth
#                  whose view denorm.register_mv refreshes after a 1 s debounce (max_delay 5
#                  s): tps, and how long after its commit a change shows in each.
#   3. exact       after everything, search_reconcile(fix => false) must find nothing.
# Prints a markdown report on stdout (progress on stderr).
# Environment (defaults): BENCH_PROJECTS=100000 BENCH_USERS=10000 BENCH_CHAINS=1000
#   BENCH_QUERIES=1000 BENCH_UPDATES=1000 BENCH_CLIENTS=8 BENCH_SECONDS=8 (each pgbench run)
#   BENCH_ROUNDS=3 BENCH_MV_SECONDS=20 (the per-write refresh run) BENCH_DIR=/tmp/denorm-bench-search
#   BENCH_PORT (first free in 5740..5789) BENCH_KEEP=1 (leave the cluster running)
#   BENCH_BUILD=1 (make install first)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
PG_BINDIR=/usr/lib/postgresql/15/bin
PG_CONFIG=${PG_CONFIG:-$PG_BINDIR/pg_config}
PROJECTS=${BENCH_PROJECTS:-100000}
USERS=${BENCH_USERS:-10000}
CHAINS=${BENCH_CHAINS:-1000}
QUERIES=${BENCH_QUERIES:-1000}
UPDATES=${BENCH_UPDATES:-1000}
CLIENTS=${BENCH_CLIENTS:-8}
SECONDS_PER_RUN=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
MV_SECONDS=${BENCH_MV_SECONDS:-20}
DIR=${BENCH_DIR:-/tmp/denorm-bench-search}
DB=bench
COMMAND="$0${*:+ $*}"

# shellcheck source=bench/cluster.sh
source "$BENCH/cluster.sh"
say() { echo "search: $*" >&2; }
[[ ${BENCH_BUILD:-0} == 1 ]] && build_and_install
PORT=${BENCH_PORT:-}
CLUSTER_KEEP=${BENCH_KEEP:-0}
cluster_init 5740 5789
cluster_start "denorm search bench" "shared_preload_libraries = 'denorm'" "shared_buffers = 256MB" \
    "max_wal_size = 2GB" "checkpoint_timeout = 30min" "denorm.naptime = 200ms"
PGBENCH=("$PG_BINDIR/pgbench" -h "$DIR" -p "$PORT" -U postgres -n -M prepared --max-tries=1)

# ---------------------------------------------------------------- data
say "generating $PROJECTS projects, $USERS users, $CHAINS chains"
q <<SQL >/dev/null
SELECT setseed(0.42);
CREATE TABLE words (kind text, i int, w text);
INSERT INTO words SELECT 'adj', o, w FROM unnest('{Fast,Simple,Lightweight,Modern,Minimal,Secure,Scalable,Async,
  Distributed,Reactive,Tiny,Robust,Open,Smart,Automated,Declarative,Typed,Embedded,Portable,Resilient}'::text[])
  WITH ORDINALITY u(w, o);
INSERT INTO words SELECT 'tech', o, w FROM unnest('{PostgreSQL,Redis,Kafka,React,Django,Rails,Kubernetes,Docker,
  GraphQL,Rust,Python,TypeScript,Golang,Elixir,Terraform,Prometheus,Grafana,Nginx,SQLite,MongoDB,Svelte,Flask,
  Spring,Laravel,Ansible,Webpack,Tailwind,Deno,Pandas,PyTorch}'::text[]) WITH ORDINALITY u(w, o);
INSERT INTO words SELECT 'noun', o, w FROM unnest('{client,driver,toolkit,framework,library,dashboard,exporter,
  proxy,scheduler,parser,linter,migrator,connector,SDK,CLI,plugin,template,starter,monitor,cache,router,queue,
  validator,generator,bridge,wrapper,adapter,profiler,debugger,benchmark}'::text[]) WITH ORDINALITY u(w, o);
INSERT INTO words SELECT 'for', o, w FROM unnest('{for startups,for data teams,for microservices,for IoT devices,
  with type safety,for serverless,for analytics,for e-commerce,for game servers,for mobile apps,without dependencies,
  for the browser,for embedded Linux,for fintech,for healthcare records,for event sourcing}'::text[])
  WITH ORDINALITY u(w, o);
INSERT INTO words SELECT 'desc', o, w FROM unnest('{handles,thousands,requests,per,second,with,zero,configuration,
  built,on,top,of,battle,tested,primitives,supports,streaming,batching,retries,backpressure,observability,
  tracing,metrics,logging,migrations,schemas,plugins,a,the,and,for,production,teams,every,day,incremental,builds,
  caching,layer,query,planner,index,vacuum,replication,failover,sharding,encryption,audit,compliance}'::text[])
  WITH ORDINALITY u(w, o);
CREATE FUNCTION pick(k text, r double precision) RETURNS text LANGUAGE sql STABLE AS
  \$\$ SELECT w FROM words WHERE kind = k AND i = 1 + floor(r * (SELECT count(*) FROM words WHERE kind = k))::int \$\$;

CREATE TABLE projects (id bigint PRIMARY KEY, name text NOT NULL, description text, stars int NOT NULL DEFAULT 0,
                       deleted_at timestamptz);
INSERT INTO projects
SELECT g, pick('adj', random()) || ' ' || pick('tech', random()) || ' ' || pick('noun', random()) || ' '
          || pick('for', random()),
       (SELECT string_agg(pick('desc', random() + 0 * k + 0 * g), ' ') FROM generate_series(1, 12) k),
       (random() ^ 4 * 5000)::int, CASE WHEN random() < 0.03 THEN now() END
  FROM generate_series(1, $PROJECTS) g;
CREATE TABLE users (id bigint PRIMARY KEY, login text NOT NULL, bio text);
INSERT INTO users
SELECT g, lower((ARRAY['alice','bob','carol','dave','erin','frank','grace','heidi','ivan','judy','mallory','niaj',
                       'olivia','peggy','rupert','sybil','trent','victor','walter','yuki'])[1 + (random() * 19)::int])
          || g, pick('tech', random()) || ' developer, maintains a ' || pick('noun', random())
  FROM generate_series(1, $USERS) g;
CREATE TABLE chains (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO chains
SELECT g, (ARRAY['Ethereum','Solana','Polygon','Arbitrum','Optimism','Avalanche','Cosmos','Polkadot','Near',
                 'Aptos','Base','Scroll','Linea','Celo','Fantom'])[1 + (random() * 14)::int]
          || ' ' || (ARRAY['mainnet','testnet','devnet','rollup','sidechain'])[1 + (random() * 4)::int] || ' ' || g
  FROM generate_series(1, $CHAINS) g;
-- Copies of projects for the write-overhead runs: no search source, a materialized search
-- index refreshed per write, and one refreshed by denorm's debounce.
CREATE TABLE projects_plain (LIKE projects INCLUDING ALL);
INSERT INTO projects_plain SELECT * FROM projects;
CREATE TABLE projects_mv (LIKE projects INCLUDING ALL);
INSERT INTO projects_mv SELECT * FROM projects;
CREATE TABLE projects_debounced (LIKE projects INCLUDING ALL);
INSERT INTO projects_debounced SELECT * FROM projects;
SQL

say "creating the search sources (backfill)"
T0=$(date +%s.%N)
q <<'SQL' >/dev/null
SELECT denorm.create_search_source('projects', 'projects', title => 'name', body => 'description',
                                   filter => 'deleted_at IS NULL', boost => 'ln(1 + stars) / 100');
SELECT denorm.create_search_source('users', 'users', title => 'login', body => 'bio');
SELECT denorm.create_search_source('chains', 'chains', title => 'name');
SQL
BACKFILL_S=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
DOCS=$(q -c 'SELECT count(*) FROM denorm.search_documents')

# The seeds' search index: the same documents as a materialized view with its indexes.
mv_sql() {  # mv_sql VIEW TABLE
    cat <<SQL
CREATE MATERIALIZED VIEW $1 AS
SELECT 'projects' AS source, id::text AS doc_key, name AS title,
       setweight(to_tsvector('english', name), 'A') || setweight(to_tsvector('english', coalesce(description, '')), 'B')
         AS document, (ln(1 + stars) / 100)::real AS boost
  FROM $2 WHERE deleted_at IS NULL
UNION ALL SELECT 'users', id::text, login, setweight(to_tsvector('english', login), 'A')
                 || setweight(to_tsvector('english', coalesce(bio, '')), 'B'), 0 FROM users
UNION ALL SELECT 'chains', id::text, name, setweight(to_tsvector('english', name), 'A'), 0 FROM chains;
CREATE UNIQUE INDEX ON $1 (source, doc_key);
CREATE INDEX ON $1 USING gin (document);
CREATE INDEX ON $1 USING gin (title gin_trgm_ops);
SQL
}
say "building mv_search_index twice (per-write and debounced)"
T0=$(date +%s.%N)
q <<<"$(mv_sql mv_search_index projects_mv)"
MV_BUILD_S=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
q <<<"$(mv_sql mv_search_debounced projects_debounced)"
q <<'SQL' >/dev/null
CREATE FUNCTION refresh_search_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY mv_search_index;
    RETURN NULL;
END $$;
CREATE TRIGGER refresh_search_index AFTER INSERT OR UPDATE OR DELETE ON projects_mv
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_search_index();
SELECT denorm.register_mv('mv_search_debounced', debounce => '1 second', max_delay => '5 seconds');
VACUUM ANALYZE;
CHECKPOINT;
SQL
T0=$(date +%s.%N)
q -c 'REFRESH MATERIALIZED VIEW CONCURRENTLY mv_search_index'
MV_REFRESH_S=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')

# ---------------------------------------------------------------- 1. latency
# The queries: words of the titles as they are, with a typo (a letter dropped, doubled or
# two swapped), or cut to 3-5 letters (the word being typed); a few of two words.
q -c "SELECT setseed(0.17)" >/dev/null
q <<SQL >"$DIR/queries.sql"
WITH vocab AS (SELECT lower(w) AS w FROM words WHERE kind IN ('adj', 'tech', 'noun') AND length(w) >= 4),
g AS (SELECT n, (SELECT w FROM vocab OFFSET floor(random() * (SELECT count(*) FROM vocab) + 0 * n) LIMIT 1) AS w,
             (SELECT w FROM vocab OFFSET floor(random() * (SELECT count(*) FROM vocab) + 0 * n) LIMIT 1) AS w2,
             random() AS r, 2 + floor(random() * (3)) AS pos
        FROM generate_series(1, $QUERIES) n)
SELECT format('SELECT count(*) FROM denorm.search(%L);',
         CASE n % 3
           WHEN 0 THEN w || CASE WHEN r < 0.25 THEN ' ' || w2 ELSE '' END || ' '
           WHEN 1 THEN CASE WHEN r < 0.33 THEN overlay(w placing '' from pos::int for 1)
                            WHEN r < 0.66 THEN overlay(w placing substr(w, pos::int, 1) || substr(w, pos::int, 1) from pos::int for 1)
                            ELSE overlay(w placing substr(w, pos::int + 1, 1) || substr(w, pos::int, 1) from pos::int for 2) END
           ELSE left(w, 3 + (n % 3)) END)
  FROM g ORDER BY n;
SQL

# One pgbench script per table (a table name cannot be a prepared statement's parameter):
# each update gives the title a new suffix, so every one changes a document.
for t in projects projects_plain projects_mv projects_debounced; do
    printf '%s\n' '\set id random(1, :projects)' '\set r random(1, 1000000)' \
        "UPDATE $t SET name = split_part(name, ' #', 1) || ' #' || :client_id || '-' || :r WHERE id = :id;" \
        >"$DIR/update_$t.sql"
done
chmod a+r "$DIR"/*.sql

# latency: runs the queries in one session; prints "p50 p99 max mean n rows_avg none" (ms;
# rows found per query on average, queries that found none).
latency() {
    "$PG_BINDIR/psql" -X -q -At -h "$DIR" -p "$PORT" -U postgres -d "$DB" -c '\timing on' -f "$DIR/queries.sql" \
        >"$DIR/latency.out" 2>&1
    local times rows
    times=$(awk '/^Time: / {print $2}' "$DIR/latency.out" | sort -g |
            awk '{v[NR] = $1; s += $1} END {printf "%.2f %.2f %.2f %.2f %d", v[int(NR * 0.50 + 0.5)], v[int(NR * 0.99 + 0.5)], v[NR], s / NR, NR}')
    rows=$(awk '/^[0-9]+$/ {r += $1; n++; if ($1 == 0) z++} END {printf "%.1f %d", r / n, z}' "$DIR/latency.out")
    echo "$times $rows"
}

say "latency, idle (warm-up run first)"
latency >/dev/null
read -r I50 I99 IMAX IMEAN IN HITS_AVG HITS_NONE <<<"$(latency)"
say "latency while $CLIENTS clients update titles"
"${PGBENCH[@]}" -c "$CLIENTS" -j 2 -T 600 -D projects="$PROJECTS" -f "$DIR/update_projects.sql" "$DB" \
    >"$DIR/bg.out" 2>&1 &
BG=$!
sleep 2
read -r W50 W99 WMAX WMEAN WN _ _ <<<"$(latency)"
kill -TERM "$BG" 2>/dev/null || true  # (SIGINT is ignored by a background job)
wait "$BG" 2>/dev/null || true
say "$UPDATES more single-row updates, then latency again"
"${PGBENCH[@]}" -c "$CLIENTS" -j 2 -t $(( (UPDATES + CLIENTS - 1) / CLIENTS )) -D projects="$PROJECTS" \
    -f "$DIR/update_projects.sql" "$DB" >"$DIR/updates.out" 2>&1 || { tail -20 "$DIR/updates.out" >&2; exit 1; }
read -r A50 A99 AMAX AMEAN AN _ _ <<<"$(latency)"

# ---------------------------------------------------------------- 2. write overhead
run() {  # run TABLE SECONDS -> "tps failed"
    "${PGBENCH[@]}" -c "$CLIENTS" -j 2 -T "$2" -D projects="$PROJECTS" -f "$DIR/update_$1.sql" "$DB" 2>&1 |
        awk '/^tps = / {tps = $3} /number of failed transactions/ {f = $5} END {printf "%s %s\n", tps, (f == "" ? 0 : f)}'
}
declare -a RATIOS=()
ROUND_LINES=""
for (( r = 1; r <= ROUNDS; r++ )); do
    order=(projects_plain projects); (( r % 2 )) || order=(projects projects_plain)
    declare -A TPS=()
    for t in "${order[@]}"; do
        say "round $r: $t"
        read -r tps failed <<<"$(run "$t" "$SECONDS_PER_RUN")"
        TPS[$t]=$tps
        ROUND_LINES+="round $r  $t  tps $tps  failed $failed"$'\n'
    done
    RATIOS+=("$(awk -v a="${TPS[projects]}" -v b="${TPS[projects_plain]}" 'BEGIN {printf "%.3f", a / b}')")
done
MEDIAN=$(printf '%s\n' "${RATIOS[@]}" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')

say "the seeds' way: REFRESH MATERIALIZED VIEW CONCURRENTLY per write, $MV_SECONDS s"
read -r MV_TPS MV_FAILED <<<"$(run projects_mv "$MV_SECONDS")"
say "denorm.register_mv debounce 1 s / max_delay 5 s, $SECONDS_PER_RUN s"
read -r DB_TPS DB_FAILED <<<"$(run projects_debounced "$SECONDS_PER_RUN")"

# Staleness: how long after its commit a changed title is found. denorm's documents: in
# the same transaction. The per-write refresh: at its commit (the writer refreshed). The
# debounced view: polled every 50 ms.
staleness() {  # staleness TABLE VIEW -> seconds until the new title is in VIEW
    local token="zz$RANDOM$RANDOM"
    q -c "UPDATE $1 SET name = 'Staleness probe $token' WHERE id = 1" >/dev/null
    local t0; t0=$(date +%s.%N)
    until [[ $(q -c "SELECT count(*) FROM $2 WHERE title LIKE '%$token%'") == 1 ]]; do sleep 0.05; done
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}'
}
say "staleness probes"
ST_DENORM=$(q -c "BEGIN; UPDATE projects SET name = 'Staleness probe zz1' WHERE id = 1;
                 SELECT count(*) FROM denorm.search('zz1', sources => '{projects}'); COMMIT;" | head -1)
ST_DEB=$(staleness projects_debounced mv_search_debounced)

# ---------------------------------------------------------------- 3. exact
DRIFT=$(q -c 'SELECT count(*) FROM denorm.search_reconcile(fix => false)')

# ---------------------------------------------------------------- report
cat <<EOF
# Search (bench/search.sh)

\`\`\`
date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, repo $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
command:   $COMMAND  (BENCH_PROJECTS=$PROJECTS BENCH_USERS=$USERS BENCH_CHAINS=$CHAINS BENCH_QUERIES=$QUERIES
           BENCH_UPDATES=$UPDATES BENCH_CLIENTS=$CLIENTS BENCH_SECONDS=$SECONDS_PER_RUN BENCH_ROUNDS=$ROUNDS)
documents: $DOCS (backfill of the three sources $BACKFILL_S s; mv_search_index built in $MV_BUILD_S s,
           REFRESH ... CONCURRENTLY with nothing changed $MV_REFRESH_S s)
queries:   $IN (a third exact words, a third typos, a third prefixes); $HITS_AVG rows on average, $HITS_NONE with none
\`\`\`

## 1. denorm.search() latency, ms (psql \\timing, one session)

| | p50 | p99 | max | mean |
|---|---:|---:|---:|---:|
| idle | $I50 | $I99 | $IMAX | $IMEAN |
| while $CLIENTS clients update titles | $W50 | $W99 | $WMAX | $WMEAN |
| after $UPDATES more single-row updates | $A50 | $A99 | $AMAX | $AMEAN |

## 2. Single-row title updates, $CLIENTS clients

\`\`\`
$ROUND_LINES\`\`\`

| maintenance | tps | ratio to none | a change is searchable |
|---|---:|---:|---|
| none (projects_plain) | $(printf '%s\n' "$ROUND_LINES" | awk '/projects_plain/ {s += $5; n++} END {printf "%.0f", s / n}') | 1 | never |
| denorm search source | $(printf '%s\n' "$ROUND_LINES" | awk '$3 == "projects" {s += $5; n++} END {printf "%.0f", s / n}') | **$MEDIAN** (median of ${RATIOS[*]}) | in the writer's transaction (found there: $ST_DENORM) |
| REFRESH MATERIALIZED VIEW CONCURRENTLY per write (the seeds') | $MV_TPS ($MV_FAILED failed) | $(awk -v a="$MV_TPS" -v b="$(printf '%s\n' "$ROUND_LINES" | awk '/projects_plain/ {s += $5; n++} END {print s / n}')" 'BEGIN {printf "%.5f", a / b}') | at commit, each refresh rewriting all $DOCS documents |
| denorm.register_mv, debounce 1 s, max_delay 5 s | $DB_TPS ($DB_FAILED failed) | $(awk -v a="$DB_TPS" -v b="$(printf '%s\n' "$ROUND_LINES" | awk '/projects_plain/ {s += $5; n++} END {print s / n}')" 'BEGIN {printf "%.3f", a / b}') | $ST_DEB s after commit (one probe) |

## 3. Exact

search_reconcile(fix => false) after everything: $DRIFT differences.
EOF
