#!/usr/bin/env bash
# Installs tests/node's packages exactly as package-lock.json pins them
# (`npm ci` from the npm registry), unless node_modules already holds that
# install (a stamp of the lock file's hash). scripts/run-integration.sh runs
# it before any test: the integration run needs it for the third-party OCPP
# client (run.sh) and for the OpenAPI check of the REST answers
# (check_rest_answers.js). Needs node and npm: scripts/deps.sh (`make deps`,
# part of `make test`) installs Debian's nodejs and npm.
# Exit 0 when ready; 1, saying why, when not: a missing tool is a failed
# set-up, never a skipped test.
set -u
here=$(cd "$(dirname "$0")" && pwd)
for t in node npm; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "tests/node: $t is not installed (make deps installs Debian's nodejs and npm)" >&2
        exit 1
    }
done
stamp=$here/node_modules/.ocppgw-lock.sha256
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && exit 0
log=$(mktemp)
if ! (cd "$here" && npm ci --no-audit --no-fund) >"$log" 2>&1; then
    echo "tests/node: npm ci failed:" >&2
    tail -20 "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
echo "$want" >"$stamp"
