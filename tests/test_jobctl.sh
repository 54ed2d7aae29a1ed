#!/usr/bin/env bash
# jobctl against a real jobd: output, messages and exit codes, the error
# cases included. Needs JOBD_BIN and JOBCTL_BIN (ctest sets them).
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}"
dir=$(mktemp -d /tmp/jobd-ctl-XXXXXX)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
trap 'kill_daemons; rm -rf "$dir"' EXIT

start main --backoff 50ms --grace 100ms --workers 2
export JOBD_ADDR="ipc://$dir/main.sock"

run "help" 0 "Exit status" "" -- --help
run "command help" 0 "submit KIND" "" -- submit --help
run "no command" 2 "" "usage" --
run "unknown command" 2 "" "nosuch" -- nosuch
run "unknown option" 2 "" "--bogus" -- --bogus ping
run "bad id" 2 "" "invalid job id 'abc'" -- status abc
run "param without =" 2 "" "" -- submit count n
run "unreachable" 3 "" "cannot reach jobd at 'ipc://$dir/none.sock'" -- --addr "ipc://$dir/none.sock" ping
for cmd in stats kinds list "status 1" "result 1" "wait 1" "cancel 1" "submit count n=1"; do
	# shellcheck disable=SC2086 # the command's words
	run "unreachable: $cmd" 3 "" "^jobctl: cannot reach jobd at" -- --addr "ipc://$dir/none.sock" $cmd
done
run "unreachable tcp" 3 "" "cannot reach jobd at 'tcp://127.0.0.1:1': Connection refused" -- --addr tcp://127.0.0.1:1 ping
run "invalid address" 2 "" "invalid address 'http://x'" -- --addr http://x ping
run "empty --addr" 2 "" "empty --addr" -- --addr "" ping
run "--addr without a value" 2 "" "option '--addr' needs a value" -- --addr
run "bad --timeout" 2 "" "invalid timeout '0'" -- --timeout 0 ping
run "huge --timeout" 2 "" "invalid timeout '99999999'" -- --timeout 99999999 ping
run "option with a value it takes not" 2 "" "option '--json' takes no value" -- --json=1 ping
run "unexpected argument" 2 "" "unexpected argument 'extra'" -- ping extra
run "missing id" 2 "" "missing job id" -- wait
run "id 0" 2 "" "invalid job id '0'" -- cancel 0
run "id too big" 2 "" "invalid job id '18446744073709551616'" -- result 18446744073709551616
run "missing kind" 2 "" "missing KIND" -- submit
run "bad priority" 2 "" "invalid priority '99999999999'" -- submit count n=1 --priority 99999999999
run "bad retries" 2 "" "invalid retries '-1'" -- submit count n=1 --retries -1
run "missing input file" 2 "" "cannot open input '$dir/nope'" -- submit sha256 --input "$dir/nope"
head -c 1048577 /dev/zero >"$dir/big"
run "input too large" 2 "" "is larger than 1048576 bytes" -- submit sha256 --input "$dir/big"
run "bad list limit" 2 "" "invalid limit 'x'" -- list --limit x
run "help of an unknown command" 2 "" "unknown command 'nosuch'" -- help nosuch
run "ping" 0 "^pong from jobd" "" -- ping

id=$("$JOBCTL_BIN" submit count n=1000)
if [[ $id =~ ^[0-9]+$ ]]; then ok "submit prints the id alone"; else bad "submit printed '$id'"; fi
run "wait prints the result" 0 "^1000$" "" -- wait "$id"
run "result" 0 "^1000$" "" -- result "$id"
run "status" 0 "^$id +succeeded +100% +count" "" -- status "$id"
# --json: the proto message in protobuf's canonical JSON mapping, one
# object per line (camelCase names, 64-bit numbers as strings, enum names,
# bytes in base64: "1000" is MTAwMA==)
run "status --json" 0 "^\{\"id\":\"$id\",\"kind\":\"count\",\"params\":\{\"n\":\"1000\"\},\"priority\":0,\"state\":\"JOB_STATE_SUCCEEDED\",\"attempts\":1,\"maxAttempts\":1,\"timeoutMs\":0,\"progressDone\":\"1000\",\"progressTotal\":\"1000\",\"result\":\"MTAwMA==\",\"error\":\"\",\"createdAtMs\":\"[0-9]+\",\"startedAtMs\":\"[0-9]+\",\"finishedAtMs\":\"[0-9]+\",.*\"uniqueKey\":\"\"\}$" "" -- --json status "$id"
run "wait --json: the job with its result" 0 "^\{\"id\":\"$id\",.*\"result\":\"MTAwMA==\"," "" -- wait "$id" --json
run "submit --json: the SubmitReply" 0 "^\{\"job\":\{\"id\":\"[0-9]+\",\"kind\":\"count\",\"params\":\{\"n\":\"5\"\},.*\"state\":\"JOB_STATE_(QUEUED|RUNNING|SUCCEEDED)\",.*\},\"existing\":false\}$" "" -- submit count n=5 --json
run "stats --json" 0 "^\{\"workers\":2,\"busyWorkers\":[0-9]+,\"queued\":\"[0-9]+\",.*\"succeeded\":\"[1-9][0-9]*\",.*\"version\":\"[0-9.]+\",.*\"pausedKinds\":\[\]," "" -- stats --json
run "ping --json" 0 "^\{\"payload\":\"\",\"version\":\"[0-9.]+\",\"timeMs\":\"[0-9]+\",\"rttMs\":[0-9.]+\}$" "" -- ping --json
run "kinds --json: one object per kind" 0 "^\{\"name\":\"count\",.*\"params\":\[\{\"name\":\"n\",\"type\":\"TYPE_INT\",\"required\":true,\"min\":\"1\"," "" -- kinds --json
if [[ $(grep -c '^{"name":' "$dir/out") -ge 2 && $(grep -vc '^{"name":' "$dir/out") -eq 0 ]]; then
	ok "kinds --json: one line each"
