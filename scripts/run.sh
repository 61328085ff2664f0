#!/usr/bin/env bash
# `make run`: a development gateway in the foreground.
#  - uses $DATABASE_URL if set, else a private PostgreSQL under var/pg
#  - applies the migrations
#  - creates a development admin API key once (kept in var/dev-api-key) and prints it
#  - serves OCPP and REST on $OCPPGW_LISTEN (default 0.0.0.0:8080) with
#    auto-registration of unknown chargers (development only)
#  - refuses to start, with one line and before the banner, when the port is
#    taken (another ocppgw?)
# Ctrl-C stops the gateway; `make stop-db` stops the private database.
# OCPPGW_VAR (default var) is where the private database and the key live.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/ocppgw
VAR=${OCPPGW_VAR:-var}
mkdir -p "$VAR"

LISTEN=${OCPPGW_LISTEN:-0.0.0.0:8080}
PORT=${LISTEN##*:}
HOST=${LISTEN%:*}
case $HOST in ''|0.0.0.0|\*) HOST=127.0.0.1 ;; esac
# Something already accepting there? (The gateway checks again when it binds.)
if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
    echo "ocppgw: cannot listen on $LISTEN: address already in use (another ocppgw? choose another with" \
         "OCPPGW_LISTEN, e.g. OCPPGW_LISTEN=127.0.0.1:8081 make run)" >&2
    exit 1
fi

if [ -n "${DATABASE_URL:-}" ]; then
    DB=$DATABASE_URL
    DBHOW="DATABASE_URL"
    echo "run: using DATABASE_URL"
else
    DB=$(scripts/pg.sh start "$VAR/pg")
    DBHOW="private, under $VAR/pg; for the ocppgw CLI: DATABASE_URL=\$(scripts/pg.sh url $VAR/pg)"
    echo "run: private PostgreSQL: $DB   (stop it with: make stop-db)"
fi

"$BIN" migrate --db "$DB"

keyfile=$VAR/dev-api-key
if [ ! -s "$keyfile" ]; then
    ( umask 077; "$BIN" apikey create --name dev-admin --scopes admin --db "$DB" > "$keyfile" )
fi
KEY=$(cat "$keyfile")

cat <<MSG

  ocppgw development gateway
  OCPP 1.6J:   ws://127.0.0.1:$PORT/ocpp/<chargePointId>   (subprotocol ocpp1.6; unknown ids auto-register)
  REST:        http://127.0.0.1:$PORT/v1/...
  Admin key:   $KEY   (also in $keyfile)
  Database:    $DB
               ($DBHOW)
  Try:         curl -s http://127.0.0.1:$PORT/healthz
               curl -s -H "Authorization: Bearer $KEY" http://127.0.0.1:$PORT/v1/chargers
  Demo:        $BUILD/ocppsim --host 127.0.0.1 --port $PORT --mode demo   (three chargers; README.md's tour)

MSG
exec "$BIN" serve --db "$DB" --listen "$LISTEN" --auto-register ${OCPPGW_LOG_LEVEL:+--log-level "$OCPPGW_LOG_LEVEL"}
