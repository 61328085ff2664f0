#!/usr/bin/env bash
# A private PostgreSQL 15 cluster in a directory of ours.
#
#   scripts/pg.sh start DIR   initdb if needed, start on a free local port
#                             (the one of the previous start when it is
#                             free), print the libpq conninfo on stdout
#   scripts/pg.sh stop DIR    stop it (fast shutdown); no-op if not running
#   scripts/pg.sh url DIR     print the conninfo of a running cluster
#   scripts/pg.sh destroy DIR stop and remove
#   scripts/pg.sh createdb DIR NAME
#                             a further (empty) database NAME in the running
#                             cluster; prints its conninfo
#
# initdb refuses to run as root, so as root the cluster runs as the
# `postgres` system user (created by Debian's postgresql package); otherwise
# as the invoking user. The socket lives in DIR/run, TCP on 127.0.0.1 only.
set -euo pipefail

PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
    for v in 17 16 15; do
        if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then PGBIN=/usr/lib/postgresql/$v/bin; break; fi
    done
fi
[ -n "$PGBIN" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: pg.sh start|stop|url|destroy DIR" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data=$dir/data
run=$dir/run
log=$dir/postgres.log

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

conninfo() {
    local port
    port=$(cat "$dir/port")
    echo "host=$run port=$port dbname=${1:-ocppgw} user=ocppgw"
}

running() {
    [ -f "$data/postmaster.pid" ] && as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

case "$cmd" in
start)
    if [ ! -f "$data/PG_VERSION" ]; then
        rm -rf "$data"
        mkdir -p "$data" "$run"
        if [ "$(id -u)" = 0 ]; then
            id postgres >/dev/null 2>&1 || { echo "pg.sh: running as root needs the 'postgres' user (apt-get install postgresql)" >&2; exit 1; }
            chown -R postgres:postgres "$dir"
            # every directory above must be traversable by postgres
            p=$dir; while [ "$p" != / ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
        fi
        as_owner "$PGBIN/initdb" -D "$data" -U ocppgw -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { echo "pg.sh: initdb failed, see $dir/initdb.log" >&2; exit 1; }
        cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$run'
max_connections = 300
shared_buffers = 256MB
wal_buffers = 16MB
max_wal_size = 2GB
checkpoint_timeout = 15min
log_min_messages = warning
CONF
    fi
    mkdir -p "$run"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$run" "$dir"
    if running; then conninfo; exit 0; fi
    # the port of the last run first, so that a restarted cluster keeps its
    # conninfo (clients reconnect to the same address); a random one if taken
    prev_port=$(cat "$dir/port" 2>/dev/null || true)
    for attempt in $(seq 1 20); do
        if [ "$attempt" = 1 ] && [[ "$prev_port" =~ ^[0-9]+$ ]]; then
            port=$prev_port
        else
            port=$(( 20000 + (RANDOM % 20000) ))
        fi
        if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then continue; fi
        echo "$port" >"$dir/port"
        if as_owner "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "-p $port" start >/dev/null 2>&1; then
            # the database itself (idempotent)
            if ! "$PGBIN/psql" -h "$run" -p "$port" -U ocppgw -d postgres -tAc \
                 "SELECT 1 FROM pg_database WHERE datname='ocppgw'" | grep -q 1; then
                "$PGBIN/createdb" -h "$run" -p "$port" -U ocppgw ocppgw
            fi
            conninfo
            exit 0
        fi
    done
    echo "pg.sh: could not start PostgreSQL, see $log" >&2
    exit 1
    ;;
stop)
    if running; then as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    ;;
url)
    running || { echo "pg.sh: not running in $dir" >&2; exit 1; }
    conninfo
    ;;
createdb)
    name=${3:-}
    [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || { echo "pg.sh: createdb needs a database name" >&2; exit 2; }
    running || { echo "pg.sh: not running in $dir" >&2; exit 1; }
    "$PGBIN/createdb" -h "$run" -p "$(cat "$dir/port")" -U ocppgw "$name"
    conninfo "$name"
    ;;
destroy)
    if running; then as_owner "$PGBIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg.sh start|stop|url|destroy DIR | createdb DIR NAME" >&2; exit 2 ;;
esac
