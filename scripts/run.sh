#!/usr/bin/env bash
# `make run`: a development gateway in the foreground.
#  - uses $DATABASE_URL if set, else a private PostgreSQL under var/pg
#  - applies the migrations
#  - creates a development admin API key once (kept in var/dev-api-key) and prints it
#  - serves OCPP and REST on $OCPPGW_LISTEN (default 0.0.0.0:8080) with
#    auto-registration of unknown chargers (development only)
# Ctrl-C stops the gateway; `make stop-db` stops the private database.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/ocppgw
mkdir -p var

if [ -n "${DATABASE_URL:-}" ]; then
    DB=$DATABASE_URL
    echo "run: using DATABASE_URL"
else
    DB=$(scripts/pg.sh start var/pg)
    echo "run: private PostgreSQL: $DB   (stop it with: make stop-db)"
fi

"$BIN" migrate --db "$DB"

keyfile=var/dev-api-key
if [ ! -s "$keyfile" ]; then
    ( umask 077; "$BIN" apikey create --name dev-admin --scopes admin --db "$DB" > "$keyfile" )
fi
KEY=$(cat "$keyfile")

LISTEN=${OCPPGW_LISTEN:-0.0.0.0:8080}
PORT=${LISTEN##*:}
cat <<MSG

  ocppgw development gateway
  OCPP 1.6J:   ws://127.0.0.1:$PORT/ocpp/<chargePointId>   (subprotocol ocpp1.6; unknown ids auto-register)
  REST:        http://127.0.0.1:$PORT/v1/...
  Admin key:   $KEY
  Try:         curl -s http://127.0.0.1:$PORT/healthz
               curl -s -H "Authorization: Bearer $KEY" http://127.0.0.1:$PORT/v1/chargers

MSG
exec "$BIN" serve --db "$DB" --listen "$LISTEN" --auto-register ${OCPPGW_LOG_LEVEL:+--log-level "$OCPPGW_LOG_LEVEL"}
