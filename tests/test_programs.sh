#!/usr/bin/env bash
# Program kinds through the real jobd and jobctl: kind files in sh, python3
# and node, and what the program contract promises (README, docs/kinds.md):
# parameters as arguments and environment, input and result, large input and
# output together, progress, failure with the stderr tail, retry and the
# no-retry exit, cancel (a program that ignores SIGTERM is killed after the
# grace), timeout, the result cap, a clean environment, no leaked
# descriptors, an injection that stays one argument, the working directory
# removed, the concurrency limit, SIGHUP reloads (add, change, remove, a bad
# file), a kind missing at restart, and kill -9 of jobd leaving no program
# running. Needs JOBD_BIN and JOBCTL_BIN (ctest sets them).
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}"
dir=$(mktemp -d /tmp/jobd-prog-XXXXXX)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
trap 'kill_daemons; chmod -R u+w "$dir" 2>/dev/null; rm -rf "$dir"' EXIT
kinds=$dir/kinds.d
runs=$dir/runs
mkdir -p "$kinds" "$runs" "$dir/out.d"
# Debian's interpreters: a python3 earlier on PATH may be a wrapper that
# sets variables of its own (pyenv's shims do)
node=$(command -v /usr/bin/node node | head -1)
python=$(command -v /usr/bin/python3 python3 | head -1)

# kind NAME LINES...: writes $kinds/NAME.kind, one argument a line
kind() {
	local name=$1
	shift
	printf '%s\n' "$@" >"$kinds/$name.kind"
}
# script NAME: stdin becomes $dir/NAME, executable
script() {
	cat >"$dir/$1"
	chmod +x "$dir/$1"
}

# a daemon with the kinds of this test: lib.sh's start, with jobd's own
# environment holding a variable no program may see
start_kinds() {
	FOO_SECRET=leak start "$@" --backoff 50ms --grace 2s --kinds-dir "$kinds" \
		--run-dir "$runs"
}
# until_true SECONDS CMD...: runs CMD every 50 ms until it succeeds (ten
# times as long under a wrapper such as valgrind)
slow=1
[[ -n $JOBD_WRAPPER ]] && slow=10
until_true() {
	local n=$(($1 * 20 * slow))
	shift
	for _ in $(seq "$n"); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }
state() { "$JOBCTL_BIN" status "$1" | awk '{print $2}'; }
is_state() { [[ $(state "$1") == "$2" ]]; }

# ---- the kinds -------------------------------------------------------

# echo: argv and environment, in sh
script args.sh <<'EOF'
#!/bin/sh
printf 'argc=%s\n' "$#"
for a in "$@"; do printf 'arg=[%s]\n' "$a"; done
printf 'env=[%s]\n' "$JOBD_PARAM_WORD"
printf 'kind=%s attempt=%s\n' "$JOBD_KIND" "$JOBD_ATTEMPT"
EOF
kind argv "[kind]" "description = prints its arguments" \
	"program = $dir/args.sh" "args = {word} --n={n} {JOB_ID}" \
	"[param word]" "type = string" "required = yes" \
	"[param n]" "type = int" "min = 0" "max = 10" "default = 7"

# reverse: input to result, in python3; a large input comes back whole
# (a kind whose interpreter is missing would stop jobd at start: written
# only when it is there)
[[ -n $python ]] && kind upper "[kind]" "description = its input in capitals" \
	"program = $python" "args = -c {code}" "input = yes" "max_output = 2M" \
	"[param code]" "type = string" "max = 200" \
	"default = import sys; d=sys.stdin.buffer.read(); sys.stdout.buffer.write(d.upper())"

# cat: a megabyte in, a megabyte out, written before all is read
kind cat "[kind]" "description = its input back" "program = /bin/cat" \
	"input = yes" "max_output = 2M"

# the open-file limit a program gets: the one jobd was started with, not
# the hard limit jobd raises its own to
kind limits "[kind]" "description = its limits" "program = /bin/cat" \
	"args = /proc/self/limits"

