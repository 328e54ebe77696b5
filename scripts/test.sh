#!/usr/bin/env bash
# test.sh — the whole test run behind `make test`:
#   setup (packages) -> make && make install (PGXS, system dirs) -> cmake + ctest (test/unit)
#   -> pg_regress (sql/*.sql) -> pg_isolation_regress (test/isolation/specs/*.spec)
#   -> TAP (test/t/*.pl, PostgreSQL::Test::Cluster)
# Every suite runs even when an earlier one failed (except that the PostgreSQL suites are
# skipped when the extension does not build). Ends with exactly one line
#   N passed, M failed
# and exits nonzero when M > 0.
#
# PostgreSQL refuses to run as root, so the server suites run as the `postgres` OS user on
# a copy of the tree in a postgres-owned work dir (/tmp/denorm-test.XXXXXX, linked from
# build/last-test). Results and diffs stay there after the run.
#
# Env knobs: DENORM_SKIP_SETUP=1 (no apt), DENORM_SUITES="unit regress isolation tap"
# (subset), DENORM_TAP_FILES="test/t/060_upgrade.pl" (some TAP files), TAP_VERBOSE=1,
# DENORM_SUITE_TIMEOUT=seconds per suite (default 600).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# The server to build and test against is the one pg_config names (PG_CONFIG=... to
# choose another); its programs and PGXS's test drivers are found from it.
PG_CONFIG=${PG_CONFIG:-pg_config}
if ! command -v "$PG_CONFIG" >/dev/null 2>&1 && [[ ${DENORM_SKIP_SETUP:-0} != 1 ]]; then
    "$ROOT/scripts/setup.sh" || true   # pg_config comes with postgresql-server-dev
fi
PG_BINDIR=$("$PG_CONFIG" --bindir)
PGXS_DIR=$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/../.." && pwd)
PG_REGRESS=$PGXS_DIR/src/test/regress/pg_regress
PG_ISO_REGRESS=$PGXS_DIR/src/test/isolation/pg_isolation_regress
PG_PERL_LIB=$PGXS_DIR/src/test/perl
TEST_USER=postgres
SUITES=${DENORM_SUITES:-unit regress isolation tap}
SUITE_TIMEOUT=${DENORM_SUITE_TIMEOUT:-600}
JOBS=$(nproc 2>/dev/null || echo 2)

TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()

SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi

banner() { printf '\n======== %s ========\n' "$*"; }
record() {  # record <suite> <passed> <failed> [note]
    TOTAL_PASS=$((TOTAL_PASS + $2))
    TOTAL_FAIL=$((TOTAL_FAIL + $3))
    SUMMARY+=("$(printf '%-10s %4d passed, %4d failed  %s' "$1" "$2" "$3" "${4:-}")")
}
want() { [[ " $SUITES " == *" $1 "* ]]; }
finish() {
    banner "summary"
    printf '%s\n' "${SUMMARY[@]}"
    [[ -n ${WORK:-} ]] && echo "server-suite results: $WORK"
    echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
    [[ $TOTAL_FAIL -eq 0 ]]
    exit $?
}
as_pg() { "${SUDO[@]}" runuser -u "$TEST_USER" -- "$@"; }

# ---------------------------------------------------------------- setup + build
if [[ ${DENORM_SKIP_SETUP:-0} != 1 ]]; then
    banner "setup"
    if ! "$ROOT/scripts/setup.sh"; then
        record setup 0 1 "scripts/setup.sh failed"
        finish
    fi
fi

banner "build: make && make install (PGXS)"
BUILD_OK=1
if ! make -j"$JOBS" PG_CONFIG="$PG_CONFIG"; then
    BUILD_OK=0
    record build 0 1 "make failed"
elif ! "${SUDO[@]}" make install PG_CONFIG="$PG_CONFIG"; then
    BUILD_OK=0
    record build 0 1 "make install failed"
fi

