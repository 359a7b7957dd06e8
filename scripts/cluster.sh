#!/usr/bin/env bash
# cluster.sh: the scaled-out catalogue on this machine, on 127.0.0.1 only.
#
#   scripts/cluster.sh up      start it all (idempotent): one etcd, two
#                              PostgreSQL members under Patroni (one leads, the
#                              other is a hot standby that takes over when the
#                              leader is lost), two elier-api instances reading
#                              a standby (the leader when none is up), nginx in
#                              front; load the sample export into the leader
#   scripts/cluster.sh down    stop everything `up` started (data is kept)
#   scripts/cluster.sh status  say what runs, and who leads
#   scripts/cluster.sh test    the failure, failover and rebuild scenarios,
#                              with a summary (starts the cluster first and
#                              stops it after, unless it was already up)
#   scripts/cluster.sh bench   wrk throughput through nginx, two APIs and one
#   scripts/cluster.sh env     the effective configuration, KEY=VALUE
#   scripts/cluster.sh patronictl ARGS...   patronictl with member 1's configuration
#   scripts/cluster.sh clean   down, then remove the working directory
#
# Ports and settings come from deploy/cluster.env (compose.yaml reads the same
# file); a variable set in the environment wins. Everything lives in
# $ELIER_CLUSTER_DIR (default .cluster/ at the repo root, git-ignored): one
# directory per process with its data, log and pid file. PostgreSQL refuses to
# run as root, so as root Patroni (which runs PostgreSQL) runs as the
# `postgres` OS user, as pg.sh runs PostgreSQL.
#
# Nothing is re-pointed by hand when the leader changes: every client lists
# both members and lets target_session_attrs pick (the loader and the cart:
# read-write, the leader; the catalogue: prefer-standby), see docs/DEPLOY.md.
#
# Authentication is scram-sha-256 for every connection, replication and
# pg_rewind included. Each role has a generated password in
# $ELIER_CLUSTER_DIR/secrets (mode 0600, never printed): the administrator
# PG_USER (Patroni's superuser, the scenarios' and psql's), the loader's
# elier_owner, the APIs' elier_api, the standby's elier_replication and
# pg_rewind's elier_rewind (both created by Patroni at bootstrap; the
# others by sql/roles.sql, applied by `elier-etl roles` at every `up`).
# Programs find them through PGPASSFILE; no URL holds a password. Patroni's
# configuration holds the three it needs, in a 0600 file of the member's
# directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${ELIER_CLUSTER_DIR:-$root/.cluster}
envfile=$root/deploy/cluster.env

die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*" >&2; }

# cluster.env: plain KEY=VALUE lines; the environment wins.
while IFS= read -r line || [ -n "$line" ]; do
  case $line in '' | '#'*) continue ;; esac
  key=${line%%=*} val=${line#*=}
  [[ $key =~ ^[A-Z][A-Z0-9_]*$ ]] || die "$envfile: bad line: $line"
  [ -n "${!key+x}" ] || printf -v "$key" '%s' "$val"
  export "${key?}"
done <"$envfile"

host=127.0.0.1
secrets=$work/secrets
export PGPASSFILE=$secrets/pgpass
pg_ports=("$PG1_PORT" "$PG2_PORT")
rest_ports=("$PATRONI1_PORT" "$PATRONI2_PORT")
members=$host:$PG1_PORT,$host:$PG2_PORT
# The leader, whichever member it is: libpq and pgx try the hosts in turn
# and keep the one that accepts writes.
primary_url="postgres://$PG_USER@$members/$PG_DB?sslmode=disable&target_session_attrs=read-write"
admin_url="postgres://$PG_USER@$members/postgres?sslmode=disable&target_session_attrs=read-write"
loader_url="postgres://$PG_OWNER_USER@$members/$PG_DB?sslmode=disable&target_session_attrs=read-write"
# The catalogue: a standby while one is up, the leader otherwise (pgx v5
# implements libpq's target_session_attrs=prefer-standby).
api_db_url="postgres://$PG_API_USER@$members/$PG_DB?$API_DB_PARAMS"
# The cart is read and written on the leader only, as the API's role (its
# pool insists on read-write whatever the URL says); nginx on 127.0.0.1 is
# the proxy whose X-Forwarded-Proto the APIs believe.
api_primary_url="postgres://$PG_API_USER@$members/$PG_DB?sslmode=disable&target_session_attrs=read-write"
api_cart_flags=(--primary-url "$api_primary_url" --trusted-proxies "$API_TRUSTED_PROXIES")
api_flags=(--cache-mb "$API_CACHE_MB" --max-age "$API_MAX_AGE" "${api_cart_flags[@]}")
api_ports=("$API1_PORT" "$API2_PORT")
etl=$root/bin/elier-etl
api_bin=$root/bin/elier-api
loadcheck=$work/bin/loadcheck
export_dir=$work/data          # the export `up` loads
export_alt=$work/data-alt      # the same size, another seed: a changed export

# ---------------------------------------------------------------- PostgreSQL

find_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir)
    [ -x "$d/initdb" ] && [ -x "$d/pg_rewind" ] && { echo "$d"; return; }
  fi
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  die "no PostgreSQL server binaries found (initdb, pg_ctl, pg_rewind):
  apt-get update && apt-get install -y postgresql-15"
}

# as_owner runs a command as the servers' OS owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

own() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$work" postgres
    chown -R postgres: "$@"
  fi
}

