#!/bin/sh
# compose.yaml's replica entrypoint (as the postgres user of the official
# postgres:15 image): when the data directory is empty, clone the primary
# with pg_basebackup -R (standby.signal and primary_conninfo written, a
# replication slot created), then run PostgreSQL as a hot standby on PGPORT.
# PRIMARY_HOST and PGPASSFILE (a compose secret) come from compose.yaml;
# REPLICATION_SLOT too; PG1_PORT (the primary's), PG_USER and PG_REPLICATION_USER from
# deploy/cluster.env.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -q -h "$PRIMARY_HOST" -p "$PG1_PORT" -U "$PG_USER"; do sleep 1; done
  # a slot left by an earlier replica of this primary (its volume removed)
  psql -h "$PRIMARY_HOST" -p "$PG1_PORT" -U "$PG_USER" -d postgres -qAt -c \
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
     WHERE slot_name = '$REPLICATION_SLOT' AND NOT active" >/dev/null
  find "$PGDATA" -mindepth 1 -delete
  # The passfile in the connection string: -R writes it into
  # primary_conninfo, so the WAL receiver authenticates the same way.
  pg_basebackup -d "host=$PRIMARY_HOST port=$PG1_PORT user=$PG_REPLICATION_USER passfile=$PGPASSFILE" \
    -D "$PGDATA" -R -X stream -C -S "$REPLICATION_SLOT" -c fast
  chmod 700 "$PGDATA"
fi
exec postgres -c port="$PGPORT" -c listen_addresses='*' -c cluster_name=elier-replica1
