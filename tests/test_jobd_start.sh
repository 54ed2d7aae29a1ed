#!/usr/bin/env bash
# jobd's command line and start-up: flags, --help, databases it must
# refuse without touching them (files that are not regular files among
# them), refusals that name the file, and one jobd per database. Needs
# JOBD_BIN and JOBCTL_BIN.
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}"
dir=$(mktemp -d /tmp/jobd-start-XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
jobd=("${wrap[@]}" "$JOBD_BIN") # what expect runs: jobd, or jobd as another user

# expect NAME EXIT STDERR_REGEX -- jobd args...
expect() {
	local name=$1 want=$2 err_re=$3
	shift 4
	timeout 60 "${jobd[@]}" --listen "ipc://$dir/s.sock" "$@" >"$dir/out" 2>"$dir/err"
	local rc=$?
	if has_report "$dir/err"; then
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

expect "bad --workers" 2 "invalid --workers '1025'" -- --workers 1025
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

# not a regular file: refused before anything is made beside it (no -wal,
# -shm, .runs)
mkdir "$dir/dir.db"
expect "directory refused" 1 "database '$dir/dir.db' is a directory, not a regular file" -- --db "$dir/dir.db"
mkfifo "$dir/fifo.db"
expect "FIFO refused" 1 "database '$dir/fifo.db' is a FIFO, not a regular file" -- --db "$dir/fifo.db"
expect "device refused" 1 "database '/dev/null' is a character device, not a regular file" -- --db /dev/null
left=$(ls -d "$dir"/dir.db?* "$dir"/fifo.db?* /dev/null?* 2>/dev/null)
[[ -z $left && -p $dir/fifo.db && -z $(ls -A "$dir/dir.db") ]] &&
	ok "nothing made beside them" || bad "made beside them: $left"

# a jobd database with jobs in it, made by jobd, for the cases below
"$JOBD_BIN" --listen "ipc://$dir/mk.sock" --db "$dir/good.db" --workers 1 2>"$dir/mk.log" &
pid=$!
for _ in $(seq 100); do
	"$JOBCTL_BIN" --addr "ipc://$dir/mk.sock" ping >/dev/null 2>&1 && break
	sleep 0.05
done
for _ in $(seq 200); do
	"$JOBCTL_BIN" --addr "ipc://$dir/mk.sock" submit sha256 >/dev/null || break
done
last=$("$JOBCTL_BIN" --addr "ipc://$dir/mk.sock" submit sha256 --wait 2>&1 >/dev/null)
kill -TERM $pid
wait $pid
[[ $last == 201 && -s "$dir/good.db" && ! -e "$dir/good.db-wal" ]] &&
	ok "a database with 201 jobs" || bad "making a database: job '$last': $(cat "$dir/mk.log")"

# sums FILE... -- one line of checksums, "-" for a missing file
sums() { for f; do [[ -e $f ]] && md5sum <"$f" || echo -; done | tr '\n' ' '; }

# refused NAME FILE REGEX: jobd refuses FILE with exit 1 and a message that
# matches REGEX, and FILE and its -wal are what they were
refused() {
	local name=$1 f=$2 re=$3 before
	before=$(sums "$f" "$f-wal")
	expect "$name refused" 1 "$re" -- --db "$f"
	[[ $(sums "$f" "$f-wal") == "$before" ]] && ok "$name untouched" ||
		bad "$name was modified"
}

cp "$dir/good.db" "$dir/trunc.db"
truncate -s $(($(stat -c %s "$dir/good.db") / 2)) "$dir/trunc.db"
refused "truncated database" "$dir/trunc.db" "database '$dir/trunc.db' is corrupt"

# another database's WAL next to ours: SQLite reads the two as one, which
# is not jobd's; the close would have written that WAL into our file
if command -v sqlite3 >/dev/null; then
	sqlite3 "$dir/o.db" "pragma journal_mode=wal; pragma wal_autocheckpoint=0;
		create table foo(x); insert into foo values (1);" \
		".shell cp '$dir/o.db-wal' '$dir/foreign-wal'" >/dev/null
	cp "$dir/good.db" "$dir/fwal.db"
	cp "$dir/foreign-wal" "$dir/fwal.db-wal"
	refused "database with a foreign WAL" "$dir/fwal.db" "database '$dir/fwal.db' is not a jobd database"
else
	echo "skip foreign WAL: no sqlite3"
fi

# pages damaged behind the header and the schema: SQLite opens the file,
# and the first read of jobs finds the damage; the refusal names the file
cp "$dir/good.db" "$dir/damaged.db"
pages=$(($(stat -c %s "$dir/good.db") / 4096))
head -c $(((pages - 1) * 4096)) /dev/zero | tr '\0' '\377' |
	dd of="$dir/damaged.db" bs=4096 seek=1 conv=notrunc status=none
expect "damaged pages refused, the file named" 1 \
	"cannot load the (queued )?jobs of database '$dir/damaged.db': .*malformed" -- --db "$dir/damaged.db"

# a WAL of junk (a torn write) holds nothing committed: this is crash
# recovery, and jobd starts with every job
cp "$dir/good.db" "$dir/torn.db"
head -c 40000 /dev/urandom >"$dir/torn.db-wal"
"$JOBD_BIN" --listen "ipc://$dir/torn.sock" --db "$dir/torn.db" 2>"$dir/torn.log" &
pid=$!
for _ in $(seq 100); do
	"$JOBCTL_BIN" --addr "ipc://$dir/torn.sock" ping >/dev/null 2>&1 && break
	sleep 0.05
done
n=$("$JOBCTL_BIN" --addr "ipc://$dir/torn.sock" list --limit 0 --state succeeded | wc -l)
kill -TERM $pid
wait $pid
[[ $n == 201 ]] && ok "database with a WAL of junk: starts, 201 jobs" ||
	bad "database with a WAL of junk: $n jobs: $(cat "$dir/torn.log")"

# files jobd may not read or write: as nobody when we are root (root reads
# and writes anything), else as ourselves
as=()
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	as=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
	chmod 755 "$dir"
fi
if [[ $(id -u) != 0 || ${#as[@]} -gt 0 ]]; then
	cp "$dir/good.db" "$dir/unreadable.db"
	chmod 000 "$dir/unreadable.db"
	before=$(sums "$dir/unreadable.db")
	jobd=("${as[@]}" "${wrap[@]}" "$JOBD_BIN")
	expect "unreadable file refused" 1 "cannot open database '$dir/unreadable.db': .*Permission denied" -- --db "$dir/unreadable.db"
	cp "$dir/good.db" "$dir/readonly.db"
	chmod 444 "$dir/readonly.db"
	before2=$(sums "$dir/readonly.db")
	expect "read-only file refused" 1 "cannot open database '$dir/readonly.db' for writing: read-only file" -- --db "$dir/readonly.db"
	jobd=("${wrap[@]}" "$JOBD_BIN")
	[[ $(sums "$dir/unreadable.db") == "$before" && $(sums "$dir/readonly.db") == "$before2" &&
		! -e "$dir/readonly.db-wal" && ! -e "$dir/readonly.db-shm" ]] &&
		ok "unreadable and read-only files untouched, no -wal or -shm made" ||
		bad "unreadable or read-only file modified: $(ls -l "$dir"/readonly.db* "$dir"/unreadable.db*)"
	chmod 700 "$dir"
else
	echo "skip unreadable and read-only files: root without setpriv or user nobody"
fi

# a clean start and stop; started with a permissive umask, jobd makes its
# files owner-only all the same
(umask 022 && exec "${wrap[@]}" "$JOBD_BIN" --listen "ipc://$dir/run.sock" --db "$dir/run.db") 2>"$dir/run.log" &
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
if has_report "$dir"/run.log; then
	bad "a sanitizer or valgrind report: $(cat "$dir"/run.log)"
fi

# Signals (docs/operations.md, "Signals and exit status"): each one an
# operator may send, to a real jobd, and what it does.

# sig_start NAME ARGS...: jobd on ipc://$dir/NAME.sock and $dir/NAME.db, its
# pid in $pid; false (and a failure) if it never answers
sig_start() {
	local name=$1
	shift
	"${wrap[@]}" "$JOBD_BIN" --listen "ipc://$dir/$name.sock" --db "$dir/$name.db" \
		"$@" 2>>"$dir/$name.log" &
	pid=$!
	for _ in $(seq 1200); do
		"$JOBCTL_BIN" --addr "ipc://$dir/$name.sock" ping >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	bad "jobd '$name' did not start: $(cat "$dir/$name.log")"
	return 1
}
# logged NAME REGEX: true once NAME's log has a line matching REGEX (60 s)
logged() {
	for _ in $(seq 1200); do
		grep -Eq -- "$2" "$dir/$1.log" && return 0
		sleep 0.05
	done
	return 1
}
# gone PID SEC: true if PID exits within SEC seconds; its status in $st
gone() {
	for _ in $(seq $(($2 * 20))); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			st=$?
			return 0
		fi
		sleep 0.05
	done
	return 1
}
sj() { "$JOBCTL_BIN" --addr "ipc://$dir/sig.sock" "$@"; }

# alive WHAT: true if jobd $pid still runs; a failure naming WHAT if not
alive() {
	kill -0 $pid 2>/dev/null && return 0
	bad "jobd died of $1: $(tail -3 "$dir/sig.log")"
	return 1
}

signals() {
	sig_start sig --workers 1 --grace 60s || return
	kill -USR1 $pid
	logged sig "status: 0 of 1 workers busy; jobs 0 queued" && sj ping >/dev/null &&
		ok "SIGUSR1 logs a status line; jobd serves on" ||
		bad "SIGUSR1: $(tail -3 "$dir/sig.log")"
	alive SIGUSR1 || return

	kill -USR2 $pid
	logged sig "debug logging on" && sj submit fail --retries 1 >/dev/null &&
		logged sig "failed \(attempt 1 of 2\), retrying" &&
		ok "SIGUSR2 turns debug logging on" || bad "SIGUSR2: $(tail -3 "$dir/sig.log")"
	alive SIGUSR2 || return
	kill -USR2 $pid
	logged sig "debug logging off" && ok "SIGUSR2 again turns it off" ||
		bad "SIGUSR2 again: $(tail -3 "$dir/sig.log")"

	kill -HUP $pid
	logged sig "kinds read again" && sj ping >/dev/null && ok "SIGHUP reads the kinds again" ||
		bad "SIGHUP: $(tail -3 "$dir/sig.log")"
	alive SIGHUP || return

	# the reaper of program kinds ignores what a terminal or `systemctl
	# kill` sends to the whole group
	reaper=$(pgrep -P $pid | head -1)
	if [[ -n $reaper ]]; then
		kill -QUIT "$reaper"
		kill -USR1 "$reaper"
		kill -USR2 "$reaper"
		sleep 0.2
		kill -0 "$reaper" 2>/dev/null && ok "the reaper ignores SIGQUIT, SIGUSR1, SIGUSR2" ||
			bad "the reaper died of SIGQUIT, SIGUSR1 or SIGUSR2"
	else
		bad "no reaper process under jobd $pid"
	fi

	# a second SIGTERM during the grace period: the running job is stopped
	# at once and queued again
	id=$(sj submit sleep ms=600000)
	for _ in $(seq 1200); do
		sj status "$id" 2>/dev/null | grep -q running && break
		sleep 0.05
	done
	kill -TERM $pid
	logged sig "received SIGTERM: stopping gracefully" && sleep 0.3 &&
		kill -0 $pid 2>/dev/null && ok "SIGTERM: the running job has its grace period" ||
		bad "SIGTERM with a running job: $(tail -3 "$dir/sig.log")"
	kill -TERM $pid
	if gone $pid 30; then
		[[ $st == 0 ]] && grep -q "received SIGTERM again" "$dir/sig.log" &&
			ok "a second SIGTERM stops at once, exit 0" ||
			bad "second SIGTERM: exit $st: $(tail -3 "$dir/sig.log")"
	else
		bad "a second SIGTERM: jobd still runs after 30 s"
		kill -9 $pid
	fi
	sig_start sig --workers 0 || return
	sj status "$id" | grep -q queued && ok "its job is queued again after the restart" ||
		bad "the job after the restart: $(sj status "$id" 2>&1)"
	kill -TERM $pid
	gone $pid 60 || kill -9 $pid
}
signals

for s in QUIT INT; do
	if sig_start "sig$s" --workers 1; then
		kill -$s $pid
		if gone $pid 60; then
			[[ $st == 0 ]] && grep -q "received SIG$s: stopping gracefully" "$dir/sig$s.log" &&
				grep -q "stopped" "$dir/sig$s.log" && ok "SIG$s stops gracefully, exit 0" ||
				bad "SIG$s: exit $st: $(tail -3 "$dir/sig$s.log")"
		else
			bad "SIG$s: jobd still runs after 60 s"
			kill -9 $pid
		fi
	fi
done
if has_report "$dir"/sig*.log; then
	bad "a sanitizer or valgrind report: $(cat "$dir"/sig*.log)"
fi

# one jobd per database: a second one on the same file, by any path,
# stops before it changes anything, and names the first; the first's
# running job is not taken for one left by a crash (its start is written
# at once, --commit-hold 0, so that the file stays still from there on).
# The job runs until it is cancelled, however slowly the refused starts
# go (under valgrind they once took longer than a job of 2.5 s).
start one --workers 1 --commit-hold 0
apid=${pids[-1]}
one=(--addr "ipc://$dir/one.sock")
id=$("$JOBCTL_BIN" "${one[@]}" submit sleep ms=600000)
for _ in $(seq 200); do
	"$JOBCTL_BIN" "${one[@]}" status "$id" 2>/dev/null | grep -q running && break
	sleep 0.05
done
sums_before=$(sums "$dir/one.db" "$dir/one.db-wal")
expect "second jobd refused, the first named" 1 \
	"database '$dir/one.db' is locked by another process \(pid $apid[,)].*a database serves one jobd at a time" -- --db "$dir/one.db"
ln -s one.db "$dir/alias.db"
expect "second jobd by another path refused" 1 \
	"database '$dir/alias.db' is locked by another process \(pid $apid[,)]" -- --db "$dir/alias.db"
"$JOBCTL_BIN" "${one[@]}" ping >/dev/null && ok "the first jobd still serves" ||
	bad "the first jobd does not answer"
[[ $(sums "$dir/one.db" "$dir/one.db-wal") == "$sums_before" ]] && ok "the second jobd wrote nothing" ||
	bad "the database changed under the refused jobd"
"$JOBCTL_BIN" "${one[@]}" status --json "$id" >"$dir/out"
grep -q '"state":"JOB_STATE_RUNNING","attempts":1,' "$dir/out" && ok "its running job runs on, attempt 1" ||
	bad "the running job: $(cat "$dir/out")"
"$JOBCTL_BIN" "${one[@]}" cancel "$id" >/dev/null
"$JOBCTL_BIN" "${one[@]}" wait "$id" >/dev/null
"$JOBCTL_BIN" "${one[@]}" status --json "$id" >"$dir/out"
grep -q '"state":"JOB_STATE_CANCELLED","attempts":1,' "$dir/out" && ! grep -q "recovered" "$dir/one.log" &&
	ok "it ends once, not re-queued" || bad "the job: $(cat "$dir/out" "$dir/one.log")"
stop_daemons
# the lock goes with the process: at a clean stop, and at SIGKILL
start one --workers 1
ok "a jobd starts once the first stopped"
kill -9 "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null
pids=()
start one --workers 1
ok "a jobd starts at once after one was killed"
stop_daemons

finish
