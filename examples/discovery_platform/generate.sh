#!/usr/bin/env bash
# generate.sh — fills the discovery platform's tables (schema.sql) with deterministic data.
# Set-based: one INSERT ... SELECT per table over generate_series, every "random" choice a
# hash of the row number (hashint8extended), so the same SCALE and ANCHOR give the same rows
# whatever the plan. Progress lines on stderr; connects with psql through the usual PG*
# environment variables (PGHOST, PGPORT, PGDATABASE, PGUSER...).
#
#   SCALE=1 (default): 100,000 users, 200,000 projects, 2,000,000 upvotes, 500,000 comments,
#   1,000,000 messages, 500,000 notifications, 60,000 badges (fewer after duplicates),
#   50,000 intro requests, 20,000 investor requests, 5,000 chains with 200,000 follows,
#   50,000 chain projects and 100,000 posts (follows and chain projects: fewer after
#   duplicates). SCALE scales every count (SCALE=0.1 is a tenth).
#   ANCHOR: the generated history ends there (users joined over the two years before it).
#   Default: the start of the current UTC day, so "this week" on the pages has rows; the
#   rows are then the same ones shifted in time. Set ANCHOR='2026-01-01' for identical output.
#
# Load order: schema.sql, generate.sh, denorm.sql (the declarations adopt the rows). The
# tables must be empty; the generator refuses to run when denorm definitions already read
# them, since it loads as pg_restore --disable-triggers does (session_replication_role =
# replica, when connected as a superuser: no per-row foreign-key checks; the rows are
# consistent by construction and checked with one anti-join per foreign key at the end).
set -euo pipefail

SCALE=${SCALE:-1}
PSQL=${PSQL:-psql}
ANCHOR=${ANCHOR:-$(date -u '+%Y-%m-%d 00:00:00+00')}
psql_run() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# Row counts: round(base * SCALE), at least a handful so tiny scales still make sense.
n() { awk -v b="$1" -v s="$SCALE" -v m="${2:-1}" 'BEGIN { v = int(b * s + 0.5); print (v < m ? m : v) }'; }
awk -v s="$SCALE" 'BEGIN { exit !(s > 0) }' || { echo "generate: SCALE must be > 0 (got '$SCALE')" >&2; exit 1; }
U=$(n 100000 20) P=$(n 200000 20) UPV=$(n 2000000) COM=$(n 500000) MSG=$(n 1000000) NOTIF=$(n 500000)
BADGES=$(n 60000) INTRO=$(n 50000) INV=$(n 20000) CH=$(n 5000 10) FOLLOW=$(n 200000) CHPROJ=$(n 50000)
CHPOSTS=$(n 100000) CONV=$(n 300000 10)