# progress, in node: ten steps of 100 ms
script progress.js <<'EOF'
const fs = require('fs');
const fd = Number(process.env.JOBD_PROGRESS_FD);
let i = 0;
const step = () => {
	fs.writeSync(fd, `${i} 10\n`);
	if (++i > 10) { process.stdout.write('done'); return; }
	setTimeout(step, 100);
};
step();
EOF
[[ -n $node ]] && kind progress "[kind]" "description = reports progress" \
	"program = $node" "args = $dir/progress.js"

# fails: exit status and the stderr tail; exit 100 is not retried; the
# second attempt succeeds when asked to
script fails.sh <<'EOF'
#!/bin/sh
head -c 10000 /dev/zero | tr '\0' 'x' >&2
echo " the end of stderr" >&2
if [ "$JOBD_PARAM_MODE" = second ] && [ "$JOBD_ATTEMPT" -ge 2 ]; then
	echo fine
	exit 0
fi
[ "$JOBD_PARAM_MODE" = final ] && exit 100
[ "$JOBD_PARAM_MODE" = signal ] && kill -SEGV $$
exit 3
EOF
kind fails "[kind]" "description = fails" "program = $dir/fails.sh" \
	"[param mode]" "type = choice" "values = plain second final signal" \
	"default = plain"

# stubborn: ignores SIGTERM, writes its pid and a child's, sleeps
script stubborn.sh <<'EOF'
#!/bin/sh
trap '' TERM
sleep 300 &
echo "$$ $!" >"$1"
while :; do sleep 0.05; done
EOF
kind stubborn "[kind]" "description = ignores SIGTERM" \
	"program = $dir/stubborn.sh" "args = {pidfile}" "grace = 500ms" \
	"[param pidfile]" "type = string" "required = yes"

# snooze: sleeps, quietly
kind snooze "[kind]" "description = sleeps" "program = /bin/sleep" \
	"args = {s}" "concurrency = 1" \
	"[param s]" "type = string" "required = yes"

# big: more output than its cap
kind big "[kind]" "description = too much" "program = /bin/sh" \
	"args = -c {cmd}" "max_output = 1K" \
	"[param cmd]" "type = string" "default = head -c 2048 /dev/zero"

# env, fds, cwd: what the program sees of the world (the descriptor that
# lists /proc/self/fd is the lowest free one: 4 when 0 to 3 are all)
script world.py <<'EOF'
import os
print(' '.join(sorted(os.environ)))
print(' '.join(str(f) for f in sorted(int(x) for x in os.listdir('/proc/self/fd'))))
print(os.getcwd())
print('empty' if not os.listdir('.') else 'not empty')
EOF
[[ -n $python ]] && kind world "[kind]" "description = its world" \
	"program = $python" "args = $dir/world.py" "env = LANG=C.UTF-8"

# ---- the tests -------------------------------------------------------

"$JOBD_BIN" --kinds-dir "$kinds" --check-kinds >"$dir/out" 2>"$dir/err"
if [[ $? -eq 0 ]] && grep -q "^argv  *program  *$kinds/argv.kind" "$dir/out" &&
	grep -q "^count  *built-in" "$dir/out"; then
	ok "check-kinds: all right"
else
	bad "check-kinds: $(cat "$dir/out" "$dir/err")"
fi

mkdir "$dir/bad.d"
printf '[kind]\nprogram = /bin/true\nsize = 3\n' >"$dir/bad.d/oops.kind"
"$JOBD_BIN" --kinds-dir "$dir/bad.d" --check-kinds >"$dir/out" 2>"$dir/err"
rc=$?
((rc == 1)) && grep -q "$dir/bad.d/oops.kind:3: unknown key 'size'" "$dir/err" &&
	ok "check-kinds: a bad file, exit 1, FILE:LINE" || bad "check-kinds, bad: exit $rc: $(cat "$dir/err")"
