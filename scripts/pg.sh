#!/usr/bin/env bash
# pg.sh: the project's private PostgreSQL cluster, for development and tests.
#
#   scripts/pg.sh start   initdb if needed, start if not running, print the URL
#   scripts/pg.sh stop    stop it (no-op when it is not running)
#   scripts/pg.sh url     print the URL without starting anything
#   scripts/pg.sh status  say whether it runs
#
# The cluster lives in $ELIER_PGDIR (default .pg/ at the repo root, git-ignored),
# listens on 127.0.0.1:$ELIER_PGPORT (default 54329) and on a Unix socket in
# $ELIER_PGDIR/run, with trust authentication: it is a private scratch cluster,
# never a server to expose. PostgreSQL refuses to run as root, so as root the
# server runs as the `postgres` OS user that Debian's packages create.
#
# ELIER_PG_STOCK=1 when the cluster is created keeps initdb's default settings
# (only where it listens is set): the loader benchmark also runs on such a
# server, as a new user's would be, not only on the tuned one.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pgdir=${ELIER_PGDIR:-$root/.pg}
port=${ELIER_PGPORT:-54329}
data=$pgdir/data
sock=$pgdir/run
log=$pgdir/server.log
url="postgres://elier@127.0.0.1:${port}/elier?sslmode=disable"

die() { echo "pg.sh: $*" >&2; exit 1; }

find_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir)
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  fi
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  die "no PostgreSQL server binaries found (initdb, pg_ctl).
  Install them:  apt-get update && apt-get install -y postgresql-15
  or point DATABASE_URL at a running server, e.g.
  DATABASE_URL=postgres://user:pass@host:5432/db make test"
}

# as_owner runs a command as the cluster's OS owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$pgdir" postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  [ -f "$data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

cmd=${1:-start}
case "$cmd" in
url) echo "$url"; exit 0 ;;
esac
bindir=$(find_bindir)

case "$cmd" in
start)
  if ! [ -f "$data/PG_VERSION" ]; then
    mkdir -p "$pgdir" "$sock"
    [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system postgres; chown -R postgres: "$pgdir"; }
    as_owner "$bindir/initdb" -D "$data" -U elier --auth=trust -E UTF8 --locale=C.UTF-8 >"$pgdir/initdb.log" 2>&1 \
      || { cat "$pgdir/initdb.log" >&2; die "initdb failed"; }
    # Where it listens, in every case (several checkouts run side by side).
    cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
logging_collector = off
CONF
    if [ "${ELIER_PG_STOCK:-0}" != 1 ]; then
      # Settings for a bulk-load-and-serve box of this size (2 cores, 24 GiB):
      # big buffers and checkpoints far apart so a multi-GB rebuild is not
      # throttled by checkpoints; the rest stays stock (fsync on).
      cat >>"$data/postgresql.conf" <<CONF
max_connections = 200
shared_buffers = 2GB
work_mem = 64MB
maintenance_work_mem = 1GB
max_wal_size = 16GB
checkpoint_timeout = 30min
wal_compression = on
max_parallel_maintenance_workers = 2
synchronous_commit = off
CONF
      # autoprewarm: a restarted server reloads the pages it had in
      # shared_buffers (the live build's documents) instead of serving its
      # first minute from disk; only where the contrib module is installed.
      if [ -f "$bindir/../lib/pg_prewarm.so" ]; then
        echo "shared_preload_libraries = 'pg_prewarm'" >>"$data/postgresql.conf"
      fi
    fi
  fi
  if ! running; then
    # -p: the port asked for now, not the one written at initdb (a data
    # directory first started with another ELIER_PGPORT otherwise listens
    # where nothing looks for it).
    as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -o "-p $port" -w -t 60 start >/dev/null \
      || { tail -20 "$log" >&2; die "the server did not start (log: $log)"; }
    as_owner "$bindir/psql" -h "$sock" -p "$port" -U elier -d postgres -qAtc \
      "SELECT 1 FROM pg_database WHERE datname='elier'" | grep -q 1 \
      || as_owner "$bindir/createdb" -h "$sock" -p "$port" -U elier elier
  fi
  echo "$url"
  ;;
stop)
  if [ -f "$data/PG_VERSION" ] && running; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
  ;;
status)
  if [ -f "$data/PG_VERSION" ] && running; then echo "running: $url"; else echo "stopped"; exit 3; fi
  ;;
*) die "usage: pg.sh start|stop|url|status" ;;
esac
