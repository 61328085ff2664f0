#!/usr/bin/env bash
# Reports, exports and retention figures (../shared/spec/reports.md;
# docs/benchmarks.md "Reports, exports and retention"). Run by
# `BENCH_SCENARIOS=reports make bench`, or alone:
#
#   BUILD=build scripts/reports-bench.sh
#   BENCH_QUICK=1 BUILD=build scripts/reports-bench.sh     100 chargers, a few minutes
#
# On a private PostgreSQL (scripts/pg.sh) migrated by the gateway, loopback
# only, in steps (REPORTS_STEPS, default all of them, in this order):
#   generate   scripts/gen-year.sql: a year of a fleet (1,000 chargers, 2 M
#              sessions, status and connection history, meter values),
#              timed step by step; then the rollups are rebuilt (below)
#   reports    GET /v1/reports/energy and /utilization over the whole year,
#              groupBy none, site, charger, site,month, day, week: REPORTS_RUNS (5)
#              runs each, their median (target < 1 s); skipped while the
#              routes answer 404
#   export     GET /v1/sessions of REPORTS_EXPORT_SESSIONS (1 M) sessions
#              (a from/to window) with Accept: text/csv (and
#              application/x-ndjson): time, bytes, rows and the gateway's
#              VmRSS before, every 100 ms during, after (targets < 10 s,
#              < 10 MiB); skipped while the answer is not CSV. Either way a
#              baseline: the same sessions paged through as JSON
#              (perPage=500, cursor after)
#   retention  durable MeterValues latency of REPORTS_RETAIN_CHARGERS (1,000)
#              chargers, one MeterValues per REPORTS_RETAIN_INTERVAL ms each,
#              REPORTS_RETAIN_SECONDS, on a gateway with
#              retention.meter_values = 400: once with nothing to delete,
#              once after REPORTS_RETAIN_ROWS (2 M) samples dated 500 days
#              ago were inserted (the deletion runs during the load); rows
#              deleted (pg_stat_user_tables.n_tup_del) during and after;
#              skipped while the gateway does not know retention.meter_values
#
# The rollup rebuild after generating (the generator turns triggers off):
# scripts/reports-rebuild.sql queues the work the gateway's rollup jobs
# would have done (energy_queue, util_dirty, when those tables exist), the
# gateway drains the queues before the reports are timed (at most
# REPORTS_ROLLUP_WAIT seconds, 3600); then REPORTS_REBUILD_SQL if set (e.g. "SELECT ocppgw_report_rebuild(NULL, NULL)";
# several statements separated by ';'), else every function of the
# database whose name matches ocppgw_report%rebuild%, ocppgw%rollup%rebuild%
# or ocppgw_rebuild%rollup% and that can be called without arguments, else
# nothing (said so: the reports then answer from empty rollups).
#
# Knobs: REPORTS_CHARGERS (1000; quick 100), REPORTS_PER_CONNECTOR (1000:
# sessions per connector per year), REPORTS_SAMPLES (4 register samples per
# session), REPORTS_YEAR_START (the first of this month a year ago, UTC),
# REPORTS_RUNS (5), REPORTS_EXPORT_SESSIONS (1000000; quick 100000),
# REPORTS_RETAIN_CHARGERS (1000; quick 200), REPORTS_RETAIN_INTERVAL (1000
# ms), REPORTS_RETAIN_SECONDS (30; quick 10), REPORTS_RETAIN_ROWS (2000000;
# quick 200000), REPORTS_RETAIN_WAIT (300 s: how long to wait for the rest
# of the deletion after the load), REPORTS_RETAIN_CONF (more lines for the [retention]
# section, e.g. "interval = 5"), REPORTS_CONN (a conninfo: use that
# database, e.g. one a previous run with REPORTS_KEEP=1 generated, instead of
# a private cluster; leave generate out of REPORTS_STEPS then; it is
# migrated, never dropped), REPORTS_RETAIN_KEYS (default "meter_values =
# 400"; empty: no [retention] section, a dry run of the retention step on a
# gateway without it), REPORTS_KEEP=1 keeps the temp dir (and the
# cluster stopped in it). Prints progress, then a summary after a line
# "== reports summary"; writes nothing into the repository.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
. scripts/lib/bench-common.sh
BUILD=${BUILD:-build}
GW=$BUILD/ocppgw
SIM=$BUILD/ocppsim
SOURCES=127.0.0.2-127.0.0.254

