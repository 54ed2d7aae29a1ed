#!/bin/sh
# The postgres image's entry point (deploy/postgres.Dockerfile): the
# cluster demo's database server, Debian's PostgreSQL 15.
#
# On the first start (an empty $PGDATA, the volume) it runs initdb with the
# superuser `jobd` and makes the database `jobd`; then it runs postgres in
# the foreground, listening on every interface of the container.
# Authentication is `trust` from any address: for the demo's private
# compose network only, never for a server others can reach (there, use
# scram-sha-256 and a password in the URL, or a client certificate).
# Settings: PostgreSQL's defaults (fsync on) but max_connections 200, room
# for several jobd nodes (each holds a few connections).
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
bin=/usr/lib/postgresql/15/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	"$bin/initdb" -D "$PGDATA" -U jobd -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
	echo "host all all all trust" >>"$PGDATA/pg_hba.conf"
	"$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
	"$bin/createdb" -U jobd jobd
	"$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
	echo "pg-entrypoint: made the cluster and the database jobd"
fi
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' -c max_connections=200
