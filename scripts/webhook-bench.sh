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
#     chargers); commit -> receipt p50/p90/p99 over every event committed;
#  3. kill9 (about WH_KILL_EVENTS events, default BURST / 2; 0 skips it):
#     events committed at RATE/s as in 2 for WH_KILL_EVENTS / RATE seconds
#     (at least 3); a third of them delivered, the receiver stops answering
#     (--hold-after); once CONCURRENCY deliveries are out unanswered, kill -9
#     of the gateway; the receiver answers again, a new gateway 1 s later
#     (events go on being committed meanwhile). Once every delivery
#     is done (at most WH_KILL_WAIT seconds, default 180: the killed
#     gateway's claims wait for their lease, webhooks.timeout + 5 s), the
#     receiver's distinct ids against the events table: none may be missing.
# Prints one JSON line per phase. Needs `make all` (build/ocppgw,
# build/webhook-receiver) and PostgreSQL's pgbench.
set -u
BURST=${1:-20000}; RATE=${2:-1000}; SECS=${3:-30}; CONC=${4:-16}
KILL_EVENTS=${WH_KILL_EVENTS:-$(( BURST / 2 ))}
KILL_WAIT=${WH_KILL_WAIT:-180}
cd "$(dirname "$0")/.." || exit 2
. scripts/lib/bench-common.sh
BUILD=${BUILD:-build}
GW=$BUILD/ocppgw
PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1)
[ -x "$GW" ] && [ -x "$BUILD/webhook-receiver" ] && [ -n "$PGBENCH" ] || {
    echo "webhook-bench: needs $GW, $BUILD/webhook-receiver (make all) and pgbench" >&2; exit 2; }
tmp=$(mktemp -d /tmp/whbench.XXXX)
gwpid=; rpid=
cleanup() {
    stop_pid "$rpid" 10
    stop_pid "$gwpid"
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1; rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
conn=$(db_start "$tmp/pg" "$GW") || exit 1
key=$("$GW" apikey create --name bench --scopes admin --db "$conn")
port=$(free_port); rport=$(free_port)
printf '[webhooks]\nallow_private = true\nconcurrency = %s\n[rest]\nrate_per_second = 100000\n' "$CONC" >"$tmp/gw.ini"
# start_gw LOG: the gateway on $port, its pid in $gwpid
start_gw() {
    "$GW" serve --config "$tmp/gw.ini" --db "$conn" --listen "127.0.0.1:$port" --log-level warn >"$1" 2>&1 &
    gwpid=$!
    wait_http "$port" /readyz 300 || { echo "webhook-bench: the gateway is not ready:" >&2; tail -5 "$1" >&2; exit 1; }
}
start_gw "$tmp/gw.log"
secret=$(curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"url\": \"http://127.0.0.1:$rport/hook\", \"types\": [\"*\"]}" \
    "http://127.0.0.1:$port/v1/webhook-endpoints" | sed 's/.*"secret":"\([^"]*\)".*/\1/')
case "$secret" in whsec_*) ;; *) echo "webhook-bench: no endpoint made" >&2; exit 1;; esac
# commit N PREFIX FIRST: N charger.updated events of 1,000 chargers, one transaction
commit() {
    psql -q "$conn" -c "SELECT count(ocppgw_event('charger.updated', '$2' || (i % 1000), now(),
                         jsonb_build_object('i', i))) FROM generate_series($3, $3 + $1 - 1) i" >/dev/null
}
# receiver ARGS...: build/webhook-receiver in the background, its pid in $rpid
receiver() {
    "$BUILD/webhook-receiver" --port "$rport" --secret "$secret" "$@" &
    rpid=$!
    sleep 0.3
}

# 1. throughput
receiver --expect "$BURST" --seconds 300 >"$tmp/burst.json"
commit "$BURST" WB- 1
wait "$rpid"; rpid=
echo "{\"phase\": \"throughput\", \"events\": $BURST, \"concurrency\": $CONC, \"receiver\": $(cat "$tmp/burst.json")}"

# drained SEQ [TENTHS]: waits (600 tenths of a second) until no delivery of an event after SEQ is pending
drained() {
    for _ in $(seq 1 "${2:-600}"); do
        [ "$(psql "$conn" -Atc "SELECT count(*) FROM webhook_deliveries
                                WHERE event_seq > $1 AND state = 'pending'")" = 0 ] && return 0
        sleep 0.1
    done
    return 1
}

