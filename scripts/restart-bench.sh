#!/usr/bin/env bash
# A gateway restart under load (docs/benchmarks.md, issue 11):
#
#   BUILD=build scripts/restart-bench.sh [N] [SOURCES ...]     default: 19000 253 20
#
# Each SOURCES count runs once per RESTART_MODES (default "plain activated"):
# plain, the gateway binds its port itself (connects between the two
# processes are refused); activated, the port is held by build/listen-hold as
# systemd's ocppgw.socket would hold it (docs/operations.md, "Restarts
# without refused connections"), which restarts the gateway at once when it
# exits, on the same socket.
#
# On a private PostgreSQL, once per SOURCES count S: a gateway
# (--auto-register), N chargers (build/stormsim, or `ocppsim --mode serve
# --boot`: RESTART_GENERATOR below) spread over
# the first S addresses of 127.0.0.2-127.0.0.254, each reconnecting with its
# back-off (1 s doubling to 30 s, full jitter) as real chargers do (ocppsim
# on its libuv loop: --event-loop uv). Once all N are served (booted,
# StatusNotification answered), SIGTERM: the seconds to exit; at once a new
# gateway on the same port: the seconds from its start
# until the generator's SERVED line says all N are served again, and what the
# chargers saw meanwhile (upgrades refused with 429 or 503, connects that
# failed with no HTTP answer, errors: CALLERRORs, timeouts, boots not
# Accepted). Then SIGTERM again with all N connected: the seconds to exit,
# and how many chargers the database still shows connected = true.
#
# Needs `ulimit -n` (hard) above N + 1000: the gateway and the generator each hold
# one socket per charger. Prints progress on stderr and, on stdout, a table
# in the layout of scripts/bench.sh (which calls this for `make bench`).
# RESTART_KEEP=1 keeps the temp dir (gateway logs, generator output);
# RESTART_SIM_ARGS adds generator flags (e.g. "--max-connecting 2048"). On
# stderr, the reasons of the failed connects, from the generator.
#
# RESTART_GENERATOR=stormsim|ocppsim picks the generator (default stormsim
# if $BUILD/stormsim exists): build/stormsim (tools/stormsim.c) is the same
# fleet on plain sockets and epoll, lean enough that `served_s` is mostly the
# gateway's time; ocppsim (libwebsockets) keeps at most 512 reconnects in
# flight (--max-connecting), each costing it a few hundred microseconds to
# start, and lws's client costs it quadratic time in a connect storm: on 2
# shared cores `served_s` is then largely ocppsim's time. The gateway's own
# cost is `gwCPU_s`. Both print the same CONNECTED and SERVED lines.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib/bench-common.sh
BUILD=${BUILD:-build}
GW=$BUILD/ocppgw
SIM=$BUILD/ocppsim
N=${1:-19000}
shift || true
SOURCES=("$@")
[ ${#SOURCES[@]} -gt 0 ] || SOURCES=(253 20)

HOLD=$BUILD/listen-hold
MODES=(${RESTART_MODES:-plain activated})
GENERATOR=${RESTART_GENERATOR:-}
[ -n "$GENERATOR" ] || { [ -x "$BUILD/stormsim" ] && GENERATOR=stormsim || GENERATOR=ocppsim; }
case $GENERATOR in
    stormsim) SIM=$BUILD/stormsim ;;
    ocppsim) ;;
    *) echo "restart-bench: RESTART_GENERATOR is stormsim or ocppsim, not $GENERATOR" >&2; exit 2 ;;
esac
for f in "$GW" "$SIM" "$HOLD"; do
    [ -x "$f" ] || { echo "restart-bench: $f is missing (make all)" >&2; exit 2; }
done
nofile=$(ulimit -Hn)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $(( N + 1000 )) ]; then
    echo "restart-bench: $N chargers need ulimit -n above $(( N + 1000 )) (hard limit $nofile)" >&2
    exit 2
fi
ulimit -n "$nofile" 2>/dev/null || true

