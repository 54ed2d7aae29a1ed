#!/usr/bin/env bash
# jobctl against a server that answers wrongly (tests/fake_server.c, one per
# mode): every command, against every mode, exits with the documented code,
# says why on stderr when it fails, and never crashes (exit < 128, no
# sanitizer report), and no control character from a reply reaches the
# terminal. Needs JOBCTL_BIN and FAKE_SERVER_BIN (ctest sets them).
#
# What each mode must give (jobctl --help, README "Exit codes"):
#   garbage, badbody, code  5 for every command: the reply cannot be used
#   silent                  3: no reply within the call's deadline
#   empty                   an empty message is a valid Response (OK, every
#                           field at its default): ping, stats, kinds and list
#                           print what that says and exit 0; a command whose
#                           reply must hold a job (submit, wait, cancel) or
#                           account for every id (status, result) says
#                           "malformed reply" and exits 5
#   hostile                 replies of the right type with impossible content:
#                           5 where jobctl needs what is not there (no job,
#                           job id 0, a job that has not ended), else 0 with
#                           the strings made printable
set -u
: "${JOBCTL_BIN:?}" "${FAKE_SERVER_BIN:?}"
dir=$(mktemp -d /tmp/jobd-replies-XXXXXX)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
trap 'kill_daemons; rm -rf "$dir"' EXIT

# The commands, each against every mode, all of a mode at once.
cmds=(
	"ping"
	"stats"
	"kinds"
	"list"
	"list --limit 0"
	"status 1"
	"result 1"
	"wait 1 --timeout 2"
	"cancel 1"
	"submit count n=1"
	"submit count n=1 --wait"
	"--json ping"
	"--json stats"
	"--json kinds"
	"--json list"
	"--json status 1"
	"--json wait 1"
)

# want MODE COMMAND: the exit code it must give
want() {
	case $1 in
	garbage | badbody | code) echo 5 ;;
	silent) echo 3 ;;
	empty)
		case $2 in
		*ping* | *stats* | *kinds* | *list*) echo 0 ;;
		*) echo 5 ;;
		esac
		;;
	hostile)
		case $2 in
		*result* | *wait* | *cancel* | *submit*) echo 5 ;;
		*) echo 0 ;;
		esac
		;;
	esac
}

# --json: each line of stdout one JSON object (strings escaped, invalid
# UTF-8 replaced), whatever the daemon sent; checked by python's parser
py=$(command -v /usr/bin/python3 python3 | head -1)
json_lines='import json, sys
for line in sys.stdin.buffer:
    assert isinstance(json.loads(line.decode("utf-8")), dict)'

for mode in garbage badbody code empty silent hostile; do
	sock="$dir/$mode.sock"
	"$FAKE_SERVER_BIN" "ipc://$sock" "$mode" 2>>"$dir/fake.log" &
	pids+=($!)
	for _ in $(seq 100); do
		[[ -S $sock ]] && break
		sleep 0.05
	done
	[[ -S $sock ]] || { bad "fake server '$mode' did not start: $(cat "$dir/fake.log")"; continue; }

	# a deadline that costs little when nothing answers, and one that a
	# loaded machine meets when something does
	call_timeout=5
	[[ $mode == silent ]] && call_timeout=0.3
	runs=()
	for i in "${!cmds[@]}"; do
		# shellcheck disable=SC2086 # the command's words
		(
			timeout 60 "$JOBCTL_BIN" --addr "ipc://$sock" \
				--timeout $call_timeout ${cmds[$i]} \
				>"$dir/$i.out" 2>"$dir/$i.err" </dev/null
			echo $? >"$dir/$i.rc"
		) &
		runs+=($!)
	done
	wait "${runs[@]}"
	for i in "${!cmds[@]}"; do
		cmd=${cmds[$i]}
		name="$mode: jobctl $cmd"
		expected=$(want "$mode" "$cmd")
		rc=$(cat "$dir/$i.rc")
		if [[ $rc -ge 124 ]]; then
			bad "$name: exit $rc (crash or hang): $(head -c 500 "$dir/$i.err")"
		elif [[ $rc -ne $expected ]]; then
			bad "$name: exit $rc, wanted $expected; stderr: $(head -c 300 "$dir/$i.err")"
		elif grep -Eq 'Sanitizer|runtime error' "$dir/$i.err"; then
			bad "$name: a sanitizer report: $(head -c 500 "$dir/$i.err")"
		elif [[ $rc -ne 0 ]] && ! grep -Eq '^jobctl: .+' "$dir/$i.err"; then
			bad "$name: exit $rc without a message: '$(head -c 300 "$dir/$i.err")'"
		elif LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$dir/$i.out" "$dir/$i.err"; then
			bad "$name: a control character reached the terminal: $(od -c "$dir/$i.out" "$dir/$i.err" | head -5)"
		elif [[ $cmd == --json* && -n $py ]] && ! "$py" -c "$json_lines" <"$dir/$i.out" 2>>"$dir/json.err"; then
			bad "$name: stdout is not one JSON object per line: $(head -c 300 "$dir/$i.out"); $(tail -c 300 "$dir/json.err")"
		else
			ok "$name ($rc)"
		fi
		rm -f "$dir/$i.rc" "$dir/$i.out" "$dir/$i.err"
	done
done

# What the messages say, for a few.
sock="$dir/garbage.sock"
"$JOBCTL_BIN" --addr "ipc://$sock" ping 2>"$dir/err"
grep -q "ping failed: INTERNAL: malformed reply from jobd at 'ipc://$sock': not a Response" "$dir/err" &&
	ok "garbage: the message says the reply is not a Response" || bad "garbage message: $(cat "$dir/err")"
"$JOBCTL_BIN" --addr "ipc://$dir/badbody.sock" stats 2>"$dir/err"
grep -q "stats failed: INTERNAL: malformed Stats reply from jobd at .*: not a StatsReply" "$dir/err" &&
	ok "badbody: the message names the reply type" || bad "badbody message: $(cat "$dir/err")"
"$JOBCTL_BIN" --addr "ipc://$dir/code.sock" kinds 2>"$dir/err"
grep -q "kinds failed: UNKNOWN: jobd answered unknown code 99: no such code" "$dir/err" &&
	ok "code: the message names the code" || bad "code message: $(cat "$dir/err")"
"$JOBCTL_BIN" --addr "ipc://$dir/empty.sock" status 1 2>"$dir/err"
grep -q "status failed: malformed reply: job 1 is neither among the jobs nor missing" "$dir/err" &&
	ok "empty: status says the reply is malformed" || bad "empty status message: $(cat "$dir/err")"
"$JOBCTL_BIN" --addr "ipc://$dir/silent.sock" --timeout 0.3 ping 2>"$dir/err"
grep -q "ping failed: DEADLINE_EXCEEDED: no reply from jobd at .* within 300 ms" "$dir/err" &&
	ok "silent: the message says no reply came" || bad "silent message: $(cat "$dir/err")"
"$JOBCTL_BIN" --addr "ipc://$dir/hostile.sock" wait 1 2>"$dir/err"
grep -q "wait for job 1 failed: malformed reply: job is running" "$dir/err" &&
	ok "hostile: wait says the job has not ended" || bad "hostile wait message: $(cat "$dir/err")"

finish
