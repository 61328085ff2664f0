#!/usr/bin/env bash
# Runs every ```sh example of docs/api.md, in order and as written, against a
# fresh gateway the way `make run` starts one (private PostgreSQL, an admin key
# in a key file, --auto-register), and checks the HTTP status of every curl:
# 2xx, or the status a preceding "# answers NNN ..." comment names. A
# preceding "# expect: FILTER" comment also checks the body: `jq -e FILTER`
# must hold (e.g. "# expect: .sessionId != null"). Any other command that
# exits non-zero (ocppgw, psql, the last command of a pipeline) fails too.
#
#   make all && tests/docs_examples.sh          (needs curl, jq, PostgreSQL)
#
# DOC names what runs, instead of docs/api.md: one or more FILE or
# FILE#HEADING separated by "|", run one after the other on the same gateway
# (FILE#HEADING: only the blocks under that "## " heading), e.g.
#   DOC='README.md#A five-minute tour|docs/api.md' tests/docs_examples.sh
# runs README.md's tour, then docs/api.md's examples.
#
# The only rewriting: the gateway listens on a free port instead of 8080,
# var/dev-api-key is this run's key file, var/pg its database's directory,
# and (./)build/ocppsim and (./)build/ocppgw are $BUILD's. A one-line
# `build/ocppsim ... --mode serve|demo ...` example without --duration (which
# a reader runs in a terminal of its own, or in the background with a
# trailing `&`: it serves until stopped) is started in the background (its
# pid in $!), and the examples go on once each of its chargers (--prefix,
# --chargers; the demo's DEMO-1 ...) is connected with a connector Available
# (the demo's: and connector 1 charging with its session committed); it is stopped at the next "## "
# section heading (or at the end) unless an example stopped it. With
# OCPPGW_REST_ANSWERS set (scripts/run-integration.sh sets it), every answer
# a curl of the examples receives is appended to that file as one JSON line,
# for the run's check against docs/openapi.json
# (tests/node/check_rest_answers.js). Prints each example's output, then
#   docs examples: N passed, M failed
# and exits non-zero on any failure. OCPPGW_DOCS_KEEP=1 keeps the temp dir.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DOC=${DOC:-docs/api.md}
IFS='|' read -r -a docs <<<"$DOC"
for d in "${docs[@]}"; do
    [ -f "${d%%#*}" ] || { echo "docs_examples: ${d%%#*} not found" >&2; exit 2; }
done
for f in "$BUILD/ocppgw" "$BUILD/ocppsim"; do
    [ -x "$f" ] || { echo "docs_examples: $f is missing (make all)" >&2; exit 2; }
done
for t in curl jq; do
    command -v "$t" >/dev/null || { echo "docs_examples: $t is not installed" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/ocppgw-docs.XXXXXX) || exit 1
