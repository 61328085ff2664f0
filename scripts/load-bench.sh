#!/usr/bin/env bash
# Load management figures (load-management.md Targets; docs/benchmarks.md
# "Load management"):
#
#   scripts/load-bench.sh [CHARGERS] [SESSIONS] [LIMIT_A]
#     defaults:           500        499        CHARGERS x 10
#
# A private PostgreSQL and the gateway; one site of CHARGERS chargers with a
# limit of LIMIT_A (equal shares, minCurrent 6), the chargers simulated by
# build/ocppsim (--mode serve: it applies the profiles it is sent), SESSIONS
# of them charging (remote starts). Once the site has settled (every profile
# the allocation wants accepted), two rounds are timed by the gateway's own
# "load: site ... settled: N profiles sent and answered in X ms" line, from
# the round's first profile to the last answer:
#  1. start: one more session starts (a remote start): its TxProfile and the
#     reductions that make room for it;
#  2. limit: the site's limit halved (PATCH): every session reduced.
# Prints one JSON line per round. Needs `make all`.
set -u
N=${1:-500}; S=${2:-$(( N - 1 ))}; LIMIT=${3:-$(( N * 10 ))}
cd "$(dirname "$0")/.." || exit 2
. scripts/lib/bench-common.sh
BUILD=${BUILD:-build}
GW=$BUILD/ocppgw; SIM=$BUILD/ocppsim
[ -x "$GW" ] && [ -x "$SIM" ] || { echo "load-bench: needs $GW and $SIM (make all)" >&2; exit 2; }
[ "$S" -lt "$N" ] || { echo "load-bench: SESSIONS must be below CHARGERS" >&2; exit 2; }
tmp=$(mktemp -d /tmp/loadbench.XXXX)
gwpid=; simpid=
cleanup() {
    stop_pid "$simpid" 50
    stop_pid "$gwpid"
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1; rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
conn=$(db_start "$tmp/pg" "$GW") || exit 1
key=$("$GW" apikey create --name bench --scopes admin --db "$conn")
port=$(free_port)
api="http://127.0.0.1:$port"
printf '[rest]\nrate_per_second = 100000\nrate_burst = 100000\n[load]\ninterval = 600\n' >"$tmp/gw.ini"
"$GW" serve --config "$tmp/gw.ini" --db "$conn" --listen "127.0.0.1:$port" --log-level info >"$tmp/gw.log" 2>&1 &
gwpid=$!
wait_http "$port" /readyz 300 || { echo "load-bench: the gateway is not ready:" >&2; tail -5 "$tmp/gw.log" >&2; exit 1; }
H=(-H "Authorization: Bearer $key" -H "Content-Type: application/json")

# the site, its chargers (in the database: one statement) and a tag
curl -fsS "${H[@]}" -o /dev/null -d "{\"id\": \"bench\", \"name\": \"Bench\", \"maxCurrent\": $LIMIT,
  \"loadBalancing\": {\"enabled\": true, \"strategy\": \"equal\", \"minCurrent\": 6}}" "$api/v1/sites" ||
    { echo "load-bench: could not create the site" >&2; exit 1; }
psql -q -d "$conn" -c "INSERT INTO chargers (id, site_id, security_profile)
    SELECT format('LB-%s', lpad(i::text, 6, '0')), 'bench', 0 FROM generate_series(1, $N) i" >/dev/null ||
    { echo "load-bench: could not create the chargers" >&2; exit 1; }
curl -fsS "${H[@]}" -o /dev/null -d '{"idTag": "LB-TAG"}' "$api/v1/tokens"

"$SIM" --host 127.0.0.1 --port "$port" --chargers "$N" --prefix LB- --mode serve --boot --quiet \
    >"$tmp/sim.log" 2>&1 &
simpid=$!
for _ in $(seq 1 600); do
    grep -q '^SERVED' "$tmp/sim.log" && break
    sleep 0.1
done
grep -q '^SERVED' "$tmp/sim.log" || { echo "load-bench: the chargers were not served:" >&2; tail -3 "$tmp/sim.log" >&2; exit 1; }

# settled_after LINE: waits (60 s at most) for a "settled" line after line LINE of the log; prints it
settled_after() {
    local l
    for _ in $(seq 1 600); do
        l=$(tail -n +"$(( $1 + 1 ))" "$tmp/gw.log" | grep 'load: site bench settled' | tail -1)
        # the last settled line, once nothing has been sent for a second
        if [ -n "$l" ]; then
            sleep 1
            local l2
            l2=$(tail -n +"$(( $1 + 1 ))" "$tmp/gw.log" | grep 'load: site bench settled' | tail -1)
            [ "$l" = "$l2" ] && { echo "$l"; return 0; }
        fi
        sleep 0.1
    done
    return 1
}
start() {
    curl -fsS -H "Authorization: Bearer $key" -H "Content-Type: application/json" -o /dev/null \
        -d '{"connectorId": 1, "idTag": "LB-TAG"}' "$api/v1/chargers/$(printf 'LB-%06d' "$1")/remote-start?wait=30"
}
export -f start
export key api
t0=$(now_ms)
seq 1 "$S" | xargs -P 16 -I{} bash -c 'start {}' || { echo "load-bench: remote starts failed" >&2; exit 1; }
mark=$(wc -l <"$tmp/gw.log")
settled_after 0 >/dev/null || { echo "load-bench: the site did not settle" >&2; exit 1; }
echo "load-bench: $S sessions started and settled in $(( $(now_ms) - t0 )) ms; load $(load_avg)" >&2

round() {  # NAME: prints the JSON line of the settled line after $mark
    local l ms n
    l=$(settled_after "$mark") || { echo "load-bench: round $1 did not settle" >&2; exit 1; }
    ms=$(sed -n 's/.* in \([0-9.]*\) ms.*/\1/p' <<<"$l")
    n=$(sed -n 's/.*settled: \([0-9]*\) profile.*/\1/p' <<<"$l")
    printf '{"round": "%s", "chargers": %d, "sessions": %d, "limitA": %s, "profiles": %s, "ms": %s, "load": "%s"}\n' \
        "$1" "$N" "$2" "$3" "$n" "$ms" "$(load_avg)"
}
mark=$(wc -l <"$tmp/gw.log")
start "$N" || { echo "load-bench: the last remote start failed" >&2; exit 1; }
round start $(( S + 1 )) "$LIMIT"
mark=$(wc -l <"$tmp/gw.log")
curl -fsS "${H[@]}" -o /dev/null -X PATCH -d "{\"maxCurrent\": $(( LIMIT / 2 ))}" "$api/v1/sites/bench"
round limit $(( S + 1 )) $(( LIMIT / 2 ))
