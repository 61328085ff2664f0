#!/usr/bin/env bash
# Shutdown time with N idle chargers connected (docs/benchmarks.md):
#   scripts/shutdown-bench.sh build/ocppgw 19000
# starts a private PostgreSQL and the gateway (auto-register), connects N
# chargers with build/ocppsim from 127.0.0.2-254, sends SIGTERM, prints the
# seconds to exit and how many chargers the database still shows connected.
# Needs `ulimit -n` above N.
set -u
GW=$1; N=$2
cd "$(dirname "$0")/.." || exit 2
. scripts/lib/bench-common.sh
tmp=$(mktemp -d /tmp/shut.XXXX)
conn=$(db_start "$tmp/pg" "$GW") || exit 1
port=$(free_port) || exit 1
"$GW" serve --db "$conn" --listen "127.0.0.1:$port" --auto-register --log-level warn >"$tmp/gw.log" 2>&1 &
gwpid=$!
wait_http "$port" /healthz
build/ocppsim --host 127.0.0.1 --port "$port" --sources 127.0.0.2-127.0.0.254 --quiet --chargers "$N" \
    --mode connect --duration 200 --prefix "SH-" --ramp 2000 >"$tmp/sim.out" 2>"$tmp/sim.err" &
simpid=$!
for _ in $(seq 1 1200); do grep -q '^CONNECTED' "$tmp/sim.out" 2>/dev/null && break; sleep 0.1; done
grep '^CONNECTED' "$tmp/sim.out"
sleep 2
t0=$(date +%s.%N)
kill -TERM $gwpid
wait $gwpid; rc=$?
t1=$(date +%s.%N)
echo "exit=$rc shutdown_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
echo "gateway log lines: $(grep -c "" "$tmp/gw.log")"; grep -i "too high\|fail" "$tmp/gw.log" | head -3
kill -INT $simpid 2>/dev/null; wait $simpid 2>/dev/null
psql "$conn" -Atc "SELECT count(*) FILTER (WHERE connected) FROM chargers" 2>/dev/null | sed 's/^/still connected in db: /'
scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1; rm -rf "$tmp"