"$JOBD_BIN" --kinds-dir "$dir/bad.d" --listen "ipc://$dir/bad.sock" --db "$dir/bad.db" 2>"$dir/err"
rc=$?
((rc == 1)) && grep -q "oops.kind:3: unknown key 'size'" "$dir/err" && [[ ! -e $dir/bad.db ]] &&
	ok "a bad kind file stops jobd at start, before the database" || bad "start with a bad kind file: exit $rc: $(cat "$dir/err")"

hard=$(ulimit -Hn)
[[ $hard == unlimited || $hard -gt 512 ]] && ulimit -Sn 512
start_kinds main --workers 3
export JOBD_ADDR="ipc://$dir/main.sock"

# (valgrind keeps descriptors of its own and fakes the limits it reports)
if [[ $(ulimit -Sn) == 512 && -z $JOBD_WRAPPER ]]; then
	"$JOBCTL_BIN" submit limits --wait >"$dir/limits" 2>/dev/null
	grep -Eq "^Max open files +512 " "$dir/limits" &&
		grep -q "open-file limit raised from 512 " "$dir/main.log" &&
		ok "a program gets the open-file limit jobd was started with" ||
		bad "open-file limit: $(grep 'open files' "$dir/limits"); $(grep open-file "$dir/main.log")"
else
	ok "open-file limit: skipped (the hard limit is 512 or less, or under a wrapper)"
fi
run "kinds lists a program kind" 0 "from: program $kinds/argv.kind" "" -- kinds
run "kinds --json" 0 '"name":"upper".*"origin":"program"' "" -- kinds --json

# parameters: each template word one argument, the injection too
run "argv" 0 "argc=3" "" -- submit argv 'word=a b' --wait
grep -q '^arg=\[a b\]$' "$dir/out" && grep -q '^arg=\[--n=7\]$' "$dir/out" &&
	grep -q '^env=\[a b\]$' "$dir/out" && grep -q '^kind=argv attempt=1$' "$dir/out" &&
	ok "argv: words, default, environment" || bad "argv: $(cat "$dir/out")"
run "injection stays one argument" 0 "argc=3" "" -- \
	submit argv "word=x; touch $dir/PWNED \$(touch $dir/PWNED2) \`touch $dir/PWNED3\`" --wait
grep -qF "arg=[x; touch $dir/PWNED \$(touch $dir/PWNED2)" "$dir/out" &&
	[[ ! -e $dir/PWNED && ! -e $dir/PWNED2 && ! -e $dir/PWNED3 ]] &&
	ok "injection: nothing ran" || bad "injection: $(cat "$dir/out"); $(ls "$dir")"
run "a bad parameter is refused at Submit" 2 "" "must be an integer from 0 to 10" -- \
	submit argv word=a n=11

# input and result
if [[ -n $python ]]; then
	printf 'hello, jobd' >"$dir/in"
	run "input to result (python)" 0 "^HELLO, JOBD$" "" -- submit upper --input "$dir/in" --wait
else
	ok "input to result (python): skipped, no python3"
fi
head -c 1048576 /dev/urandom >"$dir/mb"
"$JOBCTL_BIN" submit cat --input "$dir/mb" --wait >"$dir/mb.out" 2>"$dir/err"
# (the id goes to stderr with --wait: stdout is the result alone)
cmp -s "$dir/mb" "$dir/mb.out" && ok "1 MiB in and out together" ||
	bad "1 MiB through cat: $(wc -c <"$dir/mb.out") bytes; $(cat "$dir/err")"

# progress, seen while it runs
if [[ -n $node ]]; then
	id=$("$JOBCTL_BIN" submit progress)
	until_true 5 eval '"$JOBCTL_BIN" status $id | grep -Eq "running  [1-9][0-9]?%"' &&
		ok "progress from the program (node)" || bad "progress: $("$JOBCTL_BIN" status "$id")"
	run "progress: result" 0 "^done$" "" -- wait "$id"
else
	ok "progress (node): skipped, no node"
fi

# failures
run "failure: exit status and stderr tail" 1 "" "exit status 3: x+ the end of stderr" -- \
	submit fails --wait
