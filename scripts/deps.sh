#!/usr/bin/env bash
# The install step shared by `make run`, `make test` and `make bench`: checks
# for every build and test dependency and apt-installs what is missing when
# it can (root, or passwordless sudo); otherwise says exactly what to install
# and fails. The integration run needs node and npm (tests/node: the
# third-party OCPP client and the OpenAPI check of the REST answers, whose
# packages tests/node/setup.sh installs with npm ci), jq (the docs examples)
# and curl: none of them is optional, a missing one fails the set-up here.
set -euo pipefail

# package : how we check for it
need=(
    "build-essential:cc"
    "pkg-config:pkg-config"
    "libwebsockets-dev:pc:libwebsockets"
    "libcjson-dev:pc:libcjson"
    "libpq-dev:pc:libpq"
    "libssl-dev:pc:libcrypto"
    "libinih-dev:pc:inih"
    "libsystemd-dev:pc:libsystemd"
    "libuv1-dev:pc:libuv"
    "libcmocka-dev:pc:cmocka"
    "libcurl4-openssl-dev:pc:libcurl"
    "postgresql:file:/usr/lib/postgresql/15/bin/initdb"
    "wrk:wrk"
    "curl:curl"
    "jq:jq"
    "nodejs:node"
    "npm:npm"
    "tzdata:file:/usr/share/zoneinfo/Europe/Berlin"
)

missing=()
for entry in "${need[@]}"; do
    pkg=${entry%%:*}; rest=${entry#*:}
    case "$rest" in
        pc:*)   pkg-config --exists "${rest#pc:}" 2>/dev/null || missing+=("$pkg") ;;
        file:*) [ -e "${rest#file:}" ] || { [ "$pkg" = postgresql ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing+=("$pkg") ;;
        *)      command -v "$rest" >/dev/null 2>&1 || missing+=("$pkg") ;;
    esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" = 0 ]; then
    SUDO=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
else
    echo "deps: missing packages; run:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2 || true
if ! $SUDO apt-get install -y -qq "${missing[@]}" >&2; then
    echo "deps: apt-get failed; install by hand:  apt-get install -y ${missing[*]}" >&2
    exit 1
fi