# ---------------------------------------------------------------- unit (GoogleTest)
if want unit; then
    banner "unit: cmake + ctest (test/unit)"
    if cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
       cmake --build "$ROOT/build" -j"$JOBS"; then
        out=$(cd "$ROOT/build" && ctest --output-on-failure -j"$JOBS" --timeout 300 2>&1)
        rc=$?
        printf '%s\n' "$out"
        if [[ $out =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
            f=${BASH_REMATCH[1]}; t=${BASH_REMATCH[2]}
            record unit $((t - f)) "$f"
        elif [[ $out == *"No tests were found"* ]]; then
            record unit 0 0 "(no tests)"
        else
            record unit 0 1 "ctest rc=$rc, no summary"
        fi
    else
        record unit 0 1 "cmake build failed"
    fi
fi

if [[ $BUILD_OK -ne 1 ]]; then
    echo "extension did not build: skipping the PostgreSQL suites"
    finish
fi

# ---------------------------------------------------------------- work dir for the server suites
# Remove work dirs of earlier runs (older than an hour, so a concurrent run is left alone).
find /tmp -maxdepth 1 -name 'denorm-test.*' -type d -mmin +60 -exec rm -rf {} + 2>/dev/null
WORK=$(mktemp -d /tmp/denorm-test.XXXXXX)
mkdir -p "$WORK/tree" "$WORK/tmp"
tar -C "$ROOT" --exclude=./.git --exclude=./build --exclude=./.demo \
    --exclude='tmp_check*' --exclude=./results --exclude=./output_iso \
    --exclude='*.o' --exclude='*.bc' --exclude='*.so' -cf - . | tar -C "$WORK/tree" -xf -
"${SUDO[@]}" chown -R "$TEST_USER": "$WORK"
mkdir -p "$ROOT/build" && ln -sfn "$WORK" "$ROOT/build/last-test"
T=$WORK/tree
PGENV=(env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -u PGDATA
       TMPDIR="$WORK/tmp" LANG=C.UTF-8 LC_ALL=C.UTF-8 PATH="$PG_BINDIR:/usr/local/bin:/usr/bin:/bin")

# Stop any server a killed/timed-out suite left behind (only ours: data dirs under $WORK).
reap_servers() {
    local pidfile
    while IFS= read -r pidfile; do
        as_pg "$PG_BINDIR/pg_ctl" -D "$(dirname "$pidfile")" stop -m immediate >/dev/null 2>&1 || true
    done < <(find "$WORK" -name postmaster.pid 2>/dev/null)
}

# count_regress <suite> <output-file> <rc>: count "... ok" / "... FAILED" lines of pg_regress
# (PG 15: "test name   ... ok   12 ms", parallel groups: "     name ... ok   12 ms").
count_regress() {
    local suite=$1 out=$2 rc=$3 ok bad
    ok=$(grep -cE '^(test +)?\s*\S+ +\.\.\. +ok( |$)' "$out")
    bad=$(grep -cE '^(test +)?\s*\S+ +\.\.\. +(FAILED|failed)( |$)' "$out")
    if [[ $rc -ne 0 && $bad -eq 0 ]]; then
        record "$suite" "$ok" 1 "rc=$rc but no FAILED line: the run aborted (see output above)"
    else
        record "$suite" "$ok" "$bad"
    fi
}

# pg_regress aborts the whole run when an expected file is missing ("diff command failed").
# Give such a test an empty expected file in the work copy: it then FAILS on its own with
# its full output as the diff, and the other tests still run.
stub_expected() {  # stub_expected <expected dir> <test>...
    local dir=$1 t; shift
    for t in "$@"; do
        if [[ ! -e $dir/$t.out ]]; then
            echo "NOTE: no expected file $dir/$t.out — the test will fail; its output is in the diff"
            as_pg touch "$dir/$t.out"
        fi
    done
}

show_file() { [[ -s $1 ]] && { echo "---- $1"; cat "$1"; }; }

# One pg_regress-style suite (pg_regress, pg_isolation_regress) on its own temp instance:
# run_regress_suite SUITE TOOL INPUTDIR OUTPUTDIR INSTANCE, with the suite's extra options in
# the array EXTRA and its tests in TESTS. Prints the diffs and the server log's tail on failure.
run_regress_suite() {
    local suite=$1 tool=$2 inputdir=$3 outputdir=$4 instance=$5 rc
    as_pg mkdir -p "$T/$inputdir/expected"
    stub_expected "$T/$inputdir/expected" "${TESTS[@]}"
    (cd "$T" && as_pg "${PGENV[@]}" timeout -k 10 "$SUITE_TIMEOUT" "$tool" \
        --inputdir="$inputdir" --outputdir="$outputdir" --bindir="$PG_BINDIR" \
        --temp-instance="./$instance" --temp-config=./test/denorm.conf \
        "${EXTRA[@]}" "${TESTS[@]}") 2>&1 | tee "$WORK/$suite.out"
    rc=${PIPESTATUS[0]}
    reap_servers
    count_regress "$suite" "$WORK/$suite.out" "$rc"
    if [[ $rc -ne 0 ]]; then
        show_file "$T/$outputdir/regression.diffs"
        [[ -f $T/$instance/log/postmaster.log ]] &&
            { echo "---- postmaster.log (tail)"; tail -n 40 "$T/$instance/log/postmaster.log"; }
    fi
}

# ---------------------------------------------------------------- pg_regress
if want regress; then
    banner "regress: pg_regress sql/*.sql"
    mapfile -t TESTS < <(cd "$T" && ls sql/*.sql 2>/dev/null | sed 's#^sql/##; s#\.sql$##' | sort)
    if ((${#TESTS[@]} == 0)); then
        record regress 0 0 "(no tests)"
    else
        EXTRA=(--dbname=contrib_regression)
        run_regress_suite regress "$PG_REGRESS" . . tmp_check_regress
    fi
fi

# ---------------------------------------------------------------- pg_isolation_regress
if want isolation; then
    banner "isolation: pg_isolation_regress test/isolation/specs/*.spec"
    mapfile -t TESTS < <(cd "$T" && ls test/isolation/specs/*.spec 2>/dev/null |
                         sed 's#^test/isolation/specs/##; s#\.spec$##' | sort)
    if ((${#TESTS[@]} == 0)); then
        record isolation 0 0 "(no specs)"
    else
        # CREATE EXTENSION denorm needs pg_trgm (requires = 'pg_trgm'); --load-extension runs
        # CREATE EXTENSION IF NOT EXISTS in the order given and cannot say CASCADE.
        EXTRA=(--load-extension=pg_trgm --load-extension=denorm)
        run_regress_suite isolation "$PG_ISO_REGRESS" ./test/isolation ./output_iso tmp_check_iso
    fi
fi

# ---------------------------------------------------------------- TAP
if want tap; then
    banner "tap: test/t/*.pl"
    mapfile -t TAP < <(cd "$T" && ls ${DENORM_TAP_FILES:-test/t/*.pl} 2>/dev/null | sort)
    if ((${#TAP[@]} == 0)); then
        record tap 0 0 "(no tests)"
    else
        # Like PGXS's prove_installcheck, from the tree root; logs in $T/tmp_check/log.
        (cd "$T" && as_pg "${PGENV[@]}" TESTDIR="$T" PG_REGRESS="$PG_REGRESS" \
            TEMP_CONFIG="$T/test/denorm.conf" DENORM_SRC="$T" TAP_VERBOSE="${TAP_VERBOSE:-}" \
            timeout -k 10 "$SUITE_TIMEOUT" \
            perl "$T/scripts/tap-run.pl" -I "$PG_PERL_LIB" -I "$T/test" "${TAP[@]}") 2>&1 | tee "$WORK/tap.out"
        rc=${PIPESTATUS[0]}
        reap_servers
        line=$(grep -E '^TAP_COUNTS [0-9]+ [0-9]+$' "$WORK/tap.out" | tail -n 1)
        if [[ -n $line ]]; then
            read -r _ p f <<<"$line"
            record tap "$p" "$f"
        else
            record tap 0 1 "harness died (rc=$rc)"
        fi
        if [[ $rc -ne 0 ]]; then
            for tf in $(grep -E '^TAP_FAILED_FILES ' "$WORK/tap.out" | cut -d' ' -f2-); do
                log=$T/tmp_check/log/regress_log_$(basename "$tf" .pl)
                [[ -f $log ]] && { echo "---- $log (tail)"; tail -n 60 "$log"; }
            done
        fi
    fi
fi

finish
