#!/usr/bin/env bash
# Runs the integration test binaries given (build/tests/it_*) against a
# private PostgreSQL:
#
#   BUILD=build scripts/run-integration.sh build/tests/it_*
#
# What each binary drives: most start the real gateway ($BUILD/ocppgw) as a
# child process (support/gw.c) and talk to it as chargers and integrators
# do; it_cli runs the CLI; it_rest_docs runs tests/docs_examples.sh (its
# own cluster and gateway). it_store and it_store_commands do not run the
# gateway: they link the store library (src/store) and drive it in-process
# against this PostgreSQL, it_store with the store's fault-injection hook
# (store_test_fail_io_after, src/store/pg_internal.h) that breaks the
# connection at a chosen socket operation.
#
# First makes sure tests/node is set up (tests/node/setup.sh: npm ci; node
# and npm come from `make deps`); without it the run fails. Then makes a
# temp dir, starts a fresh cluster in it (scripts/pg.sh), exports
#   OCPPGW_TEST_DB       libpq conninfo of the (empty, unmigrated) database
#   OCPPGW_TEST_PGDIR    the cluster's directory (the durability test stops and
#                        starts it with scripts/pg.sh)
#   OCPPGW_BIN           $BUILD/ocppgw
#   OCPPGW_SIM           $BUILD/ocppsim
#   OCPPGW_TEST_TMP      the temp dir (gateway configs and logs go there)
#   OCPPGW_REST_ANSWERS  $OCPPGW_TEST_TMP/rest-answers.ndjson: every REST
#                        answer the tests receive is appended there
#                        (support/rest.c, tests/docs_examples.sh)
# runs every binary, two at a time (see the lanes below; each binary's
# cmocka output is shown whole when it ends), then the third-party
# OCPP client (tests/node/run.sh) and the check of every recorded REST
# answer against docs/openapi.json with ajv (tests/node/check_rest_answers.js,
# one test), and prints
#   integration: N passed, M failed, K skipped
# counting cmocka tests (a binary that crashes or whose group set-up fails
# counts all its tests as failed). A skipped test fails the run (it is
# listed): the suite has no optional parts. OCPPGW_TEST_ALLOW_SKIP=1 lets a
# developer's run pass with skips, except under `make test` (which sets
# OCPPGW_MAKE_TEST=1) or CI (CI set). Destroys the cluster whatever happens
# and exits non-zero on any failure. Set OCPPGW_TEST_KEEP=1 to keep the temp
# dir.
set -u

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
# A binary still running after this is stopped and counts as failed (a hang
# must not hold the run); `make asan` and `make tsan` give twice as long,
# the sanitizers slowing the gateway 2x to 3x.
PER_BINARY_TIMEOUT=${OCPPGW_TEST_TIMEOUT:-240}

[ $# -gt 0 ] || { echo "usage: BUILD=build $0 build/tests/it_*" >&2; exit 2; }
for f in "$BUILD/ocppgw" "$@"; do
    [ -x "$f" ] || { echo "run-integration: $f is missing (make all)" >&2; exit 2; }
done

if ! tests/node/setup.sh; then
    echo "run-integration: tests/node cannot be set up (above); nothing was run" >&2
    echo "integration: 0 passed, $# failed, 0 skipped"
    exit 1
fi

tmp=$(mktemp -d /tmp/ocppgw-it.XXXXXX) || exit 1
cleanup() {
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1 || true
    if [ "${OCPPGW_TEST_KEEP:-}" = 1 ]; then
        echo "run-integration: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$(date +%s)
if ! conninfo=$(scripts/pg.sh start "$tmp/pg"); then
    echo "run-integration: could not start PostgreSQL" >&2
    echo "integration: 0 passed, $# failed, 0 skipped"
    exit 1
fi

export OCPPGW_TEST_DB="$conninfo"
export OCPPGW_TEST_PGDIR="$tmp/pg"
export OCPPGW_BIN="$PWD/$BUILD/ocppgw"
export OCPPGW_SIM="$PWD/$BUILD/ocppsim"
export OCPPGW_TEST_TMP="$tmp"
export OCPPGW_REST_ANSWERS="$tmp/rest-answers.ndjson"
chmod 755 "$tmp"
: >"$OCPPGW_REST_ANSWERS"

# Two lanes run the binaries side by side (OCPPGW_TEST_JOBS, default 2):
# most of a binary's time is waiting (timeouts it provokes, chargers' pace),
# so two at a time nearly halve the run on two cores. Each lane has its own
# database in the one cluster (lane 1 the main one, lane 2 a second
# database), its own temp dir (gateway configs and logs are named after the
# gateway) and its own file of REST answers. Binaries that stop and start
# the cluster itself (SOLO) run first, alone, on lane 1.
SOLO=" it_durability it_event_stream it_rest_http it_store "
JOBS=${OCPPGW_TEST_JOBS:-2}
[[ "$JOBS" =~ ^[12]$ ]] || JOBS=2

# run_one BINARY LANE_DIR CONNINFO: its output into LANE_DIR/NAME.out, its
# counts (ok bad skipped rc) into $tmp/NAME.res
run_one() {
    local t=$1 dir=$2 db=$3 name out rc total ok sk bad t0
    name=$(basename "$t")
    out="$dir/$name.out"
    t0=$(date +%s)
    OCPPGW_TEST_DB="$db" OCPPGW_TEST_TMP="$dir" OCPPGW_REST_ANSWERS="$dir/rest-answers.ndjson" \
        timeout --kill-after=10 "$PER_BINARY_TIMEOUT" "$t" >"$out" 2>&1
    rc=$?
    total=$(sed -n 's/^\[==========\] Running \([0-9]*\) test(s)\./\1/p' "$out" | head -1)
    ok=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$out" | head -1)
    sk=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s), listed below:/\1/p' "$out" | head -1)
    total=${total:-0}; ok=${ok:-0}; sk=${sk:-0}
    bad=$(( total - ok - sk ))
    # all tests passed but the binary failed (crash at exit, sanitizer report): one failure
    if [ "$rc" -ne 0 ] && [ "$bad" -le 0 ]; then bad=1; fi
    {
        echo "== $name ($(( $(date +%s) - t0 )) s)"
        cat "$out"
        if [ "$rc" -eq 124 ]; then
            echo "run-integration: $name timed out after ${PER_BINARY_TIMEOUT}s"
        elif [ "$rc" -gt 128 ]; then
            echo "run-integration: $name killed by signal $(( rc - 128 ))"
        fi
    } | { flock 9; cat; } 9>"$tmp/print.lock"
    echo "$ok $bad $sk $rc" >"$tmp/$name.res"
}

# run_lane N CONNINFO: takes binaries off the shared queue until it is empty
run_lane() {
    local lane=$1 db=$2 dir="$tmp/lane$1" t
    mkdir -p "$dir"; chmod 755 "$dir"
    while :; do
        t=$( { flock 8; head -1 "$tmp/queue"; sed -i 1d "$tmp/queue"; } 8>"$tmp/queue.lock" )
        [ -n "$t" ] || break
        run_one "$t" "$dir" "$db"
    done
}

lane2_db=
if [ "$JOBS" = 2 ]; then
    if ! lane2_db=$(scripts/pg.sh createdb "$tmp/pg" ocppgw_lane2); then
        lane2_db=
        echo "run-integration: no second database; one lane" >&2
    fi
fi

: >"$tmp/queue"
# the longest first, so that the lanes end together
LONG=" it_load it_rest_docs it_storm it_webhooks it_commands it_receipts "
for t in "$@"; do
    case "$LONG" in *" $(basename "$t") "*) case "$SOLO" in *" $(basename "$t") "*) ;; *) echo "$t" >>"$tmp/queue" ;; esac ;; esac