gw_pid=
cleanup() {
    # a simulator the examples left running (see docs_sim_start below)
    [ -s "$tmp/ocppsim.pid" ] && kill -TERM "$(cat "$tmp/ocppsim.pid")" 2>/dev/null
    [ -n "$gw_pid" ] && kill -TERM "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1 || true
    if [ "${OCPPGW_DOCS_KEEP:-}" = 1 ]; then echo "docs_examples: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

db=$(scripts/pg.sh start "$tmp/pg") || { echo "docs_examples: could not start PostgreSQL" >&2; exit 1; }
"$BUILD/ocppgw" migrate --db "$db" >/dev/null || exit 1
( umask 077; "$BUILD/ocppgw" apikey create --name dev-admin --scopes admin --db "$db" >"$tmp/dev-api-key" ) || exit 1

# The port: below the kernel's ephemeral range (32768 and up), where no
# client socket of a test running beside this one can hold it; another
# listener still can, so a gateway that cannot listen is started again on
# another port (up to 5 times). The gateway's last lines are prefixed so
# that it_rest_docs shows them.
start_gateway() {
    local p
    for _ in $(seq 1 50); do
        p=$(( 20000 + RANDOM % 12000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
    done
    [ -n "$port" ] || { echo "docs_examples: no free port" >&2; exit 1; }
    "$BUILD/ocppgw" serve --db "$db" --listen "127.0.0.1:$port" --auto-register >"$tmp/gateway.log" 2>&1 &
    gw_pid=$!
    for _ in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$gw_pid" 2>/dev/null || { wait "$gw_pid" 2>/dev/null; gw_pid=; return 1; }
        sleep 0.1
    done
    return 0
}
port=
for attempt in 1 2 3 4 5; do
    start_gateway && break
    if [ "$attempt" -lt 5 ] && grep -q "cannot listen" "$tmp/gateway.log"; then
        echo "docs_examples: port $port was taken; another" >&2
        port=
        continue
    fi
    echo "docs_examples: the gateway exited:" >&2
    tail -20 "$tmp/gateway.log" | sed 's/^/docs_examples: gateway: /' >&2
    exit 1
done

# One script of every block: a curl that checks the status, then the blocks.
runner=$tmp/examples.sh
{
    cat <<'HEAD'
set -u
EXPECT=
EXPECT_JQ=
curl() {
    local body hdrs out code method url expect=${EXPECT:-2xx} jqx=${EXPECT_JQ:-} shown="$*"
    EXPECT=
    EXPECT_JQ=
    [ -n "${KEY:-}" ] && shown=${shown//"$KEY"/'$KEY'}
    body=$(mktemp -p "$DOCS_TMP")
    hdrs=$(mktemp -p "$DOCS_TMP")
    if ! out=$(command curl -sS -o "$body" -D "$hdrs" -w '%{http_code} %{method} %{url_effective}' "$@"); then
        echo "FAILED: example at $DOC:$LINE: curl itself failed: curl $shown" >&2
        echo x >>"$DOCS_TMP/failed"
        return 1
    fi
    read -r code method url <<<"$out"
    # the answer, for the integration run's check against docs/openapi.json
    # (an example with -i has the header block in its body file too)
    if [ -n "${OCPPGW_REST_ANSWERS:-}" ]; then
        jq -cn --arg m "$method" --arg u "$url" --argjson st "$code" --rawfile h "$hdrs" --rawfile b "$body" \
            'def body: if startswith("HTTP/") and index("\r\n\r\n") then .[index("\r\n\r\n") + 4:] | body else . end;
             {source: "docs_examples", method: $m, path: ($u | sub("^[a-z]+://[^/]*"; "")), status: $st,
              headers: $h, body: ($b | body)}' >>"$OCPPGW_REST_ANSWERS"
    fi
    cat "$body"
    case $expect in
        2xx) [[ $code == 2?? ]] ;;
        *) [[ $code == "$expect" ]] ;;
    esac
    if [ $? -ne 0 ]; then
        echo "FAILED: example at $DOC:$LINE: HTTP $code, expected $expect: curl $shown" >&2
        echo x >>"$DOCS_TMP/failed"
    elif [ -n "$jqx" ] && ! jq -e "$jqx" "$body" >/dev/null 2>&1; then
        echo "FAILED: example at $DOC:$LINE: HTTP $code, but the answer does not satisfy $jqx: curl $shown" >&2
        echo x >>"$DOCS_TMP/failed"
    else
        echo x >>"$DOCS_TMP/passed"
        echo "  [HTTP $code]" >&2
    fi
}
# A simulator that serves until stopped (the reader's second terminal): in
# the background, and on once its chargers are connected and Available.
docs_sim_start() {
    local prefix= n= mode= a prev= i id ready pid fmt=%s%06d want
    for a in "$@"; do
        case $prev in
            --prefix) prefix=$a ;;
            --chargers) n=$a ;;
            --mode) mode=$a ;;
        esac
        prev=$a
    done
    want='.connected and any(.connectors[]; .status == "Available")'
    if [ "$mode" = demo ]; then
        fmt=%s%d
        want="$want and any(.connectors[]; .connectorId == 1 and .status == \"Charging\")"
    fi
    [ -n "$prefix" ] || { [ "$mode" = demo ] && prefix=DEMO- || prefix=BENCH-; }
    [ -n "$n" ] || { [ "$mode" = demo ] && n=3 || n=1; }
    "$@" >"$DOCS_TMP/ocppsim.log" 2>&1 &
    pid=$!
    echo "$pid" >"$DOCS_TMP/ocppsim.pid"
    for i in $(seq 1 "$n"); do
        # shellcheck disable=SC2059
        id=$(printf "$fmt" "$prefix" "$i")
        ready=
        for _ in $(seq 1 150); do
            # the demo: also its session committed (the Charging status can be stored first)
            if command curl -sf -H "Authorization: Bearer $(cat "$DOCS_KEYFILE")" "$DOCS_BASE/v1/chargers/$id" \
                | jq -e "$want" >/dev/null 2>&1 &&
                { [ "$mode" != demo ] || command curl -sf -H "Authorization: Bearer $(cat "$DOCS_KEYFILE")" \
                    "$DOCS_BASE/v1/chargers/$id/sessions?status=active" | jq -e '.data | length > 0' >/dev/null 2>&1; }; then
                ready=1
                break
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if [ -z "$ready" ]; then
            echo "FAILED: example at $DOC:$LINE: simulated charger $id not connected and Available:" >&2
            tail -5 "$DOCS_TMP/ocppsim.log" >&2
            echo x >>"$DOCS_TMP/failed"
            return 1
        fi
    done
    echo "  [simulator serving: $n charger(s) from $(printf "$fmt" "$prefix" 1)]" >&2
}
docs_sim_stop() {
    local pid
    [ -s "$DOCS_TMP/ocppsim.pid" ] || return 0
    pid=$(cat "$DOCS_TMP/ocppsim.pid")
    kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -f "$DOCS_TMP/ocppsim.pid"
    echo "  [simulator stopped]" >&2
}
# Any other command of an example that fails (ocppgw, psql, a pipeline's
# last command, ...) fails the example too.
docs_err() {
    local st=$?
    echo "FAILED: example at $DOC:$LINE: exit status $st" >&2
    echo x >>"$DOCS_TMP/failed"
}
trap docs_err ERR
HEAD
    for d in "${docs[@]}"; do
        file=${d%%#*}
        section=
        [ "$file" = "$d" ] || section=${d#*#}
        printf 'DOC=%q\n' "$file"
        awk -v port="$port" -v keyfile="$tmp/dev-api-key" -v pgdir="$tmp/pg" -v build="$BUILD" -v section="$section" '
            BEGIN { insec = section == "" }
            !inb && /^## / { if (serving) print "docs_sim_stop"; serving = 0; if (section != "") insec = substr($0, 4) == section }
            !insec { next }
            /^[[:space:]]*```sh[[:space:]]*$/ { inb = 1; printf "echo; echo \"--- example at line %d\" >&2\n", NR + 1; next }
            /^[[:space:]]*```/ { inb = 0; next }
            !inb { next }
            {
                line = $0
                sub(/^   /, "", line)        # a block indented in a list item
                gsub(/127\.0\.0\.1:8080/, "127.0.0.1:" port, line)
                gsub(/--port 8080/, "--port " port, line)
                gsub(/var\/dev-api-key/, keyfile, line)
                gsub(/var\/pg/, pgdir, line)
                if (!cont && line ~ /^(\.\/)?build\/ocppgw /) {
                    sub(/^(\.\/)?build\/ocppgw/, "", line)
                    line = "\"" build "/ocppgw\"" line
                }
                if (match(line, /^# answers [0-9][0-9][0-9]/)) {
                    printf "LINE=%d; EXPECT=%s\n", NR, substr(line, 11, 3)
                    next
                }
                if (match(line, /^# expect: /)) {
                    f = substr(line, RLENGTH + 1)
                    gsub(/'"'"'/, "'"'"'\\'"'"''"'"'", f)
                    printf "LINE=%d; EXPECT_JQ='"'"'%s'"'"'\n", NR, f
                    next
                }
                if (!cont && line ~ /^(\.\/)?build\/ocppsim /) {
                    rest = line
                    sub(/^(\.\/)?build\/ocppsim/, "", rest)
                    if (rest ~ /--mode (serve|demo)/ && rest !~ /--duration/ && rest !~ /\\$/) {
                        sub(/[[:space:]]*&[[:space:]]*$/, "", rest)
                        printf "LINE=%d\ndocs_sim_start \"%s/ocppsim\"%s\n", NR, build, rest
                        serving = 1
                        next
                    }
                    line = "\"" build "/ocppsim\"" rest
                }
                if (!cont) printf "LINE=%d\n", NR
                print line
                q = (q + gsub(/'"'"'/, "&", line)) % 2
                cont = (line ~ /\\$/) || q
            }
        ' "$file"
        echo "docs_sim_stop"
    done
    echo "exit 0"
} >"$runner"

touch "$tmp/passed" "$tmp/failed"
DOCS_TMP=$tmp DOCS_BASE="http://127.0.0.1:$port" DOCS_KEYFILE="$tmp/dev-api-key" bash "$runner"
rc=$?
passed=$(wc -l <"$tmp/passed")
failed=$(wc -l <"$tmp/failed")
if [ "$rc" -ne 0 ]; then
    echo "docs_examples: the examples' script exited $rc" >&2
    failed=$(( failed + 1 ))
fi
if [ "$passed" -eq 0 ]; then
    echo "docs_examples: no example ran" >&2
    failed=$(( failed + 1 ))
fi
echo
echo "docs examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
