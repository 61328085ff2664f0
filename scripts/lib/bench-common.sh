# shellcheck shell=bash
# Helpers of the benchmark scripts (bench.sh, restart-bench.sh,
# webhook-bench.sh, sse-latency.sh, shutdown-bench.sh), sourced from the
# repository's root:
#
#   . scripts/lib/bench-common.sh
#
# Defines functions only (and CLK_TCK); a script keeps its own state (temp
# dir, pids, ports) and its own trap. Loopback only.

CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: CPU time (utime+stime) of one process, in clock ticks; 0 if it is gone
cpu_ticks() {
    # fields after the ")" of comm: state=1 ... utime=12 stime=13
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo $(( ${12} + ${13} ))
}

# pg_ticks DATADIR: cpu_ticks of a cluster's postmaster and its children
pg_ticks() {
    local pm sum=0 p
    pm=$(head -1 "$1/postmaster.pid" 2>/dev/null) || { echo 0; return; }
    for p in "$pm" $(pgrep -P "$pm" 2>/dev/null); do
        sum=$(( sum + $(cpu_ticks "$p") ))
    done
    echo "$sum"
}

# ticks_secs TICKS: "12.3" (seconds, from clock ticks)
ticks_secs() { awk -v t="$1" -v h="$CLK_TCK" 'BEGIN { printf "%.1f", t / h }'; }
# ms_secs MS: "12.34" (seconds, from milliseconds)
ms_secs() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }
now_ms() { date +%s%3N; }

# field KEY LINE [DEFAULT]: the value of KEY=value in a line of KEY=value words
# (ocppsim's RESULT and SERVED lines, sse_latency's line); DEFAULT (empty) if absent
field() {
    local v
    v=$(sed -n 's/.* '"$1"'=\([^ ]*\).*/\1/p' <<<" $2")
    echo "${v:-${3:-}}"
}
# jnum KEY JSON: the number after "KEY": in a JSON line (the first one), or "-"
jnum() {
    local v
    v=$(sed -n 's/.*"'"$1"'": *\(-\{0,1\}[0-9.]*\).*/\1/p' <<<"$2" | head -1)
    echo "${v:--}"
}

# free_port: a port on 127.0.0.1 that nothing listens on now
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$(( 20000 + RANDOM % 20000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    return 1
}

# wait_http PORT PATH [TENTHS]: until GET PATH answers 2xx (default 100 tenths of a second); false if not
wait_http() {
    local i
    for _ in $(seq 1 "${3:-100}"); do
        curl -fsS -o /dev/null "http://127.0.0.1:$1$2" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# stop_pid PID [TENTHS]: SIGTERM, up to TENTHS (100) tenths of a second to exit, then SIGKILL
stop_pid() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 "${2:-100}"); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# db_start DIR GW: a private cluster in DIR (scripts/pg.sh), migrated by the
# gateway binary GW; prints its conninfo; on failure says why on stderr
db_start() {
    local conn
    conn=$(scripts/pg.sh start "$1") || { echo "could not start PostgreSQL in $1" >&2; return 1; }
    "$2" migrate --db "$conn" >"$1.migrate.log" 2>&1 \
        || { echo "migrate failed:" >&2; cat "$1.migrate.log" >&2; return 1; }
    echo "$conn"
}

# load_avg: the 1-, 5- and 15-minute load averages, "1.65 0.79 0.74"
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
