#!/usr/bin/env bash
# Webhook delivery figures (events.md Targets; docs/benchmarks.md "Webhooks"):
#
#   scripts/webhook-bench.sh [BURST] [RATE] [SECONDS] [CONCURRENCY]
#     defaults:              20000    1000   30        16
#
# A private PostgreSQL, the gateway (webhooks.allow_private = true for the
# local receiver, webhooks.concurrency = CONCURRENCY), one endpoint
# subscribed to "*", and build/webhook-receiver on 127.0.0.1, which checks
# every signature and measures commit -> receipt with the event's createdAt.
#  1. throughput: BURST events over 1,000 chargers committed at once; the
#     receiver's deliveries per second from the first to the last;
#  2. latency: RATE events per second for SECONDS (pgbench, 8 clients,
#     transactions of 10 events as the store's batches commit them, 1,000
#     chargers); commit -> receipt p50/p90/p99.
# Prints one JSON line per phase. Needs `make all` (build/ocppgw,
# build/webhook-receiver) and PostgreSQL's pgbench.
set -u
BURST=${1:-20000}; RATE=${2:-1000}; SECS=${3:-30}; CONC=${4:-16}
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1)
[ -x "$BUILD/ocppgw" ] && [ -x "$BUILD/webhook-receiver" ] && [ -n "$PGBENCH" ] || {
    echo "webhook-bench: needs $BUILD/ocppgw, $BUILD/webhook-receiver (make all) and pgbench" >&2; exit 2; }
tmp=$(mktemp -d /tmp/whbench.XXXX)
gwpid=; rpid=
cleanup() {
    [ -n "$rpid" ] && kill "$rpid" 2>/dev/null
    [ -n "$gwpid" ] && kill -TERM "$gwpid" 2>/dev/null && wait "$gwpid" 2>/dev/null
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1; rm -rf "$tmp"
}
trap cleanup EXIT
conn=$(scripts/pg.sh start "$tmp/pg") || exit 1
"$BUILD/ocppgw" migrate --db "$conn" >/dev/null || exit 1
key=$("$BUILD/ocppgw" apikey create --name bench --scopes admin --db "$conn")
free_port() { while :; do p=$(( 20000 + RANDOM % 30000 )); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo $p; return; }; done; }
port=$(free_port); rport=$(free_port)
printf '[webhooks]\nallow_private = true\nconcurrency = %s\n[rest]\nrate_per_second = 100000\n' "$CONC" >"$tmp/gw.ini"
"$BUILD/ocppgw" serve --config "$tmp/gw.ini" --db "$conn" --listen "127.0.0.1:$port" --log-level warn >"$tmp/gw.log" 2>&1 &
gwpid=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break; sleep 0.1; done
secret=$(curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"url\": \"http://127.0.0.1:$rport/hook\", \"types\": [\"*\"]}" \
    "http://127.0.0.1:$port/v1/webhook-endpoints" | sed 's/.*"secret":"\([^"]*\)".*/\1/')
case "$secret" in whsec_*) ;; *) echo "webhook-bench: no endpoint made" >&2; exit 1;; esac

# 1. throughput
"$BUILD/webhook-receiver" --port "$rport" --secret "$secret" --expect "$BURST" --seconds 300 >"$tmp/burst.json" &
rpid=$!; sleep 0.3
psql -q "$conn" -c "SELECT count(ocppgw_event('charger.updated', 'WB-' || (i % 1000), now(),
                     jsonb_build_object('i', i))) FROM generate_series(1, $BURST) i" >/dev/null
wait "$rpid"; rpid=
echo "{\"phase\": \"throughput\", \"events\": $BURST, \"concurrency\": $CONC, \"receiver\": $(cat "$tmp/burst.json")}"

# 2. commit -> delivery at RATE events/s
n=$(( RATE * SECS ))
"$BUILD/webhook-receiver" --port "$rport" --secret "$secret" --expect "$n" --seconds $(( SECS + 60 )) >"$tmp/rate.json" &
rpid=$!; sleep 0.3
cat >"$tmp/event.sql" <<'SQL'
\set c random(1, 991)
SELECT count(ocppgw_event('connector.status_changed', 'WL-' || (:c + i), now(), '{"status": "Charging"}'::jsonb))
FROM generate_series(0, 9) i;
SQL
"$PGBENCH" -n -c 8 -j 2 -R $(( RATE / 10 )) -T "$SECS" -f "$tmp/event.sql" "$conn" >"$tmp/pgbench.out" 2>&1
wait "$rpid"; rpid=
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$tmp/pgbench.out" | head -1)
echo "{\"phase\": \"latency\", \"rate\": $RATE, \"seconds\": $SECS, \"eventsPerSecond\": $(awk -v t="${tps:-0}" 'BEGIN { printf "%.0f", t * 10 }'), \"receiver\": $(cat "$tmp/rate.json")}"
grep -i "error\|warn" "$tmp/gw.log" | grep -v allow_private | head -5