id=$("$JOBCTL_BIN" submit fails --retries 2)
"$JOBCTL_BIN" wait "$id" >/dev/null 2>&1
run "failure: retried" 0 '"state":"JOB_STATE_FAILED","attempts":3,' "" -- status "$id" --json
len=$("$JOBCTL_BIN" status "$id" --json | sed 's/.*"error":"\([^"]*\)".*/\1/' | wc -c)
((len > 1000 && len < 5000)) && ok "failure: stderr tail of $len bytes" || bad "stderr tail of $len bytes"
id=$("$JOBCTL_BIN" submit fails mode=final --retries 2)
"$JOBCTL_BIN" wait "$id" >/dev/null 2>&1
run "exit 100: not retried" 0 '"state":"JOB_STATE_FAILED","attempts":1,"maxAttempts":3,' "" -- status "$id" --json
run "retry: the second attempt succeeds" 0 "^fine$" "" -- submit fails mode=second --retries 1 --wait
run "killed by a signal, named" 1 "" "signal 11 \(SIGSEGV\)" -- submit fails mode=signal --wait

# cancel: SIGTERM ignored, SIGKILL after the grace; the child goes too
id=$("$JOBCTL_BIN" submit stubborn "pidfile=$dir/stub.pids")
until_true 5 test -s "$dir/stub.pids" || bad "stubborn did not start"
read -r ppid cpid <"$dir/stub.pids"
run "cancel a program that ignores SIGTERM" 0 "cancelled" "" -- cancel "$id"
until_true 5 gone "$ppid" && until_true 5 gone "$cpid" &&
	ok "cancel: the program and its child are gone" ||
	bad "cancel: pids $ppid $cpid still there"

# timeout
run "timeout" 1 "" "timed out after 1000 ms" -- submit snooze s=30 --timeout 1 --wait

# the result cap
run "output over max_output fails" 1 "" "the output exceeded 1024 bytes" -- submit big --wait

