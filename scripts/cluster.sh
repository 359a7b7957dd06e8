#!/usr/bin/env bash
# cluster.sh: the scaled-out catalogue on this machine, on 127.0.0.1 only.
#
#   scripts/cluster.sh up      start it all (idempotent): a PostgreSQL primary,
#                              a hot standby streaming from it, two elier-api
#                              instances reading the standby (the primary when
#                              it is away), nginx in front; load the sample
#                              export into the primary
#   scripts/cluster.sh down    stop everything `up` started (data is kept)
#   scripts/cluster.sh status  say what runs
#   scripts/cluster.sh test    the failure and rebuild scenarios, with a summary
#                              (starts the cluster first and stops it after,
#                              unless it was already up)
#   scripts/cluster.sh bench   wrk throughput through nginx, two APIs and one
#   scripts/cluster.sh env     the effective configuration, KEY=VALUE
#   scripts/cluster.sh clean   down, then remove the working directory
#
# Ports and settings come from deploy/cluster.env (compose.yaml reads the same
# file); a variable set in the environment wins. Everything lives in
# $ELIER_CLUSTER_DIR (default .cluster/ at the repo root, git-ignored): one
# directory per process with its data, log and pid file. PostgreSQL refuses to
# run as root, so as root it runs as the `postgres` OS user, as in pg.sh.
#
# Authentication is scram-sha-256 for every connection, replication
# included. Each role has a generated password in $ELIER_CLUSTER_DIR/secrets
# (mode 0600, never printed): the administrator PG_USER (the scenarios' and
# psql's), the loader's elier_owner, the APIs' elier_api, the replica's
# elier_replication (sql/roles.sql, applied by `elier-etl roles` at every
# `up`). Programs find them through PGPASSFILE; no URL holds a password.
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
primary_url="postgres://$PG_USER@$host:$PRIMARY_PORT/$PG_DB?sslmode=disable"
loader_url="postgres://$PG_OWNER_USER@$host:$PRIMARY_PORT/$PG_DB?sslmode=disable"
replica_url="postgres://$PG_USER@$host:$REPLICA_PORT/$PG_DB?sslmode=disable"
# The replica first: prefer-standby takes it while it is up, the primary
# otherwise (pgx v5 implements libpq's target_session_attrs=prefer-standby).
api_db_url="postgres://$PG_API_USER@$host:$REPLICA_PORT,$host:$PRIMARY_PORT/$PG_DB?$API_DB_PARAMS"
# The cart is read and written on the primary only (its pool would find
# the primary in api_db_url too, by target_session_attrs=read-write; named
# here so that a replica listed first is never even tried), as the API's
# role, and nginx on 127.0.0.1 is the proxy whose X-Forwarded-Proto the
# APIs believe.
api_primary_url="postgres://$PG_API_USER@$host:$PRIMARY_PORT/$PG_DB?sslmode=disable"
api_cart_flags=(--primary-url "$api_primary_url" --trusted-proxies "$API_TRUSTED_PROXIES")
api_flags=(--cache-mb "$API_CACHE_MB" --max-age "$API_MAX_AGE" "${api_cart_flags[@]}")
api_ports=("$API1_PORT" "$API2_PORT")
replica_name=elier-replica1 # cluster_name: the replica's application_name on the primary
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
    [ -x "$d/initdb" ] && [ -x "$d/pg_basebackup" ] && { echo "$d"; return; }
  fi
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  die "no PostgreSQL server binaries found (initdb, pg_ctl, pg_basebackup):
  apt-get update && apt-get install -y postgresql-15"
}

# as_owner runs a command as the clusters' OS owner.
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
  for r in admin owner reader api replication; do
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

# owner_passfile DIR: a passfile with the replication role's password in a
# server's directory, for the processes that run as the servers' OS user
# (pg_basebackup, the standby's WAL receiver), which cannot read $secrets.
owner_passfile() {
  (umask 077 && echo "$host:*:*:$PG_REPLICATION_USER:$(<"$secrets/replication.password")" >"$1/replication.pgpass")
  own "$1/replication.pgpass"
}

