#!/usr/bin/env bash
# SSE commit-to-client latency with N streams (events.md, Targets;
# docs/benchmarks.md):
#   scripts/sse-latency.sh [STREAMS=1000] [EVENTS_PER_S=100] [SECONDS=20]
# builds tests/bench/sse_latency.c, starts a private PostgreSQL and the
# gateway (build/ocppgw, REST rate limit off), opens the streams, commits
# events at that rate (one per transaction) and prints p50/p90/p99/max of
# (received - createdAt) over every delivery. A measurement, not a test.
set -u
N=${1:-1000}; RATE=${2:-100}; SECS=${3:-20}
cd "$(dirname "$0")/.."
GW=${GW:-build/ocppgw}
tmp=$(mktemp -d /tmp/sselat.XXXX)
cc -O2 -std=gnu11 -D_GNU_SOURCE -Iinclude -o "$tmp/sse_latency" tests/bench/sse_latency.c tests/integration/support/sse.c \
    src/util/strbuf.c src/util/xmalloc.c src/util/log.c src/util/timeutil.c \
    $(pkg-config --cflags --libs libpq) -lpthread || exit 1
conn=$(scripts/pg.sh start "$tmp/pg") || exit 1
"$GW" migrate --db "$conn" >/dev/null 2>&1
key=$("$GW" apikey create --name sse-latency --scopes events:read --db "$conn" 2>/dev/null | tail -1)
printf '[rest]\nrate_per_second = 1000000\nrate_burst = 10000000\n[log]\nlevel = warn\n' >"$tmp/gw.ini"
port=$(( 30000 + RANDOM % 20000 ))
"$GW" serve --config "$tmp/gw.ini" --db "$conn" --listen "127.0.0.1:$port" >"$tmp/gw.log" 2>&1 &
gwpid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break; sleep 0.1; done
[ -n "${PERF:-}" ] && { perf record -g -o "$PERF" -p $gwpid 2>/dev/null & perfpid=$!; }
"$tmp/sse_latency" "$port" "$key" "$conn" "$N" "$RATE" "$SECS"
[ -n "${PERF:-}" ] && { kill -INT $perfpid; wait $perfpid; }
kill -TERM $gwpid; wait $gwpid
grep -E "warn|error" "$tmp/gw.log" | head -5
scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$tmp"