# Refuse a non-empty database or one whose tables denorm already maintains.
state=$(psql_run -c "SELECT (SELECT count(*) FROM (SELECT 1 FROM users LIMIT 1) u)
    || ' ' || (SELECT count(*) FROM pg_extension WHERE extname = 'denorm')") ||
    { echo "generate: load schema.sql first (psql -f examples/discovery_platform/schema.sql)" >&2; exit 1; }
read -r has_users has_denorm <<<"$state"
if [[ $has_users != 0 ]]; then
    echo "generate: the users table is not empty; start from a fresh schema.sql" >&2; exit 1
fi
if [[ $has_denorm != 0 ]] && [[ $(psql_run -c "SELECT (SELECT count(*) FROM denorm.counters)
        + (SELECT count(*) FROM denorm.mv_status)") != 0 ]]; then
    echo "generate: denorm definitions exist already; load the data first, then denorm.sql (it adopts the rows)" >&2
    exit 1
fi

# Helpers, defined in every step's session (pg_temp): h/u are a row's hash and uniform
# [0,1) draw for a salt; the owner, join date and creation date of a row are functions
# of its id, so later tables recompute them instead of joining. Each refers to each of its
# parameters once, so the planner inlines it; a subquery whose computed column is read
# several times ends with OFFSET 0, so the column is computed once per row.
PRELUDE="
SET client_min_messages = warning;
SET session_replication_role = $(psql_run -c "SELECT CASE WHEN rolsuper THEN 'replica' ELSE 'origin' END FROM pg_roles WHERE rolname = current_user");
CREATE FUNCTION pg_temp.h(g bigint, salt bigint) RETURNS bigint IMMUTABLE PARALLEL SAFE LANGUAGE sql
    AS \$\$ SELECT hashint8extended(g, salt) & 9007199254740991 \$\$;
CREATE FUNCTION pg_temp.u(g bigint, salt bigint) RETURNS float8 IMMUTABLE PARALLEL SAFE LANGUAGE sql
    AS \$\$ SELECT (hashint8extended(g, salt) & 9007199254740991)::float8 / 9007199254740992.0 \$\$;
CREATE FUNCTION pg_temp.pick(a text[], g bigint, salt bigint) RETURNS text IMMUTABLE PARALLEL SAFE LANGUAGE sql
    AS \$\$ SELECT a[1 + ((hashint8extended(g, salt) & 9007199254740991) % cardinality(a))::int] \$\$;
-- a draw skewed towards the first of n ranks: rank 0 is the most popular (P(rank < k) = sqrt(k/n))
CREATE FUNCTION pg_temp.skewed(n bigint, g bigint, salt bigint) RETURNS bigint IMMUTABLE PARALLEL SAFE LANGUAGE sql
    AS \$\$ SELECT least(n - 1, floor(n * power(pg_temp.u(g, salt), 2)))::bigint \$\$;
-- popularity rank -> id: a fixed permutation, so popular rows are spread over ids and dates
CREATE FUNCTION pg_temp.by_rank(r bigint, n bigint) RETURNS bigint IMMUTABLE PARALLEL SAFE LANGUAGE sql
    AS \$\$ SELECT 1 + (r * 7919 + 17) % n \$\$;
CREATE FUNCTION pg_temp.anchor() RETURNS timestamptz STABLE LANGUAGE sql AS \$\$ SELECT '$ANCHOR'::timestamptz \$\$;
CREATE FUNCTION pg_temp.user_created(uid bigint) RETURNS timestamptz STABLE LANGUAGE sql
    AS \$\$ SELECT pg_temp.anchor() - interval '730 days' + ((uid - 1)::float8 / $U) * interval '720 days' \$\$;
CREATE FUNCTION pg_temp.owner_of(pid bigint) RETURNS bigint IMMUTABLE LANGUAGE sql
    AS \$\$ SELECT pg_temp.by_rank(pg_temp.skewed($U, pid, 2), $U) \$\$;
CREATE FUNCTION pg_temp.project_created(pid bigint) RETURNS timestamptz STABLE LANGUAGE sql
    AS \$\$ SELECT pg_temp.anchor() - (1 - pg_temp.u(pid, 3)) * (pg_temp.anchor() - pg_temp.user_created(pg_temp.owner_of(pid))) \$\$;
-- a moment between t and the anchor, recent moments more likely (power < 1 leans late)
CREATE FUNCTION pg_temp.after(t timestamptz, g bigint, salt bigint, lean float8 DEFAULT 0.5) RETURNS timestamptz
    STABLE LANGUAGE sql AS \$\$ SELECT pg_temp.anchor() - (1 - power(pg_temp.u(g, salt), lean)) * (pg_temp.anchor() - t) \$\$;
-- roles: every 20th user (7, 27, ...) is an investor, every 1,000th (1, 1001, ...) an admin and validator
CREATE FUNCTION pg_temp.investor(i bigint) RETURNS bigint IMMUTABLE LANGUAGE sql AS \$\$ SELECT 7 + 20 * (i % ($U / 20)) \$\$;
CREATE FUNCTION pg_temp.admin(i bigint) RETURNS bigint IMMUTABLE LANGUAGE sql AS \$\$ SELECT 1 + 1000 * (i % (1 + ($U - 1) / 1000)) \$\$;
"

WORDS="{postgres,redis,graph,vector,search,realtime,analytics,dashboard,ledger,wallet,agent,copilot,
compiler,runtime,kernel,stream,queue,cache,index,crawler,scheduler,notebook,editor,terminal,browser,
mobile,camera,sensor,drone,robot,garden,farm,climate,carbon,solar,battery,energy,water,health,clinic,
fitness,sleep,music,audio,video,podcast,game,arcade,puzzle,chess,school,tutor,language,reading,
writing,journal,recipe,kitchen,travel,map,transit,bike,parking,housing,rent,payroll,invoice,budget,
tax,market,auction,trading,crypto,token,identity,privacy,security,vault,password,backup,sync,storage,
database,sql,orm,api,gateway,webhook,email,chat,forum,community,social,dating,events,tickets,
volunteer,charity,nonprofit,open,source,framework,library,plugin,extension,theme,design,figma,
prototype,sketch,font,color,pixel,shader,render,engine,physics,simulation,model,inference,training,
dataset,label,annotation,translation,speech,voice,ocr,document,pdf,spreadsheet,form,survey,crm,
sales,support,helpdesk,ticketing,monitoring,logging,tracing,metrics,alerting,incident,deploy,ci,
testing,fuzzing,profiler,debugger,linter,formatter,docs,wiki,knowledge,bookmark,reader,feed,
newsletter,blog,cms,portfolio,resume,hiring,jobs,freelance,marketplace,shop,checkout,payments,
subscription,billing,pricing,coupon,loyalty,rewards,referral,growth,seo,ads,attribution,experiment,
feature,flag,config,secrets,compliance,audit,legal,contract,signature,notary,insurance,bank,lending,
savings,pension,estate,property,inventory,warehouse,logistics,shipping,delivery,fleet,routing,
weather,astronomy,satellite,ocean,wildlife,pets,veterinary,dental,pharmacy,genomics,lab,chemistry,
math,statistics,quantum,rust,golang,python,typescript,elixir,haskell,zig,wasm,edge,serverless,
kubernetes,docker,terraform,ansible,linux,embedded,firmware,iot,home,automation,assistant,calendar,
tasks,notes,habits,focus,timer,meditation,mentor,coach,interview,onboarding,team,remote,office}"
FIRST="{Ada,Alan,Grace,Linus,Margaret,Dennis,Barbara,Ken,Frances,Edsger,Donald,Radia,John,Hedy,Tim,
Sophie,Anita,Guido,Bjarne,Yukihiro,James,Katherine,Dorothy,Mary,Annie,Joan,Karen,Shafi,Leslie,Niklaus,
Adele,Jean,Betty,Kathleen,Evelyn,Lynn,Susan,Carol,Mitchell,Ward,Larry,Sergey,Marissa,Reshma,Kimberly,
Ayanna,Fei,Andrew,Yann,Geoffrey,Yoshua,Demis,Mira,Ilya,Andrej,Chris,Jeff,Sanjay,Urs,Werner,Diane,Sheryl,
Whitney,Arlan,Ev,Biz,Jack,Reid,Brian,Nathan,Joe,Patrick,John,Stewart,Tobi,Daniel,Melanie,Ben,Jessica,
Paul,Trevor,Robert,Sam,Garry,Michael,Aaron,Emmett,Justin,Kyle,Drew,Arash,Dylan,Evan,Bobby,Jan,Brian,Elena}"
LAST="{Lovelace,Turing,Hopper,Torvalds,Hamilton,Ritchie,Liskov,Thompson,Allen,Dijkstra,Knuth,Perlman,
McCarthy,Lamarr,Berners,Wilson,Borg,Rossum,Stroustrup,Matsumoto,Gosling,Johnson,Vaughan,Jackson,Easley,
Clarke,Jones,Goldwasser,Lamport,Wirth,Goldberg,Sammet,Holberton,Booth,Boyd,Conway,Kare,Shaw,Kapor,
Cunningham,Page,Brin,Mayer,Saujani,Bryant,Howard,Li,Ng,LeCun,Hinton,Bengio,Hassabis,Murati,Sutskever,
Karpathy,Lattner,Dean,Ghemawat,Holzle,Vogels,Greene,Sandberg,Wolfe,Hartley,Williams,Stone,Dorsey,
Hoffman,Chesky,Blecharczyk,Gebbia,Collison,Butterfield,Lutke,Ek,Perkins,Silbermann,Graham,Livingston,
Altman,Tan,Seibel,Swartz,Shear,Kan,Vogt,Houston,Ferdowsi,Field,Spiegel,Murphy,Koum,Acton,Systrom,Krieger}"
CATEGORIES="{ai,devtools,fintech,health,education,climate,games,social,productivity,security,hardware,marketplace}"
SENTENCES="{A faster way to ship,Built for small teams,Open source and self hosted,Works offline first,
Runs on a single binary,No account needed,Privacy by default,Made for the command line,
Plays well with your stack,Scales from one user to millions,Zero configuration,Bring your own cloud,
Real time collaboration built in,Keyboard first,Type safe from end to end,Deploys in seconds,
Accessible and fast,Designed for mobile,Tested on real hardware,Backed by a friendly community}"
COMMENTS="{Love this,Great work,How does it compare to the alternatives,Is there a self hosted version,
Congrats on the launch,The demo is slick,What is the pricing,Does it support teams,Any plans for an API,
This solves a real problem for me,Tried it and it works,Bookmarked,Where is the source,
Nice landing page,How do you handle privacy,Can I import my data,Upvoted,What stack did you use,
Would love a mobile app,The onboarding could be smoother}"
MESSAGES="{Hey are you around,Loved your project,Can we set up a call,Thanks for the intro,Sending the deck now,
Sure that works,Let me check and get back to you,Congrats on the launch,Would you be open to feedback,
Here is the link,Are you hiring,What is your timeline,Happy to help,Following up on this,Sounds good,
Looking forward to it,Can you share the repo,We should collaborate,Just saw your post,Thanks}"
BIOS="{Building in public,Founder,Indie hacker,Engineer,Designer,Investor,Student,Researcher,Maker,Open source maintainer}"

