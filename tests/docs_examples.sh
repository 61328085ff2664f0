#!/usr/bin/env bash
# Runs every ```sh example of docs/api.md, in order and as written, against a
# fresh gateway the way `make run` starts one (private PostgreSQL, an admin key
# in a key file, --auto-register), and checks the HTTP status of every curl:
# 2xx, or the status a preceding "# answers NNN ..." comment names.
#
#   make all && tests/docs_examples.sh          (needs curl, jq, PostgreSQL)
#
# The only rewriting: the gateway listens on a free port instead of 8080, and
# var/dev-api-key is this run's key file. Prints each example's output, then
#   docs examples: N passed, M failed
# and exits non-zero on any failure. OCPPGW_DOCS_KEEP=1 keeps the temp dir.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DOC=${DOC:-docs/api.md}
for f in "$BUILD/ocppgw" "$BUILD/ocppsim"; do
    [ -x "$f" ] || { echo "docs_examples: $f is missing (make all)" >&2; exit 2; }
done
for t in curl jq; do
    command -v "$t" >/dev/null || { echo "docs_examples: $t is not installed" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/ocppgw-docs.XXXXXX) || exit 1
gw_pid=
cleanup() {
    [ -n "$gw_pid" ] && kill -TERM "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null
    scripts/pg.sh destroy "$tmp/pg" >/dev/null 2>&1 || true
    if [ "${OCPPGW_DOCS_KEEP:-}" = 1 ]; then echo "docs_examples: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

db=$(scripts/pg.sh start "$tmp/pg") || { echo "docs_examples: could not start PostgreSQL" >&2; exit 1; }
"$BUILD/ocppgw" migrate --db "$db" >/dev/null || exit 1
( umask 077; "$BUILD/ocppgw" apikey create --name dev-admin --scopes admin --db "$db" >"$tmp/dev-api-key" ) || exit 1

port=
for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "docs_examples: no free port" >&2; exit 1; }
"$BUILD/ocppgw" serve --db "$db" --listen "127.0.0.1:$port" --auto-register >"$tmp/gateway.log" 2>&1 &
gw_pid=$!
for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$gw_pid" 2>/dev/null || { echo "docs_examples: the gateway exited:" >&2; tail -20 "$tmp/gateway.log" >&2; exit 1; }
    sleep 0.1
done

# One script of every block: a curl that checks the status, then the blocks.
runner=$tmp/examples.sh
{
    cat <<'HEAD'
set -u
EXPECT=
curl() {
    local body code expect=${EXPECT:-2xx} shown="$*"
    EXPECT=
    [ -n "${KEY:-}" ] && shown=${shown//"$KEY"/'$KEY'}
    body=$(mktemp -p "$DOCS_TMP")
    if ! code=$(command curl -sS -o "$body" -w '%{http_code}' "$@"); then
        echo "FAILED: example at $DOC:$LINE: curl itself failed: curl $shown" >&2
        echo x >>"$DOCS_TMP/failed"
        return 1
    fi
    cat "$body"
    case $expect in
        2xx) [[ $code == 2?? ]] ;;
        *) [[ $code == "$expect" ]] ;;
    esac
    if [ $? -eq 0 ]; then
        echo x >>"$DOCS_TMP/passed"
        echo "  [HTTP $code]" >&2
    else
        echo "FAILED: example at $DOC:$LINE: HTTP $code, expected $expect: curl $shown" >&2
        echo x >>"$DOCS_TMP/failed"
    fi
}
HEAD
    awk -v port="$port" -v keyfile="$tmp/dev-api-key" '
        /^```sh[[:space:]]*$/ { inb = 1; printf "echo; echo \"--- example at line %d\" >&2\n", NR + 1; next }
        /^```/ { inb = 0; next }
        !inb { next }
        {
            line = $0
            gsub(/127\.0\.0\.1:8080/, "127.0.0.1:" port, line)
            gsub(/--port 8080/, "--port " port, line)
            gsub(/var\/dev-api-key/, keyfile, line)
            if (match(line, /^# answers [0-9][0-9][0-9]/)) {
                printf "LINE=%d; EXPECT=%s\n", NR, substr(line, 11, 3)
                next
            }
            if (!cont) printf "LINE=%d\n", NR
            print line
            q = (q + gsub(/'"'"'/, "&", line)) % 2
            cont = (line ~ /\\$/) || q
        }
    ' "$DOC"
    echo "exit 0"
} >"$runner"

touch "$tmp/passed" "$tmp/failed"
DOCS_TMP=$tmp DOC=$DOC bash "$runner"
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