# ensure_secrets generates a password per role when missing, and the
# passfile every program here reads (PGPASSFILE).
ensure_secrets() {
  local r
  mkdir -p "$secrets"
  chmod 700 "$secrets"
  for r in admin owner reader api replication rewind; do
    [ -s "$secrets/$r.password" ] \
      || (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$secrets/$r.password")
  done
  (
    umask 077
    for r in "admin:$PG_USER" "owner:$PG_OWNER_USER" "api:$PG_API_USER" "replication:$PG_REPLICATION_USER"; do
      echo "$host:*:*:${r#*:}:$(<"$secrets/${r%%:*}.password")"
    done >"$secrets/pgpass"
  )
}

# apply_roles creates the catalogue's roles with their passwords, on the
# leader.
apply_roles() {
  "$etl" roles --database-url "$primary_url" --owner-password-file "$secrets/owner.password" \
    --reader-password-file "$secrets/reader.password" --api-password-file "$secrets/api.password" \
    --replication-password-file "$secrets/replication.password" >"$work/roles.log" 2>&1 \
    || { cat "$work/roles.log" >&2; die "elier-etl roles failed"; }
}

member_dir() { echo "$work/pg$1"; }
member_name() { echo "elier-pg$1"; }
member_url() { echo "postgres://$PG_USER@$host:${pg_ports[$1 - 1]}/$PG_DB?sslmode=disable"; }
rest() { echo "http://$host:${rest_ports[$1 - 1]}"; }

psql_url() { # URL SQL: one value, unaligned
  "$bindir/psql" -X -qAt -d "$1" -c "$2"
}
psql_at() { psql_url "$primary_url" "$1"; } # SQL, on the leader

# pg_parameters: deploy/postgresql.conf's settings as YAML map entries (the
# bootstrap DCS configuration's postgresql.parameters: every member runs
# the same ones, and `patronictl edit-config` changes them for all).
pg_parameters() {
  sed -n "s/^[[:space:]]*\([a-z_]*\)[[:space:]]*=[[:space:]]*\(.*\)$/\1 \2/p" "$root/deploy/postgresql.conf" \
    | while read -r k v; do
      v=${v%%#*}
      v=$(echo "$v" | sed "s/[[:space:]]*$//; s/^'\(.*\)'$/\1/")
      printf "        %s: '%s'\n" "$k" "$v"
    done
}

# patroni_conf N: member N's Patroni configuration (0600: it holds the
# passwords Patroni needs). The bootstrap section is read only by the member
# that initialises the cluster, and only once: later changes go through
# `patronictl edit-config` (or REST PATCH /config).
patroni_conf() {
  local n=$1 d port rport
  d=$(member_dir "$n") port=${pg_ports[$n - 1]} rport=${rest_ports[$n - 1]}
  (
    umask 077
    cat >"$d/patroni.yml" <<YAML
scope: $PATRONI_SCOPE
namespace: /elier-cluster/
name: $(member_name "$n")
restapi:
  listen: $host:$rport
  connect_address: $host:$rport
etcd3:
  hosts: $host:$ETCD_PORT
bootstrap:
  dcs:
    ttl: $PATRONI_TTL
    loop_wait: $PATRONI_LOOP_WAIT
    retry_timeout: $PATRONI_RETRY_TIMEOUT
    # a standby more than 1 MiB behind is not promoted
    maximum_lag_on_failover: 1048576
    synchronous_mode: $PATRONI_SYNCHRONOUS_MODE
    failsafe_mode: $PATRONI_FAILSAFE_MODE
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
$(pg_parameters)
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - auth-local: scram-sha-256
    - auth-host: scram-sha-256
postgresql:
  listen: $host:$port
  connect_address: $host:$port
  data_dir: $d/data
  bin_dir: $bindir
  pgpass: $d/patroni.pgpass
  # a new standby's copy starts at once, not after a spread checkpoint
  basebackup:
    - checkpoint: fast
  authentication:
    superuser:
      username: $PG_USER
      password: '$(<"$secrets/admin.password")'
    replication:
      username: $PG_REPLICATION_USER
      password: '$(<"$secrets/replication.password")'
    rewind:
      username: $PG_REWIND_USER
      password: '$(<"$secrets/rewind.password")'
  parameters:
    unix_socket_directories: '$d/run'
  # every connection asks for a SCRAM password, replication included
  pg_hba:
    - local all all scram-sha-256
    - host all all $host/32 scram-sha-256
    - host replication $PG_REPLICATION_USER $host/32 scram-sha-256
YAML
  )
}

etcd_dir() { echo "$work/etcd"; }

etcd_healthy() { curl -s -m 1 "http://$host:$ETCD_PORT/health" | grep -q '"health":"true"'; }

etcd_start() {
  local d
  d=$(etcd_dir)
  need_pkg etcd etcd-server
  pid_of "$d" etcd >/dev/null && return 0
  port_free "$ETCD_PORT" || die "port $ETCD_PORT (ETCD_PORT) is taken by another program"
  port_free "$ETCD_PEER_PORT" || die "port $ETCD_PEER_PORT (ETCD_PEER_PORT) is taken by another program"
  mkdir -p "$d"
  # One member, on loopback, for the test only: production runs three
  # (docs/DEPLOY.md). Patroni talks to its v3 API (no v2 needed).
  # a clean environment: etcd reads every ETCD_* variable as a flag
  nohup env -i PATH="$PATH" etcd --name elier-etcd1 --data-dir "$d/data" \
    --listen-client-urls "http://$host:$ETCD_PORT" --advertise-client-urls "http://$host:$ETCD_PORT" \
    --listen-peer-urls "http://$host:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$host:$ETCD_PEER_PORT" \
    --initial-cluster "elier-etcd1=http://$host:$ETCD_PEER_PORT" --initial-cluster-state new \
    >>"$d/etcd.log" 2>&1 </dev/null &
  echo $! >"$d/etcd.pid"
  disown # no "Killed" from bash when a scenario kills it
  wait_for 30 "etcd healthy" etcd_healthy
}

etcd_stop() { # [SIGNAL]
  local d pid
  d=$(etcd_dir)
  pid=$(pid_of "$d" etcd) || { rm -f "$d/etcd.pid"; return 0; }
  kill "-${1:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$d/etcd.pid"
}

patroni_bin() { command -v patroni 2>/dev/null || die "patroni is not installed: apt-get install -y patroni python3-etcd"; }

# member_start N: Patroni for member N (it starts PostgreSQL, and bootstraps
# the cluster or clones the leader with pg_basebackup the first time).
member_start() {
  local n=$1 d patroni
  d=$(member_dir "$n")
  need_pkg patroni patroni
  # Patroni's etcd3 client is built on python3-etcd (no gRPC needed)
  "$(sed -n '1s/^#! *//p' "$(patroni_bin)")" -c 'import etcd' 2>/dev/null || need_pkg_always python3-etcd
  patroni=$(patroni_bin)
  pid_of "$d" patroni >/dev/null && return 0
  port_free "${pg_ports[$n - 1]}" || die "port ${pg_ports[$n - 1]} (PG${n}_PORT) is taken by another program"
  port_free "${rest_ports[$n - 1]}" || die "port ${rest_ports[$n - 1]} (PATRONI${n}_PORT) is taken by another program"
  mkdir -p "$d/run"
  patroni_conf "$n"
  own "$d"
  chmod 700 "$d"
  # setpriv execs Patroni itself (no parent left between), so the pid file
  # names the process a scenario kills. A clean environment: Patroni reads
  # PATRONI_* variables as configuration, libpq PG* ones.
  local as=()
  [ "$(id -u)" != 0 ] || as=(setpriv --reuid=postgres --regid=postgres --init-groups)
  nohup "${as[@]}" env -i PATH="$PATH" HOME="$d" LANG=C.UTF-8 "$patroni" "$d/patroni.yml" \
    >>"$d/patroni.log" 2>&1 </dev/null &
  echo $! >"$d/patroni.pid"
  disown
}

# postmaster_pid N: member N's PostgreSQL server process, if it runs.
postmaster_pid() {
  local f pid
  f=$(member_dir "$1")/data/postmaster.pid
  [ -f "$f" ] || return 1
  pid=$(head -1 "$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# member_stop N [SIGNAL]: Patroni stops its PostgreSQL on SIGTERM (a
# leader's then releases the lock, and the standby takes over); SIGKILL of
# both is the crash the failover scenario makes.
member_stop() {
  local n=$1 d pid pm
  d=$(member_dir "$n")
  pid=$(pid_of "$d" patroni) || pid=
  pm=$(postmaster_pid "$n") || pm=
  if [ "${2:-TERM}" = KILL ]; then
    kill -KILL ${pid:+"$pid"} ${pm:+"$pm"} 2>/dev/null || true
  elif [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  # a postmaster left without its Patroni (an earlier crash of Patroni)
  if [ "${2:-TERM}" != KILL ] && pm=$(postmaster_pid "$n"); then
    as_owner "$bindir/pg_ctl" -D "$d/data" -m fast -w -t 60 stop >/dev/null 2>&1 || kill -KILL "$pm" 2>/dev/null || true
  fi
  rm -f "$d/patroni.pid"
}

member_running() { pid_of "$(member_dir "$1")" patroni >/dev/null; }

rest_code() { # N PATH: the HTTP status of member N's Patroni REST API at PATH
  curl -s -o /dev/null -m 1 -w '%{http_code}' "$(rest "$1")$2" 2>/dev/null || true
}

# leader: the member (1 or 2) whose PostgreSQL runs as the primary and
# holds the leader lock; fails when there is none.
leader() {
  local n
  for n in 1 2; do [ "$(rest_code "$n" /primary)" = 200 ] && { echo "$n"; return 0; }; done
  return 1
}
other() { echo $((3 - $1)); }

has_leader() { leader >/dev/null; }

# streaming N: member N is a running standby, streaming from the leader.
streaming() {
  local n=$1
  [ "$(rest_code "$n" /replica)" = 200 ] \
    && [ "$(psql_at "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$(member_name "$n")' AND state = 'streaming'" 2>/dev/null)" = 1 ]
}

# sync_standby N: member N is the leader's synchronous standby.
sync_standby() {
  [ "$(psql_at "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$(member_name "$1")'" 2>/dev/null)" = sync ]
}

live_build_url() { # URL
  psql_url "$1" "SELECT coalesce((SELECT id FROM elier.builds WHERE state = 'live'), 0)" 2>/dev/null || echo 0
}
live_build() { live_build_url "$primary_url"; }

replica_caught_up() { # N
  local p
  p=$(live_build)
  [ "$p" != 0 ] && [ "$(live_build_url "$(member_url "$1")")" = "$p" ]
}

# patroni_config KEY=JSON...: change the cluster's dynamic configuration.
patroni_config() {
  local body="{" kv sep=""
  for kv in "$@"; do body+="$sep\"${kv%%=*}\":${kv#*=}"; sep=,; done
  body+="}"
  local n
  n=$(leader) || n=1
  curl -s -f -m 5 -X PATCH -H 'Content-Type: application/json' -d "$body" "$(rest "$n")/config" >/dev/null \
    || die "PATCH /config $body failed"
}

cmd_patronictl() {
  patronictl -c "$(member_dir 1)/patroni.yml" "$@"
}

# ------------------------------------------------------------ APIs and nginx

# wait_for SECONDS WHAT COMMAND...: run COMMAND every 100 ms until it succeeds.
wait_for() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${secs}s waiting for $what"
    sleep 0.1
  done
}

http_ok() { # URL
  [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1")" = 200 ]
}

port_free() { # PORT
  ! (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

# pid_of DIR NAME: the pid in DIR/NAME.pid if that process runs and is ours.
pid_of() {
  local f=$1/$2.pid pid
  [ -f "$f" ] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2" || return 1
  echo "$pid"
}

api_dir() { echo "$work/api$1"; }

api_start() { # N (1 or 2)
  local d port
  d=$(api_dir "$1") port=${api_ports[$1 - 1]}
  mkdir -p "$d"
  pid_of "$d" elier-api >/dev/null && return 0
  port_free "$port" || die "port $port (API$1_PORT) is taken by another program"
  nohup "$api_bin" --addr "$host:$port" --database-url "$api_db_url" "${api_flags[@]}" \
    >>"$d/api.log" 2>&1 </dev/null &
  echo $! >"$d/elier-api.pid"
}

api_ready() { http_ok "http://$host:${api_ports[$1 - 1]}/readyz"; }

api_stop() { # N [SIGNAL]
  local d pid
  d=$(api_dir "$1")
  pid=$(pid_of "$d" elier-api) || { rm -f "$d/elier-api.pid"; return 0; }
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$d/elier-api.pid"
}

nginx_bin() {
  command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || return 1
}

need_pkg() { # COMMAND PACKAGE: install Debian's package when COMMAND is missing
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
  need_pkg_always "$2"
}

need_pkg_always() { # PACKAGE
  [ "$(id -u)" = 0 ] || die "$1 is not installed: apt-get install -y $1"
  say "installing $1"
  if ! { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }; then
    die "apt-get install $1 failed"
  fi
}

# The nginx template's per-place names: paths in the working directory and
# the APIs' addresses on loopback (compose.yaml sets its own).
nginx_env() {
  local d=$work/nginx
  export NGINX_USER NGINX_PID=$d/nginx.pid NGINX_LOG_DIR=$d/logs NGINX_STATE_DIR=$d/state NGINX_CACHE_DIR=$d/cache
  export NGINX_LISTEN=$host:$NGINX_PORT API1_ADDR=$host:$API1_PORT API2_ADDR=$host:$API2_PORT
  if [ "$(id -u)" = 0 ]; then NGINX_USER=www-data; else NGINX_USER=$(id -un); fi
}

nginx_start() {
  local d=$work/nginx nginx
  need_pkg nginx nginx
  nginx=$(nginx_bin)
  pid_of "$d" nginx >/dev/null && return 0
  port_free "$NGINX_PORT" || die "port $NGINX_PORT (NGINX_PORT) is taken by another program"
  mkdir -p "$d/logs" "$d/state"
  # one old access log is kept: the bench writes millions of lines
  if [ -f "$d/logs/access.log" ] && [ "$(stat -c %s "$d/logs/access.log")" -gt $((256 << 20)) ]; then
    mv "$d/logs/access.log" "$d/logs/access.log.old"
  fi
  nginx_env
  # The micro-cache in RAM (see deploy/nginx.conf.tmpl): $d/cache points
  # into /dev/shm when there is one.
  if ! [ -e "$d/cache" ]; then
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
      mkdir -p "$(shm_cache)"
      ln -sfn "$(shm_cache)" "$d/cache"
    else
      mkdir -p "$d/cache"
    fi
  fi
  [ "$(id -u)" = 0 ] && chown -R "$NGINX_USER" "$d/state" "$d/cache/"
  "$root/deploy/render-nginx.sh" "$root/deploy/nginx.conf.tmpl" "$d/nginx.conf"
  "$nginx" -q -t -p "$d/" -c "$d/nginx.conf" -e "$d/logs/error.log" || die "nginx -t failed ($d/nginx.conf)"
  "$nginx" -p "$d/" -c "$d/nginx.conf" -e "$d/logs/error.log" || die "nginx did not start ($d/logs/error.log)"
  wait_for 10 "nginx's pid file" test -s "$d/nginx.pid"
}

shm_cache() { echo "/dev/shm/elier-cluster-nginx-$NGINX_PORT"; }

nginx_stop() {
  local d=$work/nginx pid
  if pid=$(pid_of "$d" nginx); then
    kill -QUIT "$pid" 2>/dev/null || true # graceful: finish in-flight requests
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
  fi
  # the micro-cache is disposable: give its RAM back
  if [ -L "$d/cache" ]; then rm -rf "$(shm_cache)" "$d/cache"; fi
  return 0
}

# ------------------------------------------------------------------ commands
# ------------------------------------------------------------------ commands

build() {
  (cd "$root" && go build -o "$etl" ./cmd/etl && go build -o "$api_bin" ./cmd/api \
    && go build -o "$loadcheck" ./deploy/loadcheck) || die "go build failed"
}

ensure_exports() {
  [ -f "$export_dir/product.csv" ] \
    || "$etl" generate --products "$CLUSTER_PRODUCTS" --seed "$CLUSTER_SEED" "$export_dir" 2>>"$work/generate.log"
  [ -f "$export_alt/product.csv" ] \
    || "$etl" generate --products "$CLUSTER_PRODUCTS" --seed "$((CLUSTER_SEED + 1))" "$export_alt" 2>>"$work/generate.log"
}

etl_load() { # DIR [flags]: load an export into the leader
  local dir=$1
  shift
  DATABASE_URL=$loader_url "$etl" load --progress none --reject-dir "$work/rejects" "$@" "$dir"
}

# ensure_database creates the catalogue's database on the leader (Patroni's
# bootstrap makes the cluster; the database is ours).
ensure_database() {
  [ "$(psql_url "$admin_url" "SELECT count(*) FROM pg_database WHERE datname = '$PG_DB'")" = 1 ] \
    || psql_url "$admin_url" "CREATE DATABASE $PG_DB" >/dev/null
  # the loader prewarms a new build with pg_prewarm, which only a superuser
  # can install (the loader's role cannot)
  psql_at "CREATE EXTENSION IF NOT EXISTS pg_prewarm" >/dev/null
}

cmd_up() {
  mkdir -p "$work/bin"
  build
  ensure_exports
  ensure_secrets
  etcd_start
  member_start 1
  member_start 2
  wait_for 180 "a Patroni leader (logs: $work/pg*/patroni.log)" has_leader
  # Patroni names a leader as soon as it holds the lock; a member that was
  # a replica when the cluster stopped is read-only until its promotion
  # ends, and the steps below write
  wait_for 120 "the leader accepting writes (logs: $work/pg*/patroni.log)" writable
  # the bootstrap section is read once, by the first member: cluster.env's
  # values are applied at every up, so that changing them takes effect
  patroni_config "ttl=$PATRONI_TTL" "loop_wait=$PATRONI_LOOP_WAIT" "retry_timeout=$PATRONI_RETRY_TIMEOUT" \
    "synchronous_mode=$PATRONI_SYNCHRONOUS_MODE" "failsafe_mode=$PATRONI_FAILSAFE_MODE"
  ensure_database
  apply_roles
  etl_load "$export_dir" --if-changed >"$work/load.log" 2>&1 \
    || { tail -20 "$work/load.log" >&2; die "elier-etl load failed (log: $work/load.log)"; }
  local l s
  l=$(leader) s=$(other "$(leader)")
  wait_for 180 "member $s streaming from member $l" streaming "$s"
  wait_for 60 "the live build on the standby" replica_caught_up "$s"
  api_start 1
  api_start 2
  wait_for 30 "elier-api 1 ready" api_ready 1
  wait_for 30 "elier-api 2 ready" api_ready 2
  nginx_start
  wait_for 10 "nginx answering" http_ok "http://$host:$NGINX_PORT/products/1"
  cmd_status
}

cmd_down() {
  local l
  nginx_stop
  api_stop 1
  api_stop 2
  # the standby first, so that the leader does not hand over on its way out
  l=$(leader) || l=1
  member_stop "$(other "$l")"
  member_stop "$l"
  etcd_stop
  say "stopped (data kept in $work; scripts/cluster.sh clean removes it)"
}

all_up() {
  pid_of "$work/nginx" nginx >/dev/null && pid_of "$(api_dir 1)" elier-api >/dev/null \
    && pid_of "$(api_dir 2)" elier-api >/dev/null && pid_of "$(etcd_dir)" etcd >/dev/null \
    && member_running 1 && member_running 2 && has_leader
}

cmd_status() {
  local s rc=0 n role
  state() { if "$@" >/dev/null 2>&1; then echo running; else echo stopped; fi; }
  s=$(state pid_of "$(etcd_dir)" etcd)
  printf '  %-8s %-8s %s\n' etcd "$s" "http://$host:$ETCD_PORT"
  for n in 1 2; do
    s=$(state member_running "$n")
    role=$(curl -s -m 1 "$(rest "$n")/patroni" 2>/dev/null | jq -r '"\(.role) \(.state)"' 2>/dev/null) || role=
    printf '  %-8s %-8s %s\n' "pg$n" "$s" "$(member_url "$n") ${role:+($role, }live build $(live_build_url "$(member_url "$n")")${role:+)}"
  done
  s=$(state pid_of "$(api_dir 1)" elier-api)
  printf '  %-8s %-8s %s\n' api1 "$s" "http://$host:$API1_PORT"
  s=$(state pid_of "$(api_dir 2)" elier-api)
  printf '  %-8s %-8s %s\n' api2 "$s" "http://$host:$API2_PORT"
  s=$(state pid_of "$work/nginx" nginx)
  printf '  %-8s %-8s %s\n' nginx "$s" "http://$host:$NGINX_PORT"
  all_up || rc=3
  return "$rc"
}

cmd_env() {
  nginx_env
  local k
  while IFS= read -r k; do echo "$k=${!k}"; done < <(sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$envfile")
  cat <<ENV
PRIMARY_URL=$primary_url
API_DATABASE_URL=$api_db_url
API1_ARGS=--addr $host:$API1_PORT ${api_flags[*]}
API2_ARGS=--addr $host:$API2_PORT ${api_flags[*]}
LOADER_DATABASE_URL=$loader_url
ENV
  for k in NGINX_USER NGINX_PID NGINX_LOG_DIR NGINX_STATE_DIR NGINX_CACHE_DIR NGINX_LISTEN API1_ADDR API2_ADDR; do echo "$k=${!k}"; done
}

# ----------------------------------------------------------------- scenarios
#
# Each scenario is bounded in time. The load comes from loadcheck (Go, in
# deploy/loadcheck) through nginx at TEST_RATE requests a second over
# TEST_CONNS connections, ids drawn from the whole export, half of them
# /styles, a quarter each the product and /related. A failure is a transport
# error or any status but 200, 304 and 404.

TEST_SCENARIOS=${TEST_SCENARIOS:-a b1 b2 c d d-inc d-apply f-sync f-async g s x-failsafe x-plain}
TEST_RATE=${TEST_RATE:-1000}
TEST_CONNS=${TEST_CONNS:-64}
CART_RATE=${CART_RATE:-100}          # cart adds a second through nginx, during (f), (s), (x)
CART_SESSIONS=${CART_SESSIONS:-8}
A_MAX_SECONDS=${A_MAX_SECONDS:-5}    # (a): a new build on every API within this
MAX_FAILED_RATIO=${MAX_FAILED_RATIO:-0.001}
LAG_PRODUCTS=${LAG_PRODUCTS:-$CLUSTER_PRODUCTS}
FAILOVER_MAX_SECONDS=${FAILOVER_MAX_SECONDS:-12}    # (f): kill -9 to a new leader
FAILOVER_RESTART_AFTER=${FAILOVER_RESTART_AFTER:-3} # (f): the old leader restarted this long after the new one leads
SWITCHOVER_MAX_SECONDS=${SWITCHOVER_MAX_SECONDS:-2} # (s): write downtime
LOAD_KILL_AFTER=${LOAD_KILL_AFTER:-0.5}             # (g): after the load's first statement
# (g)'s export: large enough that the load is still at work LOAD_KILL_AFTER
# after its first statement (a 10,000-product load takes about 0.5 s here)
G_PRODUCTS=${G_PRODUCTS:-100000}
ETCD_DOWN_SECONDS=${ETCD_DOWN_SECONDS:-30}          # (x)

bg_pids=()
summary=()
failures=0

result() { # VERDICT TEXT
  summary+=("$(printf '%-5s %s' "$1" "$2")")
  [ "$1" != FAIL ] || failures=$((failures + 1))
}

# fig NAME VALUE: one figure of the run into $res/figures.txt, which
# scripts/cluster-test-section.sh turns into the table of targets.
fig() { echo "$1=$2" >>"$res/figures.txt"; }

run_load() { # NAME DURATION: loadcheck through nginx into $res/NAME.json, in the background
  "$loadcheck" load -url "http://$host:$NGINX_PORT" -d "$2" -rate "$TEST_RATE" -c "$TEST_CONNS" \
    -ids "$CLUSTER_PRODUCTS" >"$res/$1.json" 2>"$res/$1.err" &
  load_pid=$!
  bg_pids+=("$load_pid")
}

since() { printf '%.2f' "$(echo "$EPOCHREALTIME - $1" | bc)"; }

# load_verdict NAME: PASS when the failed ratio is within MAX_FAILED_RATIO.
load_verdict() {
  jq -r --argjson max "$MAX_FAILED_RATIO" \
    'if .failed_ratio <= $max then "PASS" else "FAIL" end' "$res/$1.json"
}

load_line() { # NAME: the figures of a load run, one line
  jq -r '"\(.requests) requests at \(.target_rate)/s for \(.seconds|floor) s, \(.failed) failed ("
    + (.failed_ratio*100*1000|round/1000|tostring) + "%), statuses \(.statuses|tostring)"
    + (if (.errors|length) > 0 then ", errors \(.errors|tostring)" else "" end)
    + ", p99 \(.p99_ms) ms, max \(.max_ms) ms"
    + (if .behind > 0 then ", \(.behind) not sent on time" else "" end)' "$res/$1.json"
}

api_doc_requests() { # N: documents api N has served since it started
  curl -s -m 2 "http://$host:${api_ports[$1 - 1]}/metrics" \
    | awk '/^elier_http_requests_total\{route="(product|styles|related|products)"/ {n += $2} END {print n + 0}'
}

# (a) a rebuild on the primary reaches every API (and nginx) within seconds.
scenario_a() {
  local b0 await t0 secs
  b0=$(live_build)
  # ETags name content, not builds: each API is watched by its /metrics
  # (the build it adopted), nginx by the bytes it serves at -path.
  "$loadcheck" await -after "$b0" -db "$primary_url" -timeout 180s \
    -body "http://$host:$NGINX_PORT" -path /products/1/styles \
    "http://$host:$API1_PORT" "http://$host:$API2_PORT" \
    >"$res/a-await.json" 2>"$res/a-await.err" &
  await=$!
  bg_pids+=("$await")
  t0=$EPOCHREALTIME
  etl_load "$export_alt" --max-shrink 1 >"$res/a-load.log" 2>&1 || { result FAIL "(a) elier-etl load failed: $res/a-load.log"; return; }
  secs=$(since "$t0")
  if ! wait "$await"; then
    result FAIL "(a) the new build did not reach every API: $(cat "$res/a-await.err")"
    return
  fi
  local j=$res/a-await.json a1 a2 ng
  a1=$(jq -r --arg u "http://$host:$API1_PORT" '.seconds_after_swap[$u]*1000|round/1000' "$j")
  a2=$(jq -r --arg u "http://$host:$API2_PORT" '.seconds_after_swap[$u]*1000|round/1000' "$j")
  ng=$(jq -r --arg u "http://$host:$NGINX_PORT" '.seconds_after_swap[$u]*1000|round/1000' "$j")
  local v=PASS
  [ "$(echo "$a1 <= $A_MAX_SECONDS && $a2 <= $A_MAX_SECONDS" | bc)" = 1 ] || v=FAIL
  result "$v" "(a) rebuild b$b0 -> b$(jq -r .build "$j") (elier-etl load of a changed export: ${secs} s): served by api1 ${a1} s, api2 ${a2} s, nginx ${ng} s after the swap committed on the leader (target <= ${A_MAX_SECONDS} s per API)"
}

# (b) an API instance dies under load: nginx routes around it; it rejoins.
scenario_b() { # NAME N SIGNAL
  local name=$1 n=$2 sig=$3 t_start t_back after
  run_load "$name" 20s
  sleep 5
  api_stop "$n" "$sig"
  sleep 5
  t_start=$EPOCHREALTIME
  api_start "$n"
  wait_for 30 "elier-api $n ready again" api_ready "$n"
  t_back=$(since "$t_start")
  wait "$load_pid" || { result FAIL "($name) loadcheck failed: $(cat "$res/$name.err")"; return; }
  after=$(api_doc_requests "$n")
  local v
  v=$(load_verdict "$name")
  [ "$after" -gt 0 ] || v=FAIL
  result "$v" "($name) api$n stopped with SIG$sig under load via nginx, restarted 5 s later (ready ${t_back} s after its start) and rejoined (served $after documents in the rest of the run): $(load_line "$name")"
}

# (c) the standby stops under load: the APIs fall back to the leader, and
# return to the standby once it is back and their connections are recycled.
scenario_c() {
  local l s on_leader back=none
  l=$(leader) s=$(other "$(leader)")
  run_load c 30s
  sleep 5
  member_stop "$s"
  sleep 4
  on_leader=$("$loadcheck" conns -db "$(member_url "$l")" | jq -r .elier_api_sessions)
  sleep 4
  member_start "$s"
  wait_for 120 "member $s streaming again" streaming "$s"
  wait "$load_pid" || { result FAIL "(c) loadcheck failed: $(cat "$res/c.err")"; return; }
  back=$(apis_back_on "$s" 90)
  local v
  v=$(load_verdict c)
  [ "${on_leader:-0}" -gt 0 ] || v=FAIL
  fig c.read_failed "$(jq -r .failed "$res/c.json")"
  result "$v" "(c) standby pg$s stopped (Patroni, SIGTERM) under load via nginx for 8 s: $(load_line c); elier-api sessions on the leader during the outage: $on_leader; APIs back on the standby: $back"
}

# apis_back_on N SECONDS: how long until both APIs hold sessions on member
# N again (their pools recycle connections every 30 s and prefer a standby).
apis_back_on() {
  local t0=$EPOCHREALTIME deadline=$((SECONDS + $2)) n p
  while [ "$SECONDS" -lt "$deadline" ]; do
    # exercise both pools, so that recycled connections reconnect
    for p in "${api_ports[@]}"; do curl -s -o /dev/null -m 2 "http://$host:$p/products/$((RANDOM % CLUSTER_PRODUCTS + 1))" || true; done
    n=$("$loadcheck" conns -db "$(member_url "$1")" 2>/dev/null | jq -r .elier_api_sessions) || n=0
    if [ "${n:-0}" -ge 2 ]; then echo "$(since "$t0") s ($n sessions)"; return; fi
    sleep 1
  done
  echo "not within $2 s"
}

# run_cart NAME DURATION: loadcheck cart through nginx into
# $res/NAME-cart.json, in the background.
run_cart() {
  "$loadcheck" cart -url "http://$host:$NGINX_PORT" -skus "$cart_skus" -d "$2" -rate "$CART_RATE" \
    -sessions "$CART_SESSIONS" >"$res/$1-cart.json" 2>"$res/$1-cart.err" &
  cart_pid=$!
  bg_pids+=("$cart_pid")
}

cart_line() { # NAME: the cart's figures, one line
  jq -r '"\(.requests) adds at \(.target_rate)/s, \(.created) acknowledged, \(.unavailable) 503+Retry-After, \(.bad) other failures"
    + (if (.errors|length) > 0 then " \(.errors|tostring)" else "" end)
    + ", failures over \(.failure_window_seconds) s, longest gap between 201s \(.max_gap_seconds) s, acknowledged adds lost \(.lost)"
    + (if .carts_unchecked > 0 then ", \(.carts_unchecked) carts NOT read back" else "" end)' "$res/$1-cart.json"
}

cart_field() { jq -r ".$2" "$res/$1-cart.json"; } # NAME FIELD

leader_is() { [ "$(leader 2>/dev/null)" = "$1" ]; } # N

le() { [ "$(echo "$1 <= $2" | bc)" = 1 ]; } # A B: A <= B (decimals)

# wait_sync N: member N is the synchronous standby (synchronous_mode) or an
# asynchronous one streaming (not).
wait_sync() {
  local n=$1 want=$2
  state_is() { [ "$(psql_at "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$(member_name "$n")' AND state = 'streaming'" 2>/dev/null)" = "$want" ]; }
  wait_for 60 "member $n $want" state_is
}

# (f) the leader is lost (kill -9 of its Patroni and its postmaster) under
# catalogue reads and cart adds: the standby takes over; the APIs, nginx
# and the cart follow by themselves; then the old leader comes back (as a
# systemd unit would restart it, FAILOVER_RESTART_AFTER s later), rejoins
# as a standby (pg_rewind) and serves reads again. SYNC: synchronous_mode.
scenario_f() { # NAME SYNC
  local name=$1 sync=$2 l s t0 t_new t_start t_rejoin back v=PASS last
  patroni_config "synchronous_mode=$sync"
  l=$(leader) s=$(other "$(leader)")
  if [ "$sync" = true ]; then wait_sync "$s" sync; else wait_sync "$s" async; fi
  run_load "$name" 80s
  run_cart "$name" 40s
  sleep 8
  t0=$EPOCHREALTIME
  member_stop "$l" KILL
  wait_for 90 "member $s to lead" leader_is "$s"
  t_new=$(since "$t0")
  sleep "$FAILOVER_RESTART_AFTER"
  t_start=$EPOCHREALTIME
  member_start "$l"
  wait_for 180 "the old leader pg$l streaming from pg$s" streaming "$l"
  t_rejoin=$(since "$t_start")
  back=$(apis_back_on "$l" 75)
  wait "$cart_pid" || { result FAIL "($name) loadcheck cart failed: $(cat "$res/$name-cart.err")"; return; }
  wait "$load_pid" || { result FAIL "($name) loadcheck failed: $(cat "$res/$name.err")"; return; }
  last=0
  [ "$(cart_field "$name" last_failure_unix)" = 0 ] || last=$(rel "$(cart_field "$name" last_failure_unix)" "$t0")
  le "$t_new" "$FAILOVER_MAX_SECONDS" || v=FAIL
  [ "$(jq -r .failed "$res/$name.json")" = 0 ] || v=FAIL
  [ "$(cart_field "$name" bad)" = 0 ] || v=FAIL
  [ "$(cart_field "$name" carts_unchecked)" = 0 ] || v=FAIL
  le "$last" "$(echo "$t_new + 2" | bc)" || v=FAIL
  [ "$sync" != true ] || [ "$(cart_field "$name" lost)" = 0 ] || v=FAIL
  case $back in not*) v=FAIL ;; esac
  if grep -q "pg_rewind" "$(member_dir "$l")/patroni.log"; then rewound="pg_rewind ran"; else rewound="no pg_rewind needed"; fi
  fig "$name.new_leader" "$t_new"
  fig "$name.read_failed" "$(jq -r .failed "$res/$name.json")"
  fig "$name.reads" "$(jq -r .requests "$res/$name.json")"
  fig "$name.cart_bad" "$(cart_field "$name" bad)"
  fig "$name.cart_unavailable" "$(cart_field "$name" unavailable)"
  fig "$name.cart_last_failure" "$last"
  fig "$name.acked" "$(cart_field "$name" created)"
  fig "$name.lost" "$(cart_field "$name" lost)"
  fig "$name.rejoin" "$t_rejoin"
  fig "$name.reads_back" "${back%% *}"
  result "$v" "($name) leader pg$l kill -9 (Patroni and postmaster), synchronous_mode=$sync: new leader pg$s after ${t_new} s (target <= $FAILOVER_MAX_SECONDS s); catalogue: $(load_line "$name"); cart: $(cart_line "$name"), last failure ${last} s after the kill (target <= new leader + 2 s); old leader restarted ${FAILOVER_RESTART_AFTER} s later, streaming again after ${t_rejoin} s ($rewound); APIs reading from it again $back"
  patroni_config "synchronous_mode=$PATRONI_SYNCHRONOUS_MODE"
}

# etl_active: the loader has a statement running on the leader.
etl_active() {
  [ "$(psql_at "SELECT count(*) FROM pg_stat_activity WHERE usename = '$PG_OWNER_USER' AND state = 'active'" 2>/dev/null)" -gt 0 ]
}

docs_count() { # URL: the live catalogue's documents
  psql_url "$1" "SELECT count(*) FROM elier.docs" 2>/dev/null || echo -1
}

# (g) the leader is lost in the middle of `elier-etl load`: the load fails
# with a clear message and a non-zero exit; the new leader serves the
# previous build, whole, without a gap in reads; the same command against
# the same URL then succeeds on the new leader.
scenario_g() {
  local l s b0 n0 lp rc=0 b1 n1 rerun=0 t0 t_rerun b2 v=PASS msg dir=$work/data-g-$G_PRODUCTS
  [ -f "$dir/related.csv" ] \
    || "$etl" generate --products "$G_PRODUCTS" --seed "$((CLUSTER_SEED + 1))" "$dir" 2>>"$work/generate.log"
  l=$(leader) s=$(other "$(leader)")
  wait_sync "$s" sync
  b0=$(live_build) n0=$(docs_count "$primary_url")
  run_load g 60s
  sleep 3
  etl_load "$dir" --full --max-shrink 1 >"$res/g-load.log" 2>&1 &
  lp=$!
  bg_pids+=("$lp")
  wait_for 60 "the load at work on the leader" etl_active
  sleep "$LOAD_KILL_AFTER"
  member_stop "$l" KILL
  wait "$lp" || rc=$?
  wait_for 90 "member $s to lead" leader_is "$s"
  # Patroni's REST API says leader a moment before the server takes
  # connections: a failed query here would read as build 0
  wait_for 30 "the new leader accepting writes" writable
  b1=$(live_build) n1=$(docs_count "$primary_url")
  # its last words: the line elier-etl ends with, before the per-host detail
  # (none when the load ended before the kill: the scenario then fails
  # below, on the load's exit 0)
  msg=$(grep -m1 '^elier-etl:' "$res/g-load.log" | cut -c1-200 || true)
  t0=$EPOCHREALTIME
  etl_load "$dir" --full --max-shrink 1 >"$res/g-rerun.log" 2>&1 || rerun=$?
  t_rerun=$(since "$t0")
  b2=$(live_build)
  # the cluster's own export back, for the scenarios after this one
  etl_load "$export_dir" --max-shrink 1 >>"$res/g-rerun.log" 2>&1 || result FAIL "(g) loading the cluster's export back failed"
  member_start "$l"
  wait_for 180 "the old leader pg$l streaming from pg$s" streaming "$l"
  wait "$load_pid" || { result FAIL "(g) loadcheck failed: $(cat "$res/g.err")"; return; }
  fig g.exit "$rc"
  fig g.message "$msg"
  fig g.whole "$([ "$b1" = "$b0" ] && [ "$n1" = "$n0" ] && echo "yes (b$b1, $n1 documents)" || echo "NO (b$b0 -> b$b1, $n0 -> $n1 documents)")"
  fig g.rerun "$rerun"
  fig g.read_failed "$(jq -r .failed "$res/g.json")"
  [ "$rc" != 0 ] || v=FAIL
  [ "$b1" = "$b0" ] && [ "$n1" = "$n0" ] || v=FAIL
  [ "$rerun" = 0 ] && [ "$b2" -gt "$b0" ] || v=FAIL
  [ "$(jq -r .failed "$res/g.json")" = 0 ] || v=FAIL
  result "$v" "(g) leader pg$l killed ${LOAD_KILL_AFTER} s into elier-etl load --full ($G_PRODUCTS products): the load exited $rc (\"$msg\"); live build on the new leader b$b1 with $n1 documents (before: b$b0, $n0); catalogue: $(load_line g); rerun against the same URL: exit $rerun in $t_rerun s, live build b$b2"
}

# (s) a planned switchover under load: how long writes stop, and whether a
# read fails.
scenario_s() {
  local l s t0 t_sw t_back v=PASS gap
  l=$(leader) s=$(other "$(leader)")
  wait_sync "$s" sync
  run_load s 30s
  run_cart s 20s
  sleep 6
  t0=$EPOCHREALTIME
  cmd_patronictl switchover --leader "$(member_name "$l")" --candidate "$(member_name "$s")" --force \
    >"$res/s-switchover.log" 2>&1 || { result FAIL "(s) patronictl switchover failed: $res/s-switchover.log"; return; }
  wait_for 60 "member $s to lead" leader_is "$s"
  t_sw=$(since "$t0")
  wait_for 120 "the old leader pg$l streaming from pg$s" streaming "$l"
  t_back=$(since "$t0")
  wait "$cart_pid" || { result FAIL "(s) loadcheck cart failed: $(cat "$res/s-cart.err")"; return; }
  wait "$load_pid" || { result FAIL "(s) loadcheck failed: $(cat "$res/s.err")"; return; }
  gap=$(cart_field s max_gap_seconds)
  fig s.downtime "$gap"
  fig s.read_failed "$(jq -r .failed "$res/s.json")"
  fig s.cart_bad "$(cart_field s bad)"
  le "$gap" "$SWITCHOVER_MAX_SECONDS" || v=FAIL
  [ "$(jq -r .failed "$res/s.json")" = 0 ] || v=FAIL
  [ "$(cart_field s bad)" = 0 ] && [ "$(cart_field s lost)" = 0 ] || v=FAIL
  result "$v" "(s) patronictl switchover pg$l -> pg$s under load: new leader after ${t_sw} s, old leader streaming after ${t_back} s; write downtime (longest gap between 201s) ${gap} s (target <= $SWITCHOVER_MAX_SECONDS s); catalogue: $(load_line s); cart: $(cart_line s)"
}

# (x) etcd is lost for ETCD_DOWN_SECONDS under load: without failsafe_mode
# the leader cannot renew its lock and demotes itself (no writes until etcd
# is back); with it, the leader keeps its role while it reaches every
# member's REST API.
# writable: a server accepts writes (target_session_attrs=read-write), asked
# in the postgres database, which a fresh cluster has before ensure_database
# makes the catalogue's
writable() {
  PGCONNECT_TIMEOUT=1 psql_url "$admin_url" "SELECT 1" >/dev/null 2>&1
}

# leader_sampler FILE: until FILE.stop exists, every 0.2 s, whether a server
# accepts writes; then "GONE BACK" (Unix times, - for never) into FILE.
leader_sampler() {
  local gone=- back=-
  while [ ! -e "$1.stop" ]; do
    if writable; then
      [ "$gone" = - ] || [ "$back" != - ] || back=$EPOCHREALTIME
    else
      [ "$gone" != - ] || gone=$EPOCHREALTIME
    fi
    sleep 0.2
  done
  echo "$gone $back" >"$1"
}

rel() { [ "$1" = - ] && echo - || printf '%.2f' "$(echo "$1 - $2" | bc)"; } # T T0

scenario_x() { # NAME FAILSAFE
  local name=$1 fs=$2 l s t0 t_up t_back v=PASS what cf sampler gone back
  patroni_config "failsafe_mode=$fs"
  l=$(leader) s=$(other "$(leader)")
  wait_sync "$s" sync
  sleep "$((PATRONI_LOOP_WAIT * 2))" # every member has read the setting
  run_load "$name" "$((ETCD_DOWN_SECONDS + 40))s"
  run_cart "$name" "$((ETCD_DOWN_SECONDS + 25))s"
  sleep 5
  rm -f "$res/$name.leader" "$res/$name.leader.stop"
  leader_sampler "$res/$name.leader" &
  sampler=$!
  bg_pids+=("$sampler")
  etcd_stop KILL
  t0=$EPOCHREALTIME
  sleep "$ETCD_DOWN_SECONDS"
  etcd_start
  t_up=$(since "$t0")
  wait_for 90 "a leader after etcd returned" has_leader
  wait_for 90 "a server accepting writes" writable
  t_back=$(since "$t0")
  touch "$res/$name.leader.stop"
  wait "$sampler"
  read -r gone back <"$res/$name.leader"
  wait_for 120 "a standby streaming again" streaming "$(other "$(leader)")"
  wait "$cart_pid" || { result FAIL "($name) loadcheck cart failed: $(cat "$res/$name-cart.err")"; return; }
  wait "$load_pid" || { result FAIL "($name) loadcheck failed: $(cat "$res/$name.err")"; return; }
  [ "$(jq -r .failed "$res/$name.json")" = 0 ] || v=FAIL
  [ "$(cart_field "$name" bad)" = 0 ] && [ "$(cart_field "$name" lost)" = 0 ] || v=FAIL
  if [ "$gone" = - ]; then
    what="a server accepted writes throughout (pg$l kept leading)"
  else
    what="no server accepted writes from $(rel "$gone" "$t0") s to $(rel "$back" "$t0") s after etcd died (the leader demoted itself; pg$(leader) leads again)"
  fi
  if [ "$(cart_field "$name" first_failure_unix)" = 0 ]; then
    cf="no cart add failed"
  else
    cf="cart adds failed from $(rel "$(cart_field "$name" first_failure_unix)" "$t0") s to $(rel "$(cart_field "$name" last_failure_unix)" "$t0") s after etcd died"
  fi
  fig "$name.read_failed" "$(jq -r .failed "$res/$name.json")"
  fig "$name.writes_stopped" "$([ "$gone" = - ] && echo never || echo "$(rel "$gone" "$t0")-$(rel "$back" "$t0") s after etcd died")"
  # what failsafe_mode promises: no demotion while every member answers
  [ "$fs" != true ] || [ "$gone" = - ] || v=FAIL
  result "$v" "($name) etcd killed under load for ${ETCD_DOWN_SECONDS} s (healthy again ${t_up} s after it died), failsafe_mode=$fs: $what; $cf; catalogue: $(load_line "$name"); cart: $(cart_line "$name")"
  patroni_config "failsafe_mode=$PATRONI_FAILSAFE_MODE"
}

# (d) replication lag during a full rebuild, sampled every 100 ms: of the
# cluster's export, or of a LAG_PRODUCTS-product one (then the cluster's
# export is loaded back afterwards).
scenario_d() {
  local lag lsn0 lsn1 t0 secs dir=$export_dir s
  s=$(other "$(leader)")
  if [ "$LAG_PRODUCTS" != "$CLUSTER_PRODUCTS" ]; then
    dir=$work/data-$LAG_PRODUCTS
    [ -f "$dir/product.csv" ] \
      || "$etl" generate --products "$LAG_PRODUCTS" --seed "$CLUSTER_SEED" "$dir" 2>>"$work/generate.log"
  fi
  lsn0=$(psql_at "SELECT pg_current_wal_lsn()")
  "$loadcheck" lag -db "$primary_url" -replica "$(member_url "$s")" -interval 100ms -d 10m \
    >"$res/d-lag.json" 2>"$res/d-lag.err" &
  lag=$!
  bg_pids+=("$lag")
  sleep 0.5
  t0=$EPOCHREALTIME
  etl_load "$dir" --full --max-shrink 1 >"$res/d-load.log" 2>&1 || { result FAIL "(d) elier-etl load failed: $res/d-load.log"; return; }
  secs=$(since "$t0")
  wait_for 900 "the standby to replay the rebuild" replica_caught_up "$s"
  sleep 0.5
  kill -INT "$lag"
  wait "$lag" || { result FAIL "(d) loadcheck lag failed: $(cat "$res/d-lag.err")"; return; }
  lsn1=$(psql_at "SELECT pg_current_wal_lsn()")
  local wal
  wal=$(psql_at "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / 1048576.0, 1)")
  if [ "$dir" != "$export_dir" ]; then
    etl_load "$export_dir" --max-shrink 1 >>"$res/d-load.log" 2>&1 || result FAIL "(d) loading the cluster's export back failed"
  fi
  result INFO "(d) full rebuild ($LAG_PRODUCTS products, ${secs} s, ${wal} MiB of WAL, synchronous_mode=$PATRONI_SYNCHRONOUS_MODE): $(jq -r '"max replay lag \(.max_replay_lag_seconds) s (write \(.max_write_lag_seconds) s, flush \(.max_flush_lag_seconds) s), max \(.max_replay_lag_bytes) bytes behind, \(.commits_seen) commits replayed, each seen on the standby at most \(.max_commit_replay_delay_seconds*1000|round/1000) s after its commit on the leader, \(.samples) samples every 100 ms"' "$res/d-lag.json")"
}

# (d-inc) replication lag during an incremental load (issue 11's target:
# <= 0.1 s at full scale): revision 1 of the LAG_PRODUCTS-product export
# (the generator's --revision: ~1% of the products changed) loaded over its
# revision 0, sampled every 100 ms; the cluster's export is loaded back
# afterwards.
scenario_d_inc() {
  local lag lsn0 lsn1 t0 secs s dir0 dir1 wal sum=$res/d-inc-summary.json
  s=$(other "$(leader)")
  dir0=$work/data-$LAG_PRODUCTS dir1=$work/data-$LAG_PRODUCTS-r1
  [ -f "$dir0/related.csv" ] \
    || "$etl" generate --products "$LAG_PRODUCTS" --seed "$CLUSTER_SEED" "$dir0" 2>>"$work/generate.log"
  [ -f "$dir1/related.csv" ] \
    || "$etl" generate --products "$LAG_PRODUCTS" --seed "$CLUSTER_SEED" --revision 1 "$dir1" 2>>"$work/generate.log"
  etl_load "$dir0" --max-shrink 1 >"$res/d-inc-load.log" 2>&1 || { result FAIL "(d-inc) loading revision 0 failed: $res/d-inc-load.log"; return; }
  wait_for 900 "the standby to replay revision 0" replica_caught_up "$s"
  # Revision 0's rows were just written: the first statement to read them
  # (here the incremental load's comparison) would set their hint bits, and
  # with wal_log_hints (pg_rewind needs it) log a full-page image of every
  # page it touches, which is revision 0's cost, not revision 1's (measured
  # once without this: 887 MiB of WAL, replay lag 0.76 s). VACUUM sets them now.
  psql_at "VACUUM" >/dev/null
  wait_for 900 "the standby to replay the vacuum" replica_caught_up "$s"
  psql_at "CHECKPOINT" >/dev/null
  lsn0=$(psql_at "SELECT pg_current_wal_lsn()")
  "$loadcheck" lag -db "$primary_url" -replica "$(member_url "$s")" -interval 100ms -d 10m \
    >"$res/d-inc-lag.json" 2>"$res/d-inc-lag.err" &
  lag=$!
  bg_pids+=("$lag")
  sleep 0.5
  t0=$EPOCHREALTIME
  etl_load "$dir1" --max-shrink 1 --summary-json "$sum" >>"$res/d-inc-load.log" 2>&1 || { result FAIL "(d-inc) elier-etl load failed: $res/d-inc-load.log"; return; }
  secs=$(since "$t0")
  wait_for 300 "the standby to replay the incremental load" replica_caught_up "$s"
  sleep 0.5
  kill -INT "$lag"
  wait "$lag" || { result FAIL "(d-inc) loadcheck lag failed: $(cat "$res/d-inc-lag.err")"; return; }
  lsn1=$(psql_at "SELECT pg_current_wal_lsn()")
  wal=$(psql_at "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / 1048576.0, 1)")
  etl_load "$export_dir" --max-shrink 1 >>"$res/d-inc-load.log" 2>&1 || result FAIL "(d-inc) loading the cluster's export back failed"
  local max v=PASS
  max=$(jq -r '.max_replay_lag_seconds' "$res/d-inc-lag.json")
  awk -v m="$max" 'BEGIN { exit !(m <= 0.1) }' || v=FAIL
  result "$v" "(d-inc) incremental load ($LAG_PRODUCTS products, $(jq -r '"\(.kind): \(.products.changed) changed, \(.products.added) added, \(.products.removed) removed, \(.documents) documents written"' "$sum"), ${secs} s, ${wal} MiB of WAL, synchronous_mode=$PATRONI_SYNCHRONOUS_MODE): $(jq -r '"max replay lag \(.max_replay_lag_seconds) s (target <= 0.1 s; write \(.max_write_lag_seconds) s, flush \(.max_flush_lag_seconds) s), max \(.max_replay_lag_bytes) bytes behind, \(.commits_seen) commits replayed, each seen on the standby at most \(.max_commit_replay_delay_seconds*1000|round/1000) s after its commit on the leader, \(.samples) samples every 100 ms"' "$res/d-inc-lag.json")"
}

# (d-apply) a load returns only once the synchronous standby serves its
# build: after the swap the loader commits one more transaction with
# synchronous_commit = remote_apply (await_standbys in sql/builds.sql). With
# the standby's replay paused, a full load of the cluster's export must
# reach that wait (its session waiting on SyncRep) with its build already
# live on the leader, and still be there seconds later while the standby
# serves the old build; once replay resumes the load returns, exit 0, and
# the standby serves the new build.
loader_syncrep() { # waiting on the synchronous standby: the loader's sessions
  [ "$(psql_at "SELECT count(*) FROM pg_stat_activity WHERE usename = '$PG_OWNER_USER' AND wait_event = 'SyncRep'")" -gt 0 ]
}
scenario_d_apply() {
  local s url before live during after pid rc waiting=no t0 secs v=PASS
  if [ "$PATRONI_SYNCHRONOUS_MODE" != true ]; then
    result INFO "(d-apply) not run: synchronous_mode=$PATRONI_SYNCHRONOUS_MODE (a load waits only for synchronous standbys)"
    return
  fi
  s=$(other "$(leader)")
  url=$(member_url "$s")
  wait_for 300 "the standby to catch up" replica_caught_up "$s"
  before=$(live_build)
  # Patroni resumes a paused replay at its next loop, unless it is paused
  # itself (maintenance mode: it then changes nothing in the cluster).
  cmd_patronictl pause --wait >/dev/null
  psql_url "$url" "SELECT pg_wal_replay_pause()" >/dev/null
  etl_load "$export_dir" --full --max-shrink 1 >"$res/d-apply-load.log" 2>&1 &
  pid=$!
  bg_pids+=("$pid")
  local deadline=$((SECONDS + 120))
  until loader_syncrep || [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  sleep 3
  kill -0 "$pid" 2>/dev/null && loader_syncrep && waiting=yes
  live=$(live_build) during=$(live_build_url "$url")
  psql_url "$url" "SELECT pg_wal_replay_resume()" >/dev/null
  t0=$EPOCHREALTIME
  if wait "$pid"; then rc=0; else rc=$?; fi
  secs=$(since "$t0")
  after=$(live_build_url "$url")
  cmd_patronictl resume --wait >/dev/null
  { [ "$waiting" = yes ] && [ "$live" -gt "$before" ] && [ "$during" = "$before" ] && [ "$rc" = 0 ] && [ "$after" = "$live" ]; } || v=FAIL
  result "$v" "(d-apply) full load with the standby's replay paused: the loader waiting on the synchronous standby 3 s after it began to: $waiting, build $live live on the leader meanwhile, the standby serving build $during (before the load: $before); replay resumed, the load returned $secs s later, exit $rc, the standby serving build $after"
}

test_cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "$was_up" = 1 ]; then
    # put back whatever a scenario left stopped or changed
    etcd_start
    member_start 1
    member_start 2
    wait_for 120 "a leader" has_leader
    patroni_config "synchronous_mode=$PATRONI_SYNCHRONOUS_MODE" "failsafe_mode=$PATRONI_FAILSAFE_MODE"
    api_start 1
    api_start 2
    nginx_start
  else
    cmd_down
  fi
}

cmd_test() {
  need_pkg jq jq
  need_pkg bc bc
  was_up=0
  if all_up; then
    was_up=1
    build
    ensure_exports
    wait_for 120 "the leader accepting writes" writable # as cmd_up does
  else
    cmd_up
  fi
  trap test_cleanup EXIT
  res=$work/results
  mkdir -p "$res"
  rm -f "$res/figures.txt"
  # the cluster's own export live, whatever an earlier run left (scenario
  # (a) needs a change to load)
  etl_load "$export_dir" --if-changed --max-shrink 1 >"$res/start-load.log" 2>&1 \
    || die "loading the cluster's export failed: $res/start-load.log"
  cart_skus=$(psql_at "SELECT string_agg(id::text, ',') FROM (SELECT id FROM elier.skus WHERE quantity > 0 ORDER BY quantity DESC, id LIMIT 100) s")
  [ -n "$cart_skus" ] || die "no sku with stock in the live build"
  local sc
  for sc in $TEST_SCENARIOS; do
    case $sc in
    a) say "scenario (a): rebuild propagation"; scenario_a ;;
    b1) say "scenario (b1): an API killed under load"; scenario_b b1 1 KILL ;;
    b2) say "scenario (b2): an API stopped gracefully under load (a rolling restart)"; scenario_b b2 2 TERM ;;
    c) say "scenario (c): the standby stopped under load"; scenario_c ;;
    d) say "scenario (d): replication lag during a full rebuild"; scenario_d ;;
    d-inc) say "scenario (d-inc): replication lag during an incremental load"; scenario_d_inc ;;
    d-apply) say "scenario (d-apply): a load returns once the synchronous standby serves its build"; scenario_d_apply ;;
    f-sync) say "scenario (f-sync): the leader killed, synchronous_mode"; scenario_f f-sync true ;;
    f-async) say "scenario (f-async): the leader killed, asynchronous replication"; scenario_f f-async false ;;
    g) say "scenario (g): the leader killed during elier-etl load"; scenario_g ;;
    s) say "scenario (s): patronictl switchover under load"; scenario_s ;;
    x-failsafe) say "scenario (x-failsafe): etcd lost, failsafe_mode on"; scenario_x x-failsafe true ;;
    x-plain) say "scenario (x-plain): etcd lost, failsafe_mode off"; scenario_x x-plain false ;;
    *) die "unknown scenario $sc (TEST_SCENARIOS: a b1 b2 c d d-inc d-apply f-sync f-async g s x-failsafe x-plain)" ;;
    esac
  done
  {
    echo "cluster-test: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); ttl $PATRONI_TTL, loop_wait $PATRONI_LOOP_WAIT, retry_timeout $PATRONI_RETRY_TIMEOUT; reads $TEST_RATE/s over $TEST_CONNS connections, cart adds $CART_RATE/s over $CART_SESSIONS sessions, through nginx"
    printf '%s\n' "${summary[@]}"
    echo "details: $res/*.json"
  } | tee "$res/summary.txt"
  [ "$failures" = 0 ] || die "$failures scenario(s) failed"
}

