#!/bin/sh
# compose.yaml's primary, at its first start (/docker-entrypoint-initdb.d):
# the cluster's shared settings (deploy/postgresql.conf, mounted at /deploy).
# The replica's pg_basebackup copies this line along with the file holding it.
set -eu
echo "include '/deploy/postgresql.conf'" >>"$PGDATA/postgresql.conf"
