#!/bin/bash
# The compose demo: the seed's experiment, replayed against a running jobd
# with jobctl alone.
#
#   1. fill every worker with a long `count` job;
#   2. time `jobctl status` and `jobctl stats` while they run, and compare
#      with the same calls on the idle daemon before;
#   3. submit primes, sha256 and fail jobs (they queue behind the counts),
#      cancel the counts, and wait for the others;
#   4. the seed's loop itself, in Node.js: the program kind count-js
#      (examples/kinds, in the jobd image's /etc/jobd/kinds.d) must be
#      listed by `jobctl kinds` as a program kind, one job must count to n
#      and answer n, and one long job must report progress and end
#      cancelled when cancelled;
#   5. the seed's Express app on jobd (examples/express, at EXPRESS_URL):
#      more /blocking requests than workers at once, each a count-js job;
#      /non-blocking timed while they run (under DEMO_MAX_MS, as the quick
#      queries above), and jobd's queue shown holding the extra ones;
#      every /blocking must answer its n; and a /blocking whose client
#      gives up must end its job cancelled;
#   6. jobd's HTTP listener (at JOBD_HTTP_URL): /readyz, a sha256 job
#      submitted and waited for (long poll) through the JSON API with curl
#      alone, a bad request answered 400 with its reason, and /metrics
#      counting the job;
#   7. print a summary, and exit 0 only if every job ended as expected and
#      every quick query took less than DEMO_MAX_MS.
#
# Environment: JOBD_ADDR (the daemon), DEMO_SAMPLES (calls timed per
# query, 20), DEMO_MAX_MS (slowest acceptable call, whole jobctl process
# included, 250), DEMO_JS_N (count-js's n, 300000000: under a
# second), EXPRESS_URL (the Express app; unset: step 5 is left out),
# DEMO_EXPRESS_N (n of each /blocking, 5000000000: a few seconds, so that
# they are still in flight while /non-blocking is timed), JOBD_HTTP_URL
# (jobd's HTTP listener; unset: step 6 is left out).
set -uo pipefail

