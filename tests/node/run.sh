#!/usr/bin/env bash
# A third-party OCPP 1.6J client in strict schema mode (npm ocpp-rpc with
# strictMode: true) runs a whole session against the real gateway.
# Needs OCPPGW_BIN, OCPPGW_TEST_DB and OCPPGW_TEST_TMP (scripts/run-integration.sh).
# Exit 0 pass, 1 fail: without node or its packages it fails (setup.sh says
# why); it never skips.
set -u
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh" || { echo "strict client: tests/node is not set up"; exit 1; }
log="$OCPPGW_TEST_TMP/strict-client-gateway.log"
# a random port can be taken by another test run on the machine: try another
for _ in 1 2 3 4 5; do
    port=$(( 30000 + RANDOM % 20000 ))
    "$OCPPGW_BIN" serve --db "$OCPPGW_TEST_DB" --listen "127.0.0.1:$port" --auto-register >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && break
    wait "$pid" 2>/dev/null
done
psql "$OCPPGW_TEST_DB" -qc "INSERT INTO tokens (id_tag, status) VALUES ('NODE-TAG-1', 'Accepted') ON CONFLICT DO NOTHING" >/dev/null
node "$here/strict_client.js" "$port" NODE-STRICT-1 NODE-TAG-1
rc=$?
kill -TERM "$pid"; wait "$pid"; gw_rc=$?
[ "$gw_rc" -eq 0 ] || { echo "strict client: gateway exited with $gw_rc (log $log)"; rc=1; }
exit $rc
