#!/usr/bin/env bash
# Export figures (reports.md "Exports"; docs/benchmarks.md "Exports"):
#
#   scripts/export-bench.sh [SESSIONS]        default 1000000
#
# A private PostgreSQL and the gateway; SESSIONS completed sessions made by
# SQL (one INSERT ... SELECT over 1,000 chargers, the sessions' triggers set
# aside for the load: no events, no tariff; then VACUUM ANALYZE). Then,
# twice (the second run with the table in the cache):
#   curl -H 'Accept: text/csv' .../v1/sessions > FILE
# timed, while the gateway's VmRSS is sampled every 20 ms; VmRSS before and
# after, VmHWM after. Checks the file has SESSIONS + 1 lines. Prints one
# JSON line per run. Needs `make all`.
set -u
N=${1:-1000000}
cd "$(dirname "$0")/.." || exit 2
. scripts/lib/bench-common.sh
BUILD=${BUILD:-build}
GW=$BUILD/ocppgw
[ -x "$GW" ] || { echo "export-bench: needs $GW (make all)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/exportbench.XXXX)
gwpid=
cleanup() {
    stop_pid "$gwpid"
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1; rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
conn=$(db_start "$tmp/pg" "$GW") || exit 1
key=$("$GW" apikey create --name bench --scopes admin --db "$conn")

t0=$(now_ms)
psql -q -v ON_ERROR_STOP=1 -d "$conn" >/dev/null <<SQL || { echo "export-bench: could not make the sessions" >&2; exit 1; }
INSERT INTO chargers (id, security_profile) SELECT format('EX-%s', lpad(i::text, 4, '0')), 0 FROM generate_series(1, 1000) i;
ALTER TABLE sessions DISABLE TRIGGER USER;
INSERT INTO sessions (transaction_id, charger_id, connector_id, id_tag, auth_status, status, start_time, end_time,
                      meter_start, meter_stop, energy_wh, stop_reason)
SELECT i, format('EX-%s', lpad((1 + i % 1000)::text, 4, '0')), 1 + i % 2, format('TAG-%s', i % 5000), 'Accepted',
       'completed', t, t + interval '40 minutes', i, i + 12000, 12000, 'Local'
FROM (SELECT i, timestamptz '2025-01-01T00:00:00Z' + i * interval '30 seconds' AS t FROM generate_series(1, $N) i) g;
ALTER TABLE sessions ENABLE TRIGGER USER;
VACUUM ANALYZE sessions;
SQL
gen_ms=$(( $(now_ms) - t0 ))

port=$(free_port)
printf '[rest]\nrate_per_second = 100000\nrate_burst = 100000\n' >"$tmp/gw.ini"
"$GW" serve --config "$tmp/gw.ini" --db "$conn" --listen "127.0.0.1:$port" --log-level warn >"$tmp/gw.log" 2>&1 &
gwpid=$!
wait_http "$port" /readyz 300 || { echo "export-bench: the gateway is not ready:" >&2; tail -5 "$tmp/gw.log" >&2; exit 1; }
sleep 2     # the start-up's own work (registry reloads) out of the way

kib() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$gwpid/status"; }
# PostgreSQL's CPU ticks, exited backends included (the postmaster's cutime + cstime: the export's
# connection ends with it)
pg_all_ticks() {
    local pm st
    pm=$(head -1 "$tmp/pg/data/postmaster.pid")
    st=$(cat "/proc/$pm/stat"); st=${st##*) }
    # shellcheck disable=SC2086
    set -- $st
    echo $(( $(pg_ticks "$tmp/pg/data") + ${14} + ${15} ))
}
for run in 1 2; do
    before=$(kib VmRSS)
    g0=$(cpu_ticks "$gwpid"); p0=$(pg_all_ticks)
    t0=$(now_ms)
    curl -sS -H "Authorization: Bearer $key" -H 'Accept: text/csv' -o "$tmp/sessions.csv" \
        "http://127.0.0.1:$port/v1/sessions" &
    cpid=$!
    peak=$before
    while kill -0 "$cpid" 2>/dev/null; do
        r=$(kib VmRSS)
        [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.02
    done
    wait "$cpid" || { echo "export-bench: curl failed" >&2; exit 1; }
    ms=$(( $(now_ms) - t0 ))
    sleep 1
    after=$(kib VmRSS)
    g1=$(cpu_ticks "$gwpid"); p1=$(pg_all_ticks)
    lines=$(wc -l <"$tmp/sessions.csv")
    bytes=$(stat -c %s "$tmp/sessions.csv")
    [ "$lines" -eq $(( N + 1 )) ] || echo "export-bench: $lines lines, want $(( N + 1 ))" >&2
    echo "{\"run\": $run, \"sessions\": $N, \"lines\": $lines, \"bytes\": $bytes, \"seconds\": $(ms_secs "$ms"),"\
" \"rssBeforeKiB\": $before, \"rssPeakKiB\": $peak, \"rssAfterKiB\": $after, \"hwmKiB\": $(kib VmHWM),"\
" \"gwCpuSeconds\": $(ticks_secs $(( g1 - g0 ))), \"pgCpuSeconds\": $(ticks_secs $(( p1 - p0 ))),"\
" \"loadAvg\": \"$(load_avg)\", \"generateSeconds\": $(ms_secs "$gen_ms")}"
done
