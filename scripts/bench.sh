#!/usr/bin/env bash
# The benchmark behind `make bench` (docs/benchmarks.md): build/ocppsim
# against a fresh gateway on a private PostgreSQL, loopback only.
#
#   BUILD=build scripts/bench.sh           full run (about 14 minutes)
#   BENCH_QUICK=1 BUILD=build scripts/bench.sh   smoke run, about 4 minutes
#   BENCH_SCENARIOS="events webhooks sse" BUILD=build scripts/bench.sh   some of them
#
# Scenarios, one after the other on the same gateway:
#   idle N      N chargers connect (auto-registered) and stay idle; gateway
#               VmRSS before, while held, after; RSS per connection
#   heartbeat   chargers boot, then each keeps one Heartbeat outstanding
#   metervalues chargers boot and start a transaction, then each keeps one
#               MeterValues outstanding (durable: answered after COMMIT);
#               afterwards the stored messages are counted
#   fleet       many chargers, each sending one MeterValues per interval:
#               the latency of a fleet at a realistic rate
#   rest        wrk on GET /v1/chargers/{id} and a page of sessions, then on
#               the charger again while the fleet runs
#   commands    BENCH_CMD_CHARGERS chargers connected and answering (ocppsim
#               --mode serve); wrk sends RemoteStartTransaction through REST
#               to random chargers: REST call -> CALL -> charger's answer ->
#               REST answer, with the charger answering at once and after a
#               fixed 20 ms (the difference to 20 ms is what the gateway adds),
#               and the whole remote start that waits for the session
#   cost        (sites-and-tariffs.md, Targets) StopTransaction's durable
#               latency (answered after COMMIT) p50/p99 with and without a
#               default tariff: BENCH_COST_CHARGERS chargers (ocppsim --mode
#               sessions) each looping StartTransaction, BENCH_COST_MVS
#               MeterValues, StopTransaction, one CALL every
#               BENCH_COST_INTERVAL ms (a fleet below saturation: latency,
#               not queueing; 0 = one CALL always outstanding); no tariff
#               and tariff (energy+time+idle, two windows) alternate, twice
#               each; then the pricing job's throughput: every session of
#               the tariff runs marked pending again at once, seconds until
#               none is left
#   events      (events.md, Targets) durable MeterValues throughput of the
#               fleet's chargers each keeping one MeterValues outstanding,
#               twice: without webhook endpoints, then with one subscribed
#               to session.* and connector.* and one to
#               meter_values.received, both delivering to
#               build/webhook-receiver; both rates and the drop in %
# Then, each on its own PostgreSQL and gateway (this one stopped first):
#   webhooks    scripts/webhook-bench.sh: deliveries/s of a burst, commit to
#               delivery at 1,000 events/s, and a kill -9 during delivery
#               (every event's id at the receiver after the restart)
#   sse         scripts/sse-latency.sh: SSE commit to client with 1,000 streams
#   load        scripts/load-bench.sh: a site of BENCH_LOAD_CHARGERS (500)
#               chargers sharing its limit, all but one charging; the time
#               until every changed profile is sent and accepted when one more
#               session starts, and when the site's limit is halved
#   export      scripts/export-bench.sh: BENCH_EXPORT_SESSIONS (1,000,000)
#               completed sessions by SQL; `curl -H 'Accept: text/csv'
#               /v1/sessions` timed, the gateway's RSS before, at its peak
#               (sampled every 20 ms) and after (reports.md: < 10 s, < 10 MiB)
#   restart     scripts/restart-bench.sh: 19,000 chargers
#               served, SIGTERM, a new gateway at once, seconds until all are
#               served again, from 253 and from 20 source addresses
#   reports     scripts/reports-bench.sh (last: it generates a year of a
#               1,000-charger fleet first, about ten minutes here): report
#               answer times over the year, the sessions export (time, RSS
#               growth), durable MeterValues latency during a retention run
# For each load: messages/s, latency p50/p99/max, errors, and the CPU seconds of
# the gateway and of PostgreSQL (utime+stime from /proc) during the run.
#
# Knobs (environment): BENCH_SCENARIOS (the names above, default all),
# BENCH_IDLE="1000 max" (counts; "max" = what the fd
# limits allow), BENCH_HB_CHARGERS, BENCH_MV_CHARGERS, BENCH_FLEET_CHARGERS,
# BENCH_FLEET_INTERVAL (s per charger), BENCH_DURATION (s),
# BENCH_EVENTS_CHARGERS (the fleet's count), BENCH_EVENTS_INTERVAL (s per
# charger; default none: each keeps one MeterValues outstanding),
# BENCH_EVENTS_MV=0 (no meter_values.received endpoint: the session.* and
# connector.* one alone, to see what each costs),
# BENCH_WH_BURST (20000), BENCH_WH_RATE (1000/s), BENCH_WH_SECONDS (the
# duration), BENCH_WH_CONCURRENCY (16), BENCH_WH_KILL_EVENTS (half the burst;
# 0 skips the kill -9), BENCH_SSE_STREAMS (1000), BENCH_SSE_RATE (10/s per
# stream), BENCH_SSE_SECONDS (the duration),
# BENCH_COST_CHARGERS (2000; quick 200), BENCH_COST_MVS (3), BENCH_COST_INTERVAL (2000 ms),
# BENCH_LOAD_CHARGERS (500),
# BENCH_RESTART_CHARGERS (19000; at most what the fd limits allow),
# BENCH_RESTART_SOURCES ("253 20": one restart per count of source addresses),
# BENCH_RESTART=0 skips the restart scenario,
# REPORTS_* (the reports scenario's knobs: scripts/reports-bench.sh),
# BENCH_KEEP=1 keeps the temp dir (gateway log, ocppsim outputs).
# Prints a table; writes nothing into the repository.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib/bench-common.sh
BUILD=${BUILD:-build}
GW=$BUILD/ocppgw
SIM=$BUILD/ocppsim
RECEIVER=$BUILD/webhook-receiver
SOURCES=127.0.0.2-127.0.0.254   # loopback only; spreads ephemeral ports and per-IP limits

