# lib.sh: what the shell tests share. Sourced, after the test has set $dir
# (its temporary directory).
#
#   ok NAME, bad NAME      count a result and print it
#   run NAME EXIT OUT_RE ERR_RE -- ARGS...
#                          runs "${jobctl[@]}" ARGS (jobctl by default) and
#                          checks its exit status, and that stdout and stderr
#                          match the regular expressions (empty: anything)
#   has_report FILE...     true when a file holds a report of a sanitizer
#                          or of valgrind
#   start NAME ARGS...     starts jobd with ARGS on ipc://$dir/NAME.sock and
#                          $dir/NAME.db, its stderr in $dir/NAME.log, its
#                          pid in pids[]; exits the test if it never answers
#   stop_daemons           SIGTERM to every pid in pids[], each must exit 0,
#                          and no $dir/*.log may hold such a report
#   kill_daemons           SIGKILL to whatever is left in pids[] (for traps)
#   finish                 prints the counts; fails if anything failed
#
# $JOBD_WRAPPER, a command line jobd runs under (valgrind, say), is split
# into the array wrap[]: start jobd as "${wrap[@]}" "$JOBD_BIN".

: "${JOBD_WRAPPER:=}"
read -ra wrap <<<"$JOBD_WRAPPER"
jobctl=("${JOBCTL_BIN:-jobctl}")
pids=()
pass=0 fail=0

ok() {
	pass=$((pass + 1))
	echo "ok   $1"
}
bad() {
	fail=$((fail + 1))
	echo "FAIL $1"
}

run() {
	local name=$1 want=$2 out_re=$3 err_re=$4
	shift 5
	"${jobctl[@]}" "$@" >"$dir/out" 2>"$dir/err"
	local rc=$?
	if [[ $rc -ne $want ]]; then
		bad "$name: exit $rc, wanted $want; stderr: $(head -c 400 "$dir/err")"
	elif [[ -n $out_re ]] && ! grep -Eq -- "$out_re" "$dir/out"; then
		bad "$name: stdout '$(head -c 300 "$dir/out")' does not match /$out_re/"
	elif [[ -n $err_re ]] && ! grep -Eq -- "$err_re" "$dir/err"; then
		bad "$name: stderr '$(head -c 400 "$dir/err")' does not match /$err_re/"
	else
		ok "$name"
	fi
}

start() {
	local name=$1
	shift
	"${wrap[@]}" "$JOBD_BIN" --listen "ipc://$dir/$name.sock" --db "$dir/$name.db" \
		"$@" 2>>"$dir/$name.log" &
	pids+=($!)
	for _ in $(seq 1200); do
		"$JOBCTL_BIN" --addr "ipc://$dir/$name.sock" ping >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "jobd did not start:" >&2
	cat "$dir/$name.log" >&2
	exit 1
}

has_report() {
	grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|ThreadSanitizer|^==[0-9]+==' "$@" 2>/dev/null
}

stop_daemons() {
	local p st
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || continue
		wait "$p"
		st=$?
		((st == 0)) || bad "jobd $p exited $st when stopped"
	done
	pids=()
	if has_report "$dir"/*.log; then
		bad "a daemon's log has a sanitizer or valgrind report"
		cat "$dir"/*.log
	fi
}

kill_daemons() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}

finish() {
	echo "$pass passed, $fail failed"
	[[ $fail -eq 0 ]]
}