tmp=$(mktemp -d /tmp/ocppgw-restart.XXXXXX)
gwpid=
simpid=
holdpid=
cleanup() {
    [ -n "$simpid" ] && kill -INT "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null || true
    [ -n "$holdpid" ] && kill -TERM "$holdpid" 2>/dev/null && wait "$holdpid" 2>/dev/null || true
    stop_pid "$gwpid"
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1 || true
    if [ "${RESTART_KEEP:-}" = 1 ]; then echo "restart-bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "restart-bench: $*" >&2; }

# start_gw LOG: a gateway on $port in the background, its pid in $gwpid. In
# mode activated, the first call starts listen-hold (its lines in $holdout)
# and later ones find the gateway it started again by itself; $t_start is
# then the moment it says it started it.
start_gw() {
    local args=(serve --db "$conn" --listen "127.0.0.1:$port" --auto-register --log-level warn)
    if [ "$mode" = plain ]; then
        "$GW" "${args[@]}" >"$1" 2>&1 &
        gwpid=$!
        return
    fi
    if [ -z "$holdpid" ]; then
        : >"$holdout"
        "$HOLD" "127.0.0.1:$port=ocpp" -- "$GW" "${args[@]}" >"$holdout" 2>"$1" &
        holdpid=$!
    fi
    local n=$2 line=
    for _ in $(seq 1 500); do
        line=$(grep '^started ' "$holdout" | sed -n "${n}p")
        [ -n "$line" ] && break
        sleep 0.01
    done
    [ -n "$line" ] || { log "listen-hold did not start the gateway"; exit 1; }
    gwpid=$(field pid "$line")
    t_start=$(field at_ms "$line")
}

# stop_gw [final]: SIGTERM and wait (not in a subshell: the gateway is our
# child, or listen-hold's); the milliseconds to exit in $stop_ms, the exit
# status in $gw_rc. In mode activated, listen-hold starts the next gateway
# at once, unless final (then listen-hold is stopped too).
stop_gw() {
    local t0 line=
    t0=$(now_ms)
    if [ "$mode" = plain ]; then
        kill -TERM "$gwpid"
        gw_rc=0
        wait "$gwpid" || gw_rc=$?
        stop_ms=$(( $(now_ms) - t0 ))
        gwpid=
        return
    fi
    if [ "${1:-}" = final ]; then
        kill -TERM "$holdpid"
        wait "$holdpid" || true
        holdpid=
    else
        kill -TERM "$gwpid"
    fi
    for _ in $(seq 1 6000); do
        line=$(grep "^exited pid=$gwpid " "$holdout" || true)
        [ -n "$line" ] && break
        sleep 0.01
    done
    gw_rc=$(field status "$line")
    stop_ms=$(( $(field at_ms "$line") - t0 ))
    gwpid=
}

# settle: waits (up to 60 s) until the gateway's store has nothing queued
# (ocppgw_db_queue_depth 0 on /metrics): the fleet's connect-time writes
# (boots, statuses, their events) are done, as in a fleet that has been up
# for a while; a SIGTERM before that measures the drain of that backlog.
settle() {
    for _ in $(seq 1 600); do
        d=$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '$1 == "ocppgw_db_queue_depth" { print $2 }')
        [ "$d" = 0 ] && break
        sleep 0.1
    done
    sleep 1
}