if [ "${BENCH_QUICK:-}" = 1 ]; then
    IDLE=${BENCH_IDLE:-1000}
    HB=${BENCH_HB_CHARGERS:-200}
    MV=${BENCH_MV_CHARGERS:-200}
    DUR=${BENCH_DURATION:-5}
    FLEET=${BENCH_FLEET_CHARGERS:-500}
    FLEET_IV=${BENCH_FLEET_INTERVAL:-2}
    CMD=${BENCH_CMD_CHARGERS:-500}
    RESTART_N=${BENCH_RESTART_CHARGERS:-1000}
    WH_BURST=${BENCH_WH_BURST:-2000}
    WH_SECS=${BENCH_WH_SECONDS:-$DUR}
    SSE_STREAMS=${BENCH_SSE_STREAMS:-100}
    COST_N=${BENCH_COST_CHARGERS:-200}
    HOLD=3
else
    IDLE=${BENCH_IDLE:-1000 max}
    HB=${BENCH_HB_CHARGERS:-2000}
    MV=${BENCH_MV_CHARGERS:-2000}
    DUR=${BENCH_DURATION:-30}
    FLEET=${BENCH_FLEET_CHARGERS:-10000}
    FLEET_IV=${BENCH_FLEET_INTERVAL:-10}
    CMD=${BENCH_CMD_CHARGERS:-10000}
    RESTART_N=${BENCH_RESTART_CHARGERS:-19000}
    WH_BURST=${BENCH_WH_BURST:-20000}
    WH_SECS=${BENCH_WH_SECONDS:-$DUR}
    SSE_STREAMS=${BENCH_SSE_STREAMS:-1000}
    COST_N=${BENCH_COST_CHARGERS:-2000}
    HOLD=10
fi
EV_N=${BENCH_EVENTS_CHARGERS:-$FLEET}
EV_IV=${BENCH_EVENTS_INTERVAL:-}
EV_MV=${BENCH_EVENTS_MV:-1}
WH_RATE=${BENCH_WH_RATE:-1000}
WH_CONC=${BENCH_WH_CONCURRENCY:-16}
WH_KILL=${BENCH_WH_KILL_EVENTS:-$(( WH_BURST / 2 ))}
SSE_RATE=${BENCH_SSE_RATE:-10}
SSE_SECS=${BENCH_SSE_SECONDS:-$DUR}
COST_MVS=${BENCH_COST_MVS:-3}
COST_IV=${BENCH_COST_INTERVAL:-2000}
SCENARIOS=" ${BENCH_SCENARIOS:-idle heartbeat metervalues fleet rest commands events cost webhooks sse load export restart reports} "
[ "${BENCH_RESTART:-1}" = 0 ] && SCENARIOS=${SCENARIOS/ restart / }
# want NAME: whether scenario NAME is to run
want() { [[ $SCENARIOS == *" $1 "* ]]; }

for f in "$GW" "$SIM" "$RECEIVER"; do
    [ -x "$f" ] || { echo "bench: $f is missing (make all)" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/ocppgw-bench.XXXXXX)
