#!/usr/bin/env bash
# jobd's command line and start-up: flags, --help, and databases it must
# refuse without touching them. Needs JOBD_BIN and JOBCTL_BIN.
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}" "${JOBD_WRAPPER:=}"
dir=$(mktemp -d /tmp/jobd-start-XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# expect NAME EXIT STDERR_REGEX -- jobd args...
expect() {
	local name=$1 want=$2 err_re=$3
	shift 4
	# shellcheck disable=SC2086 # JOBD_WRAPPER is a command line
	timeout 60 $JOBD_WRAPPER "$JOBD_BIN" --listen "ipc://$dir/s.sock" "$@" >"$dir/out" 2>"$dir/err"
	local rc=$?
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|ThreadSanitizer|^==[0-9]+==' "$dir/err"; then
		bad "$name: a sanitizer or valgrind report: $(cat "$dir/err")"
	elif [[ $rc -ne $want ]]; then
		bad "$name: exit $rc, wanted $want: $(head -c 300 "$dir/err")"
	elif ! grep -Eq -- "$err_re" "$dir/err"; then
		bad "$name: stderr '$(head -c 300 "$dir/err")' does not match /$err_re/"
	else
		ok "$name"
	fi
}

"$JOBD_BIN" --help >"$dir/help" 2>&1 && grep -q -- "--max-queue N" "$dir/help" &&
	grep -q "JOBD_RETENTION; 7d" "$dir/help" && ok "--help lists options and defaults" ||
	bad "--help"

expect "bad --workers" 2 "invalid --workers '0'" -- --workers 0
expect "bad duration" 2 "invalid --retention '5x'" -- --retention 5x
JOBD_WORKERS=many expect "bad environment" 2 "invalid JOBD_WORKERS 'many'" -- --db "$dir/a.db"
expect "stray argument" 2 "unexpected argument 'extra'" -- extra
expect "bad address" 1 "cannot listen on 'http://x'" -- --db "$dir/b.db" --listen http://x

# another program's SQLite database: refused, and left as it was
if command -v sqlite3 >/dev/null; then
	sqlite3 "$dir/other.db" "create table foo(x); insert into foo values (42);"
else
	cp "$dir/help" "$dir/other.db" # no sqlite3: a text file stands in
fi
sum=$(md5sum <"$dir/other.db")
expect "foreign database refused" 1 "database '$dir/other.db' is" -- --db "$dir/other.db"
[[ $(md5sum <"$dir/other.db") == "$sum" && ! -e "$dir/other.db-wal" ]] &&
	ok "foreign database untouched" || bad "foreign database was modified"

head -c 8192 /dev/urandom >"$dir/junk.db"
sum=$(md5sum <"$dir/junk.db")
expect "corrupt file refused" 1 "database '$dir/junk.db' is corrupt or not a SQLite database" -- --db "$dir/junk.db"
[[ $(md5sum <"$dir/junk.db") == "$sum" ]] && ok "corrupt file untouched" || bad "corrupt file was modified"

expect "unopenable path" 1 "cannot open database '$dir/no/such/dir.db'" -- --db "$dir/no/such/dir.db"

# a clean start and stop; started with a permissive umask, jobd makes its
# files owner-only all the same
# shellcheck disable=SC2086 # JOBD_WRAPPER is a command line
(umask 022 && exec $JOBD_WRAPPER "$JOBD_BIN" --listen "ipc://$dir/run.sock" --db "$dir/run.db") 2>"$dir/run.log" &
pid=$!
for _ in $(seq 1200); do
	"$JOBCTL_BIN" --addr "ipc://$dir/run.sock" ping >/dev/null 2>&1 && break
	sleep 0.05
done
[[ $(stat -c %a "$dir/run.sock") == 600 ]] && ok "ipc socket is owner-only" ||
	bad "ipc socket mode $(stat -c %a "$dir/run.sock")"
"$JOBCTL_BIN" --addr "ipc://$dir/run.sock" submit sleep ms=1 --wait >/dev/null 2>&1
modes=$(stat -c '%n %a' "$dir"/run.db*)
[[ -n $modes && $(grep -vc ' 600$' <<<"$modes") -eq 0 ]] &&
	ok "database files are owner-only: $(tr '\n' ' ' <<<"$modes")" ||
	bad "database file modes: $modes"
kill -TERM $pid
wait $pid
rc=$?
[[ $rc -eq 0 ]] && grep -q "stopped" "$dir/run.log" && ok "SIGTERM stops cleanly" ||
	bad "SIGTERM: exit $rc: $(cat "$dir/run.log")"
if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|ThreadSanitizer|^==[0-9]+==' "$dir"/run.log; then
	bad "a sanitizer or valgrind report: $(cat "$dir"/run.log)"
fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