# ---------------------------------------------------------------------- bench
#
# wrk through nginx with two APIs and with one (the other stopped: nginx
# skips it after its first refused connection), with the micro-cache and
# without it (nginx reloaded with MICROCACHE=off), over all the ids and over
# 100 hot ones; and straight to one API, with its cache (the floor nginx adds
# to) and without (every request a lookup in the replica: what PostgreSQL
# costs). Each run is BENCH_SECONDS long; the whole set is repeated
# BENCH_REPEAT times. The bench leaves the cluster as it found it.

BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_CONNS=${BENCH_CONNS:-64}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_REPEAT=${BENCH_REPEAT:-1}

# cpu_ticks PID...: CPU time (clock ticks) the processes have used, with
# their live children and the ones they have reaped: a PostgreSQL server's or
# nginx's whole process tree.
cpu_ticks() {
  local p c total=0 st
  for p in "$@"; do
    for c in "$p" $(pgrep -P "$p"); do
      read -r -a st < <(sed 's/^.*) //' "/proc/$c/stat" 2>/dev/null) || continue
      [ "${#st[@]}" -gt 14 ] || continue
      total=$((total + st[11] + st[12])) # utime, stime
      [ "$c" != "$p" ] || total=$((total + st[13] + st[14])) # cutime, cstime
    done
  done
  echo "$total"
}

