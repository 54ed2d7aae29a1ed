#!/usr/bin/env bash
# pg_cluster.sh: a throwaway PostgreSQL 15 server for the tests.
#
#   tests/pg_cluster.sh start DIR    creates and starts it; prints its URL
#   tests/pg_cluster.sh stop DIR     stops it and removes its data
#   tests/pg_cluster.sh url DIR      prints the URL of a running one
#   tests/pg_cluster.sh createdb DIR NAME
#                                    makes database NAME; prints its URL
#   tests/pg_cluster.sh down DIR     stops it at once (pg_ctl -m immediate:
#                                    no checkpoint, crash recovery at the
#                                    next start), keeping its data
#   tests/pg_cluster.sh up DIR       starts it again, same data, same port
#   tests/pg_cluster.sh run DIR CMD...
#                                    runs CMD with JOBD_TEST_DB_URL (and
#                                    PG_CLUSTER_DIR=DIR, JOBD_TEST_PSQL)
#                                    set: ctest's wrapper
#
# DIR (made if missing) holds the state: url, the data directory's path
# (datadir), the user it runs as (user), the server's log (log) and its
# unix socket (.s.PGSQL.PORT); when that user cannot write in DIR (a
# checkout under /root, run as root), the socket and the log are in the
# data's temporary directory instead (rundir says where), DIR/log a link.
# The data directory itself is a fresh mktemp -d in ${TMPDIR:-/tmp}, made
# by initdb as an unprivileged user: as
# root, the user `nobody` (initdb and postgres refuse to run as root), run
# through runuser; otherwise the current user. The server listens on
# 127.0.0.1 only, on a free port (random ports tried until one binds), and
# on that unix socket; authentication is `trust` for the superuser
# `jobd`, so the URL is postgresql://jobd@127.0.0.1:PORT/postgres.
#
# Settings for tests, not for production: fsync=off and
# full_page_writes=off (a killed postgres process loses nothing with them,
# since its writes are in the kernel already; only a crash of the machine
# would), synchronous_commit stays on (a commit is in the WAL before the
# client hears of it, which the crash tests of jobd rely on). Room for
# many daemons at once (max_connections 300), small shared buffers.
#
# Each test makes its own database (`createdb DIR NAME`, or CREATE DATABASE
# through the URL) so that tests run in parallel against one server. The
# start and stop are ctest's fixture `postgres` (tests/CMakeLists.txt):
# plain `ctest` starts the server once before the first test that needs it
# and stops it after the last.
#
# PG_BIN overrides /usr/lib/postgresql/15/bin. `start` stops a server left
# in DIR by an earlier run first; a start that fails removes what it made.
# Without PostgreSQL's binaries `start` exits 77, the code of a skipped
# test (tests/pgtest.h passes it on); any other failure exits 1.
#
# The C tests get their servers through tests/pgtest.h, which runs this
# script ($PG_CLUSTER_SH): test_pgstore uses the fixture's server, or
# starts one of its own when run by hand; test_jobq_pg always starts its
# own, since it stops and starts it (down, up) under the queues.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

die() {
	echo "pg_cluster: $*" >&2
	exit 1
}

usage() {
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# as_user CMD...: runs CMD as the cluster's user
as_user() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u "$pguser" -- "$@"
	else
		"$@"
	fi
}

stop() {
	local dir=$1 data
	[[ -f $dir/datadir ]] || return 0
	data=$(cat "$dir/datadir")
	pguser=$(cat "$dir/user" 2>/dev/null || id -un)
	if [[ -f $data/data/postmaster.pid ]]; then
		# immediate: the data is thrown away anyway
		as_user "$PG_BIN/pg_ctl" -D "$data/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
			{
				local pid
				pid=$(head -1 "$data/data/postmaster.pid" 2>/dev/null || true)
				[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
			}
	fi
	case $data in
	*/jobd-pg.*) rm -rf -- "$data" ;;
	esac
	rm -f -- "$dir/datadir" "$dir/url" "$dir/port" "$dir/rundir"
}