else
	bad "kinds --json: one line each: $(head -c 300 "$dir/out")"
fi
run "status --json of two jobs: two lines" 0 "" "" -- --json status "$id" "$id"
if [[ $(wc -l <"$dir/out") -eq 2 ]]; then ok "status --json: one line per job"; else bad "status --json of two: $(cat "$dir/out")"; fi
# every line is JSON an ordinary parser reads, with ids as strings
py=$(command -v /usr/bin/python3 python3 | head -1)
if [[ -n $py ]]; then
	if "$py" -c 'import json, sys
for line in sys.stdin:
    j = json.loads(line)
    assert isinstance(j["id"], str) and j["state"] == "JOB_STATE_SUCCEEDED", j
' <"$dir/out" 2>"$dir/err"; then
		ok "status --json: parsed by python"
	else
		bad "status --json: parsed by python: $(cat "$dir/err")"
	fi
else
	ok "status --json: parsed by python: skipped, no python3"
fi
run "status of a missing job" 4 "" "job 999999 not found" -- status 999999
run "status of found and missing" 4 "^$id " "job 999998 not found" -- status "$id" 999998
run "result of a missing job" 4 "" "not found" -- result 999999
run "unknown kind" 2 "" "INVALID_ARGUMENT: unknown kind 'nope'" -- submit nope
run "bad parameter" 2 "" "parameter 'n' of kind 'count'" -- submit count n=x
run "unknown parameter" 2 "" "unknown parameter 'm'" -- submit count n=1 m=2
run "failed job" 1 "" "job [0-9]+ failed: broken" -- submit fail message=broken --wait
run "retried job" 1 "" "failed: again" -- submit fail message=again --retries 2 --wait
run "primes" 0 "^664579$" "" -- submit primes limit=10000000 --wait
printf abc >"$dir/input"
run "sha256 of a file" 0 "^ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad$" "" -- submit sha256 --input "$dir/input" --wait
run "job timeout" 1 "" "timed out after 200 ms" -- submit count n=100000000000 --timeout 0.2 --wait

long=$("$JOBCTL_BIN" submit count n=100000000000)
run "wait --timeout" 3 "" "timed out waiting for job $long" -- wait "$long" --timeout 0.3
run "result of a running job" 5 "" "has not finished" -- result "$long"
run "cancel" 0 "^$long cancelled" "" -- cancel "$long"
run "wait on a cancelled job" 1 "" "job $long cancelled" -- wait "$long"
run "cancel a finished job" 5 "" "FAILED_PRECONDITION" -- cancel "$id"
run "cancel a missing job" 4 "" "not found" -- cancel 999999

k1=$("$JOBCTL_BIN" submit sleep ms=1 --key same-key)
k2=$("$JOBCTL_BIN" submit sleep ms=1 --key same-key)
if [[ -n $k1 && $k1 == "$k2" ]]; then ok "idempotency key"; else bad "idempotency key: '$k1' vs '$k2'"; fi
run "list" 0 "^$long +cancelled" "" -- list --state cancelled --limit 1
run "list by kind" 0 "sha256" "" -- list --kind sha256
run "list bad state" 2 "" "" -- list --state bogus
run "stats" 0 "^workers: 2$" "" -- stats
run "kinds" 0 "^count" "" -- kinds

# backpressure: one worker busy, a queue of one
start small --backoff 50ms --grace 100ms --workers 1 --max-queue 1
export JOBD_ADDR="ipc://$dir/small.sock"
"$JOBCTL_BIN" submit sleep ms=5000 >/dev/null
sleep 0.2
"$JOBCTL_BIN" submit sleep ms=1 >/dev/null
run "queue full" 5 "" "RESOURCE_EXHAUSTED: queue is full" -- submit sleep ms=1

stop_daemons
finish