bench_pids() { # GROUP: the pids whose CPU time counts as GROUP's
  case $1 in
  nginx) pid_of "$work/nginx" nginx || true ;;
  api) pid_of "$(api_dir 1)" elier-api || true; pid_of "$(api_dir 2)" elier-api || true ;;
  pg) postmaster_pid 1 || true; postmaster_pid 2 || true ;;
  esac
}

# wrk_run NAME URL IDS: one bounded wrk run, its figures on one line: the
# rate and latencies, and the CPU time each part spent per request (less
# sensitive to what else runs on this box than the rate is).
wrk_run() {
  local log=$work/nginx/logs/access.log n0 n1 hits f=$res/bench-${1// /-}.txt i cpu=() tick wt
  local groups=(nginx api pg)
  n0=$(wc -l <"$log")
  # shellcheck disable=SC2046 # a list of pids
  for i in 0 1 2; do cpu[i]=$(cpu_ticks $(bench_pids "${groups[i]}")); done
  wt=$( { TIMEFORMAT='%3U %3S'; time IDS=$3 wrk -t"$BENCH_THREADS" -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" --timeout 5s \
    --latency -s "$root/deploy/wrk-ids.lua" "$2" >"$f" 2>&1; } 2>&1)
  # shellcheck disable=SC2046 # a list of pids
  for i in 0 1 2; do cpu[i]=$(($(cpu_ticks $(bench_pids "${groups[i]}")) - cpu[i])); done
  tick=$(getconf CLK_TCK)
  sleep 2.5 # nginx flushes its access log every 2 s
  n1=$(wc -l <"$log")
  hits=$(tail -n +"$((n0 + 1))" "$log" | head -n "$((n1 - n0))" \
    | awk '{n++} $NF == "cache=HIT" {h++} END {if (n > 1000) printf "%.0f%%", 100 * h / n; else printf "-"}')
  awk -v name="$1" -v hits="$hits" -v load="$(cut -d' ' -f1 /proc/loadavg)" -v tick="$tick" \
    -v c_nginx="${cpu[0]}" -v c_api="${cpu[1]}" -v c_pg="${cpu[2]}" -v wt="$wt" '
    / requests in / {n = $1}
    /Requests\/sec/ {rps = $2}
    /^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2}
    /Non-2xx/ {non2xx = $NF}
    /Socket errors/ {errs = $0; sub(/^ +/, "", errs)}
    END {
      split(wt, w, " "); us = 1e6 / (n ? n : 1)
      printf "%-32s %7.0f req/s  p50 %-8s p99 %-8s non-2xx %-3d hits %-4s  CPU us/req: nginx %4.1f  APIs %4.1f  PostgreSQL %4.1f  wrk %4.1f  (load %s)%s\n",
        name, rps, p50, p99, non2xx, hits, c_nginx / tick * us, c_api / tick * us, c_pg / tick * us,
        (w[1] + w[2]) * us, load, errs ? "  " errs : ""}' "$f"
}

warm() { # N: every document once from API N, so no run pays for a cold cache
  SWEEP=1 IDS=$CLUSTER_PRODUCTS wrk -t1 -c8 -d"$(((CLUSTER_PRODUCTS * 3) / 4000 + 2))s" \
    -s "$root/deploy/wrk-ids.lua" "http://$host:${api_ports[$1 - 1]}" >/dev/null 2>&1
}

nginx_reload() { # render the template again (MICROCACHE may have changed) and reload
  local d=$work/nginx pid
  nginx_env
  "$root/deploy/render-nginx.sh" "$root/deploy/nginx.conf.tmpl" "$d/nginx.conf"
  pid=$(pid_of "$d" nginx) || die "nginx is not running"
  kill -HUP "$pid"
  sleep 1
}

bench_cleanup() {
  MICROCACHE=$microcache nginx_reload
  api_flags=(--cache-mb "$API_CACHE_MB" --max-age "$API_MAX_AGE" "${api_cart_flags[@]}")
  api_start 1
  api_start 2
  [ "$was_up" = 1 ] || cmd_down
}

cmd_bench() {
  need_pkg wrk wrk
  was_up=0
  if all_up; then was_up=1; else cmd_up; fi
  microcache=${MICROCACHE:?}
  trap bench_cleanup EXIT
  res=$work/results
  mkdir -p "$res"
  local n=$CLUSTER_PRODUCTS ng=http://$host:$NGINX_PORT
  {
    echo "bench: wrk -t$BENCH_THREADS -c$BENCH_CONNS -d${BENCH_SECONDS}s -s deploy/wrk-ids.lua (half /styles, a quarter each product and /related), $(nproc) cores, $(date -u +%FT%TZ)"
    warm 1
    warm 2
    for _ in $(seq "$BENCH_REPEAT"); do
      wrk_run "api1 direct, ids 1..$n" "http://$host:$API1_PORT" "$n"
      # every request a lookup in the replica: what PostgreSQL costs
      api_stop 1
      api_flags=(--cache-mb 0 --max-age "$API_MAX_AGE" "${api_cart_flags[@]}")
      api_start 1
      wait_for 30 "elier-api 1 ready" api_ready 1
      wrk_run "api1 direct, no API cache" "http://$host:$API1_PORT" "$n"
      api_stop 1
      api_flags=(--cache-mb "$API_CACHE_MB" --max-age "$API_MAX_AGE" "${api_cart_flags[@]}")
      api_start 1
      wait_for 30 "elier-api 1 ready" api_ready 1
      warm 1
      wrk_run "nginx+cache 2 APIs, ids 1..$n" "$ng" "$n"
      wrk_run "nginx+cache 2 APIs, ids 1..100" "$ng" 100
      api_stop 2
      wrk_run "nginx+cache 1 API, ids 1..$n" "$ng" "$n"
      MICROCACHE=off nginx_reload
      wrk_run "nginx 1 API, ids 1..$n" "$ng" "$n"
      api_start 2
      wait_for 30 "elier-api 2 ready" api_ready 2
      warm 2
      wrk_run "nginx 2 APIs, ids 1..$n" "$ng" "$n"
      MICROCACHE=$microcache nginx_reload
    done
  } | tee "$res/bench.txt"
}

case ${1:-} in
env) cmd_env; exit 0 ;;
esac
bindir=$(find_bindir)

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
clean) cmd_down; rm -rf "$work" ;;
test) cmd_test ;;
bench) cmd_bench ;;
patronictl) shift; cmd_patronictl "$@" ;;
*) die "usage: cluster.sh up|down|status|test|bench|env|clean|patronictl ARGS" ;;
esac