# served_line EPISODE TIMEOUT_S: waits for the generator's SERVED line of that episode, prints it
served_line() {
    local line
    for _ in $(seq 1 $(( $2 * 10 ))); do
        line=$(grep "^SERVED .* episode=$1 " "$simout" 2>/dev/null | tail -1 || true)
        [ -n "$line" ] && { echo "$line"; return 0; }
        kill -0 "$simpid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

conn=$(db_start "$tmp/pg" "$GW") || { echo "restart-bench: no database" >&2; exit 1; }

rows=()
row() { rows+=("$(printf "%-22s %8s %7s %7s %7s %9s %9s %6s %6s %6s %7s %6s %7s %8s %7s %9s" "$@")"); }
row scenario chargers sources stop_s up_s served_s outage_s r429 r503 rother failed errors dropped gwCPU_s stop2_s \
    left_conn

run=0
for mode in "${MODES[@]}"; do
for S in "${SOURCES[@]}"; do
    run=$(( run + 1 ))
    prefix="RS$S-"
    holdout=$tmp/hold-$run.out
    label="restart, $S addresses"
    [ "$mode" = plain ] || label="activated, $S addresses"
    simout=$tmp/sim-$run.out        # one per run: the waits below must not read an earlier run's lines
    psql "$conn" -qc "DELETE FROM chargers WHERE id LIKE 'RS%'" >/dev/null
    port=$(free_port) || { echo "restart-bench: no free port" >&2; exit 1; }
    start_gw "$tmp/gw-$run-1.log" 1
    wait_http "$port" /healthz || { echo "restart-bench: no /healthz within 10 s" >&2; exit 1; }
    log "$N chargers from $S addresses ($GENERATOR), gateway pid $gwpid on 127.0.0.1:$port"
    simargs=(--host 127.0.0.1 --port "$port" --sources 127.0.0.2-127.0.0.254 --source-addrs "$S" --quiet
             --chargers "$N" --prefix "$prefix" --ramp 2000)
    [ "$GENERATOR" = stormsim ] || simargs+=(--mode serve --boot --event-loop uv)
    # shellcheck disable=SC2086
    "$SIM" "${simargs[@]}" ${RESTART_SIM_ARGS:-} >"$simout" 2>"$tmp/sim-$run.err" &
    simpid=$!
    if ! first=$(served_line 0 $(( N / 200 + 120 ))); then
        log "the chargers were never all served: $(grep '^CONNECTED' "$simout" || echo 'no CONNECTED line')"
        row "$label" "$N" "$S" - - - - - - - - - - - - -
        kill -INT "$simpid" 2>/dev/null; wait "$simpid" 2>/dev/null || true; simpid=
        stop_gw final
        continue
    fi
    log "all served: $(grep '^CONNECTED' "$simout")"
    settle                          # the connect-time writes done

    # the restart: SIGTERM, then at once a new gateway on the same port
    t_term=$(now_ms)
    stop_gw
    stop1_ms=$stop_ms
    [ "$gw_rc" = 0 ] || log "the gateway exited $gw_rc after SIGTERM"
    t_start=$(now_ms)
    start_gw "$tmp/gw-$run-2.log" 2
    cpu0=$(cpu_ticks "$gwpid")
    simcpu0=$(cpu_ticks "$simpid")
    t_up=
    line=
    for _ in $(seq 1 3000); do
        if [ -z "$t_up" ] && curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then
            t_up=$(now_ms)
        fi
        line=$(grep '^SERVED .* episode=1 ' "$simout" 2>/dev/null | tail -1 || true)
        [ -n "$line" ] && break
        kill -0 "$gwpid" 2>/dev/null || { log "the new gateway died: $(tail -3 "$tmp/gw-$run-2.log")"; break; }
        if [ -n "$t_up" ]; then sleep 0.1; else sleep 0.02; fi
    done
    cpu=$(ticks_secs $(( $(cpu_ticks "$gwpid") - cpu0 )))
    log "CPU from the new start until all served: gateway $cpu s, $GENERATOR $(ticks_secs $(( $(cpu_ticks "$simpid") - simcpu0 ))) s"
    if [ -z "$line" ]; then
        log "not all served again within 300 s: $(tail -2 "$tmp/sim-$run.err")"
        served=- outage=-
    else
        at=$(field at_ms "$line")
        served=$(ms_secs $(( at - t_start )))
        outage=$(ms_secs $(( at - t_term )))
        log "$line"
        grep -E '^(ocppsim|stormsim): SERVED episode 1:' "$tmp/sim-$run.err" |
            sed -E 's/^(ocppsim|stormsim): /restart-bench: /' >&2 || true
    fi
    up=-
    [ -n "$t_up" ] && up=$(ms_secs $(( t_up - t_start )))

    # a clean stop with all N connected: time, and what the database still says
    settle
    stop_gw final
    stop2_ms=$stop_ms
    [ "$gw_rc" = 0 ] || log "the second gateway exited $gw_rc after SIGTERM"
    left=$(psql "$conn" -Atc "SELECT count(*) FILTER (WHERE connected) FROM chargers WHERE id LIKE '$prefix%'")
    kill -INT "$simpid" 2>/dev/null || true
    wait "$simpid" 2>/dev/null || true
    simpid=
    row "$label" "$N" "$S" "$(ms_secs "$stop1_ms")" "$up" "$served" "$outage" \
        "$(field refused_429 "$line" -)" "$(field refused_503 "$line" -)" "$(field refused_other "$line" -)" \
        "$(field failed "$line" -)" "$(field errors "$line" -)" "$(field dropped "$line" -)" "$cpu" \
        "$(ms_secs "$stop2_ms")" "$left"
    for k in 1 2; do
        f=$tmp/gw-$run-$k.log
        [ -f "$f" ] || continue         # activated: both gateways wrote to the first
        log "gateway $k log: $(grep -c '' "$f") lines, $(grep -ciE 'error|fail|too high' "$f" || true) mentioning error/fail/too high"
        grep -iE 'error|fail|too high' "$f" | head -3 | sed 's/^/    /' >&2 || true
    done
done
done
printf '%s\n' "${rows[@]}"