T0=$(date +%s.%N)
step() {  # step LABEL SQL: runs SQL (with the prelude), prints what it did and how long it took
    local label=$1 sql=$2 t rows out
    t=$(date +%s.%N)
    out=$(psql_run <<<"$PRELUDE
$sql")
    rows=$(tail -n 1 <<<"$out")
    awk -v l="$label" -v r="$rows" -v t="$t" -v t0="$T0" -v now="$(date +%s.%N)" \
        'BEGIN { printf "generate: %-20s %-16s %6.1f s  (total %5.1f s)\n", l, r, now - t, now - t0 }' >&2
}

echo "generate: SCALE=$SCALE ANCHOR='$ANCHOR' ($U users, $P projects, $UPV upvotes, $COM comments, $MSG messages)" >&2

step users "
INSERT INTO users (id, username, display_name, bio, role, created_at, deleted_at)
SELECT g, lower(f) || '_' || lower(l) || '_' || g, f || ' ' || l,
       pg_temp.pick('$BIOS', g, 31) || ' working on ' || pg_temp.pick('$WORDS', g, 32) || ' and '
           || pg_temp.pick('$WORDS', g, 33),
       CASE WHEN g % 1000 = 1 THEN 'admin' WHEN g % 20 = 7 THEN 'investor' ELSE 'builder' END,
       pg_temp.user_created(g),
       CASE WHEN g % 100 = 37 THEN pg_temp.after(pg_temp.user_created(g), g, 34) END
  FROM (SELECT g, pg_temp.pick('$FIRST', g, 35) AS f, pg_temp.pick('$LAST', g, 36) AS l
          FROM generate_series(1, $U) g) x;
SELECT count(*) || ' rows' FROM users;"

# Titles are two vocabulary words (the first leaning to the frequent end of the list), so a
# search for one word finds a few hundred projects and a pair of words a handful.
step projects "
INSERT INTO projects (id, user_id, title, tagline, description, category, created_at, deleted_at)
SELECT g, pg_temp.owner_of(g),
       initcap(w1) || ' ' || initcap(w2),
       pg_temp.pick('$SENTENCES', g, 41) || ' for ' || w1 || ' ' || w2,
       initcap(w1) || ' ' || initcap(w2) || ' is a ' || pg_temp.pick('$WORDS', g, 42) || ' tool. '
           || pg_temp.pick('$SENTENCES', g, 43) || '. ' || pg_temp.pick('$SENTENCES', g, 44) || '. Built with '
           || pg_temp.pick('$WORDS', g, 45) || ', ' || pg_temp.pick('$WORDS', g, 46) || ' and '
           || pg_temp.pick('$WORDS', g, 47) || '.',
       pg_temp.pick('$CATEGORIES', g, 48),
       pg_temp.project_created(g),
       CASE WHEN g % 50 = 3 THEN pg_temp.after(pg_temp.project_created(g), g, 49) END
  FROM (SELECT g, ('$WORDS'::text[])[1 + pg_temp.skewed(cardinality('$WORDS'::text[]), g, 51)] AS w1,
               pg_temp.pick('$WORDS', g, 52) AS w2
          FROM generate_series(1, $P) g) x;
SELECT count(*) || ' rows' FROM projects;"

# Upvotes: the project by popularity (skewed), the voter uniform; a pair drawn twice is
# skipped (UNIQUE), more pairs are drawn until there are exactly UPV, the last ids trimmed.
step upvotes "
DO \$\$
DECLARE have bigint := 0; next bigint := 1; batch bigint;
BEGIN
    WHILE have < $UPV LOOP
        batch := ceil(($UPV - have) * 1.1) + 100;
        INSERT INTO upvotes (id, project_id, user_id, created_at)
        SELECT g, p, 1 + floor($U * pg_temp.u(g, 62))::bigint, pg_temp.after(pg_temp.project_created(p), g, 63)
          FROM (SELECT g, pg_temp.by_rank(pg_temp.skewed($P, g, 61), $P) AS p
                  FROM generate_series(next, next + batch - 1) g OFFSET 0) x
        ON CONFLICT DO NOTHING;
        next := next + batch;
        SELECT count(*) INTO have FROM upvotes;
    END LOOP;
    DELETE FROM upvotes WHERE id > (SELECT id FROM upvotes ORDER BY id OFFSET $UPV - 1 LIMIT 1);
END \$\$;
SELECT count(*) || ' rows' FROM upvotes;"

step comments "
INSERT INTO comments (id, project_id, user_id, body, created_at, deleted_at)
SELECT g, p, 1 + floor($U * pg_temp.u(g, 72))::bigint,
       pg_temp.pick('$COMMENTS', g, 73) || CASE WHEN g % 3 = 0 THEN ' - ' || pg_temp.pick('$COMMENTS', g, 74) ELSE '' END,
       c, CASE WHEN g % 50 = 11 THEN pg_temp.after(c, g, 75) END
  FROM (SELECT g, p, pg_temp.after(pg_temp.project_created(p), g, 76) AS c
          FROM (SELECT g, pg_temp.by_rank(pg_temp.skewed($P, g, 71), $P) AS p FROM generate_series(1, $COM) g) x OFFSET 0) y;
SELECT count(*) || ' rows' FROM comments;"

step validation_badges "
INSERT INTO validation_badges (id, project_id, kind, points, awarded_by, created_at)
SELECT g, p, k, CASE k WHEN 'code_verified' THEN 10 WHEN 'demo_live' THEN 5 WHEN 'team_verified' THEN 15
                       WHEN 'traction' THEN 25 ELSE 40 END,
       pg_temp.admin(pg_temp.h(g, 82)), pg_temp.after(pg_temp.project_created(p), g, 83)
  FROM (SELECT g, pg_temp.by_rank(pg_temp.skewed($P, g, 81), $P) AS p,
               pg_temp.pick('{code_verified,demo_live,team_verified,traction,security_review}', g, 84) AS k
          FROM generate_series(1, $BADGES) g) x
ON CONFLICT DO NOTHING;
SELECT count(*) || ' rows' FROM validation_badges;"

# Messages: CONV conversations between two different users, busy ones more likely, either
# direction; older messages were mostly read, the last two days' mostly not.
step messages "
INSERT INTO messages (id, sender_id, recipient_id, body, created_at, read_at)
SELECT g, CASE WHEN pg_temp.u(g, 93) < 0.5 THEN a ELSE b END, CASE WHEN pg_temp.u(g, 93) < 0.5 THEN b ELSE a END,
       pg_temp.pick('$MESSAGES', g, 94), t,
       CASE WHEN t < pg_temp.anchor() - interval '2 days' AND pg_temp.u(g, 95) < 0.95 THEN t + interval '1 hour'
            WHEN t >= pg_temp.anchor() - interval '2 days' AND pg_temp.u(g, 95) < 0.3 THEN t + interval '10 minutes' END
  FROM (SELECT g, a, b, pg_temp.after(greatest(pg_temp.user_created(a), pg_temp.user_created(b)), g, 96, 0.3) AS t
          FROM (SELECT g, a, 1 + (a + floor(($U - 1) * pg_temp.u(c, 92))::bigint) % $U AS b
                  FROM (SELECT g, c, 1 + floor($U * pg_temp.u(c, 91))::bigint AS a
                          FROM (SELECT g, pg_temp.skewed($CONV, g, 90) AS c FROM generate_series(1, $MSG) g) w OFFSET 0) x) y OFFSET 0) z;
SELECT count(*) || ' rows' FROM messages;"

step notifications "
INSERT INTO notifications (id, user_id, kind, actor_id, project_id, created_at, read_at)
SELECT g, pg_temp.owner_of(p), pg_temp.pick('{upvote,upvote,upvote,comment,comment,badge,intro}', g, 102),
       1 + floor($U * pg_temp.u(g, 103))::bigint, p, t,
       CASE WHEN t < pg_temp.anchor() - interval '3 days' OR pg_temp.u(g, 104) < 0.2 THEN t + interval '1 hour' END
  FROM (SELECT g, p, pg_temp.after(pg_temp.project_created(p), g, 105, 0.3) AS t
          FROM (SELECT g, pg_temp.by_rank(pg_temp.skewed($P, g, 101), $P) AS p FROM generate_series(1, $NOTIF) g) x OFFSET 0) y;
SELECT count(*) || ' rows' FROM notifications;"

step intro_requests "
INSERT INTO intro_requests (id, requester_id, target_user_id, project_id, message, status, created_at, responded_at)
SELECT g, r, pg_temp.owner_of(p), p, pg_temp.pick('$MESSAGES', g, 113), s, t,
       CASE WHEN s <> 'pending' THEN t + interval '1 day' END
  FROM (SELECT g, p, CASE WHEN g % 2 = 0 THEN pg_temp.investor(pg_temp.h(g, 112)) ELSE 1 + floor($U * pg_temp.u(g, 114))::bigint END AS r,
               pg_temp.pick('{pending,pending,accepted,accepted,declined}', g, 115) AS s,
               pg_temp.after(pg_temp.project_created(p), g, 116) AS t
          FROM (SELECT g, pg_temp.by_rank(pg_temp.skewed($P, g, 111), $P) AS p FROM generate_series(1, $INTRO) g) x OFFSET 0) y
 WHERE r <> pg_temp.owner_of(p);
SELECT count(*) || ' rows' FROM intro_requests;"

step investor_requests "
INSERT INTO investor_requests (id, investor_id, project_id, status, created_at)
SELECT g, pg_temp.investor(pg_temp.h(g, 122)), p, CASE WHEN g % 4 = 0 THEN 'closed' ELSE 'open' END,
       pg_temp.after(pg_temp.project_created(p), g, 123)
  FROM (SELECT g, pg_temp.by_rank(pg_temp.skewed($P, g, 121), $P) AS p FROM generate_series(1, $INV) g) x;
SELECT count(*) || ' rows' FROM investor_requests;"

step chains "
INSERT INTO chains (id, owner_id, name, description, created_at)
SELECT g, o, initcap(pg_temp.pick('$WORDS', g, 132)) || ' ' || initcap(pg_temp.pick('$WORDS', g, 133)) || ' builders',
       'Projects and people around ' || pg_temp.pick('$WORDS', g, 132) || '. ' || pg_temp.pick('$SENTENCES', g, 134) || '.',
       pg_temp.after(pg_temp.user_created(o), g, 135)
  FROM (SELECT g, 1 + floor($U * pg_temp.u(g, 131))::bigint AS o FROM generate_series(1, $CH) g) x;
SELECT count(*) || ' rows' FROM chains;"

step chain_followers "
INSERT INTO chain_followers (chain_id, user_id, created_at)
SELECT c, f, pg_temp.after(greatest(pg_temp.user_created(f), pg_temp.user_created(1 + floor($U * pg_temp.u(c, 131))::bigint)), g, 143)
  FROM (SELECT g, pg_temp.by_rank(pg_temp.skewed($CH, g, 141), $CH) AS c, 1 + floor($U * pg_temp.u(g, 142))::bigint AS f
          FROM generate_series(1, $FOLLOW) g) x
ON CONFLICT DO NOTHING;
SELECT count(*) || ' rows' FROM chain_followers;"

step chain_projects "
INSERT INTO chain_projects (chain_id, project_id, added_at)
SELECT c, p, pg_temp.after(pg_temp.project_created(p), g, 153)
  FROM (SELECT g, 1 + floor($CH * pg_temp.u(g, 151))::bigint AS c, pg_temp.by_rank(pg_temp.skewed($P, g, 152), $P) AS p
          FROM generate_series(1, $CHPROJ) g) x
ON CONFLICT DO NOTHING;
SELECT count(*) || ' rows' FROM chain_projects;"

step chain_posts "
INSERT INTO chain_posts (id, chain_id, author_id, body, created_at)
SELECT g, c, 1 + floor($U * pg_temp.u(g, 162))::bigint,
       pg_temp.pick('$COMMENTS', g, 163) || '. ' || pg_temp.pick('$SENTENCES', g, 164) || '.',
       pg_temp.after(pg_temp.user_created(1 + floor($U * pg_temp.u(c, 131))::bigint), g, 165, 0.3)
  FROM (SELECT g, pg_temp.by_rank(pg_temp.skewed($CH, g, 161), $CH) AS c FROM generate_series(1, $CHPOSTS) g) x;
SELECT count(*) || ' rows' FROM chain_posts;"

# Identity sequences continue after the generated ids; every foreign key holds (the
# rows were loaded without per-row checks); statistics for the planner.
step "sequences, checks" "
SELECT setval(pg_get_serial_sequence(t, 'id'), (xpath('/row/m/text()',
              query_to_xml(format('SELECT coalesce(max(id), 0) + 1 AS m FROM %I', t), false, true, '')))[1]::text::bigint, false)
  FROM unnest('{users,projects,upvotes,comments,validation_badges,messages,notifications,intro_requests,
                investor_requests,chains,chain_posts}'::text[]) t;
DO \$\$
DECLARE fk record; orphans bigint;
BEGIN
    FOR fk IN SELECT c.conrelid::regclass AS child, a.attname AS col, c.confrelid::regclass AS parent
                FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
               WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace LOOP
        EXECUTE format('SELECT count(*) FROM %s c WHERE c.%I IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s p WHERE p.id = c.%I)',
                       fk.child, fk.col, fk.parent, fk.col) INTO orphans;
        IF orphans > 0 THEN
            RAISE EXCEPTION 'generate: % rows of % point to no %', orphans, fk.child, fk.parent;
        END IF;
    END LOOP;
END \$\$;
SELECT count(*) || ' foreign keys hold' FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace;"

step analyze "ANALYZE; SELECT 'database ' || pg_size_pretty(pg_database_size(current_database()));"
awk -v t0="$T0" -v now="$(date +%s.%N)" 'BEGIN { printf "generate: done in %.1f s\n", now - t0 }' >&2