# 2. commit -> delivery at RATE events/s; the receiver stops once every committed event is delivered
seq0=$(psql "$conn" -Atc "SELECT coalesce(max(seq), 0) FROM events")
receiver --seconds $(( SECS + 120 )) >"$tmp/rate.json"
cat >"$tmp/event.sql" <<'SQL'
\set c random(1, 991)
SELECT count(ocppgw_event('connector.status_changed', 'WL-' || (:c + i), now(), '{"status": "Charging"}'::jsonb))
FROM generate_series(0, 9) i;
SQL
"$PGBENCH" -n -c 8 -j 2 -R $(( RATE / 10 )) -T "$SECS" -f "$tmp/event.sql" "$conn" >"$tmp/pgbench.out" 2>&1
drained "$seq0"
sleep 0.2
kill -TERM "$rpid"; wait "$rpid"; rpid=
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$tmp/pgbench.out" | head -1)
echo "{\"phase\": \"latency\", \"rate\": $RATE, \"seconds\": $SECS, \"eventsPerSecond\": $(awk -v t="${tps:-0}" 'BEGIN { printf "%.0f", t * 10 }'), \"receiver\": $(cat "$tmp/rate.json")}"

# 3. kill -9 during delivery
if [ "$KILL_EVENTS" -gt 0 ]; then
    drained 0           # the phases before are done: the receiver counts this phase's events only
    seq0=$(psql "$conn" -Atc "SELECT coalesce(max(seq), 0) FROM events")
    ksecs=$(( (KILL_EVENTS + RATE - 1) / RATE ))
    [ "$ksecs" -lt 3 ] && ksecs=3
    # a third of the way the receiver stops answering: deliveries in flight
    hold=$(( KILL_EVENTS / 3 ))
    receiver --seconds "$KILL_WAIT" --ids "$tmp/kill.ids" --hold-after "$hold" >"$tmp/kill.json"
    "$PGBENCH" -n -c 8 -j 2 -R $(( RATE / 10 )) -T "$ksecs" -f "$tmp/event.sql" "$conn" >"$tmp/pgbench-kill.out" 2>&1 &
    pgbpid=$!
    # until the receiver holds them: the third recorded delivered, and
    # CONCURRENCY deliveries out, unanswered (at most 30 s)
    psql -q "$conn" -c "SET statement_timeout = '30s'" -c "DO \$\$ BEGIN
        WHILE (SELECT count(*) FILTER (WHERE state = 'delivered') < $hold
                      OR count(*) FILTER (WHERE state = 'pending' AND claimed_until > now()) < $CONC
               FROM webhook_deliveries WHERE event_seq > $seq0)
        LOOP PERFORM pg_sleep(0.01); END LOOP; END \$\$" >/dev/null 2>&1
    kill -KILL "$gwpid"
    wait "$gwpid" 2>/dev/null
    gwpid=
    # the dead gateway's claims (in flight at the kill) and what had been delivered
    read -r in_flight done_before <<<"$(psql "$conn" -Atc "SELECT count(*) FILTER (WHERE state = 'pending'
                                          AND claimed_until > now()), count(*) FILTER (WHERE state = 'delivered')
                                        FROM webhook_deliveries WHERE event_seq > $seq0" | tr '|' ' ')"
    kill -USR1 "$rpid"                                  # answers again
    sleep 1                                             # events go on being committed meanwhile
    start_gw "$tmp/gw-2.log"
    t_up=$(now_ms)
    wait "$pgbpid"
    drained "$seq0" $(( KILL_WAIT * 10 ))
    t_done=$(now_ms)
    sleep 0.2
    kill -TERM "$rpid"; wait "$rpid"; rpid=
    psql "$conn" -Atc "SELECT id FROM events WHERE seq > $seq0" | sort >"$tmp/kill.want"
    sort "$tmp/kill.ids" >"$tmp/kill.got"
    missing=$(comm -23 "$tmp/kill.want" "$tmp/kill.got" | wc -l)
    unknown=$(comm -13 "$tmp/kill.want" "$tmp/kill.got" | wc -l)
    states=$(psql "$conn" -Atc "SELECT coalesce(string_agg(state || ': ' || n, ', '), '') FROM
                                  (SELECT state, count(*) n FROM webhook_deliveries WHERE event_seq > $seq0
                                   GROUP BY state ORDER BY state) s")
    echo "{\"phase\": \"kill9\", \"events\": $(wc -l <"$tmp/kill.want"), \"seconds\": $ksecs," \
         "\"deliveredBeforeKill\": $done_before, \"inFlightAtKill\": $in_flight," \
         "\"missing\": $missing, \"unknown\": $unknown, \"recoverySeconds\": $(ms_secs $(( t_done - t_up )))," \
         "\"deliveries\": \"$states\", \"receiver\": $(cat "$tmp/kill.json")}"
fi
grep -i "error\|warn" "$tmp"/gw*.log | grep -v allow_private | head -5 >&2
exit 0