# a clean world: environment, descriptors, a private directory removed
if [[ -n $python ]]; then
	"$JOBCTL_BIN" submit world --wait >"$dir/world" 2>/dev/null
	vars=$(sed -n 1p "$dir/world")
	want="JOBD_ATTEMPT JOBD_JOB_ID JOBD_KIND JOBD_PROGRESS_FD LANG PATH"
	[[ $vars == "$want" ]] && ok "environment: only jobd's and the kind's" ||
		bad "environment: '$vars', wanted '$want'"
	fds=$(sed -n 2p "$dir/world")
	[[ $fds == "0 1 2 3 4" ]] && ok "descriptors: 0 to 3 only" || bad "descriptors: '$fds'"
	wd=$(sed -n 3p "$dir/world")
	[[ $wd == "$runs"/* ]] && [[ ! -e $wd ]] && [[ $(sed -n 4p "$dir/world") == empty ]] &&
		ok "working directory: private, empty, removed" || bad "working directory '$wd': $(cat "$dir/world")"
	[[ -z "$(ls -A "$runs")" ]] && ok "run directory left empty" || bad "left in $runs: $(ls "$runs")"
else
	ok "a clean world (python): skipped, no python3"
fi

# the concurrency limit: one snooze at a time, other kinds go by
ids=()
for _ in 1 2 3; do ids+=("$("$JOBCTL_BIN" submit snooze s=2)"); done
until_true 5 is_state "${ids[0]}" running || bad "the first snooze did not start"
run "a waiting job says why" 0 "waiting: kind 'snooze' runs as many jobs as its concurrency limit" "" -- status "${ids[1]}"
run "other kinds are not held up" 0 "^5$" "" -- submit count n=5 --wait
max=0
for _ in $(seq 40); do
	n=$("$JOBCTL_BIN" list --state running --kind snooze | grep -c .)
	((n > max)) && max=$n
	sleep 0.05
done
((max == 1)) && ok "concurrency 1: one at a time" || bad "concurrency 1: $max at once"
for i in "${ids[@]}"; do "$JOBCTL_BIN" wait "$i" >/dev/null; done

# SIGHUP: add, change, a bad file, remove
kind later "[kind]" "description = added" "program = /bin/echo" "args = -n added"
kill -HUP "${pids[0]}"
until_true 5 eval '"$JOBCTL_BIN" kinds | grep -q "^later:"' && ok "reload: a kind added" ||
	bad "reload: no kind 'later'"
run "reload: the added kind runs" 0 "^added$" "" -- submit later --wait
kind later "[kind]" "description = changed" "program = /bin/echo" "args = -n changed"
kill -HUP "${pids[0]}"
until_true 5 eval '"$JOBCTL_BIN" kinds | grep -q "^later: changed"' || bad "reload: no change"
run "reload: a changed kind applies to new jobs" 0 "^changed$" "" -- submit later --wait
printf '[kind]\nprogram = /bin/echo\nbogus = 1\n' >"$kinds/broken.kind"
kill -HUP "${pids[0]}"
until_true 5 grep -q "broken.kind:3: " "$dir/main.log" &&
	ok "reload: a bad file is logged with its line" || bad "reload: $(tail -3 "$dir/main.log")"
run "reload: a bad file keeps the kinds in use" 0 "^changed$" "" -- submit later --wait
rm "$kinds/broken.kind" "$kinds/later.kind"
kill -HUP "${pids[0]}"
until_true 5 eval '! "$JOBCTL_BIN" kinds | grep -q "^later:"' || bad "reload: not removed"
run "reload: a removed kind is refused at Submit" 2 "" "unknown kind 'later'" -- submit later

# a kind missing at restart: its jobs wait, and run when it is back
stop_daemons
start_kinds main --workers 0
a=$("$JOBCTL_BIN" submit argv word=w1)
b=$("$JOBCTL_BIN" submit argv word=w2)
stop_daemons
mv "$kinds/argv.kind" "$dir/argv.kind.away"
start_kinds main --workers 2
sleep 0.3
run "missing kind: the job waits" 0 "queued.*waiting: kind 'argv' is not defined" "" -- status "$a"
run "missing kind: counted" 0 "waiting for a kind: 2" "" -- stats
grep -q "2 queued jobs wait for kind 'argv'" "$dir/main.log" && ok "missing kind: logged" ||
	bad "missing kind: not logged"
mv "$dir/argv.kind.away" "$kinds/argv.kind"
kill -HUP "${pids[0]}"
run "missing kind back: the jobs run" 0 "arg=\[w1\]" "" -- wait "$a"
run "missing kind back: both" 0 "arg=\[w2\]" "" -- wait "$b"

# kill -9 of jobd: no program is left running; the job runs again
rm -f "$dir/stub.pids"
id=$("$JOBCTL_BIN" submit stubborn "pidfile=$dir/stub.pids")
until_true 5 test -s "$dir/stub.pids" || bad "stubborn did not start"
read -r ppid cpid <"$dir/stub.pids"
kill -9 "${pids[0]}"
wait "${pids[0]}" 2>/dev/null
pids=()
until_true 5 gone "$ppid" && until_true 5 gone "$cpid" &&
	ok "kill -9 of jobd: its program and the program's child are gone" ||
	bad "kill -9 of jobd: pids $ppid $cpid still there"
left=$(ls "$runs")
[[ -n $left ]] || bad "kill -9 of jobd: no working directory left to sweep"
rm -f "$dir/stub.pids"
start_kinds main --workers 2
until_true 5 test -s "$dir/stub.pids" && ok "kill -9 of jobd: the job runs again" ||
	bad "kill -9 of jobd: the job did not run again ($(state "$id"))"
swept=yes
for d in $left; do
	[[ ! -e $runs/$d ]] || { swept=no; bad "kill -9 of jobd: $d left in the run directory"; }
done
[[ $swept == yes ]] && ok "kill -9 of jobd: its working directories swept at the restart"
"$JOBCTL_BIN" cancel "$id" >/dev/null 2>&1
stop_daemons
finish
