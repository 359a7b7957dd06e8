#!/bin/sh
# Writes compose.yaml's secrets into .secrets/ (git-ignored) when missing: a
# random password per database role and, per service, a passfile with the
# passwords it needs (PGPASSFILE). Run once before `docker compose up`;
# nothing is printed. Docker Compose (without swarm) mounts these files
# into the containers with their owner and mode as they are here, so each
# is made 0600 and given to the user of the container that reads it: uid
# 999 (postgres in the postgres:15 image; libpq ignores a passfile others
# may read) and 65534 (the Dockerfile's USER). Run as root for the chown.
set -eu
cd "$(dirname "$0")/.."
. ./deploy/cluster.env 2>/dev/null || true
dir=.secrets
mkdir -p "$dir"
chmod 700 "$dir"
for r in admin owner reader api replication; do
  f=$dir/pg_${r}_password
  [ -s "$f" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$f"
done
pw() { cat "$dir/pg_$1_password"; }
# host:port:database:user:password, any host and port on the compose network
printf '*:*:*:%s:%s\n' "$PG_USER" "$(pw admin)" >"$dir/admin_pgpass"
printf '*:*:*:%s:%s\n' "$PG_OWNER_USER" "$(pw owner)" >"$dir/owner_pgpass"
printf '*:*:*:%s:%s\n' "$PG_API_USER" "$(pw api)" >"$dir/api_pgpass"
# the replica: the administrator drops a stale slot, the replication role streams
{ printf '*:*:*:%s:%s\n' "$PG_USER" "$(pw admin)"
  printf '*:*:*:%s:%s\n' "$PG_REPLICATION_USER" "$(pw replication)"; } >"$dir/replica_pgpass"
chmod 600 "$dir"/*
if [ "$(id -u)" = 0 ]; then
  chown 999 "$dir/replica_pgpass"
  chown 65534 "$dir/admin_pgpass" "$dir/owner_pgpass" "$dir/api_pgpass" \
    "$dir/pg_owner_password" "$dir/pg_reader_password" "$dir/pg_api_password" "$dir/pg_replication_password"
else
  echo "compose-secrets.sh: not root: the files stay yours; chown them as its header says" >&2
fi
