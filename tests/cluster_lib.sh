# cluster_lib.sh: what the cluster tests (tests/test_cluster*.sh) share, on
# top of tests/lib.sh. Sourced after $dir is set; needs JOBD_TEST_DB_URL
# (tests/pg_cluster.sh run DIR ... sets it): without it the test is
# skipped (exit 77).
#
#   make_db NAME           makes database NAME on that server: $db its URL
#   q SQL                  runs SQL on $db, prints the rows (psql -At)
#   node_start NAME ARGS   starts jobd NAME on $db (--node NAME, ipc://
#                          $dir/NAME.sock, log $dir/NAME.log) with ARGS,
#                          waits for it to answer; its pid in node_pid[NAME]
#   node_kill NAME [SIG]   sends SIG (KILL) and reaps it
#   node_stop NAME         SIGTERM; it must exit 0
#   addr NAME              its address
#   cluster_fini           kills what is left, drops $db unless JOBD_KEEP,
#                          removes $dir
#
# Every jobd here runs with a short lease (JOBD_TEST_LEASE, 3s) so that a
# killed node's jobs are rescued within seconds.

if [[ -z ${JOBD_TEST_DB_URL-} ]]; then
	echo "skip: JOBD_TEST_DB_URL is not set (run through tests/pg_cluster.sh run DIR ...;" \
		"ctest's fixture 'postgres' does it)"
	exit 77
fi
: "${JOBD_TEST_PSQL:=psql}"
: "${JOBD_TEST_LEASE:=3s}"
declare -A node_pid=()
db=""
dbname=""

make_db() {
	dbname=$1
	db="${JOBD_TEST_DB_URL%/*}/$dbname"
	"$JOBD_TEST_PSQL" -X -q -v ON_ERROR_STOP=1 -d "$JOBD_TEST_DB_URL" \
		-c "CREATE DATABASE \"$dbname\"" >/dev/null || {
		echo "cannot create database $dbname" >&2
		exit 1
	}
}

q() {
	"$JOBD_TEST_PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$1"
}

addr() {
	echo "ipc://$dir/$1.sock"
}

# pids[] of lib.sh: the live nodes, for stop_daemons/kill_daemons
sync_pids() {
	pids=("${node_pid[@]}")
}

node_start() {
	local name=$1
	shift
	"${wrap[@]}" "$JOBD_BIN" --db "$db" --listen "$(addr "$name")" \
		--node "$name" --lease "$JOBD_TEST_LEASE" --grace 200ms "$@" \
		2>>"$dir/$name.log" &
	node_pid[$name]=$!
	sync_pids
	for _ in $(seq 1200); do
		"$JOBCTL_BIN" --addr "$(addr "$name")" ping >/dev/null 2>&1 && return 0
		kill -0 "${node_pid[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "jobd $name did not start:" >&2
	cat "$dir/$name.log" >&2
	cluster_fini
	exit 1
}

node_kill() {
	local name=$1 sig=${2:-KILL}
	kill -"$sig" "${node_pid[$name]}" 2>/dev/null
	wait "${node_pid[$name]}" 2>/dev/null
	unset "node_pid[$name]"
	sync_pids
}

node_stop() {
	local name=$1 st
	kill -TERM "${node_pid[$name]}" 2>/dev/null
	wait "${node_pid[$name]}"
	st=$?
	unset "node_pid[$name]"
	sync_pids
	((st == 0)) || bad "jobd $name exited $st when stopped"
}

cluster_fini() {
	kill_daemons
	if [[ -z ${JOBD_KEEP-} ]]; then
		[[ -n $dbname ]] && "$JOBD_TEST_PSQL" -X -q -d "$JOBD_TEST_DB_URL" \
			-c "DROP DATABASE IF EXISTS \"$dbname\" WITH (FORCE)" >/dev/null 2>&1
		rm -rf "$dir"
	else
		echo "kept $dir and database $dbname"
	fi
}

# jc NAME ARGS...: jobctl against node NAME
jc() {
	local name=$1
	shift
	"$JOBCTL_BIN" --addr "$(addr "$name")" "$@"
}