if [ "${BENCH_QUICK:-}" = 1 ]; then
    CHARGERS=${REPORTS_CHARGERS:-100}
    EXPORT_N=${REPORTS_EXPORT_SESSIONS:-100000}
    RET_N=${REPORTS_RETAIN_CHARGERS:-200}
    RET_SECS=${REPORTS_RETAIN_SECONDS:-10}
    RET_ROWS=${REPORTS_RETAIN_ROWS:-200000}
else
    CHARGERS=${REPORTS_CHARGERS:-1000}
    EXPORT_N=${REPORTS_EXPORT_SESSIONS:-1000000}
    RET_N=${REPORTS_RETAIN_CHARGERS:-1000}
    RET_SECS=${REPORTS_RETAIN_SECONDS:-30}
    RET_ROWS=${REPORTS_RETAIN_ROWS:-2000000}
fi
PER_CONN=${REPORTS_PER_CONNECTOR:-1000}
SAMPLES=${REPORTS_SAMPLES:-4}
RUNS=${REPORTS_RUNS:-5}
RET_IV=${REPORTS_RETAIN_INTERVAL:-1000}
YEAR_START=${REPORTS_YEAR_START:-$(date -u -d "$(date -u +%Y-%m-01) -12 months" +%Y-%m-%d)}
YEAR_END=$(date -u -d "$YEAR_START +365 days" +%Y-%m-%d)
FROM="${YEAR_START}T00:00:00Z"
TO="${YEAR_END}T00:00:00Z"
STEPS=" ${REPORTS_STEPS:-generate reports export retention} "
step() { [[ $STEPS == *" $1 "* ]]; }

for f in "$GW" "$SIM"; do
    [ -x "$f" ] || { echo "reports-bench: $f is missing (make all)" >&2; exit 2; }
done
command -v psql >/dev/null || { echo "reports-bench: psql is missing" >&2; exit 2; }

tmp=$(mktemp -d /tmp/ocppgw-reports.XXXXXX)
gwpid=
sampler=
cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
    stop_pid "$gwpid"
    if [ "${REPORTS_KEEP:-}" = 1 ]; then
        scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true
        echo "reports-bench: kept $tmp" >&2
    else
        scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1 || true
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

summary=()
say() { echo "reports: $*"; }
sum() { summary+=("$*"); say "$*"; }

echo "machine: $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM," \
     "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "gateway: $("$GW" --version 2>&1 | head -1); steps:$STEPS; load average at the start: $(load_avg)"

if [ -n "${REPORTS_CONN:-}" ]; then
    conn=$REPORTS_CONN      # a database of the caller's: migrated, kept
    "$GW" migrate --db "$conn" >"$tmp/migrate.log" 2>&1 || { echo "reports-bench: migrate failed:" >&2; cat "$tmp/migrate.log" >&2; exit 1; }
else
    conn=$(db_start "$tmp/pg" "$GW") || { echo "reports-bench: no database" >&2; exit 1; }
