#!/usr/bin/env bash
# SSE commit-to-client latency with N streams (events.md, Targets;
# docs/benchmarks.md):
#   scripts/sse-latency.sh [STREAMS=1000] [EVENTS_PER_S=100] [SECONDS=20]
# builds tests/bench/sse_latency.c, starts a private PostgreSQL and the
# gateway (build/ocppgw, REST rate limit off), opens the streams, commits
# events at that rate (one per transaction) and prints p50/p90/p99/max of
# (received - createdAt) over every delivery. A measurement, not a test.
# KEEP=1 keeps the temp dir; PERF=FILE records the gateway with perf.
set -u
N=${1:-1000}; RATE=${2:-100}; SECS=${3:-20}
cd "$(dirname "$0")/.." || exit 2
. scripts/lib/bench-common.sh
GW=${GW:-build/ocppgw}
tmp=$(mktemp -d /tmp/sselat.XXXX)
gwpid=
cleanup() {
    stop_pid "$gwpid"
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cc -O2 -std=gnu11 -D_GNU_SOURCE -Iinclude -o "$tmp/sse_latency" tests/bench/sse_latency.c tests/integration/support/sse.c \
    src/util/strbuf.c src/util/xmalloc.c src/util/log.c src/util/timeutil.c \
    $(pkg-config --cflags --libs libpq) -lpthread || exit 1
conn=$(db_start "$tmp/pg" "$GW") || exit 1
key=$("$GW" apikey create --name sse-latency --scopes events:read --db "$conn" 2>/dev/null | tail -1)
printf '[rest]\nrate_per_second = 1000000\nrate_burst = 10000000\n[log]\nlevel = warn\n' >"$tmp/gw.ini"
port=$(free_port) || exit 1
"$GW" serve --config "$tmp/gw.ini" --db "$conn" --listen "127.0.0.1:$port" >"$tmp/gw.log" 2>&1 &
gwpid=$!
wait_http "$port" /readyz || { echo "sse-latency: the gateway is not ready" >&2; exit 1; }
[ -n "${PERF:-}" ] && { perf record -g -o "$PERF" -p $gwpid 2>/dev/null & perfpid=$!; }
"$tmp/sse_latency" "$port" "$key" "$conn" "$N" "$RATE" "$SECS"
rc=$?
[ -n "${PERF:-}" ] && { kill -INT $perfpid; wait $perfpid; }
stop_pid "$gwpid"
gwpid=
grep -E "warn|error" "$tmp/gw.log" | head -5
exit $rc