done
for t in "$@"; do
    case "$LONG" in *" $(basename "$t") "*) continue ;; esac
    case "$SOLO" in
    *" $(basename "$t") "*) mkdir -p "$tmp/lane1"; chmod 755 "$tmp/lane1"; run_one "$t" "$tmp/lane1" "$conninfo" ;;
    *) echo "$t" >>"$tmp/queue" ;;
    esac
done
run_lane 1 "$conninfo" &
lane1=$!
if [ -n "$lane2_db" ]; then
    run_lane 2 "$lane2_db" &
    lane2=$!
    wait "$lane2"
fi
wait "$lane1"
cat "$tmp"/lane*/rest-answers.ndjson >>"$OCPPGW_REST_ANSWERS" 2>/dev/null

passed=0; failed=0; skipped=0; bad_bins=(); skipped_names=()
for t in "$@"; do
    name=$(basename "$t")
    read -r ok bad sk rc <"$tmp/$name.res" 2>/dev/null || { ok=0; bad=1; sk=0; rc=1; }
    passed=$(( passed + ok )); failed=$(( failed + bad )); skipped=$(( skipped + sk ))
    while read -r test_name; do
        [ -n "$test_name" ] && skipped_names+=("$name: $test_name")
    done < <(sed -n 's/^\[  SKIPPED \] \([^ ]*\)$/\1/p' "$tmp"/lane*/"$name.out" | sort -u)
    if [ "$rc" -ne 0 ] || [ "$bad" -gt 0 ]; then
        bad_bins+=("$name")
    fi
done

# a third-party client in strict schema mode (npm ocpp-rpc)
echo "== strict_client (node ocpp-rpc)"
if tests/node/run.sh; then
    passed=$(( passed + 1 ))
else
    failed=$(( failed + 1 )); bad_bins+=("strict_client")
fi

# every REST answer the tests received, against the document (ajv)
echo "== rest_answers (ajv, docs/openapi.json)"
if node tests/node/check_rest_answers.js docs/openapi.json "$OCPPGW_REST_ANSWERS"; then
    passed=$(( passed + 1 ))
else
    failed=$(( failed + 1 )); bad_bins+=("rest_answers")
fi

allow_skip=
[ "${OCPPGW_TEST_ALLOW_SKIP:-}" = 1 ] && [ -z "${CI:-}" ] && [ -z "${OCPPGW_MAKE_TEST:-}" ] && allow_skip=1
if [ "$skipped" -gt 0 ]; then
    echo "skipped tests ($skipped):"
    printf '  %s\n' "${skipped_names[@]}"
    if [ -z "$allow_skip" ]; then
        echo "run-integration: a skipped test fails the run (OCPPGW_TEST_ALLOW_SKIP=1 allows it outside make test and CI)"
        failed=$(( failed + skipped )); bad_bins+=("skipped")
    fi
fi

elapsed=$(( $(date +%s) - start ))
if [ ${#bad_bins[@]} -gt 0 ]; then
    # the gateway logs outlive the temp dir: they say more than a test name
    logs="$BUILD/it-logs"
    rm -rf "$logs"; mkdir -p "$logs"
    cp "$tmp"/*.log "$tmp"/*.out "$tmp"/*.conf "$tmp"/*.ndjson "$logs"/ 2>/dev/null || true
    for d in "$tmp"/lane*; do [ -d "$d" ] && mkdir -p "$logs/${d##*/}" && cp "$d"/*.log "$d"/*.out "$d"/*.conf "$d"/*.ndjson "$logs/${d##*/}"/ 2>/dev/null; done
    echo "failed: ${bad_bins[*]} (gateway logs and the REST answers copied to $logs/)"
fi
echo "elapsed: ${elapsed}s"
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#bad_bins[@]} -eq 0 ]