export JOBD_ADDR=${JOBD_ADDR:-tcp://127.0.0.1:7077}
samples=${DEMO_SAMPLES:-20}
max_ms=${DEMO_MAX_MS:-250}
fails=0

say() { printf 'demo: %s\n' "$*"; }
bad() {
	printf 'demo: FAIL: %s\n' "$*"
	fails=$((fails + 1))
}
die() {
	printf 'demo: FAIL: %s\n' "$*"
	exit 1
}
# now_us: microseconds, from bash's own clock (no process started).
now_us() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((10#$t))
}
# state ID: the job's state, from `jobctl status`'s second column.
state() { jobctl status "$1" | awk '{print $2}'; }
# stat NAME: one counter from `jobctl stats`.
stat() { jobctl stats | awk -v k="$1:" '$1 == k {print $2}'; }

# timed LABEL CMD...: runs CMD $samples times, prints p50 and max of the
# wall time of each whole call in ms, and fails the demo if the max is over
# $max_ms.
timed() {
	local label=$1 i t0 t1 list=() p50 max
	shift
	for ((i = 0; i < samples; i++)); do
		t0=$(now_us)
		"$@" >/dev/null || die "'$*' failed"
		t1=$(now_us)
		list+=($((t1 - t0)))
	done
	mapfile -t list < <(printf '%s\n' "${list[@]}" | sort -n)
	p50=${list[$((samples / 2))]}
	max=${list[$((samples - 1))]}
	printf 'demo:   %-28s p50 %3d.%d ms   max %3d.%d ms\n' "$label" \
		$((p50 / 1000)) $((p50 % 1000 / 100)) $((max / 1000)) \
		$((max % 1000 / 100))
	if ((max > max_ms * 1000)); then
		bad "'$label' took $((max / 1000)) ms, more than $max_ms ms"
	fi
}

say "jobd at $JOBD_ADDR"
for ((i = 0; ; i++)); do
	jobctl --timeout 1 ping >/dev/null 2>&1 && break
	((i < 60)) || die "jobd did not answer ping within 60 s"
	sleep 1
done
jobctl ping | sed 's/^/demo: /'
workers=$(stat workers)
[[ $workers =~ ^[0-9]+$ && $workers -gt 0 ]] || die "no worker count in 'jobctl stats'"

say "idle daemon, $samples calls each:"
timed "jobctl stats (idle)" jobctl stats

# 1. every worker busy with a count that would run for minutes
counts=()
for ((i = 0; i < workers; i++)); do
	id=$(jobctl submit count n=100000000000) || die "submit count failed"
	counts+=("$id")
done
for ((i = 0; ; i++)); do
	[[ $(stat busy) == "$workers" ]] && break
	((i < 100)) || die "the count jobs did not start within 10 s"
	sleep 0.1
done
say "$workers of $workers workers busy with count n=1e11 (jobs ${counts[*]})"

# 2. the quick queries, while they run
say "all workers busy, $samples calls each:"
timed "jobctl status ${counts[0]} (busy)" jobctl status "${counts[0]}"
timed "jobctl stats (busy)" jobctl stats
say "round trip measured inside jobctl: $(jobctl ping)"
[[ $(stat busy) == "$workers" ]] || bad "workers were not all busy while timing"

# 3. a mix, queued behind the counts
text="hello, jobd"
want_sha=$(printf '%s' "$text" | sha256sum | cut -d' ' -f1)
primes=$(jobctl submit primes limit=10000000) || die "submit primes failed"
sha=$(printf '%s' "$text" | jobctl submit sha256 --input -) || die "submit sha256 failed"
failing=$(jobctl submit fail "message=failed on purpose") || die "submit fail failed"
say "submitted primes (job $primes), sha256 (job $sha), fail (job $failing): $(state "$primes")"

jobctl cancel "${counts[@]}" >/dev/null || bad "cancel of the count jobs failed"
for id in "${counts[@]}"; do
	jobctl wait --timeout 30 "$id" >/dev/null 2>&1
	[[ $(state "$id") == cancelled ]] || bad "count job $id is $(state "$id"), not cancelled"
done
say "cancelled the count jobs"

got=$(jobctl wait --timeout 60 "$primes") || bad "primes job $primes did not succeed"
[[ $got == 664579 ]] || bad "primes up to 1e7: got '$got', want 664579"
got=$(jobctl wait --timeout 60 "$sha") || bad "sha256 job $sha did not succeed"
[[ $got == "$want_sha" ]] || bad "sha256: got '$got', want '$want_sha'"
jobctl wait --timeout 60 "$failing" >/dev/null 2>&1
rc=$?
[[ $rc == 1 && $(state "$failing") == failed ]] ||
	bad "fail job $failing: exit $rc, state $(state "$failing"), want exit 1, failed"

# 4. the seed's loop as a program kind: Node.js, one process per job
js_n=${DEMO_JS_N:-300000000}
kinds=$(jobctl kinds) || die "jobctl kinds failed"
js_from=$(grep -A1 '^count-js:' <<<"$kinds" | sed -n 's/^  from: //p')
if [[ $js_from == program* ]]; then
	say "jobctl kinds: count-js, from $js_from"
else
	bad "jobctl kinds does not list count-js as a program kind (from: '$js_from')"
fi
js=$(jobctl submit count-js "n=$js_n") || die "submit count-js failed"
t0=$(now_us)
got=$(jobctl wait --timeout 60 "$js") || bad "count-js job $js did not succeed: $(jobctl status "$js")"
t1=$(now_us)
[[ $got == "$js_n" ]] || bad "count-js n=$js_n: got '$got', want '$js_n'"
say "count-js n=$js_n (job $js): result $got, $(((t1 - t0) / 1000)) ms from submit to result"

# progress: "progressDone" of `jobctl status --json` (a 64-bit number: a
# string in the JSON), from the program's fd 3
progress() { jobctl status --json "$1" | sed -n 's/.*"progressDone":"\([0-9]*\)".*/\1/p'; }
jslong=$(jobctl submit count-js n=100000000000) || die "submit count-js failed"
for ((i = 0; ; i++)); do
	js_done=$(progress "$jslong")
	[[ ${js_done:-0} -gt 0 ]] && break
	if ((i >= 100)); then
		bad "count-js job $jslong reported no progress within 10 s: $(jobctl status "$jslong")"
		break
	fi
	sleep 0.1
done
jobctl cancel "$jslong" >/dev/null || bad "cancel of count-js job $jslong failed"
jobctl wait --timeout 30 "$jslong" >/dev/null 2>&1
[[ $(state "$jslong") == cancelled ]] ||
	bad "count-js job $jslong is $(state "$jslong"), not cancelled"
say "count-js n=1e11 (job $jslong): progress ${js_done:-0} of 1e11 reported on fd 3, then cancelled"

# http10 IP PORT PATH: one HTTP/1.0 GET through bash's /dev/tcp, no
# process started and no name looked up, so that its time is the app's;
# prints the body's first line, fails unless the status is 200.
http10() {
	local fd status line body=
	exec {fd}<>"/dev/tcp/$1/$2" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&"$fd"
	IFS=' ' read -r _ status _ <&"$fd"
	while IFS= read -r line <&"$fd" && [[ $line != $'\r' ]]; do :; done
	IFS= read -r body <&"$fd"
	exec {fd}<&-
	[[ $status == 200 ]] || return 1
	printf '%s\n' "$body"
}

# 5. the seed's Express app on jobd
express() {
	local url=$1 n=${DEMO_EXPRESS_N:-5000000000} nb=$((workers + 2))
	local tmp i pids=() code body queued gone_n=99999999999 gone t0
	local hostport host port ip resolve=()
	for ((i = 0; ; i++)); do
		curl -fsS --max-time 2 "$url/non-blocking" >/dev/null 2>&1 && break
		((i < 60)) || die "the Express app at $url did not answer within 60 s"
		sleep 1
	done
	# The app's name is resolved once, here, and /non-blocking is timed
	# with http10, in this shell: the times are of the calls to the app,
	# without a name lookup or a process start in each.
	hostport=${url#*://}
	hostport=${hostport%%/*}
	host=${hostport%:*}
	port=80
	[[ $hostport == *:* ]] && port=${hostport##*:}
	ip=$(getent ahostsv4 "$host" | awk 'NR == 1 {print $1}')
	[[ -n $ip ]] || die "cannot resolve '$host' of $url"
	[[ $ip != "$host" ]] && resolve=(--resolve "$host:$port:$ip")
	[[ $(http10 "$ip" "$port" /non-blocking) == "This page is non-blocking" ]] ||
		die "GET /non-blocking through /dev/tcp/$ip/$port failed"
	say "the Express app at $url${ip:+ ($ip)}: $(curl "${resolve[@]}" -sS --max-time 5 "$url/non-blocking")"
	# in_flight: how many of the /blocking curls have not ended
	in_flight() {
		local p k=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && k=$((k + 1)); done
		echo "$k"
	}
	tmp=$(mktemp -d)
	t0=$(now_us)
	for ((i = 0; i < nb; i++)); do
		curl "${resolve[@]}" -sS --max-time 300 -o "$tmp/body$i" -w '%{http_code}' \
			"$url/blocking?n=$((n + i))" >"$tmp/code$i" 2>&1 &
		pids+=($!)
	done
	# busy and queued from one `jobctl stats`: the same moment
	local busy st
	for ((i = 0; ; i++)); do
		st=$(jobctl stats)
		busy=$(awk '$1 == "busy:" {print $2}' <<<"$st")
		queued=$(awk '$1 == "queued:" {print $2}' <<<"$st")
		[[ $busy == "$workers" && $queued -ge 1 ]] && break
		(($(now_us) - t0 < 30000000)) ||
			die "$nb /blocking requests did not fill jobd's workers and queue within 30 s"
		sleep 0.1
	done
	say "$nb GET /blocking?n=$n.. sent: $workers of $workers workers busy, $queued queued in jobd"
	say "$(in_flight) of $nb /blocking in flight; GET /non-blocking, $samples calls:"
	# jobd's compose service has a low CPU weight (compose.yaml says why):
	# without it, this app's container waited seconds for a CPU at times
	timed "GET /non-blocking (busy)" http10 "$ip" "$port" /non-blocking
	say "$(in_flight) of $nb /blocking still in flight," \
		"$((($(now_us) - t0) / 1000)) ms after they were sent"
	local wrong=0
	for ((i = 0; i < nb; i++)); do
		wait "${pids[$i]}"
		code=$(<"$tmp/code$i")
		body=$(<"$tmp/body$i")
		if [[ $code != 200 || $body != "$((n + i))" ]]; then
			bad "GET /blocking?n=$((n + i)): $code '$body', want 200 '$((n + i))'"
			wrong=$((wrong + 1))
		fi
	done
	((wrong == 0)) && say "every /blocking answered its n, in jobd's count-js jobs"

	# a client that gives up: its request's job is cancelled
	curl "${resolve[@]}" -sS --max-time 2 "$url/blocking?n=$gone_n" >/dev/null 2>&1
	gone=$(jobctl list --json --kind count-js --limit 10 |
		sed -n "s/^{\"id\":\"\([0-9]*\)\",.*\"params\":{\"n\":\"$gone_n\"}.*/\1/p" | head -1)
	if [[ -z $gone ]]; then
		bad "no count-js job n=$gone_n after GET /blocking?n=$gone_n"
	else
		for ((i = 0; i < 150; i++)); do
			[[ $(state "$gone") == cancelled ]] && break
			sleep 0.1
		done
		[[ $(state "$gone") == cancelled ]] ||
			bad "job $gone of a /blocking given up on is $(state "$gone"), not cancelled"
		say "GET /blocking?n=$gone_n given up after 2 s: its job $gone is $(state "$gone")"
	fi
	rm -rf "$tmp"
}
if [[ -n ${EXPRESS_URL:-} ]]; then
	express "$EXPRESS_URL"
else
	say "EXPRESS_URL unset: the Express app left out"
fi

# 6. the HTTP listener: the JSON API with curl alone, and /metrics
http_api() {
	local url=$1 body id got code input=YWJj # base64 of "abc"
	local want=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
	got=$(curl -sS --max-time 5 "$url/readyz")
	[[ $got == ready ]] || bad "$url/readyz: '$got', not 'ready'"
	body=$(curl -sS --max-time 10 "$url/v1/jobs" \
		-d "{\"kind\":\"sha256\",\"input\":\"$input\"}") ||
		{ bad "POST $url/v1/jobs failed"; return; }
	id=$(sed -n 's/^{"job":{"id":"\([0-9]*\)".*/\1/p' <<<"$body")
	[[ -n $id ]] || { bad "POST $url/v1/jobs answered '$body'"; return; }
	http_job=$id
	body=$(curl -sS --max-time 40 -H 'Grpc-Timeout: 30S' "$url/v1/jobs/$id:wait")
	got=$(sed -n 's/.*"result":"\([^"]*\)".*/\1/p' <<<"$body" | base64 -d 2>/dev/null)
	[[ $body == *'"state":"JOB_STATE_SUCCEEDED"'* && $got == "$want" ]] ||
		bad "GET $url/v1/jobs/$id:wait answered '$body'"
	code=$(curl -sS --max-time 5 -o "$tmp_body" -w '%{http_code}' "$url/v1/jobs" \
		-d '{"kind":"count","params":{"n":5}}')
	[[ $code == 400 ]] && grep -q '"status":"INVALID_ARGUMENT"' "$tmp_body" ||
		bad "a bad Submit over HTTP: $code $(cat "$tmp_body")"
	curl -sS --max-time 5 "$url/metrics" >"$tmp_body" || bad "GET $url/metrics failed"
	local n
	n=$(sed -n 's/^jobd_jobs_finished_total{kind="sha256",state="succeeded"} \([0-9]*\)$/\1/p' "$tmp_body")
	[[ ${n:-0} -ge 2 ]] ||
		bad "/metrics counts ${n:-no} sha256 jobs succeeded, want at least 2"
	say "HTTP at $url: /readyz ready; sha256 job $id submitted and waited for with curl: JOB_STATE_SUCCEEDED, ${got:0:16}...; a bad Submit: $code INVALID_ARGUMENT; /metrics: ${n:-no} sha256 jobs succeeded"
}
http_job=""
if [[ -n ${JOBD_HTTP_URL:-} ]]; then
	tmp_body=$(mktemp)
	http_api "$JOBD_HTTP_URL"
	rm -f "$tmp_body"
else
	say "JOBD_HTTP_URL unset: the HTTP listener left out"
fi

# 7. summary
say "final states:"
jobctl status "${counts[@]}" "$primes" "$sha" "$failing" "$js" "$jslong" ${http_job:+"$http_job"} |
	sed 's/^/demo:   /'
if ((fails > 0)); then
	say "$fails check(s) failed"
	exit 1
fi
say "OK: quick queries answered in under $max_ms ms with every worker busy;" \
	"every job ended as expected, count-js (Node.js) included${EXPRESS_URL:+, the Express app included}"