# apply_roles creates the catalogue's roles with their passwords.
apply_roles() {
  "$etl" roles --database-url "$primary_url" --owner-password-file "$secrets/owner.password" \
    --reader-password-file "$secrets/reader.password" --api-password-file "$secrets/api.password" \
    --replication-password-file "$secrets/replication.password" >"$work/roles.log" 2>&1 \
    || { cat "$work/roles.log" >&2; die "elier-etl roles failed"; }
}

pg_running() { # DIR
  [ -f "$1/data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

psql_at() { # PORT SQL: one value, unaligned
  "$bindir/psql" -X -qAt -h "$host" -p "$1" -U "$PG_USER" -d "$PG_DB" -c "$2"
}

pg_start() { # DIR
  if ! pg_running "$1"; then
    cp "$root/deploy/postgresql.conf" "$1/data/elier-cluster.conf"
    own "$1/data/elier-cluster.conf"
    as_owner "$bindir/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 120 start >/dev/null \
      || { tail -20 "$1/server.log" >&2; die "PostgreSQL in $1 did not start (log: $1/server.log)"; }
  fi
}

pg_stop() { # DIR [MODE]
  if [ -f "$1/data/PG_VERSION" ] && pg_running "$1"; then
    as_owner "$bindir/pg_ctl" -D "$1/data" -m "${2:-fast}" -w -t 60 stop >/dev/null
  fi
}

primary_up() {
  local d=$work/primary
  if ! [ -f "$d/data/PG_VERSION" ]; then
    say "initdb $d"
    mkdir -p "$d/run"
    (umask 077 && cp "$secrets/admin.password" "$d/admin.password")
    own "$d"
    # scram-sha-256 for every connection, local and TCP, replication too.
    as_owner "$bindir/initdb" -D "$d/data" -U "$PG_USER" --pwfile="$d/admin.password" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1 \
      || { rm -f "$d/admin.password"; cat "$d/initdb.log" >&2; die "initdb failed"; }
    rm -f "$d/admin.password"
    # The settings both servers share (deploy/postgresql.conf, copied in at
    # every start), then where this one listens. The standby inherits this
    # file through pg_basebackup and overrides the lines it appends.
    # initdb's pg_hba.conf asks every connection for a SCRAM password,
    # replication from 127.0.0.1 included.
    cat >>"$d/data/postgresql.conf" <<CONF
include 'elier-cluster.conf'
listen_addresses = '$host'
port = $PRIMARY_PORT
unix_socket_directories = '$d/run'
cluster_name = 'elier-primary'
logging_collector = off
CONF
  fi
  pg_start "$d"
  psql_at "$PRIMARY_PORT" "SELECT 1" >/dev/null 2>&1 \
    || "$bindir/psql" -X -q -h "$host" -p "$PRIMARY_PORT" -U "$PG_USER" -d postgres -c "CREATE DATABASE $PG_DB" >/dev/null
}

replica_up() {
  local d=$work/replica
  if ! [ -f "$d/data/PG_VERSION" ]; then
    say "pg_basebackup -R from the primary into $d"
    rm -rf "$d"
    mkdir -p "$d/run"
    own "$d"
    owner_passfile "$d"
    # A slot keeps the primary's WAL while the standby is stopped; a slot
    # left by an earlier standby of this primary is dropped first.
    psql_at "$PRIMARY_PORT" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
      WHERE slot_name = '$REPLICATION_SLOT' AND NOT active" >/dev/null
    # The passfile in the connection string: -R writes it into the
    # standby's primary_conninfo, so the WAL receiver finds the password too.
    as_owner "$bindir/pg_basebackup" -d "host=$host port=$PRIMARY_PORT user=$PG_REPLICATION_USER passfile=$d/replication.pgpass" \
      -D "$d/data" -R -X stream -C -S "$REPLICATION_SLOT" -c fast >"$d/basebackup.log" 2>&1 \
      || { cat "$d/basebackup.log" >&2; die "pg_basebackup failed"; }
    cat >>"$d/data/postgresql.conf" <<CONF
# the standby: its own port and socket; the rest is the primary's
port = $REPLICA_PORT
unix_socket_directories = '$d/run'
cluster_name = '$replica_name'
CONF
  fi
  pg_start "$d"
  wait_for 60 "the replica streaming from the primary" replica_streaming
}

replica_streaming() {
  [ "$(psql_at "$PRIMARY_PORT" "SELECT state FROM pg_stat_replication WHERE application_name = '$replica_name'" 2>/dev/null)" = streaming ] \
    && [ "$(psql_at "$REPLICA_PORT" "SELECT pg_is_in_recovery()" 2>/dev/null)" = t ]
}

live_build() { # PORT
  psql_at "$1" "SELECT coalesce((SELECT id FROM elier.builds WHERE state = 'live'), 0)" 2>/dev/null || echo 0
}

replica_caught_up() {
  local p
  p=$(live_build "$PRIMARY_PORT")
  [ "$p" != 0 ] && [ "$(live_build "$REPLICA_PORT")" = "$p" ]
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
  [ "$(id -u)" = 0 ] || die "$1 is not installed: apt-get install -y $2"
  say "installing $2"
  if ! { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; then
    die "apt-get install $2 failed"
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

etl_load() { # DIR [flags]: load an export into the primary
  local dir=$1
  shift
  DATABASE_URL=$loader_url "$etl" load --progress none --reject-dir "$work/rejects" "$@" "$dir"
}

cmd_up() {
  mkdir -p "$work/bin"
  build
  ensure_exports
  ensure_secrets
  primary_up
  apply_roles
  etl_load "$export_dir" --if-changed >"$work/load.log" 2>&1 \
    || { tail -20 "$work/load.log" >&2; die "elier-etl load failed (log: $work/load.log)"; }
  replica_up
  wait_for 60 "the live build on the replica" replica_caught_up
  api_start 1
  api_start 2
  wait_for 30 "elier-api 1 ready" api_ready 1
  wait_for 30 "elier-api 2 ready" api_ready 2
  nginx_start
  wait_for 10 "nginx answering" http_ok "http://$host:$NGINX_PORT/products/1"
  cmd_status
}

cmd_down() {
  nginx_stop
  api_stop 1
  api_stop 2
  pg_stop "$work/replica"
  pg_stop "$work/primary"
  say "stopped (data kept in $work; scripts/cluster.sh clean removes it)"
}

all_up() {
  pid_of "$work/nginx" nginx >/dev/null && pid_of "$(api_dir 1)" elier-api >/dev/null \
    && pid_of "$(api_dir 2)" elier-api >/dev/null && pg_running "$work/primary" && pg_running "$work/replica"
}

cmd_status() {
  local s rc=0
  state() { if "$@" >/dev/null 2>&1; then echo running; else echo stopped; fi; }
  s=$(state pg_running "$work/primary")
  printf '  %-8s %-8s %s\n' primary "$s" "$primary_url (live build $(live_build "$PRIMARY_PORT"))"
  s=$(state pg_running "$work/replica")
  printf '  %-8s %-8s %s\n' replica "$s" "$replica_url (live build $(live_build "$REPLICA_PORT"))"
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
REPLICA_URL=$replica_url
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

TEST_SCENARIOS=${TEST_SCENARIOS:-a b1 b2 c d e}
TEST_RATE=${TEST_RATE:-1000}
TEST_CONNS=${TEST_CONNS:-64}
A_MAX_SECONDS=${A_MAX_SECONDS:-5}    # (a): a new build on every API within this
MAX_FAILED_RATIO=${MAX_FAILED_RATIO:-0.001}
LAG_PRODUCTS=${LAG_PRODUCTS:-$CLUSTER_PRODUCTS}
REPLICA_STOP_MODE=${REPLICA_STOP_MODE:-fast} # (c): pg_ctl stop -m fast, or immediate (a crash)

bg_pids=()
summary=()
failures=0

result() { # VERDICT TEXT
  summary+=("$(printf '%-5s %s' "$1" "$2")")
  [ "$1" != FAIL ] || failures=$((failures + 1))
}

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
  b0=$(live_build "$PRIMARY_PORT")
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
  result "$v" "(a) rebuild b$b0 -> b$(jq -r .build "$j") (elier-etl load of a changed export: ${secs} s): served by api1 ${a1} s, api2 ${a2} s, nginx ${ng} s after the swap committed on the primary (target <= ${A_MAX_SECONDS} s per API)"
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

# (c) the replica stops under load: the APIs fall back to the primary, and
# return to the replica once it is back and their connections are recycled.
scenario_c() {
  local on_primary back=none
  run_load c 30s
  sleep 5
  pg_stop "$work/replica" "$REPLICA_STOP_MODE"
  sleep 4
  on_primary=$("$loadcheck" conns -db "$primary_url" | jq -r .elier_api_sessions)
  sleep 4
  pg_start "$work/replica"
  wait_for 60 "the replica streaming again" replica_streaming
  wait "$load_pid" || { result FAIL "(c) loadcheck failed: $(cat "$res/c.err")"; return; }
  local t0=$EPOCHREALTIME deadline=$((SECONDS + 90)) n
  while [ "$SECONDS" -lt "$deadline" ]; do
    # exercise both pools, so that recycled connections reconnect
    for p in "${api_ports[@]}"; do curl -s -o /dev/null -m 2 "http://$host:$p/products/1" || true; done
    n=$("$loadcheck" conns -db "$replica_url" 2>/dev/null | jq -r .elier_api_sessions) || n=0
    if [ "${n:-0}" -ge 2 ]; then back="$(since "$t0") s after the load ended ($n sessions)"; break; fi
    sleep 1
  done
  local v
  v=$(load_verdict c)
  [ "${on_primary:-0}" -gt 0 ] || v=FAIL
  result "$v" "(c) replica stopped (pg_ctl -m $REPLICA_STOP_MODE) under load via nginx for 8 s: $(load_line c); elier-api sessions on the primary during the outage: $on_primary; APIs back on the replica: $back"
}

# cart_req METHOD [BODY]: one /cart request through nginx as session
# $cart_session; prints "STATUS RETRY-AFTER BODY" on one line.
cart_req() {
  local args=(-s -m 10 -D "$res/e-headers" -H "Authorization: $cart_session") out status retry
  [ "$1" = POST ] && args+=(-H 'Content-Type: application/json' --data "$2")
  out=$(curl "${args[@]}" "http://$host:$NGINX_PORT/cart") || out="curl-failed"
  status=$(awk 'NR==1 {print $2}' "$res/e-headers" 2>/dev/null)
  retry=$(awk 'tolower($1)=="retry-after:" {print $2}' "$res/e-headers" | tr -d '\r')
  echo "${status:-0} ${retry:--} $out"
}

# (e) the primary stops under load: the catalogue keeps serving from the
# standby, while /cart (POST and GET, through nginx) answers 503 with
# Retry-After; once the primary is back, adds work again and a GET right
# after a 201 shows it (read-your-writes).
scenario_e() {
  local sku before down_post down_get after1 list s ra r v=PASS
  cart_session="cluster-e-$$-$RANDOM"
  sku=$(psql_at "$PRIMARY_PORT" "SELECT id FROM elier.skus WHERE quantity >= 5 ORDER BY id LIMIT 1")
  before=$(cart_req POST "{\"sku_id\":$sku}")
  run_load e 20s
  sleep 5
  pg_stop "$work/primary" fast
  sleep 1
  down_post=$(cart_req POST "{\"sku_id\":$sku}")
  down_get=$(cart_req GET)
  sleep 4
  pg_start "$work/primary"
  local deadline=$((SECONDS + 60))
  after1=$(cart_req POST "{\"sku_id\":$sku}")
  while [ "${after1%% *}" != 201 ] && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.5
    after1=$(cart_req POST "{\"sku_id\":$sku}")
  done
  list=$(cart_req GET)
  wait "$load_pid" || { result FAIL "(e) loadcheck failed: $(cat "$res/e.err")"; return; }
  v=$(load_verdict e)
  [ "${before%% *}" = 201 ] || v=FAIL
  # 503 with a Retry-After: the second field is not "-"
  for r in "$down_post" "$down_get"; do
    read -r s ra _ <<<"$r"
    [ "$s" = 503 ] && [ "$ra" != - ] || v=FAIL
  done
  [ "${after1%% *}" = 201 ] || v=FAIL
  echo "$list" | grep -q "{\"sku_id\":$sku,\"count\":2}" || v=FAIL
  result "$v" "(e) primary stopped (pg_ctl -m fast) for 5 s under catalogue load via nginx: $(load_line e); /cart before: ${before%% *}; while down: POST and GET $(cut -d' ' -f1-2 <<<"$down_post") / $(cut -d' ' -f1-2 <<<"$down_get") (status, Retry-After); after: POST ${after1%% *}, then GET $(echo "$list" | cut -d' ' -f3-)"
}

# (d) replication lag during a full rebuild, sampled every 100 ms: of the
# cluster's export, or of a LAG_PRODUCTS-product one (then the cluster's
# export is loaded back afterwards).
scenario_d() {
  local lag lsn0 lsn1 t0 secs dir=$export_dir
  if [ "$LAG_PRODUCTS" != "$CLUSTER_PRODUCTS" ]; then
    dir=$work/data-$LAG_PRODUCTS
    [ -f "$dir/product.csv" ] \
      || "$etl" generate --products "$LAG_PRODUCTS" --seed "$CLUSTER_SEED" "$dir" 2>>"$work/generate.log"
  fi
  lsn0=$(psql_at "$PRIMARY_PORT" "SELECT pg_current_wal_lsn()")
  "$loadcheck" lag -db "$primary_url" -replica "$replica_url" -interval 100ms -d 10m \
    >"$res/d-lag.json" 2>"$res/d-lag.err" &
  lag=$!
  bg_pids+=("$lag")
  sleep 0.5
  t0=$EPOCHREALTIME
  etl_load "$dir" --full --max-shrink 1 >"$res/d-load.log" 2>&1 || { result FAIL "(d) elier-etl load failed: $res/d-load.log"; return; }
  secs=$(since "$t0")
  wait_for 900 "the replica to replay the rebuild" replica_caught_up
  sleep 0.5
  kill -INT "$lag"
  wait "$lag" || { result FAIL "(d) loadcheck lag failed: $(cat "$res/d-lag.err")"; return; }
  lsn1=$(psql_at "$PRIMARY_PORT" "SELECT pg_current_wal_lsn()")
  local wal
  wal=$(psql_at "$PRIMARY_PORT" "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / 1048576.0, 1)")
  if [ "$dir" != "$export_dir" ]; then
    etl_load "$export_dir" --max-shrink 1 >>"$res/d-load.log" 2>&1 || result FAIL "(d) loading the cluster's export back failed"
  fi
  result INFO "(d) full rebuild ($LAG_PRODUCTS products, ${secs} s, ${wal} MiB of WAL): $(jq -r '"max replay lag \(.max_replay_lag_seconds) s (write \(.max_write_lag_seconds) s, flush \(.max_flush_lag_seconds) s), max \(.max_replay_lag_bytes) bytes behind, \(.commits_seen) commits replayed, each seen on the replica at most \(.max_commit_replay_delay_seconds*1000|round/1000) s after its commit on the primary, \(.samples) samples every 100 ms"' "$res/d-lag.json")"
}

test_cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ "$was_up" = 1 ]; then
    # put back whatever a scenario left stopped
    pg_start "$work/primary"
    pg_start "$work/replica"
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
  if all_up; then was_up=1; build; ensure_exports; else cmd_up; fi
  trap test_cleanup EXIT
  res=$work/results
  mkdir -p "$res"
  local sc
  for sc in $TEST_SCENARIOS; do
    case $sc in
    a) say "scenario (a): rebuild propagation"; scenario_a ;;
    b1) say "scenario (b1): an API killed under load"; scenario_b b1 1 KILL ;;
    b2) say "scenario (b2): an API stopped gracefully under load (a rolling restart)"; scenario_b b2 2 TERM ;;
    c) say "scenario (c): the replica stopped under load"; scenario_c ;;
    d) say "scenario (d): replication lag during a full rebuild"; scenario_d ;;
    e) say "scenario (e): the primary stopped under load: the cart 503s, the catalogue serves"; scenario_e ;;
    *) die "unknown scenario $sc (TEST_SCENARIOS: a b1 b2 c d e)" ;;
    esac
  done
  {
    echo "cluster-test: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
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
  pg) head -1 "$work/primary/data/postmaster.pid" "$work/replica/data/postmaster.pid" 2>/dev/null | grep -E '^[0-9]+$' || true ;;
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
*) die "usage: cluster.sh up|down|status|test|bench|env|clean" ;;
esac
