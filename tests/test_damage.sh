#!/usr/bin/env bash
# Damage and crashes, against the real jobd:
#
#   checksums  bytes of a job's stored input, params or result changed in
#              the database file behind jobd's back, as a failing disk
#              would (SQLite checks nothing): the job fails, saying its
#              input is damaged, without a retry; a damaged result is
#              answered with DATA_LOSS by every call that reads it. Never
#              a wrong digest (the built-in sha256 kind).
#   crash cap  a job running at each of --max-recoveries unclean stops
#              (SIGKILL) fails with a message that says so, instead of
#              being run again at every start; a graceful stop does not
#              count.
#
# Needs JOBD_BIN and JOBCTL_BIN.
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}"
dir=$(mktemp -d /tmp/jobd-damage-XXXXXX)
trap 'kill_daemons; rm -rf "$dir"' EXIT

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"

# ctl NAME ARGS...: jobctl against the jobd started as NAME
ctl() {
	local name=$1
	shift
	"$JOBCTL_BIN" --addr "ipc://$dir/$name.sock" "$@"
}

# flip FILE TEXT: changes one byte in the middle of TEXT, which must occur
# exactly once in FILE (a stopped jobd's database: one file, no -wal)
flip() {
	local f=$1 text=$2 hits off
	hits=$(grep -obaF -- "$text" "$f" | cut -d: -f1)
	if [[ $(wc -w <<<"$hits") -ne 1 || -e $f-wal ]]; then
		bad "flip: '$text' found $(wc -w <<<"$hits") times in $f"
		return 1
	fi
	off=$((hits + ${#text} / 2))
	printf '#' | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

# field NAME ID KEY: the first field KEY of job ID's status as JSON (a
# string without its quotes, or a number)
field() {
	ctl "$1" status --json "$2" | grep -o "\"$3\":\"\{0,1\}[^\",}]*" | head -n 1 |
		sed 's/^[^:]*:"\{0,1\}//'
}

# until_state NAME ID STATE: waits (at most 60 s) for job ID to be in STATE
# (failed, running: JOB_STATE_FAILED, JOB_STATE_RUNNING in the JSON)
until_state() {
	for _ in $(seq 1200); do
		[[ $(field "$1" "$2" state) == "JOB_STATE_${3^^}" ]] && return 0
		sleep 0.05
	done
	return 1
}

# ---- checksums ----------------------------------------------------------

# Jobs are submitted with no worker, so that each row is written once and
# its bytes are in the file once.
head -c 20000 /dev/urandom | base64 -w 0 >"$dir/in-bad"
printf 'INPUT-TO-DAMAGE-%s' "$(cat "$dir/in-bad")" >"$dir/in-bad"
head -c 3000 /dev/urandom >"$dir/in-good"
start sums --workers 0
bad_in=$(ctl sums submit sha256 --input "$dir/in-bad" --retries 2)
bad_par=$(ctl sums submit sha256 rounds=91827 --retries 2)
good=$(ctl sums submit sha256 --input "$dir/in-good")
stop_daemons
flip "$dir/sums.db" "INPUT-TO-DAMAGE-" && flip "$dir/sums.db" "91827" &&
	ok "an input and a param damaged in the file"

start sums --workers 1
ctl sums wait "$good" >"$dir/out" 2>&1
want=$(sha256sum <"$dir/in-good" | cut -d' ' -f1)
[[ $(cat "$dir/out") == "$want" ]] && ok "an undamaged job beside them succeeds" ||
	bad "undamaged job: $(cat "$dir/out")"
for id in "$bad_in" "$bad_par"; do
	until_state sums "$id" failed
	ctl sums status --json "$id" >"$dir/out"
	if grep -q "\"state\":\"JOB_STATE_FAILED\",\"attempts\":1,.*\"result\":\"\",\"error\":\"the stored input of job $id is damaged (checksum mismatch): not run\"" "$dir/out"; then
		ok "job $id: failed at once, its input damaged, no result"
	else
		bad "job $id: $(cat "$dir/out")"
	fi
done
grep -q "job $bad_in (sha256): the stored input of job $bad_in is damaged" "$dir/sums.log" &&
	ok "the damage is logged" || bad "log: $(cat "$dir/sums.log")"

# a result damaged in the file: every read of it answers DATA_LOSS
head -c 3000 /dev/urandom >"$dir/in-res"
want=$(sha256sum <"$dir/in-res" | cut -d' ' -f1)
id=$(ctl sums submit sha256 --input "$dir/in-res" --wait 2>&1 >"$dir/digest")
[[ $(cat "$dir/digest") == "$want" ]] || bad "result: $(cat "$dir/digest")"
stop_daemons
flip "$dir/sums.db" "$want" && ok "a result damaged in the file"
start sums --workers 1
for cmd in result status wait; do
	ctl sums "$cmd" "$id" >"$dir/out" 2>"$dir/err"
	rc=$?
	if [[ $rc -eq 5 && ! -s $dir/out ]] &&
		grep -q "DATA_LOSS: .*the stored result of job $id is damaged (checksum mismatch)" "$dir/err"; then
		ok "$cmd of a damaged result: DATA_LOSS, nothing printed"
	else
		bad "$cmd of a damaged result: exit $rc: $(cat "$dir/out" "$dir/err")"
	fi
done
ctl sums list --limit 0 >"$dir/out" 2>&1 && grep -q "^$id " "$dir/out" &&
	ok "list (which shows no results) still lists it" || bad "list: $(cat "$dir/out")"
stop_daemons

# ---- the crash cap ------------------------------------------------------

start cap --workers 1
id=$(ctl cap submit sleep ms=600000)
until_state cap "$id" running || bad "job $id never ran"
crash() {
	kill -9 "${pids[-1]}"
	wait "${pids[-1]}" 2>/dev/null
	pids=()
}
# two unclean stops while it runs: it runs again after each
for n in 1 2; do
	crash
	start cap --workers 1
	until_state cap "$id" running && ok "after unclean stop $n: running again" ||
		bad "after unclean stop $n: $(ctl cap status "$id")"
done
# a graceful stop re-queues it, and does not count
stop_daemons
start cap --workers 1
until_state cap "$id" running && ok "after a graceful stop: running again" ||
	bad "after a graceful stop: $(ctl cap status "$id")"
# the third unclean stop while it runs: not run again
crash
start cap --workers 1
ctl cap status --json "$id" >"$dir/out"
grep -q '"state":"JOB_STATE_FAILED".*"error":"jobd stopped uncleanly while running this job 3 times; not run again"' "$dir/out" &&
	ok "after the third unclean stop: failed, saying why" || bad "third unclean stop: $(cat "$dir/out")"
grep -q "1 jobs left running by an unclean stop have reached --max-recoveries 3" "$dir/cap.log" &&
	ok "logged" || bad "log: $(cat "$dir/cap.log")"
stop_daemons

# the cap from the environment; and 0: no cap
JOBD_MAX_RECOVERIES=1 start cap1 --workers 1
id=$(ctl cap1 submit sleep ms=600000)
until_state cap1 "$id" running
crash
JOBD_MAX_RECOVERIES=1 start cap1 --workers 1
[[ $(field cap1 "$id" state) == JOB_STATE_FAILED ]] && ok "JOBD_MAX_RECOVERIES=1: failed after one" ||
	bad "JOBD_MAX_RECOVERIES=1: $(ctl cap1 status "$id")"
crash

# a job that takes jobd down before its start reached the database (held
# for the next commit, up to --commit-hold) is known from the workers'
# marks (DB.running), and counted all the same
JOBD_MAX_RECOVERIES=1 start caph --workers 1 --commit-hold 1s
id=$(ctl caph submit sleep ms=600000)
until_state caph "$id" running
crash
JOBD_MAX_RECOVERIES=1 start caph --workers 1 --commit-hold 1s
[[ $(field caph "$id" state) == JOB_STATE_FAILED ]] && ok "a start not yet written: counted, from the marks" ||
	bad "a start not yet written: $(ctl caph status "$id")"
grep -q "1 jobs were running when jobd died before their start was written" "$dir/caph.log" &&
	ok "the marks logged" || bad "marks log: $(cat "$dir/caph.log")"
stop_daemons
[[ ! -e $dir/caph.db.running ]] && ok "no marks left after a clean stop" ||
	bad "marks left: $(ls -la "$dir"/caph.db*)"

start cap0 --workers 1 --max-recoveries 0
id=$(ctl cap0 submit sleep ms=600000)
for n in 1 2 3 4; do
	until_state cap0 "$id" running || break
	crash
	start cap0 --workers 1 --max-recoveries 0
done
until_state cap0 "$id" running && ok "--max-recoveries 0: still run after 4" ||
	bad "--max-recoveries 0: $(ctl cap0 status "$id")"
stop_daemons

finish