fi
q() { psql "$conn" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
say "PostgreSQL $(q 'SHOW server_version'), $conn"

port=$(free_port) || { echo "reports-bench: no free port" >&2; exit 1; }
api="http://127.0.0.1:$port"
key=$("$GW" apikey create --name reports-bench --scopes admin --db "$conn" 2>/dev/null)
AUTH=(-H "Authorization: Bearer $key")

# rss_kb: the gateway's VmRSS in kB (bash builtins only: sampled every 100 ms)
rss_kb() {
    local k v _
    while read -r k v _; do
        [ "$k" = VmRSS: ] && { echo "$v"; return; }
    done <"/proc/$gwpid/status" 2>/dev/null
    echo 0
}

# gw_start CONF: the gateway on $port with config file CONF (auto-register)
gw_start() {
    "$GW" serve --config "$1" --db "$conn" --listen "127.0.0.1:$port" --auto-register \
        --log-level warn >>"$tmp/gw.log" 2>&1 &
    gwpid=$!
    wait_http "$port" /readyz 600 || { echo "reports-bench: the gateway is not ready:" >&2; tail -5 "$tmp/gw.log" >&2; exit 1; }
}
gw_stop() { stop_pid "$gwpid"; gwpid=; }

printf '[rest]\nrate_per_second = 1000000\nrate_burst = 1000000\n' >"$tmp/gw.conf"

# ---------------------------------------------------------------- generate
if step generate; then
    say "generate: scripts/gen-year.sql, chargers=$CHARGERS per_connector=$PER_CONN samples=$SAMPLES year_start=$YEAR_START"
    # ids below the year's samples for the retention step's old ones
    reserve=0
    step retention && reserve=$RET_ROWS
    t0=$(now_ms)
    if ! psql "$conn" -X -v ON_ERROR_STOP=1 -v chargers="$CHARGERS" -v per_connector="$PER_CONN" \
        -v samples="$SAMPLES" -v year_start="$YEAR_START" -v reserve_ids="$reserve" \
        -f scripts/gen-year.sql >"$tmp/gen.log" 2>&1; then
        echo "reports-bench: gen-year.sql failed:" >&2; tail -10 "$tmp/gen.log" >&2; exit 1
    fi
    gen_s=$(ms_secs $(( $(now_ms) - t0 )))
    # seconds per "gen-year:" step (the sum of psql's Time: lines after its label)
    steps=$(awk '/^gen-year: / { if (label) printf "%s %.1f s; ", label, t / 1000; label = substr($0, 11); t = 0 }
                 /^Time: / { t += $2 }
                 END { if (label) printf "%s %.1f s", label, t / 1000 }' "$tmp/gen.log")
    counts=$(q "SELECT format('%s sites, %s chargers, %s sessions (%s with a final cost), %s status rows, %s connection events, %s samples',
                       (SELECT count(*) FROM sites), (SELECT count(*) FROM chargers), (SELECT count(*) FROM sessions),
                       (SELECT count(*) FROM sessions WHERE cost_state = 'final'), (SELECT count(*) FROM status_history),
                       (SELECT count(*) FROM charger_events), (SELECT count(*) FROM meter_values))")
    sum "generate: $gen_s s: $steps"
    sum "generate: $counts"
    sizes=$(q "SELECT string_agg(format('%s %s', c, pg_size_pretty(pg_total_relation_size(c))), ', ' ORDER BY c)
                 FROM unnest(ARRAY['sessions', 'status_history', 'charger_events', 'meter_values', 'meter_messages']) c")
    sum "generate: table sizes with indexes: $sizes; database $(q "SELECT pg_size_pretty(pg_database_size(current_database()))")"

    # the rollup rebuild (see the header), when the reports are timed: the queues first
    t0=$(now_ms)
    if ! step reports; then
        say "rebuild: not done (reports is not a step): the rollup jobs stay idle"
    elif psql "$conn" -X -v ON_ERROR_STOP=1 -f scripts/reports-rebuild.sql >"$tmp/queue.log" 2>&1; then
        sum "rebuild: scripts/reports-rebuild.sql in $(ms_secs $(( $(now_ms) - t0 ))) s:" \
            "$(sed -n 's/.*NOTICE: *reports-rebuild: //p' "$tmp/queue.log" | paste -sd ';' -)"
    else
        sum "rebuild: scripts/reports-rebuild.sql FAILED: $(tail -3 "$tmp/queue.log" | tr '\n' ' ')"
    fi
    rebuild=${REPORTS_REBUILD_SQL:-}
    step reports || rebuild=-
    if [ "$rebuild" = - ]; then
        rebuild=
    elif [ -z "$rebuild" ]; then
        rebuild=$(q "SELECT string_agg(format('SELECT %I.%I()', n.nspname, p.proname), '; ' ORDER BY p.proname)
                       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE (p.proname LIKE 'ocppgw\_report%rebuild%' OR p.proname LIKE 'ocppgw%rollup%rebuild%'
                             OR p.proname LIKE 'ocppgw\_rebuild%rollup%')
                        AND p.pronargs = p.pronargdefaults")
        other=$(q "SELECT string_agg(format('%s(%s)', p.proname, pg_get_function_identity_arguments(p.oid)), ', ')
                     FROM pg_proc p
                    WHERE (p.proname LIKE 'ocppgw\_report%rebuild%' OR p.proname LIKE 'ocppgw%rollup%rebuild%'
                           OR p.proname LIKE 'ocppgw\_rebuild%rollup%')
                      AND p.pronargs > p.pronargdefaults")
        [ -n "$other" ] && say "rebuild: also found $other (needs arguments: give REPORTS_REBUILD_SQL to call it)"
    fi
    if ! step reports; then
        :
    elif [ -n "$rebuild" ]; then
        say "rebuild: $rebuild"
        t0=$(now_ms)
        if psql "$conn" -X -v ON_ERROR_STOP=1 -c "SET max_parallel_workers_per_gather = 0" -c "$rebuild" \
            >"$tmp/rebuild.log" 2>&1; then
            q "VACUUM ANALYZE" >/dev/null 2>&1
            sum "rebuild: the rollups rebuilt in $(ms_secs $(( $(now_ms) - t0 ))) s ($rebuild)"
        else
            sum "rebuild: FAILED ($rebuild): $(tail -3 "$tmp/rebuild.log" | tr '\n' ' ')"
        fi
    else
        say "rebuild: no rollup rebuild function in the database (ocppgw_report%rebuild%, ocppgw%rollup%rebuild%)" \
            "and REPORTS_REBUILD_SQL unset: the rollups come from the queued work alone"
    fi
    psql "$conn" -Xq -c CHECKPOINT >/dev/null 2>&1
fi

# the gateway's rollup jobs drain their queues (reports-rebuild.sql filled
# them): up to REPORTS_ROLLUP_WAIT seconds (3600), progress every minute
queues=$(q "SELECT string_agg(t, ' ') FROM unnest(ARRAY['energy_queue', 'util_dirty']) t WHERE to_regclass(t) IS NOT NULL")
pending() { local t n=0; for t in $queues; do n=$(( n + $(q "SELECT count(*) FROM $t") )); done; echo "$n"; }
[ -n "$queues" ] && left0=$(pending)
t0=$(now_ms)
gw_start "$tmp/gw.conf"
say "gateway pid $gwpid on 127.0.0.1:$port"

if step generate || step reports; then
    if [ -n "$queues" ]; then
        tl=$t0; left=$left0
        while [ "$left" -gt 0 ] && [ $(( $(now_ms) - t0 )) -lt $(( ${REPORTS_ROLLUP_WAIT:-3600} * 1000 )) ]; do
            sleep 5
            kill -0 "$gwpid" 2>/dev/null || { echo "reports-bench: the gateway died:" >&2; tail -5 "$tmp/gw.log" >&2; exit 1; }
            left=$(pending)
            if [ $(( $(now_ms) - tl )) -ge 60000 ]; then
                tl=$(now_ms)
                say "rollups: $left of $left0 queue rows left ($queues) after $(ms_secs $(( tl - t0 ))) s"
            fi
        done
        secs=$(ms_secs $(( $(now_ms) - t0 )))
        rate=$(awk -v n=$(( left0 - left )) -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }')
        if [ "$left" -eq 0 ]; then
            sum "rollups: the gateway's jobs drained $left0 queue rows ($queues) in $secs s ($rate/s)"
        else
            sum "rollups: NOT DRAINED: $left of $left0 queue rows ($queues) left after $secs s ($rate/s);" \
                "the reports below answer from partial rollups"
        fi
        for t in $queues; do
            case $t in
            energy_queue) say "rollups: $(q "SELECT count(*) FROM energy_sessions") energy_sessions, $(q "SELECT count(*) FROM energy_days") energy_days rows" 2>/dev/null ;;
            util_dirty) say "rollups: $(q "SELECT count(*) FROM util_day") util_day rows" 2>/dev/null ;;
            esac
        done
    fi
fi

# ---------------------------------------------------------------- reports
# median of a list of numbers (one per line)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }
if step reports; then
    code=$(curl -sS -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$api/v1/reports/energy?from=$FROM&to=$TO")
    if [ "$code" = 404 ]; then
        sum "report routes: SKIPPED: GET /v1/reports/energy answers 404 (the report routes are not in this build)"
    else
        for rep in energy utilization; do
            if [ "$(q "SELECT count(*) FROM pg_proc WHERE proname = 'ocppgw_report_$rep'")" = 0 ]; then
                sum "report $rep: SKIPPED: no function ocppgw_report_$rep in the database (its migration is not in this build)"
                continue
            fi
            for g in none site charger site,month day week; do
                url="$api/v1/reports/$rep?from=$FROM&to=$TO"
                [ "$g" = none ] || url+="&groupBy=$g"
                times=(); codes=
                for _ in $(seq 1 "$RUNS"); do
                    r=$(curl -sS -o "$tmp/report.json" -w '%{http_code} %{time_total} %{size_download}' "${AUTH[@]}" "$url")
                    read -r c t bytes <<<"$r"
                    times+=("$t"); codes+=" $c"
                done
                rows=$(jq '.data | length' "$tmp/report.json" 2>/dev/null || echo "?")
                p50=$(printf '%s\n' "${times[@]}" | median)
                verdict=$(awk -v t="$p50" 'BEGIN { print (t < 1) ? "met" : "NOT met" }')
                for c in $codes; do [ "$c" = 200 ] || verdict="HTTP$codes"; done
                sum "$(printf 'report %-11s groupBy %-10s p50 %6.3f s (runs: %s) rows %s bytes %s; < 1 s: %s' \
                    "$rep" "$g" "$p50" "${times[*]}" "$rows" "$bytes" "$verdict")"
            done
        done
        jq -c '.data[0]' "$tmp/report.json" 2>/dev/null | head -c 400 | sed 's/^/reports: a row of the last answer: /'
        echo
    fi
fi

# ---------------------------------------------------------------- export
# rss_watch FILE PID: VmRSS (kB) every 100 ms into FILE while PID lives
rss_watch() {
    while kill -0 "$2" 2>/dev/null; do
        rss_kb >>"$1"
        sleep 0.1
    done
}
# export_run LABEL ACCEPT: one export of the window; a summary line
export_run() {
    local label=$1 accept=$2 out="$tmp/export.$1" r rss0 rss1 rss2 peak
    rm -f "$tmp/rss.$label"
    rss0=$(rss_kb)
    curl -sS -o "$out" -D "$out.h" -w '%{http_code} %{time_total} %{size_download}\n' "${AUTH[@]}" \
        -H "Accept: $accept" "$api/v1/sessions?from=$FROM&to=$exp_to" >"$out.w" 2>"$out.err" &
    local cpid=$!
    rss_watch "$tmp/rss.$label" "$cpid" &
    local wpid=$!
    wait "$cpid"; wait "$wpid"
    rss1=$(sort -n "$tmp/rss.$label" | tail -1)
    sleep 1
    rss2=$(rss_kb)
    read -r c t bytes <"$out.w"
    local lines
    lines=$(wc -l <"$out")
    [ "$label" = csv ] && lines=$(( lines - 1 ))    # the header row (rows with line breaks in quotes would count twice)
    peak=$(( rss1 > rss0 ? rss1 - rss0 : 0 ))
    sum "$(printf 'export %-6s HTTP %s, %s s, %s bytes, %s rows (%s expected); gateway VmRSS %s kB before, peak %s kB (+%s kB = %.1f MiB, %s samples), %s kB 1 s after; < 10 s: %s, < 10 MiB: %s' \
        "$label" "$c" "$t" "$bytes" "$lines" "$exp_n" "$rss0" "$rss1" "$peak" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" \
        "$(wc -l <"$tmp/rss.$label")" "$rss2" \
        "$(awk -v t="$t" -v c="$c" 'BEGIN { print (c != 200) ? "failed" : (t < 10) ? "met" : "NOT met" }')" \
        "$(awk -v k="$peak" -v c="$c" 'BEGIN { print (c != 200) ? "failed" : (k < 10240) ? "met" : "NOT met" }')")"
    rm -f "$out"
}
if step export; then
    total=$(q "SELECT count(*) FROM sessions WHERE start_time >= '$FROM' AND start_time < '$TO'")
    if [ "$total" -le "$EXPORT_N" ]; then
        exp_to=$TO; exp_n=$total
    else
        # the start of the (N+1)th session: the window [FROM, exp_to) holds about N (ties at whole seconds)
        exp_to=$(q "SELECT to_char(start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM sessions
                     WHERE start_time >= '$FROM' ORDER BY start_time OFFSET $EXPORT_N LIMIT 1")
        exp_n=$(q "SELECT count(*) FROM sessions WHERE start_time >= '$FROM' AND start_time < '$exp_to'")
    fi
    say "export: sessions from $FROM to $exp_to: $exp_n"
    for fmt in csv:text/csv ndjson:application/x-ndjson; do
        label=${fmt%%:*}; media=${fmt#*:}
        # a probe over one minute: what type answers this Accept
        ctype=$(curl -sS -o /dev/null -w '%{http_code} %{content_type}' "${AUTH[@]}" -H "Accept: $media" \
            "$api/v1/sessions?from=$FROM&to=${YEAR_START}T00:01:00Z")
        if [[ ${ctype#* } == "$media"* ]]; then
            export_run "$label" "$media"
        else
            sum "export $label: SKIPPED: Accept: $media is answered with HTTP ${ctype%% *} ${ctype#* } (no $label export in this build)"
        fi
    done
    # the baseline: what an integrator does without exports, JSON pages of
    # 500 one after the other on one kept-alive connection (python3: a curl
    # per page costs more in process start-up here than the gateway's answer)
    rm -f "$tmp/rss.json"
    python3 - "$port" "$key" "/v1/sessions?from=$FROM&to=$exp_to&perPage=500" >"$tmp/json.w" <<'PY' &
import http.client, json, sys
port, key, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port)
after, pages, items, nbytes = None, 0, 0, 0
while True:
    c.request("GET", path + ("&after=" + after if after else ""), headers={"Authorization": "Bearer " + key})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        print(pages, items, nbytes, "HTTP", r.status)
        sys.exit(1)
    page = json.loads(body)
    pages += 1
    items += len(page["data"])
    nbytes += len(body)
    after = page["meta"].get("after")
    if not after:
        break
print(pages, items, nbytes)
PY
    jpid=$!
    rss0=$(rss_kb); t0=$(now_ms)
    rss_watch "$tmp/rss.json" "$jpid" &
    wpid=$!
    wait "$jpid"; wait "$wpid"
    secs=$(ms_secs $(( $(now_ms) - t0 )))
    rss1=$(sort -n "$tmp/rss.json" | tail -1)
    read -r pages items nbytes <"$tmp/json.w"
    peak=$(( rss1 > rss0 ? rss1 - rss0 : 0 ))
    sum "export json-pages (baseline: perPage=500, cursor after, one connection): $secs s, $pages pages, $items rows ($exp_n expected), $nbytes bytes;" \
        "gateway VmRSS $rss0 kB before, peak $rss1 kB (+$peak kB), $(rss_kb) kB after"
fi

# ---------------------------------------------------------------- retention
if step retention; then
    ret_keys=${REPORTS_RETAIN_KEYS-meter_values = 400}
    {
        printf '[rest]\nrate_per_second = 1000000\nrate_burst = 1000000\n'
        [ -n "$ret_keys" ] && printf '[retention]\n%s\n%s\n' "$ret_keys" "${REPORTS_RETAIN_CONF:-}"
    } >"$tmp/gw-ret.conf"
    [ -n "$ret_keys" ] || say "retention: REPORTS_RETAIN_KEYS is empty: a dry run of the harness, no retention configured"
    if ! "$GW" migrate --config "$tmp/gw-ret.conf" --db "$conn" >"$tmp/ret-probe.log" 2>&1; then
        sum "retention: SKIPPED: this gateway does not take retention.meter_values ($(head -1 "$tmp/ret-probe.log"))"
    else
        gw_stop
        # deleted_rows: meter_values rows deleted so far (the statistics collector's count)
        deleted_rows() { q "SELECT n_tup_del FROM pg_stat_user_tables WHERE relname = 'meter_values'"; }
        # ret_load LABEL PREFIX: one load; its RESULT line in $result, the deletion's progress in $tmp/del.LABEL
        ret_load() {
            local label=$1 prefix=$2
            ( while :; do echo "$(now_ms) $(deleted_rows)"; sleep 1; done ) >"$tmp/del.$label" 2>/dev/null &
            sampler=$!
            timeout --signal=INT --kill-after=10 $(( RET_SECS + RET_N / 100 + 120 )) \
                "$SIM" --host 127.0.0.1 --port "$port" --sources "$SOURCES" --quiet --chargers "$RET_N" \
                --mode metervalues --duration "$RET_SECS" --boot --prefix "$prefix" --ramp 2000 --timeout 10000 \
                --interval "$RET_IV" >"$tmp/sim.$label" 2>&1 || true
            kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; sampler=
            result=$(grep '^RESULT' "$tmp/sim.$label" | tail -1 || true)
        }
        ret_line() { # LABEL DELETED-TEXT
            sum "retention $1: $RET_N chargers x 1 MeterValues / $RET_IV ms, $RET_SECS s: $(field msgs "$result") answered," \
                "p50 $(field p50_ms "$result") ms, p99 $(field p99_ms "$result") ms, max $(field max_ms "$result") ms," \
                "errors $(( $(field callerrors "$result" 0) + $(field timeouts "$result" 0) )); $2"
        }
        # ids 1..N stay free for the old samples (gen-year.sql's reserve_ids
        # did it for the year's): the sequences start past them
        q "SELECT setval(pg_get_serial_sequence('meter_values', 'id'),
                         greatest((SELECT coalesce(max(id), 0) FROM meter_values), $RET_ROWS)),
                  setval(pg_get_serial_sequence('meter_messages', 'id'),
                         greatest((SELECT coalesce(max(id), 0) FROM meter_messages), ($RET_ROWS + 3) / 4))" >/dev/null
        d0=$(deleted_rows)
        gw_start "$tmp/gw-ret.conf"
        ret_load nothing RN-
        ret_line "nothing to delete" "rows deleted meanwhile: $(( $(deleted_rows) - d0 ))"
        p99a=$(field p99_ms "$result")
        gw_stop

        say "retention: inserting $RET_ROWS samples dated 500 days ago"
        t0=$(now_ms)
        psql "$conn" -Xq -v ON_ERROR_STOP=1 >"$tmp/old.log" 2>&1 <<SQL || { echo "reports-bench: inserting old samples failed:" >&2; cat "$tmp/old.log" >&2; exit 1; }
SET session_replication_role = replica;
CREATE TEMP TABLE old_msgs AS
SELECT m, format('RPT-%s', lpad((1 + m % $CHARGERS)::text, 4, '0')) AS charger_id,
       now() - interval '500 days' - (($RET_ROWS + 3) / 4 - m) * interval '1 second' AS at
  FROM generate_series(1, ($RET_ROWS + 3) / 4) m;
DO \$\$ BEGIN
    IF EXISTS (SELECT 1 FROM meter_values WHERE id <= $RET_ROWS) OR EXISTS (SELECT 1 FROM meter_messages WHERE id <= ($RET_ROWS + 3) / 4) THEN
        RAISE EXCEPTION 'ids 1..$RET_ROWS are taken: generate with reserve_ids (the generate step does when retention is a step)';
    END IF;
END \$\$;
-- ids 1..N, which gen-year.sql left free (-v reserve_ids): the retention
-- job deletes in key order from the lowest id and stops at the first row
-- within the retention, so old rows come first, as rows stored 500 days
-- ago would
INSERT INTO meter_messages (id, charger_id, digest, received_at)
OVERRIDING SYSTEM VALUE
SELECT m, charger_id, -m, at FROM old_msgs;
INSERT INTO meter_values (id, message_id, charger_id, connector_id, transaction_id, session_id, ts, value,
                          measurand, unit, context, format, phase, location, received_at)
OVERRIDING SYSTEM VALUE
SELECT (o.m - 1) * 4 + n, o.m, o.charger_id, 1, NULL, NULL, o.at - n * interval '15 s', (100000 + n)::text,
       'Energy.Active.Import.Register', 'Wh', 'Sample.Periodic', 'Raw', NULL, 'Outlet', o.at
  FROM old_msgs o, generate_series(1, 4) n
 WHERE (o.m - 1) * 4 + n <= $RET_ROWS;
ANALYZE meter_values;
ANALYZE meter_messages;
CHECKPOINT;
SQL
        old=$(q "SELECT count(*) FROM meter_values WHERE received_at < now() - interval '450 days'")
        say "retention: $old old samples in $(ms_secs $(( $(now_ms) - t0 ))) s; meter_values now $(q "SELECT count(*) FROM meter_values") rows"
        d0=$(deleted_rows)
        gw_start "$tmp/gw-ret.conf"
        ret_load deleting RD-
        d1=$(deleted_rows)
        # when the deletion ran, from the samples (first and last second with progress)
        # (the job runs at the gateway's start: rows gone by the first sample count at 0 s)
        span=$(awk -v d0="$d0" 'BEGIN { prev = d0 } NR == 1 { t0 = $1 } $2 > prev { if (!first) first = $1; last = $1 }
                                { prev = $2 }
                                END { if (first) printf "deleted from %.0f s to %.0f s after the load started (1 s samples)", (first - t0) / 1000, (last - t0) / 1000;
                                      else print "no deletion seen during the run" }' "$tmp/del.deleting")
        ret_line "while deleting" "rows deleted during the run: $(( d1 - d0 )) of $old ($span)"
        p99b=$(field p99_ms "$result")
        # the rest of the deletion, up to REPORTS_RETAIN_WAIT seconds (300)
        t0=$(now_ms)
        while [ -n "$ret_keys" ] && [ $(( $(deleted_rows) - d0 )) -lt "$old" ] &&
              [ $(( $(now_ms) - t0 )) -lt $(( ${REPORTS_RETAIN_WAIT:-300} * 1000 )) ]; do sleep 2; done
        left=$(q "SELECT count(*) FROM meter_values WHERE received_at < now() - interval '450 days'")
        sum "retention: $(( $(deleted_rows) - d0 )) rows deleted in all, $left old samples left $(ms_secs $(( $(now_ms) - t0 ))) s after the load;" \
            "p99 $p99a ms without deletion, $p99b ms with: $(awk -v a="$p99a" -v b="$p99b" \
            'BEGIN { if (a > 0) printf "%+.1f %%", (b - a) * 100 / a; else print "-" }')"
    fi
fi

gw_stop
warns=$(grep -ci 'error' "$tmp/gw.log" || true)
say "gateway log: $(wc -l <"$tmp/gw.log") lines, $warns mentioning 'error'; load average at the end: $(load_avg)"
echo
echo "== reports summary"
printf '%s\n' "${summary[@]}"