start() {
	local dir=$1 data port url
	[[ -x $PG_BIN/initdb ]] || {
		echo "pg_cluster: no PostgreSQL in '$PG_BIN' (apt-get install postgresql, or set PG_BIN)" >&2
		exit 77
	}
	mkdir -p -- "$dir"
	dir=$(cd -- "$dir" && pwd)
	stop "$dir"
	if [[ $(id -u) == 0 ]]; then
		pguser=nobody
		id -u "$pguser" >/dev/null 2>&1 || die "no user '$pguser' to run PostgreSQL as"
	else
		pguser=$(id -un)
	fi
	data=$(mktemp -d "${TMPDIR:-/tmp}/jobd-pg.XXXXXX")
	echo "$data" >"$dir/datadir"
	echo "$pguser" >"$dir/user"
	chmod 0755 "$dir"
	if [[ $(id -u) == 0 ]]; then
		chown "$pguser" "$data" "$dir"
	fi
	trap 'stop "$dir"' ERR
	# The socket and the log go in DIR when the server's user can write
	# there; else (DIR under a directory closed to it, such as /root) in
	# the data's temporary directory, DIR/log a link to the log.
	rundir=$dir
	as_user test -w "$dir" -a -x "$dir" 2>/dev/null || rundir=$data
	[[ $rundir == "$dir" ]] || ln -sfn "$rundir/log" "$dir/log"
	echo "$rundir" >"$dir/rundir"
	# (initdb runs in the data directory: the user may not read the cwd)
	(cd "$data" && as_user "$PG_BIN/initdb" -D "$data/data" -A trust -U jobd \
		--no-sync -E UTF8 --locale=C.UTF-8) >"$dir/initdb.log" 2>&1 ||
		{
			cat "$dir/initdb.log" >&2
			die "initdb failed"
		}
	cat >>"$data/data/postgresql.conf" <<EOF
# tests/pg_cluster.sh: for tests only
listen_addresses = '127.0.0.1'
unix_socket_directories = '$rundir'
fsync = off
full_page_writes = off
synchronous_commit = on
max_connections = 300
shared_buffers = 64MB
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
EOF
	for _ in $(seq 40); do
		port=$((20000 + RANDOM % 30000))
		: >"$rundir/log"
		[[ $(id -u) == 0 ]] && chown "$pguser" "$rundir/log"
		if (cd "$data" && as_user "$PG_BIN/pg_ctl" -D "$data/data" -o "-p $port" \
			-l "$rundir/log" -w -t 60 start) >/dev/null 2>&1; then
			url="postgresql://jobd@127.0.0.1:$port/postgres"
			echo "$port" >"$dir/port"
			echo "$url" >"$dir/url"
			trap - ERR
			echo "$url"
			return 0
		fi
		# a port taken: try another; anything else: give up
		grep -q "could not bind\|Address already in use" "$dir/log" || {
			cat "$dir/log" >&2
			stop "$dir"
			die "postgres did not start"
		}
	done
	stop "$dir"
	die "no free port found"
}

down() {
	local dir=$1 data
	[[ -f $dir/datadir && -f $dir/port ]] || die "no server in '$dir'"
	data=$(cat "$dir/datadir")
	pguser=$(cat "$dir/user")
	as_user "$PG_BIN/pg_ctl" -D "$data/data" -m immediate -w -t 60 stop >/dev/null
}

up() {
	local dir=$1 data
	[[ -f $dir/datadir && -f $dir/port ]] || die "no server in '$dir'"
	data=$(cat "$dir/datadir")
	pguser=$(cat "$dir/user")
	(cd "$data" && as_user "$PG_BIN/pg_ctl" -D "$data/data" -o "-p $(cat "$dir/port")" \
		-l "$(cat "$dir/rundir")/log" -w -t 60 start) >/dev/null
}

psql_admin() {
	local dir=$1
	shift
	[[ -f $dir/url ]] || die "no server running in '$dir' (tests/pg_cluster.sh start DIR)"
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$(cat "$dir/url")" "$@"
}

cmd=${1-}
dir=${2-}
[[ -n $cmd && -n $dir ]] || usage
case $cmd in
start) start "$dir" ;;
stop) stop "$dir" ;;
down) down "$dir" ;;
up) up "$dir" ;;
url)
	[[ -f $dir/url ]] || die "no server running in '$dir'"
	cat "$dir/url"
	;;
createdb)
	name=${3-}
	[[ $name =~ ^[a-z_][a-z0-9_]*$ ]] || die "bad database name '$name'"
	psql_admin "$dir" -c "CREATE DATABASE $name" >/dev/null
	url=$(cat "$dir/url")
	echo "${url%/*}/$name"
	;;
run)
	shift 2
	(($# > 0)) || usage
	[[ -f $dir/url ]] || die "no server running in '$dir' (the ctest fixture 'postgres' starts it)"
	JOBD_TEST_DB_URL=$(cat "$dir/url") PG_CLUSTER_DIR=$(cd -- "$dir" && pwd) \
		JOBD_TEST_PSQL=$PG_BIN/psql exec "$@"
	;;
*) usage ;;
esac
