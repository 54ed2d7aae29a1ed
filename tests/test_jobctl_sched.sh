#!/usr/bin/env bash
# jobctl's scheduling features against a real jobd: submit --at/--in
# (delayed jobs), --after (dependencies), --unique, pause and resume of a
# kind, retry of a failed job with its history, list --state failed (the
# dead-letter view) and scheduled, schedules; their output, --json, the
# daemon's refusals and the usage errors; and the new commands against a
# server that answers wrongly. Needs JOBD_BIN, JOBCTL_BIN and
# FAKE_SERVER_BIN (ctest sets them).
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}" "${FAKE_SERVER_BIN:?}"
dir=$(mktemp -d /tmp/jobd-ctlsched-XXXXXX)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
trap 'kill_daemons; rm -rf "$dir"' EXIT

# A fixed local zone with a half-hour offset and no daylight saving time,
# for jobctl and date alike (POSIX form: no tzdata needed).
export TZ=XXX-5:30

# jfield NAME FILE: the value of the first "NAME": in FILE's JSON, as
# written (a string with its quotes).
jfield() {
	grep -o "\"$1\":[^,}]*" "$2" | head -n 1 | cut -d: -f2-
}
# jnum NAME FILE: the value of a 64-bit field, a decimal string in the
# canonical JSON mapping ("123"), as a number; else -1
jnum() {
	local v
	v=$(jfield "$1" "$2")
	if [[ $v =~ ^\"[0-9]+\"$ ]]; then echo "${v//\"/}"; else echo -1; fi
}
# check NAME CONDITION...: ok when the test command succeeds
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}
submit() { "$JOBCTL_BIN" submit "$@" 2>>"$dir/submit.err"; }

# ---- usage errors: before any call (the address is never dialed) ----
none=(--addr "ipc://$dir/none.sock")
run "help lists the new commands" 0 "^  schedules +list the periodic jobs" "" -- --help
if tr '\n' ' ' <"$dir/out" | grep -Eq "retry +run a failed.* pause +hold.* resume .* schedules +list"; then
	ok "help: one line each"
else
	bad "help: one line each: $(cat "$dir/out")"
fi
run "submit --help lists the new options" 0 "--at TIME \| --in DURATION\] \[--after ID\[,ID...\]\]" "" -- submit --help
if grep -q -- "--unique KEY" "$dir/out" && grep -q "@UNIXSECONDS" "$dir/out"; then
	ok "submit --help: --unique, TIME forms"
else
	bad "submit --help: $(cat "$dir/out")"
fi
run "bad --at" 2 "" "invalid --at 'tomorrow': expected a date and time like" -- "${none[@]}" submit count n=1 --at tomorrow
run "bad --at month" 2 "" "invalid --at '2026-13-01T10:00': month out of range" -- "${none[@]}" submit count n=1 --at 2026-13-01T10:00
run "bad --at date only" 2 "" "without a time of day" -- "${none[@]}" submit count n=1 --at 2026-12-24
run "bad --at @" 2 "" "invalid --at '@-5'" -- "${none[@]}" submit count n=1 --at @-5
run "bad --in" 2 "" "invalid --in '10': expected a unit" -- "${none[@]}" submit count n=1 --in 10
run "bad --in unit" 2 "" "invalid --in '1w'" -- "${none[@]}" submit count n=1 --in 1w
run "--at and --in" 2 "" "give --at or --in, not both" -- "${none[@]}" submit count n=1 --at @0 --in 1s
run "bad --after" 2 "" "invalid --after '1,,2'" -- "${none[@]}" submit count n=1 --after 1,,2
run "--after 0" 2 "" "invalid --after '0'" -- "${none[@]}" submit count n=1 --after 0
run "empty --unique" 2 "" "empty --unique" -- "${none[@]}" submit count n=1 --unique ""
run "retry without id" 2 "" "missing job id" -- "${none[@]}" retry
run "retry bad id" 2 "" "invalid job id 'x'" -- "${none[@]}" retry x
run "pause without kind" 2 "" "missing KIND" -- "${none[@]}" pause
run "pause two kinds" 2 "" "unexpected argument 'b'" -- "${none[@]}" pause a b
run "resume without kind" 2 "" "missing KIND" -- "${none[@]}" resume
run "schedules extra" 2 "" "unexpected argument 'x'" -- "${none[@]}" schedules x
run "list bad state" 2 "" "expected scheduled, queued" -- "${none[@]}" list --state bogus
run "retry unreachable" 3 "" "cannot reach jobd" -- "${none[@]}" retry 1

start main --backoff 50ms --grace 100ms --workers 2
export JOBD_ADDR="ipc://$dir/main.sock"

# ---- delayed jobs ----
plain=$(submit count n=1)
run "--json of a plain job: the new fields empty" 0 '"runAtMs":"0","after":\[\],"reruns":0,"history":\[\],"uniqueKey":""\}$' "" -- --json status "$plain"
far=$(submit count n=1 --in 1h)
run "delayed: scheduled" 0 "^$far +scheduled +0% +count +runs in (59m|1h00m).*\(at 20[0-9-]+T[0-9:]+\+05:30\)" "" -- status "$far"
run "delayed: run at, local and UTC" 0 "^  run at: [0-9T:-]+\+05:30 \([0-9T:-]+Z\)$" "" -- status "$far"
run "list --state scheduled" 0 "^$far +scheduled" "" -- list --state scheduled
"$JOBCTL_BIN" --json status "$far" >"$dir/j" 2>&1
runat=$(jnum runAtMs "$dir/j")
created=$(jnum createdAtMs "$dir/j")
check "delayed: --json state and runAtMs" \
	[ "$(jfield state "$dir/j")" = '"JOB_STATE_SCHEDULED"' -a "$runat" -gt 0 ]
check "delayed: run_at about an hour after created_at" \
	[ $((runat - created)) -ge 3590000 -a $((runat - created)) -le 3610000 ]
"$JOBCTL_BIN" stats >"$dir/s"
check "stats counts scheduled jobs" grep -q "^scheduled: 1$" "$dir/s"

# local time without an offset, in this process's zone
t=$(date -d '+2 hours' '+%Y-%m-%dT%H:%M')
want=$(($(date -d "${t/T/ }" +%s) * 1000))
loc=$(submit count n=1 --at "$t")
"$JOBCTL_BIN" --json status "$loc" >"$dir/j"
check "--at local time: runAtMs" [ "$(jfield runAtMs "$dir/j")" = "\"$want\"" ]
# RFC 3339 with an offset; the same instant as @UNIXSECONDS
s=$(($(date +%s) + 7200))
off=$(submit count n=1 --at "$(date -u -d "@$s" '+%Y-%m-%dT%H:%M:%S')-02:00")
"$JOBCTL_BIN" --json status "$off" >"$dir/j"
check "--at with an offset: runAtMs" [ "$(jfield runAtMs "$dir/j")" = "\"$(((s + 7200) * 1000))\"" ]
uni=$(submit count n=1 --at "@$s")
"$JOBCTL_BIN" --json status "$uni" >"$dir/j"
check "--at @UNIXSECONDS: runAtMs" [ "$(jfield runAtMs "$dir/j")" = "\"$((s * 1000))\"" ]
run "--at in the past runs now" 0 "^7$" "" -- submit count n=7 --at @1 --wait
run "--at more than 10 years ahead" 2 "" "INVALID_ARGUMENT" -- submit count n=1 --at @$((s + 11 * 366 * 86400))

soon=$(submit count n=42 --in 1s)
run "delayed: runs at its time" 0 "^42$" "" -- wait "$soon"
"$JOBCTL_BIN" --json status "$soon" >"$dir/j"
check "delayed: started no earlier than its delay" \
	[ "$(jnum startedAtMs "$dir/j")" -ge $(($(jnum createdAtMs "$dir/j") + 1000)) -a "$(jnum createdAtMs "$dir/j")" -gt 0 ]
run "submit --json shows runAtMs" 0 '^\{"job":\{"id":"[0-9]+",.*"state":"JOB_STATE_SCHEDULED",.*"runAtMs":"[1-9][0-9]*",.*\},"existing":false\}$' "" -- submit count n=1 --in 30m --json
for id in "$far" "$loc" "$off" "$uni"; do
	run "cancel a scheduled job" 0 "^$id cancelled" "" -- cancel "$id"
done

# ---- dependencies ----
a=$(submit sleep ms=1500)
b=$(submit count n=5 --after "$a")
run "after: waits" 0 "^$b +queued .*\(waiting: after job $a\)" "" -- status "$b"
run "after: status shows it" 0 "^  after: $a$" "" -- status "$b"
run "after: the chain runs" 0 "^5$" "" -- wait "$b"
run "after: --json" 0 "\"after\":\[\"$a\"\]" "" -- --json status "$b"
run "after: several, one option" 0 "^  after: $a, $b$" "" -- status "$(submit count n=1 --after "$a,$b")"
run "after: an unknown job" 4 "" "NOT_FOUND: .*no job 999999" -- submit count n=1 --after 999999
f=$(submit fail message=boom)
"$JOBCTL_BIN" wait "$f" >/dev/null 2>&1
run "after: a failed job" 5 "" "FAILED_PRECONDITION: .*job $f failed" -- submit count n=1 --after "$f"
x=$(submit sleep ms=5000)
y=$(submit count n=1 --after "$x")
"$JOBCTL_BIN" cancel "$x" >/dev/null
run "after: cancelled with the job it waits for" 1 "" "job $y cancelled: job $x was cancelled" -- wait "$y"

# ---- pause and resume ----
run "pause an unknown kind" 4 "" "pause 'nosuch' failed: NOT_FOUND" -- pause nosuch
run "resume an unknown kind" 4 "" "NOT_FOUND" -- resume nosuch
run "pause" 0 "^kind 'count' paused$" "" -- pause count
run "pause again" 0 "^kind 'count' was already paused$" "" -- pause count
run "pause --json" 0 '^\{"kind":"count","paused":true,"changed":false\}$' "" -- pause count --json
run "kinds shows paused" 0 "^  paused: its queued jobs wait" "" -- kinds
run "kinds --json shows paused" 0 '"name":"count".*"paused":true' "" -- kinds --json
run "stats shows paused kinds" 0 "^paused kinds: count$" "" -- stats
run "stats --json" 0 '"pausedKinds":\["count"\]' "" -- stats --json
p=$(submit count n=3)
run "paused: the job waits" 0 "^$p +queued .*\(waiting: kind .*paused" "" -- status "$p"
run "paused: not run" 3 "" "timed out waiting for job $p \(still queued\)" -- wait "$p" --timeout 1
run "paused: other kinds run" 0 "^25$" "" -- submit primes limit=100 --wait
stop_daemons
start main --backoff 50ms --grace 100ms --workers 2
run "paused: after a restart" 0 "^paused kinds: count$" "" -- stats
run "resume" 0 "^kind 'count' resumed$" "" -- resume count
run "resumed: the job runs" 0 "^3$" "" -- wait "$p"
run "resume again" 0 "^kind 'count' was not paused$" "" -- resume count
run "resume --json" 0 '^\{"kind":"count","paused":false,"changed":false\}$' "" -- resume --json count
run "stats: none paused" 0 "^paused kinds: none$" "" -- stats

# ---- retry and the dead-letter view ----
run "list --state failed shows the error" 0 "^$f +failed .*  error: boom$" "" -- list --state failed
run "list --state failed --json" 0 "^\{\"id\":\"$f\",.*\"state\":\"JOB_STATE_FAILED\",.*\"error\":\"boom\"," "" -- list --state failed --json
run "retry a failed job" 0 "^$f (queued|running|failed) again \(rerun 1\)" "" -- retry "$f"
run "the rerun fails again" 1 "" "job $f failed: boom" -- wait "$f"
run "status: reruns" 0 "^  reruns: 1$" "" -- status "$f"
run "status: history" 0 "^  run 1: failed after 1 attempt, [0-9T:+-]+ \.\. [0-9T:+-]+: boom$" "" -- status "$f"
run "status --json: history" 0 "\"reruns\":1,\"history\":\[\{\"state\":\"JOB_STATE_FAILED\",\"error\":\"boom\",\"attempts\":1,\"startedAtMs\":\"[1-9][0-9]*\",\"finishedAtMs\":\"[1-9][0-9]*\"\}\]" "" -- --json status "$f"
run "retry --json" 0 "^\{\"id\":\"$f\",.*\"reruns\":2,\"history\":\[\{\"state\":\"JOB_STATE_FAILED\",.*\},\{\"state\":\"JOB_STATE_FAILED\"," "" -- retry --json "$f"
"$JOBCTL_BIN" wait "$f" >/dev/null 2>&1
run "retry a cancelled job" 0 "^$x (queued|running|succeeded) again \(rerun 1\)" "" -- retry "$x"
run "the rerun succeeds" 0 "" "" -- wait "$x"
run "retry a succeeded job" 5 "" "retry job $x failed: FAILED_PRECONDITION: job $x succeeded" -- retry "$x"
long=$(submit count n=100000000000)
run "retry a running job" 5 "" "FAILED_PRECONDITION: job $long has not ended" -- retry "$long"
"$JOBCTL_BIN" cancel "$long" >/dev/null
run "retry an unknown job" 4 "" "retry job 999999 failed: NOT_FOUND" -- retry 999999

# ---- unique while active ----
u1=$(submit sleep ms=1500 --unique nightly)
u2=$(submit sleep ms=1 --unique nightly)
check "unique: the active job is returned" [ -n "$u1" -a "$u1" = "$u2" ]
run "unique: --json existing" 0 "^\{\"job\":\{\"id\":\"$u1\",.*\"uniqueKey\":\"nightly\"\},\"existing\":true\}$" "" -- submit sleep ms=1 --unique nightly --json
run "unique: status shows the key" 0 "^  unique key: nightly$" "" -- status "$u1"
"$JOBCTL_BIN" wait "$u1" >/dev/null
u3=$(submit sleep ms=1 --unique nightly)
check "unique: a new job once it ended" [ -n "$u3" -a "$u3" != "$u1" ]
run "unique: a bad key" 2 "" "INVALID_ARGUMENT" -- submit count n=1 --unique "a b"

# ---- schedules ----
run "schedules: none" 0 "^no schedules$" "" -- schedules
run "schedules --json: none" 0 "" "" -- schedules --json
check "schedules --json: nothing printed" [ ! -s "$dir/out" ]

stop_daemons

# ---- the new commands against replies no jobd sends (tests/fake_server.c,
# as tests/test_jobctl_replies.sh does for the others): the documented exit
# code, a message, no crash, no control character on the terminal ----
new_cmds=("retry 1" "pause count" "resume count" "schedules" "--json retry 1"
	"--json pause count" "--json schedules")
for mode in garbage badbody code empty silent hostile; do
	sock="$dir/fake-$mode.sock"
	"$FAKE_SERVER_BIN" "ipc://$sock" "$mode" 2>>"$dir/fake.log" &
	pids+=($!)
	for _ in $(seq 100); do
		[[ -S $sock ]] && break
		sleep 0.05
	done
	call_timeout=5
	[[ $mode == silent ]] && call_timeout=0.3
	for cmd in "${new_cmds[@]}"; do
		case $mode:$cmd in
		garbage:* | badbody:* | code:*) want=5 ;;
		silent:*) want=3 ;;
		*retry*) want=5 ;; # empty, hostile: a reply without a job
		*) want=0 ;;       # changed = false; no schedules
		esac
		# shellcheck disable=SC2086 # the command's words
		timeout 60 "$JOBCTL_BIN" --addr "ipc://$sock" --timeout $call_timeout $cmd \
			>"$dir/out" 2>"$dir/err" </dev/null
		rc=$?
		name="$mode: jobctl $cmd"
		if [[ $rc -ne $want ]]; then
			bad "$name: exit $rc, wanted $want: $(head -c 300 "$dir/err")"
		elif grep -Eq 'Sanitizer|runtime error' "$dir/err"; then
			bad "$name: a sanitizer report: $(head -c 500 "$dir/err")"
		elif [[ $rc -ne 0 ]] && ! grep -Eq '^jobctl: .+' "$dir/err"; then
			bad "$name: exit $rc without a message"
		elif LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$dir/out" "$dir/err"; then
			bad "$name: a control character reached the terminal"
		else
			ok "$name ($rc)"
		fi
	done
done
run "empty: retry says the reply is malformed" 5 "" "retry job 1 failed: malformed reply: no job" -- --addr "ipc://$dir/fake-empty.sock" retry 1
kill_daemons
pids=()

if [[ -s $dir/submit.err ]]; then
	bad "a submit failed: $(head -c 600 "$dir/submit.err")"
fi
finish