gwpid=
rpid=
cleanup() {
    stop_pid "$rpid" 10
    stop_pid "$gwpid"
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1 || true
    if [ "${BENCH_KEEP:-}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$gwpid/status" 2>/dev/null || echo 0; }
num() { local v; v=$(field "$1" "$2"); echo "${v:-0}"; }
gw_ticks() { cpu_ticks "$gwpid"; }
db_ticks() { pg_ticks "$tmp/pg/data"; }

gateway_alive() {
    kill -0 "$gwpid" 2>/dev/null && return 0
    echo "bench: the gateway died; last lines of its log:" >&2
    tail -20 "$tmp/gw.log" >&2
    exit 1
}

# ---------------------------------------------------------------- set-up
echo "machine: $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM," \
     "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "kernel $(uname -r), ulimit -n $(ulimit -n)/$(ulimit -Hn)"
echo "gateway: $("$GW" --version 2>&1 | head -1)"
echo "scenarios:$SCENARIOS; load average at the start: $(load_avg)"

conn=$(db_start "$tmp/pg" "$GW") || { echo "bench: no database" >&2; exit 1; }

port=$(free_port) || { echo "bench: no free port" >&2; exit 1; }
# the benchmark's own limits: one API key hammering, many chargers per source
# address; webhook endpoints on loopback (the events scenario's receiver)
cat >"$tmp/gw.conf" <<CONF
[rest]
rate_per_second = 1000000
rate_burst = 1000000
[webhooks]
allow_private = true
concurrency = ${BENCH_WH_ENDPOINT_CONCURRENCY:-64}
CONF
"$GW" serve --config "$tmp/gw.conf" --db "$conn" --listen "127.0.0.1:$port" --auto-register \
    --log-level warn >"$tmp/gw.log" 2>&1 &
gwpid=$!
for i in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    gateway_alive
    [ "$i" = 100 ] && { echo "bench: no /healthz within 10 s" >&2; exit 1; }
    sleep 0.1
done
key=$("$GW" apikey create --name bench --scopes admin --db "$conn" 2>/dev/null)

gw_nofile=$(awk '/^Max open files/ {print $4}' "/proc/$gwpid/limits")
sim_nofile=$(ulimit -Hn)
max_idle=$(( (gw_nofile < sim_nofile ? gw_nofile : sim_nofile) - 1000 ))
[ "$max_idle" -gt 60000 ] && max_idle=60000
echo "gateway pid $gwpid on 127.0.0.1:$port, its fd limit $gw_nofile; most idle connections tried: $max_idle"
echo

rows=()
row() { rows+=("$(printf "%-22s %8s %9s %9s %8s %7s %7s %8s %7s %6s %6s %7s %8s %8s" "$@")"); }
row scenario chargers connected msgs rate/s p50ms p99ms max_ms errors gwCPUs pgCPUs simCPUs gwRSS_MB KB/conn

# run_sim NAME TIMEOUT ARGS... : runs ocppsim, leaves its last RESULT line in $result
run_sim() {
    local name=$1 limit=$2
    shift 2
    timeout --signal=INT --kill-after=10 "$limit" \
        "$SIM" --host 127.0.0.1 --port "$port" --sources "$SOURCES" --quiet "$@" \
        >"$tmp/$name.out" 2>"$tmp/$name.err" || true
    result=$(grep '^RESULT' "$tmp/$name.out" | tail -1 || true)
    [ -n "$result" ] || { echo "bench: $name: ocppsim gave no RESULT:" >&2; tail -5 "$tmp/$name.err" >&2; }
}

# ---------------------------------------------------------------- idle
want idle || IDLE=
for n in $IDLE; do
    [ "$n" = max ] && n=$max_idle
    [ "$n" -gt "$max_idle" ] && n=$max_idle
    gateway_alive
    name="idle-$n"
    rss0=$(rss_kb); gw0=$(gw_ticks); pg0=$(db_ticks)
    connect_limit=$(( n / 500 + 120 ))
    "$SIM" --host 127.0.0.1 --port "$port" --sources "$SOURCES" --quiet --chargers "$n" \
        --mode connect --duration $(( HOLD + 5 )) --prefix "IDLE$n-" --ramp 2000 \
        >"$tmp/$name.out" 2>"$tmp/$name.err" &
    simpid=$!
    for _ in $(seq 1 $(( connect_limit * 10 ))); do
        grep -q '^CONNECTED' "$tmp/$name.out" 2>/dev/null && break
        kill -0 "$simpid" 2>/dev/null || break
        sleep 0.1
    done
    sleep 2                         # let the gateway finish its connect-time writes
    rss1=$(rss_kb)
    wait "$simpid" || true
    result=$(grep '^RESULT' "$tmp/$name.out" | tail -1 || true)
    sleep 2
    rss2=$(rss_kb)
    connected=$(num connected "$result")
    per=$(awk -v a="$rss0" -v b="$rss1" -v n="$connected" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "-" }')
    row "idle $n" "$n" "$connected" - - - - - "$(field refused "$result")" \
        "$(ticks_secs $(( $(gw_ticks) - gw0 )))" "$(ticks_secs $(( $(db_ticks) - pg0 )))" \
        "$(field sim_cpu_s "$result")" "$(awk -v k="$rss1" 'BEGIN { printf "%.0f", k / 1024 }')" "$per"
    echo "idle $n: gateway VmRSS ${rss0} kB before, ${rss1} kB with $connected connected, ${rss2} kB after they closed"
done

# ---------------------------------------------------------------- load
# load LABEL MODE N PREFIX [ocppsim args...]
load() {
    local label=$1 mode=$2 n=$3 prefix=$4 name="$2-$3-${4%-}"
    shift 4
    gateway_alive
    local gw0 pg0
    gw0=$(gw_ticks); pg0=$(db_ticks)
    run_sim "$name" $(( DUR + n / 200 + 180 )) --chargers "$n" --mode "$mode" --duration "$DUR" \
        --boot --prefix "$prefix" --ramp 2000 --timeout 10000 "$@"
    local gwc pgc
    gwc=$(ticks_secs $(( $(gw_ticks) - gw0 ))); pgc=$(ticks_secs $(( $(db_ticks) - pg0 )))
    local errs=$(( $(num callerrors "$result") + $(num timeouts "$result") ))
    row "$label" "$n" "$(field connected "$result")" "$(field msgs "$result")" \
        "$(field rate "$result")" "$(field p50_ms "$result")" "$(field p99_ms "$result")" \
        "$(field max_ms "$result")" "$errs" "$gwc" "$pgc" "$(field sim_cpu_s "$result")" \
        "$(awk -v k="$(rss_kb)" 'BEGIN { printf "%.0f", k / 1024 }')" -
    echo "$label: $result"
}

want heartbeat && load "heartbeat ${DUR}s" heartbeat "$HB" HB-
mv_result=
if want metervalues; then
    load "metervalues ${DUR}s" metervalues "$MV" MV-
    mv_result=$result
fi
# a fleet at a realistic rate: latency without self-inflicted queueing
want fleet && load "fleet MV/${FLEET_IV}s ${DUR}s" metervalues "$FLEET" FL- --interval $(( FLEET_IV * 1000 ))

# ---------------------------------------------------------------- REST reads
# wrk on GET /v1/chargers/{id} and a 50-session page with an admin key, alone
# and then while the fleet scenario runs again (OCPP latency with REST load).
rest_rows=()
wrk_run() { # LABEL PATH SECONDS -> prints a row: req/s and latency percentiles
    local label=$1 path=$2 secs=$3 out
    out=$(wrk -t2 -c64 -d"${secs}s" --latency -H "Authorization: Bearer $key" \
        "http://127.0.0.1:$port$path" 2>&1 || true)
    local rps p50 p99 non2xx
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    printf "%-34s %10s %10s %10s %10s\n" "$label" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${non2xx:-0}"
}
if want rest && command -v wrk >/dev/null; then
    charger=$(psql "$conn" -Atc "SELECT id FROM chargers ORDER BY id NOT LIKE 'MV-%', id LIMIT 1")
    rest_rows+=("$(printf "%-34s %10s %10s %10s %10s" "REST read" "req/s" "p50" "p99" "non-2xx")")
    rest_rows+=("$(wrk_run "GET /v1/chargers/{id}" "/v1/chargers/$charger" "$DUR")")
    rest_rows+=("$(wrk_run "GET /v1/sessions?perPage=50" "/v1/sessions?perPage=50" "$DUR")")
    # OCPP unaffected? the fleet again, with the charger read hammered meanwhile
    wrk_run "GET /v1/chargers/{id} during fleet" "/v1/chargers/$charger" $(( DUR + 20 )) \
        >"$tmp/wrk-fleet.row" &
    wrkpid=$!
    sleep 2
    load "fleet + REST reads ${DUR}s" metervalues "$FLEET" FR- --interval $(( FLEET_IV * 1000 ))
    wait "$wrkpid" || true
    rest_rows+=("$(cat "$tmp/wrk-fleet.row")")
elif want rest; then
    echo "bench: wrk not installed: REST read benchmark skipped"
fi

# ---------------------------------------------------------------- commands
# wrk POSTs to a random one of the $CMD serving chargers; the Lua script takes
# the path pattern and body from the environment. With CMD_CONNECTORS=K the
# body is a format too, given a random connector 1..K: a remote start that
# makes a session leaves it active, and a second start on a connector with an
# active session is refused (409), so those spread over many connectors.
cat >"$tmp/cmd.lua" <<'LUA'
local n = tonumber(os.getenv("CMD_N"))
local fmt = os.getenv("CMD_PATH")
local body = os.getenv("CMD_BODY")
local conns = tonumber(os.getenv("CMD_CONNECTORS") or "0") or 0
math.randomseed(os.time())
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
request = function()
    local path = string.format(fmt, math.random(1, n))
    if conns > 0 then
        return wrk.format(nil, path, nil, string.format(body, math.random(1, conns)))
    end
    return wrk.format(nil, path)
end
LUA
# the gateway's own figure: ocppgw_command_overhead_seconds (REST round trip
# minus the charger's answer time), as cumulative bucket counts "le count"
overhead_buckets() {
    curl -s "http://127.0.0.1:$port/metrics" |
        sed -n 's/^ocppgw_command_overhead_seconds_bucket{le="\([^"]*\)"} \([0-9]*\)$/\1 \2/p'
}
# quantile Q of the difference of two bucket snapshots: "<= bound ms"
overhead_q() {
    paste -d' ' <(echo "$1") <(echo "$2") | awk -v q="$3" '
        { le[NR] = $1; n[NR] = $4 - $2 } END {
            total = n[NR]; if (total <= 0) { print "-"; exit }
            for (i = 1; i <= NR; i++) if (n[i] >= q * total) {
                if (le[i] == "+Inf") print ">100ms"; else printf "<=%gms\n", le[i] * 1000; exit } }'
}
cmd_run() { # LABEL CONNECTIONS PATH-FORMAT BODY SECONDS [CONNECTORS] -> a row
    local label=$1 c=$2 fmt=$3 body=$4 secs=$5 conns=${6:-0} out before after
    local threads=$(( c < 2 ? 1 : 2 ))
    before=$(overhead_buckets)
    out=$(CMD_N=$CMD CMD_PATH=$fmt CMD_BODY=$body CMD_CONNECTORS=$conns wrk -t"$threads" -c"$c" -d"${secs}s" --latency \
        -s "$tmp/cmd.lua" -H "Authorization: Bearer $key" "http://127.0.0.1:$port" 2>&1 || true)
    local rps p50 p90 p99 non2xx
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p90=$(awk '$1 == "90%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    after=$(overhead_buckets)
    printf "%-44s %8s %9s %9s %9s %8s %10s %10s\n" "$label" "${rps:-?}" "${p50:-?}" "${p90:-?}" "${p99:-?}" \
        "${non2xx:-0}" "$(overhead_q "$before" "$after" 0.5)" "$(overhead_q "$before" "$after" 0.99)"
}
cmd_rows=()
serve() { # PREFIX DELAY_MS: ocppsim serving $CMD chargers in the background
    "$SIM" --host 127.0.0.1 --port "$port" --sources "$SOURCES" --quiet --chargers "$CMD" \
        --mode serve --boot --prefix "$1" --ramp 2000 --answer accept --answer-delay "$2" \
        >"$tmp/serve-$1.out" 2>"$tmp/serve-$1.err" &
    servepid=$!
    for _ in $(seq 1 $(( CMD / 50 + 1200 ))); do
        grep -q '^CONNECTED' "$tmp/serve-$1.out" 2>/dev/null && break
        kill -0 "$servepid" 2>/dev/null || break
        sleep 0.1
    done
    sleep 2
}
if want commands && command -v wrk >/dev/null; then
    gateway_alive
    # the scenarios before wrote hundreds of thousands of rows: checkpoint them now,
    # not in the middle of the durable StartTransactions a remote start waits for
    psql "$conn" -qc CHECKPOINT >/dev/null 2>&1 || true
    cmd_rows+=("$(printf "%-44s %8s %9s %9s %9s %8s %10s %10s" "commands ($CMD chargers connected)" "req/s" \
        "p50" "p90" "p99" "non-2xx" "gw+ p50" "gw+ p99")")
    start='{"connectorId":1,"idTag":"BENCH"}'
    start_any='{"connectorId":%d,"idTag":"BENCH"}'
    for delay in 0 20; do
        serve "CMD$delay-" "$delay"
        echo "commands: $(grep '^CONNECTED' "$tmp/serve-CMD$delay-.out" || echo 'no CONNECTED line')"
        rs="/v1/chargers/CMD$delay-%06d/commands/RemoteStartTransaction"
        cmd_rows+=("$(cmd_run "RemoteStart, answer ${delay}ms, 1 client" 1 "$rs" "$start" "$DUR")")
        cmd_rows+=("$(cmd_run "RemoteStart, answer ${delay}ms, 16 clients" 16 "$rs" "$start" "$DUR")")
        if [ "$delay" = 0 ]; then
            # sessions stay active: each start on its own connector (1 of 1000 per charger)
            cmd_rows+=("$(cmd_run "remote-start + session, 1 client" 1 \
                "/v1/chargers/CMD0-%06d/remote-start" "$start_any" "$DUR" 1000)")
            cmd_rows+=("$(cmd_run "remote-start + session, 16 clients" 16 \
                "/v1/chargers/CMD0-%06d/remote-start" "$start_any" "$DUR" 1000)")
        fi
        kill -INT "$servepid" 2>/dev/null || true
        wait "$servepid" 2>/dev/null || true
        sleep 2
    done
fi
# ---------------------------------------------------------------- events
# events.md, Targets: "a webhook endpoint subscribed to session.* and
# connector.* and a meter_values.received subscription during the
# 10,000-charger fleet: durable MeterValues throughput drops by at most 15 %
# against the same run without subscriptions". EV_N chargers each keeping
# one MeterValues outstanding (BENCH_EVENTS_INTERVAL: one per interval) for
# DUR s on this gateway, twice with the same parameters and fresh chargers:
# first with no endpoint, then with two endpoints delivering to
# build/webhook-receiver (which checks every signature). A CHECKPOINT before
# each, so that neither pays for the other's writes.
ev_lines=()
# endpoint TYPES: a webhook endpoint to the receiver on $rport; prints "ID SECRET"
endpoint() {
    curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "{\"url\": \"http://127.0.0.1:$rport/hook\", \"types\": $1, \"description\": \"bench\"}" \
        "http://127.0.0.1:$port/v1/webhook-endpoints" | jq -r '"\(.id) \(.secret)"'
}
if want events; then
    gateway_alive
    # a CALL's answer may take 60 s, not 10: the 10,000 StartTransactions sent
    # at once before the window take about 10 s on 2 cores without webhooks,
    # and one that times out leaves its charger without a transaction
    ev_args=(--timeout 60000)
    [ -n "$EV_IV" ] && ev_args+=(--interval $(( EV_IV * 1000 )))
    psql "$conn" -qc CHECKPOINT >/dev/null 2>&1 || true
    load "events: no webhooks" metervalues "$EV_N" EV0- "${ev_args[@]}"
    ev0=$result
    rport=$(free_port) || { echo "bench: no free port" >&2; exit 1; }
    read -r ep1 sec1 <<<"$(endpoint '["session.*", "connector.*"]')"
    eps=("$ep1"); secrets=(--secret "$sec1")
    if [ "$EV_MV" = 1 ]; then
        read -r ep2 sec2 <<<"$(endpoint '["meter_values.received"]')"
        eps+=("$ep2"); secrets+=(--secret "$sec2")
    fi
    "$RECEIVER" --port "$rport" "${secrets[@]}" >"$tmp/ev-receiver.json" 2>"$tmp/ev-receiver.err" &
    rpid=$!
    seq0=$(psql "$conn" -Atc "SELECT coalesce(max(seq), 0) FROM events")
    psql "$conn" -qc CHECKPOINT >/dev/null 2>&1 || true
    load "events: ${#eps[@]} endpoint$([ ${#eps[@]} = 1 ] || echo s)" metervalues "$EV_N" EV1- "${ev_args[@]}"
    ev1=$result
    # at the end of the run: the deliveries made and those still waiting
    backlog=$(psql "$conn" -Atc "SELECT count(*) FILTER (WHERE state = 'delivered') || ' delivered, '
                                      || count(*) FILTER (WHERE state = 'pending') || ' pending, '
                                      || count(*) FILTER (WHERE state = 'failed') || ' failed'
                                 FROM webhook_deliveries")
    kill -TERM "$rpid" 2>/dev/null || true
    wait "$rpid" 2>/dev/null || true
    rpid=
    for ep in "${eps[@]}"; do                 # no deliveries behind the later scenarios
        curl -fsS -o /dev/null -X PATCH -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
            -d '{"enabled": false}' "http://127.0.0.1:$port/v1/webhook-endpoints/$ep" || true
    done
    by_type=$(psql "$conn" -Atc "SELECT string_agg(type || ' ' || n, ', ' ORDER BY type) FROM
                                   (SELECT type, count(*) n FROM events WHERE seq > $seq0 GROUP BY type) t")
    mv_events=$(psql "$conn" -Atc "SELECT count(*) FROM events WHERE seq > $seq0
                                     AND type = 'meter_values.received' AND charger_id LIKE 'EV1-%'")
    acked1=$(( $(num msgs "$ev1") - $(num callerrors "$ev1") ))
    r0=$(num rate "$ev0"); r1=$(num rate "$ev1")
    drop=$(awk -v a="$r0" -v b="$r1" 'BEGIN { if (a > 0) printf "%.1f", (a - b) * 100 / a; else print "-" }')
    met=$(awk -v d="$drop" 'BEGIN { print (d != "-" && d <= 15) ? "met" : "NOT met" }')
    ev_lines+=("events: durable MeterValues, $EV_N chargers${EV_IV:+, one per ${EV_IV} s each}, ${DUR} s:\
 $r0/s without webhooks, $r1/s with ${#eps[@]} endpoint(s): a drop of $drop % (target <= 15 %: $met);\
 chargers left without a transaction (StartTransaction unanswered): $(num start_failed "$ev0"), $(num start_failed "$ev1")")
    mv_check=
    [ "$EV_MV" = 1 ] && mv_check="; meter_values.received of its chargers $mv_events (>= $acked1 acknowledged MeterValues)"
    ev_lines+=("events, the second run: committed $by_type$mv_check; deliveries at its end: $backlog")
    ev_lines+=("events, the receiver: $(cat "$tmp/ev-receiver.json")")
fi
# ---------------------------------------------------------------- cost
# StopTransaction marks a session with a tariff pending in its own
# transaction; the pricing thread prices it after the commit (sql/018,
# src/store/pricing_job.c). Same load with and without a default tariff,
# alternating; then the pricing thread alone on a backlog.
cost_lines=()
if want cost; then
    gateway_alive
    curl -fsS -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d '{"id": "bench-cost", "currency": "EUR", "vatPercent": 19, "validFrom": "2020-01-01T00:00:00Z",
             "elements": [{"energy": 39.5, "time": 2, "idle": 10, "idleGraceMinutes": 15, "sessionFee": 50,
                           "restrictions": {"startTime": "07:00", "endTime": "22:00"}},
                          {"energy": 29, "time": 1, "idle": 5}]}' \
        "http://127.0.0.1:$port/v1/tariffs"
    cost_default() {
        curl -fsS -o /dev/null -X PATCH -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
            -d "{\"default\": $1}" "http://127.0.0.1:$port/v1/tariffs/bench-cost"
    }
    declare -A cost_p50 cost_p99
    for i in 1 2; do
        for v in none tariff; do
            if [ "$v" = tariff ]; then cost_default true; else cost_default false; fi
            psql "$conn" -qc CHECKPOINT >/dev/null 2>&1 || true
            cost_args=(--meter-values "$COST_MVS" --timeout 60000)
            [ "$COST_IV" -gt 0 ] && cost_args+=(--interval "$COST_IV")
            load "cost: $v #$i" sessions "$COST_N" "C${v:0:1}$i-" "${cost_args[@]}"
            cost_p50[$v$i]=$(num stop_p50_ms "$result"); cost_p99[$v$i]=$(num stop_p99_ms "$result")
            sessions=$(psql "$conn" -Atc "SELECT count(*) || ' completed, ' || count(*) FILTER (WHERE cost_state = 'final'
                                             AND cost IS NOT NULL) || ' priced, ' || count(*) FILTER (WHERE cost_state
                                             = 'pending') || ' pending' FROM sessions
                                           WHERE charger_id LIKE 'C${v:0:1}$i-%' AND status = 'completed'")
            cost_lines+=("cost: $v #$i, $COST_N chargers x (Start, $COST_MVS MeterValues, Stop), one CALL per\
 ${COST_IV} ms each (0: always one outstanding), ${DUR} s:\
 StopTransaction $(num stops "$result") answered, p50 ${cost_p50[$v$i]} ms, p99 ${cost_p99[$v$i]} ms,\
 max $(num stop_max_ms "$result") ms; all CALLs $(num rate "$result")/s; sessions at the end: $sessions;\
 load average $(load_avg)")
        done
    done
    cost_default false
    mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (a + b) / 2 }'; }
    n99=$(mean "${cost_p99[none1]}" "${cost_p99[none2]}"); t99=$(mean "${cost_p99[tariff1]}" "${cost_p99[tariff2]}")
    n50=$(mean "${cost_p50[none1]}" "${cost_p50[none2]}"); t50=$(mean "${cost_p50[tariff1]}" "${cost_p50[tariff2]}")
    d99=$(awk -v a="$n99" -v b="$t99" 'BEGIN { if (a > 0) printf "%+.1f", (b - a) * 100 / a; else print "-" }')
    met=$(awk -v d="$d99" 'BEGIN { print (d != "-" && d + 0 <= 5) ? "met" : "NOT met" }')
    cost_lines+=("cost: StopTransaction p50 $n50 ms without a tariff, $t50 ms with; p99 $n99 ms without, $t99 ms\
 with (means of the two runs): $d99 % (target <= +5 %: $met)")
    # the pricing thread alone: every session of the tariff runs priced again
    backlog=$(psql "$conn" -Atc "UPDATE sessions SET cost_state = 'pending' WHERE charger_id LIKE 'Ct%'
                                   AND cost_state = 'final' RETURNING 1" | wc -l)
    t0=$(now_ms); left=$backlog
    while [ "$left" -gt 0 ] && [ $(( $(now_ms) - t0 )) -lt 300000 ]; do
        sleep 0.2
        left=$(psql "$conn" -Atc "SELECT count(*) FROM sessions WHERE cost_state = 'pending'")
    done
    secs=$(ms_secs $(( $(now_ms) - t0 )))
    cost_lines+=("cost: the pricing thread on a backlog of $backlog sessions ($COST_MVS MeterValues each, register\
 and power): $(( backlog - left )) priced in $secs s = $(awk -v n=$(( backlog - left )) -v s="$secs" \
 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }') sessions/s (one gateway: one thread, batches of 50)")
fi
result=$mv_result

# every acknowledged MeterValues must be stored (durability rule)
if [ -n "$mv_result" ]; then
    stored=$(psql "$conn" -Atc "SELECT count(*) FROM meter_messages WHERE charger_id LIKE 'MV-%'" 2>/dev/null || echo "?")
    acked=$(( $(num msgs "$result") - $(num callerrors "$result") ))
    echo "metervalues: $acked acknowledged in the window, $stored stored (must be >= acknowledged)"
    if [ "$stored" != "?" ] && [ "$stored" -lt "$acked" ]; then
        echo "bench: FEWER STORED THAN ACKNOWLEDGED" >&2
    fi
fi

gateway_alive
warns=$(grep -ci 'error' "$tmp/gw.log" || true)
echo "gateway log: $(wc -l <"$tmp/gw.log") lines, $warns mentioning 'error'"

# The scenarios below bring their own PostgreSQL and gateways; this gateway
# goes first, so that they have the machine to themselves.
if want webhooks || want sse || want load || want export || want restart || want reports; then
    stop_pid "$gwpid"
    gwpid=
    scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------- webhooks
# scripts/webhook-bench.sh: one JSON line per phase (throughput, latency, kill9)
wh_rows=()
if want webhooks; then
    echo "webhooks: scripts/webhook-bench.sh $WH_BURST $WH_RATE $WH_SECS $WH_CONC (kill -9 phase: $WH_KILL events)"
    if BUILD=$BUILD WH_KILL_EVENTS=$WH_KILL scripts/webhook-bench.sh "$WH_BURST" "$WH_RATE" "$WH_SECS" "$WH_CONC" \
        >"$tmp/webhooks.json" 2>"$tmp/webhooks.err"; then
        cat "$tmp/webhooks.json"
        wh_rows+=("$(printf "%-24s %8s %9s %9s %8s %8s %8s %8s %6s %9s %8s" webhooks events offered/s \
            committed/s deliv/s p50ms p99ms max_ms badSig distinct redeliv)")
        while read -r line; do
            ph=$(jq -r .phase <<<"$line")
            r=$(jq -c .receiver <<<"$line")
            case $ph in
            throughput)
                wh_rows+=("$(printf "%-24s %8s %9s %9s %8s %8s %8s %8s %6s %9s %8s" \
                    "burst, concurrency $WH_CONC" "$(jq .events <<<"$line")" - - "$(jq .perSecond <<<"$r")" \
                    "$(jq .latencyMs.p50 <<<"$r")" "$(jq .latencyMs.p99 <<<"$r")" "$(jq .latencyMs.max <<<"$r")" \
                    "$(jq .badSignatures <<<"$r")" "$(jq .distinct <<<"$r")" \
                    "$(( $(jq .delivered <<<"$r") - $(jq .distinct <<<"$r") ))")") ;;
            latency)
                wh_rows+=("$(printf "%-24s %8s %9s %9s %8s %8s %8s %8s %6s %9s %8s" \
                    "steady, ${WH_SECS} s" "$(( WH_RATE * WH_SECS ))" "$(jq .rate <<<"$line")" \
                    "$(jq .eventsPerSecond <<<"$line")" "$(jq .perSecond <<<"$r")" \
                    "$(jq .latencyMs.p50 <<<"$r")" "$(jq .latencyMs.p99 <<<"$r")" "$(jq .latencyMs.max <<<"$r")" \
                    "$(jq .badSignatures <<<"$r")" "$(jq .distinct <<<"$r")" \
                    "$(( $(jq .delivered <<<"$r") - $(jq .distinct <<<"$r") ))")") ;;
            kill9)
                wh_rows+=("$(printf "%-24s %8s %9s %9s %8s %8s %8s %8s %6s %9s %8s" \
                    "kill -9 during delivery" "$(jq .events <<<"$line")" "$WH_RATE" - - - - - \
                    "$(jq .badSignatures <<<"$r")" "$(jq .distinct <<<"$r")" \
                    "$(( $(jq .delivered <<<"$r") - $(jq .distinct <<<"$r") ))")")
                missing=$(jq .missing <<<"$line")
                verdict="NOT met"
                [ "$missing" = 0 ] && verdict=met
                wh_rows+=("  kill -9 with $(jq .deliveredBeforeKill <<<"$line") delivered and\
 $(jq .inFlightAtKill <<<"$line") in flight: $missing of the events table's ids never received\
 (target: none lost, $verdict), $(jq .unknown <<<"$line") received ids not in it;\
 all delivered $(jq .recoverySeconds <<<"$line") s after the restart") ;;
            esac
        done <"$tmp/webhooks.json"
        burst=$(jq -c 'select(.phase == "throughput") | .receiver' "$tmp/webhooks.json")
        steady=$(jq -c 'select(.phase == "latency") | .receiver' "$tmp/webhooks.json")
        [ -n "$burst" ] && wh_rows+=("  >= 2,000 deliveries/s to a local receiver: $(jq -r \
            'if .perSecond >= 2000 then "met" else "NOT met" end' <<<"$burst")")
        [ -n "$steady" ] && wh_rows+=("  commit-to-delivery p99 < 250 ms at $WH_RATE events/s offered: $(jq -r \
            'if .latencyMs.p99 < 250 then "met" else "NOT met" end' <<<"$steady")")
    else
        echo "bench: the webhooks scenario failed:" >&2
        tail -5 "$tmp/webhooks.err" >&2
    fi
fi

# ---------------------------------------------------------------- sse
sse_line=
if want sse; then
    echo "sse: scripts/sse-latency.sh $SSE_STREAMS $SSE_RATE $SSE_SECS"
    sse_out=$(GW=$GW scripts/sse-latency.sh "$SSE_STREAMS" "$SSE_RATE" "$SSE_SECS" 2>"$tmp/sse.err" || true)
    sse_res=$(grep '^streams=' <<<"$sse_out" | tail -1 || true)
    if [ -n "$sse_res" ]; then
        p99=$(field p99 "$sse_res")
        sse_line="SSE commit to client: $sse_res; p99 < 100 ms with 1,000 streams:"
        if [ "$SSE_STREAMS" -ge 1000 ]; then
            sse_line+=" $(awk -v p="$p99" 'BEGIN { print (p < 100) ? "met" : "NOT met" }')"
        else
            sse_line+=" not measured ($SSE_STREAMS streams)"
        fi
    else
        echo "bench: the sse scenario failed:" >&2
        tail -5 "$tmp/sse.err" >&2
    fi
fi

# ---------------------------------------------------------------- load
# its own PostgreSQL and gateway: one JSON line per round (start, limit)
load_rows=()
if want load; then
    echo "load: scripts/load-bench.sh ${BENCH_LOAD_CHARGERS:-500}"
    if BUILD=$BUILD scripts/load-bench.sh "${BENCH_LOAD_CHARGERS:-500}" >"$tmp/load.json" 2>"$tmp/load.err"; then
        cat "$tmp/load.json"
        load_rows+=("$(printf "%-34s %8s %8s %8s %9s %10s" "load management round" chargers sessions limitA profiles ms)")
        while read -r line; do
            load_rows+=("$(printf "%-34s %8s %8s %8s %9s %10s" \
                "$(jq -r '.round | if . == "start" then "one session starts" else "site limit halved" end' <<<"$line")" \
                "$(jq .chargers <<<"$line")" "$(jq .sessions <<<"$line")" "$(jq .limitA <<<"$line")" \
                "$(jq .profiles <<<"$line")" "$(jq .ms <<<"$line")")")
        done <"$tmp/load.json"
        start_ms=$(jq -r 'select(.round == "start") | .ms' "$tmp/load.json")
        [ -n "$start_ms" ] && load_rows+=("  a session start's profiles sent and accepted within 1 s: $(awk -v m="$start_ms" \
            'BEGIN { print (m < 1000) ? "met" : "NOT met" }')")
    else
        echo "bench: the load scenario failed:" >&2
        tail -5 "$tmp/load.err" >&2
    fi
fi

# ---------------------------------------------------------------- export
# its own PostgreSQL and gateway: one JSON line per run of the export
export_rows=()
if want export; then
    echo "export: scripts/export-bench.sh ${BENCH_EXPORT_SESSIONS:-1000000}"
    if BUILD=$BUILD scripts/export-bench.sh "${BENCH_EXPORT_SESSIONS:-1000000}" >"$tmp/export.json" 2>"$tmp/export.err"; then
        cat "$tmp/export.json"
        export_rows+=("$(printf "%-28s %9s %9s %8s %10s %10s %10s %10s" "export (curl, text/csv)" sessions MB             seconds rssBeforeMB rssPeakMB rssAfterMB growthMB)")
        while read -r line; do
            export_rows+=("$(printf "%-28s %9s %9s %8s %10s %10s %10s %10s" "run $(jq .run <<<"$line")" \
                "$(jq .sessions <<<"$line")" "$(jq '.bytes / 1048576 | floor' <<<"$line")" "$(jq .seconds <<<"$line")" \
                "$(jq '.rssBeforeKiB / 1024 | floor' <<<"$line")" "$(jq '.rssPeakKiB / 1024 | floor' <<<"$line")" \
                "$(jq '.rssAfterKiB / 1024 | floor' <<<"$line")" \
                "$(jq '(.rssPeakKiB - .rssBeforeKiB) / 1024 * 10 | floor / 10' <<<"$line")")")
        done <"$tmp/export.json"
        first=$(head -1 "$tmp/export.json")
        [ -n "$first" ] && export_rows+=("  export of the sessions < 10 s and RSS growth < 10 MiB: $(jq -r \
            'if .seconds < 10 and (.rssPeakKiB - .rssBeforeKiB) < 10240 then "met" else "NOT met" end' <<<"$first")")
    else
        echo "bench: the export scenario failed:" >&2
        tail -5 "$tmp/export.err" >&2
    fi
fi

# ---------------------------------------------------------------- restart
# its own PostgreSQL and gateways
restart_rows=()
if want restart; then
    n=$RESTART_N
    [ "$n" -gt "$max_idle" ] && n=$max_idle
    # shellcheck disable=SC2086
    if BUILD=$BUILD RESTART_KEEP=${BENCH_KEEP:-} scripts/restart-bench.sh "$n" ${BENCH_RESTART_SOURCES:-253 20} \
        >"$tmp/restart.rows"; then
        # shellcheck disable=SC2034  # printed through a nameref below
        mapfile -t restart_rows <"$tmp/restart.rows"
    else
        echo "bench: the restart scenario failed" >&2
    fi
fi

# ---------------------------------------------------------------- reports
# its own PostgreSQL and gateway; the lines after its "== reports summary"
reports_rows=()
if want reports; then
    echo "reports: scripts/reports-bench.sh"
    if BUILD=$BUILD scripts/reports-bench.sh | tee "$tmp/reports.out"; then
        # shellcheck disable=SC2034  # printed through a nameref below
        mapfile -t reports_rows < <(sed -n '/^== reports summary/,$p' "$tmp/reports.out")
    else
        echo "bench: the reports scenario failed" >&2
    fi
fi
echo
echo "load average at the end: $(load_avg)"
printf '%s\n' "${rows[@]}"
for block in ev_lines cost_lines rest_rows cmd_rows wh_rows load_rows export_rows restart_rows reports_rows; do
    declare -n lines=$block
    if [ ${#lines[@]} -gt 0 ]; then
        echo
        printf '%s\n' "${lines[@]}"
    fi
    unset -n lines
done
if [ -n "$sse_line" ]; then
    echo
    echo "$sse_line"
fi
