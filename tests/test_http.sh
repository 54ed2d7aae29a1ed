#!/usr/bin/env bash
# The HTTP front against a real jobd, with curl: every route of the JSON
# API, each error (bad JSON, wrong type, unknown field, duplicate key,
# missing or wrong token, oversize body, unknown path, wrong method,
# unknown job, bad Grpc-Timeout, chunked body), the long-poll Wait (ended
# by the job, and by its Grpc-Timeout), a client that hangs up during a
# Wait (its call is released), /healthz and /readyz (503 while draining,
# and while the disk refuses writes: as root only, in a mount namespace of
# its own), https with a test CA, the embedded page. Needs JOBD_BIN and
# JOBCTL_BIN (ctest sets them) and curl.
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}"
here=$(cd "$(dirname "$0")" && pwd)

# The disk case runs in a mount namespace of its own: the script calls
# itself there (see disk_full below).
if [[ ${1:-} == --in-namespace ]]; then
	dir=$2
	# shellcheck source=tests/lib.sh
	. "$here/lib.sh"
	trap kill_daemons EXIT
	mkdir -p "$dir/mnt"
	mount -t tmpfs -o size=4m tmpfs "$dir/mnt" || exit 77
	"${wrap[@]}" "$JOBD_BIN" --listen "ipc://$dir/disk.sock" \
		--db "$dir/mnt/disk.db" --http http://127.0.0.1:0 --workers 0 \
		2>>"$dir/disk.log" &
	pids+=($!)
	for _ in $(seq 200); do
		grep -q 'HTTP on' "$dir/disk.log" && break
		sleep 0.05
	done
	port=$(grep -o 'HTTP on http://127.0.0.1:[0-9]*' "$dir/disk.log" | grep -o '[0-9]*$')
	code() { curl -s -o "$dir/out" -w '%{http_code}' --max-time 20 "$@"; }
	[[ $(code "http://127.0.0.1:$port/readyz") == 200 ]] && ok "disk: ready" || bad "disk: not ready at start"
	# fill the filesystem, then submit until the writer fails
	dd if=/dev/zero of="$dir/mnt/filler" bs=64k 2>/dev/null
	refused=0
	for _ in $(seq 200); do
		st=$(code -X POST -d '{"kind":"count","params":{"n":"1"}}' "http://127.0.0.1:$port/v1/jobs")
		[[ $st == 503 ]] && { refused=1; break; }
	done
	((refused)) && ok "disk full: Submit is 503 UNAVAILABLE" || bad "disk full: Submit never refused"
	st=$(code "http://127.0.0.1:$port/readyz")
	[[ $st == 503 ]] && grep -q 'refuses writes' "$dir/out" && ok "disk full: /readyz 503" || bad "disk full: /readyz $st $(cat "$dir/out")"
	[[ $(code "http://127.0.0.1:$port/healthz") == 200 ]] && ok "disk full: /healthz 200" || bad "disk full: /healthz"
	rm -f "$dir/mnt/filler"
	st=
	for _ in $(seq 100); do
		st=$(code "http://127.0.0.1:$port/readyz")
		[[ $st == 200 ]] && break
		code -X POST -d '{"kind":"count","params":{"n":"1"}}' "http://127.0.0.1:$port/v1/jobs" >/dev/null
		sleep 0.1
	done
	[[ $st == 200 ]] && ok "disk has room again: /readyz 200" || bad "disk has room again: /readyz $st"
	stop_daemons
	umount "$dir/mnt"
	finish
	exit
fi

command -v curl >/dev/null || { echo "curl is needed"; exit 77; }
dir=$(mktemp -d /tmp/jobd-http-XXXXXX)
# shellcheck source=tests/lib.sh
. "$here/lib.sh"
trap 'kill_daemons; rm -rf "$dir"' EXIT

# hstart NAME ARGS...: lib.sh's start, but ready once /healthz answers
# (a jobd with a token does not answer jobctl's ping).
hstart() {
	local name=$1 port=
	shift
	"${wrap[@]}" "$JOBD_BIN" --listen "ipc://$dir/$name.sock" --db "$dir/$name.db" \
		--http http://127.0.0.1:0 "$@" 2>>"$dir/$name.log" &
	pids+=($!)
	for _ in $(seq 1200); do
		port=$(http_port "$name")
		[[ -n $port ]] && curl -s -o /dev/null --max-time 5 -k \
			"http$([[ " $* " == *" --tls-cert "* ]] && echo s)://127.0.0.1:$port/healthz" && return 0
		sleep 0.05
	done
	echo "jobd did not start:" >&2
	cat "$dir/$name.log" >&2
	exit 1
}

# The port a jobd started as NAME serves HTTP on (its log says).
http_port() {
	grep -o 'HTTP on https\?://[^ ]*:[0-9]*' "$dir/$1.log" 2>/dev/null | head -1 | grep -o '[0-9]*$'
}

# req NAME STATUS BODY_RE -- CURL_ARGS...: the status and the body (a
# regular expression; empty: anything); the body stays in $dir/body, the
# headers in $dir/hdr.
req() {
	local name=$1 want=$2 re=$3
	shift 4
	local st
	st=$(curl -s -o "$dir/body" -D "$dir/hdr" -w '%{http_code}' --max-time 30 "$@")
	if [[ $st != "$want" ]]; then
		bad "$name: status $st, wanted $want; body: $(head -c 300 "$dir/body")"
	elif [[ -n $re ]] && ! grep -Eq -- "$re" "$dir/body"; then
		bad "$name: body '$(head -c 300 "$dir/body")' does not match /$re/"
	else
		ok "$name"
	fi
}
hdr() { # hdr NAME REGEX: the last response's headers match
	if grep -Eqi -- "$2" "$dir/hdr"; then ok "$1"; else bad "$1: headers $(tr -d '\r' <"$dir/hdr" | tr '\n' '|')"; fi
}
json() { # json FIELD: a string or number field of the last body
	grep -o "\"$1\":\"\\?[^\",}]*" "$dir/body" | head -1 | sed 's/.*:"\?//'
}
parked() { # the front's parked calls, from Stats over HTTP
	curl -s --max-time 10 "$B/v1/stats" | grep -o '"parkedCalls":"[0-9]*"' | grep -o '[0-9]*'
}

# ---- the main daemon: every route, every error ------------------------
hstart main --workers 2 --backoff 50ms --grace 100ms
B=http://127.0.0.1:$(http_port main)

req "healthz" 200 '^ok$' -- "$B/healthz"
req "readyz" 200 '^ready$' -- "$B/readyz"
req "the page" 200 '<html' -- "$B/"
hdr "the page is HTML" '^Content-Type: text/html'
req "the page by name" 200 '<html' -- "$B/index.html"
req "a file the page has not" 404 '"status":"NOT_FOUND"' -- "$B/nosuch.js"

req "ping" 200 '"version":"' -- "$B/v1/ping"
hdr "JSON replies say so" '^Content-Type: application/json'
req "submit" 200 '"state":"JOB_STATE_QUEUED"' -- -X POST -d '{"kind":"count","params":{"n":"1000"}}' "$B/v1/jobs"
id=$(json id)
req "submit: 64-bit ints are strings" 200 "\"id\":\"$id\"" -- "$B/v1/jobs/$id"
req "wait: ends with the job" 200 '"state":"JOB_STATE_SUCCEEDED"' -- "$B/v1/jobs/$id:wait"
req "wait by POST" 200 '"result":"MTAwMA=="' -- -X POST "$B/v1/jobs/$id:wait"
req "get" 200 "\"jobs\":\\[\\{\"id\":\"$id\".*\"missing\":\\[\\]" -- "$B/v1/jobs/$id"
req "get: more ids in the query" 200 '"missing":\["424242"\]' -- "$B/v1/jobs/$id?ids=424242"
req "get: unknown job" 200 '"jobs":\[\],"missing":\["999999"\]' -- "$B/v1/jobs/999999"
req "batch" 200 '"jobs":\[\{"job":\{"id":"[0-9]+".*\{"job":' -- -X POST \
	-d '{"jobs":[{"kind":"count","params":{"n":"1"}},{"kind":"count","params":{"n":"2"}}]}' "$B/v1/jobs:batch"
req "list" 200 '"jobs":\[\{' -- "$B/v1/jobs"
req "list: filters and limit" 200 '^\{"jobs":\[\{"id":"[0-9]+","kind":"count".*"nextCursor":"[1-9][0-9]*"\}$' -- \
	"$B/v1/jobs?kind=count&limit=1"
n=$(grep -o '"createdAtMs"' "$dir/body" | wc -l)
[[ $n == 1 ]] && ok "list: one job a page" || bad "list: $n jobs in a page of 1"
req "list: state filter" 200 '"jobs":\[\]' -- "$B/v1/jobs?state=JOB_STATE_CANCELLED"
req "stats" 200 '"workers":2,' -- "$B/v1/stats"
req "kinds" 200 '"name":"count"' -- "$B/v1/kinds"
req "schedules" 200 '^\{"schedules":\[\]\}$' -- "$B/v1/schedules"
req "pause" 200 '"changed":true' -- -X POST "$B/v1/kinds/sleep:pause"
req "resume" 200 '"changed":true' -- -X POST "$B/v1/kinds/sleep:resume"
req "resume again" 200 '"changed":false' -- -X POST "$B/v1/kinds/sleep:resume"
req "the gRPC path" 200 '"payload":"aGk="' -- -X POST -d '{"payload":"aGk="}' "$B/jobd.v1.Jobs/Ping"
req "the gRPC path: an empty body" 200 '"workers":2' -- -X POST "$B/jobd.v1.Jobs/Stats"

# a Wait that its Grpc-Timeout ends, then Cancel and Retry
req "submit a long one" 200 '' -- -X POST -d '{"kind":"sleep","params":{"ms":"60000"}}' "$B/v1/jobs"
long=$(json id)
req "wait: Grpc-Timeout ends it, 504" 504 '"status":"DEADLINE_EXCEEDED"' -- -H 'Grpc-Timeout: 300m' "$B/v1/jobs/$long:wait"
req "cancel" 200 '"state":"JOB_STATE_CANCELLED"' -- -X POST "$B/v1/jobs/$long:cancel"
req "retry" 200 '"state":"JOB_STATE_QUEUED"' -- -X POST "$B/v1/jobs/$long:retry"
req "cancel again" 200 '"state":"JOB_STATE_CANCELLED"' -- -X POST "$B/v1/jobs/$long:cancel"

# a client that hangs up during a Wait: its call is released
req "submit another long one" 200 '' -- -X POST -d '{"kind":"sleep","params":{"ms":"60000"}}' "$B/v1/jobs"
long=$(json id)
curl -s --max-time 60 "$B/v1/jobs/$long:wait" >/dev/null &
cpid=$!
n=
for _ in $(seq 100); do
	n=$(parked)
	[[ $n == 1 ]] && break
	sleep 0.05
done
[[ $n == 1 ]] && ok "a Wait is parked" || bad "a Wait is parked: parkedCalls $n"
kill "$cpid"
wait "$cpid" 2>/dev/null
for _ in $(seq 100); do
	n=$(parked)
	[[ $n == 0 ]] && break
	sleep 0.05
done
[[ $n == 0 ]] && ok "the client hung up: its Wait is released" || bad "the client hung up: parkedCalls $n"

# many clients at once: 40 Waits parked, then every client hangs up
cpids=()
for _ in $(seq 40); do
	curl -s --max-time 60 "$B/v1/jobs/$long:wait" >/dev/null &
	cpids+=($!)
done
for _ in $(seq 200); do
	n=$(parked)
	[[ $n == 40 ]] && break
	sleep 0.05
done
[[ $n == 40 ]] && ok "40 Waits parked at once" || bad "40 Waits parked at once: parkedCalls $n"
kill "${cpids[@]}"
wait "${cpids[@]}" 2>/dev/null
for _ in $(seq 200); do
	n=$(parked)
	[[ $n == 0 ]] && break
	sleep 0.05
done
[[ $n == 0 ]] && ok "40 clients hung up: every Wait released" || bad "40 clients hung up: parkedCalls $n"
# and 20 clients that keep their connection, 10 calls each
cpids=()
for _ in $(seq 20); do
	args=()
	for _ in $(seq 10); do
		# --next: each request its own body (repeated -d would join them)
		args+=(--next -s -S --max-time 120 -w '\nHTTP %{http_code}\n' -X POST
			-d '{"kind":"count","params":{"n":"1"}}' "$B/v1/jobs")
	done
	(
		curl "${args[@]}"
		echo "curl exit $?"
	) >"$dir/many.$RANDOM$RANDOM" 2>&1 &
	cpids+=($!)
done
wait "${cpids[@]}"
# count answers by their status, not by the job's state in them: under
# valgrind a worker may already have started the job when its reply is made
n=$(cat "$dir"/many.* | grep -c '^HTTP 200$')
if [[ $n == 200 ]]; then
	ok "20 keep-alive clients, 200 Submits"
else
	bad "20 keep-alive clients: $n of 200 Submits answered: $(cat "$dir"/many.* | grep -v '^{' | sort | uniq -c | tr '\n' ';')"
fi
req "cancel the long one" 200 '' -- -X POST "$B/v1/jobs/$long:cancel"

# errors
req "bad JSON" 400 '^\{"code":3,"status":"INVALID_ARGUMENT","message":"invalid JSON at line 1' -- -X POST -d '{"kind":' "$B/v1/jobs"
req "wrong type" 400 '"message":"kind: expected a string' -- -X POST -d '{"kind":5}' "$B/v1/jobs"
req "unknown field" 400 '"message":"unknown field \\"nosuch\\""' -- -X POST -d '{"kind":"count","nosuch":1}' "$B/v1/jobs"
req "duplicate key" 400 'duplicate' -- -X POST -d '{"kind":"count","kind":"count"}' "$B/v1/jobs"
req "not an object" 400 '"status":"INVALID_ARGUMENT"' -- -X POST -d '[1]' "$B/v1/jobs"
req "bad path variable" 400 '"message":"ids: ' -- "$B/v1/jobs/abc"
req "bad query parameter" 400 'unknown parameter \\"nosuch\\"' -- "$B/v1/jobs?nosuch=1"
req "bad enum in the query" 400 '"status":"INVALID_ARGUMENT"' -- "$B/v1/jobs?state=JOB_STATE_NOSUCH"
req "a kind not defined" 400 '"status":"INVALID_ARGUMENT"' -- -X POST -d '{"kind":"nosuch"}' "$B/v1/jobs"
req "wait: unknown job" 404 '^\{"code":5,"status":"NOT_FOUND","message":"job 999999 ' -- "$B/v1/jobs/999999:wait"
req "cancel: unknown job" 404 '"status":"NOT_FOUND"' -- -X POST "$B/v1/jobs/999999:cancel"
req "unknown path" 404 '"status":"NOT_FOUND"' -- "$B/v1/nosuch"
req "unknown verb" 404 '"status":"NOT_FOUND"' -- -X POST "$B/v1/jobs/1:frob"
req "unknown method on the gRPC path" 501 '"status":"UNIMPLEMENTED"' -- -X POST "$B/jobd.v1.Jobs/Nosuch"
req "wrong method" 405 '"status":"UNIMPLEMENTED"' -- -X DELETE "$B/v1/jobs"
hdr "405 says what is allowed" '^Allow: GET, POST'
req "wrong method: GET of a POST route" 405 '' -- "$B/v1/jobs/1:cancel"
hdr "405 Allow: POST" '^Allow: POST'
head -c $((4 * 1048576 + 1)) /dev/zero >"$dir/huge"
req "oversize body: 413" 413 '"status":"RESOURCE_EXHAUSTED".*http_body_bytes' -- -X POST --data-binary @"$dir/huge" "$B/v1/jobs"
req "chunked body: 411" 411 'Content-Length' -- -X POST -H 'Transfer-Encoding: chunked' -d '{}' "$B/v1/jobs"
req "GET with a body" 400 'no body' -- -X GET -d '{}' "$B/v1/stats"
req "bad Grpc-Timeout" 400 'Grpc-Timeout' -- -H 'Grpc-Timeout: 5x' "$B/v1/ping"
req "Grpc-Timeout over 24 h" 400 'beyond the limit' -- -H 'Grpc-Timeout: 25H' "$B/v1/ping"
req "still serving" 200 '"version"' -- "$B/v1/ping"

# ---- a token ----------------------------------------------------------
printf 'sekrit-token\n' >"$dir/token"
chmod 600 "$dir/token"
hstart auth --auth-token-file "$dir/token"
A=http://127.0.0.1:$(http_port auth)
req "token: missing, 401" 401 '^\{"code":16,"status":"UNAUTHENTICATED","message":"missing token' -- "$A/v1/ping"
hdr "token: WWW-Authenticate" '^WWW-Authenticate: Bearer'
req "token: wrong, 401" 401 '"message":"invalid token' -- -H 'Authorization: Bearer nope' "$A/v1/stats"
req "token: unknown path, 401 first" 401 '' -- "$A/v1/nosuch"
req "token: a body unread, 401" 401 '' -- -X POST -d '{"kind":"count"}' "$A/v1/jobs"
req "token: right" 200 '"version"' -- -H 'Authorization: Bearer sekrit-token' "$A/v1/ping"
req "token: submit" 200 '"id"' -- -H 'Authorization: Bearer sekrit-token' -X POST -d '{"kind":"count","params":{"n":"1"}}' "$A/v1/jobs"
req "token: /healthz needs none" 200 '^ok$' -- "$A/healthz"
req "token: /readyz needs none" 200 '^ready$' -- "$A/readyz"
req "token: the page needs none" 200 '<html' -- "$A/"

# ---- https ------------------------------------------------------------
mkdir "$dir/certs"
sh "$here/../clients/conformance/make-certs.sh" "$dir/certs"
c=$dir/certs
if "$JOBD_BIN" --db "$dir/nocert.db" --listen "ipc://$dir/nocert.sock" --http https://127.0.0.1:0 \
	2>"$dir/nocert.err"; then
	bad "https without a certificate starts"
elif grep -q "needs a TLS certificate and key" "$dir/nocert.err"; then
	ok "https without a certificate: refused"
else
	bad "https without a certificate: $(cat "$dir/nocert.err")"
fi
"$JOBD_BIN" --db "$dir/badurl.db" --listen "ipc://$dir/badurl.sock" --http ftp://x 2>"$dir/badurl.err"
[[ $? == 2 ]] && grep -q "invalid --http 'ftp://x'" "$dir/badurl.err" && ok "--http ftp://: usage error" ||
	bad "--http ftp://: $(cat "$dir/badurl.err")"
hstart tls --http https://127.0.0.1:0 --tls-cert "$c/server.pem" --tls-key "$c/server.key"
T=$(http_port tls)
req "https" 200 '"version"' -- --cacert "$c/ca.pem" --resolve "localhost:$T:127.0.0.1" "https://localhost:$T/v1/ping"
req "https: the page" 200 '<html' -- --cacert "$c/ca.pem" --resolve "localhost:$T:127.0.0.1" "https://localhost:$T/"
if curl -s --max-time 10 "http://127.0.0.1:$T/v1/ping" >/dev/null 2>&1 &&
	curl -s --max-time 10 "http://127.0.0.1:$T/v1/ping" | grep -q version; then
	bad "https: plain HTTP answered"
else
	ok "https: plain HTTP gets no answer"
fi

# ---- draining: /readyz 503, API calls UNAVAILABLE ----------------------
hstart drain --grace 20s --workers 1
D=http://127.0.0.1:$(http_port drain)
req "drain: a job runs" 200 '' -- -X POST -d '{"kind":"sleep","params":{"ms":"60000"}}' "$D/v1/jobs"
dpid=${pids[-1]}
for _ in $(seq 100); do
	curl -s "$D/v1/stats" | grep -q '"busyWorkers":1' && break
	sleep 0.05
done
curl -s --max-time 60 -o "$dir/dwait" -w '%{http_code}' "$D/v1/jobs/1:wait" >"$dir/dwait.st" &
wpid=$!
for _ in $(seq 100); do
	curl -s "$D/v1/stats" | grep -q '"parkedCalls":"1"' && break
	sleep 0.05
done
# connections the stop must close: a body half sent, one that waits for
# its 100 Continue's body, an idle one
dport=$(http_port drain)
exec 7<>"/dev/tcp/127.0.0.1/$dport" 8<>"/dev/tcp/127.0.0.1/$dport" 9<>"/dev/tcp/127.0.0.1/$dport"
printf 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"kind":"c' >&7
printf 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n' >&8
kill -TERM "$dpid"
wait "$wpid"
[[ $(cat "$dir/dwait.st") == 503 ]] && grep -q '"status":"UNAVAILABLE"' "$dir/dwait" &&
	ok "drain: a parked Wait is answered 503 UNAVAILABLE" || bad "drain: the parked Wait got $(cat "$dir/dwait.st") $(cat "$dir/dwait")"
st=
for _ in $(seq 100); do
	st=$(curl -s -o "$dir/body" -w '%{http_code}' --max-time 10 "$D/readyz")
	[[ $st == 503 ]] && break
	sleep 0.05
done
[[ $st == 503 ]] && grep -q 'shutting down' "$dir/body" && ok "drain: /readyz 503" || bad "drain: /readyz $st"
req "drain: API calls 503 UNAVAILABLE" 503 '"status":"UNAVAILABLE"' -- "$D/v1/ping"
req "drain: /healthz still 200" 200 '^ok$' -- "$D/healthz"
kill -TERM "$dpid" # hurry: the job is stopped now
wait "$dpid"
[[ $? == 0 ]] && ok "drain: jobd exits 0" || bad "drain: jobd's exit status"
exec 7<&- 8<&- 9<&-
unset 'pids[-1]'

stop_daemons

# ---- the disk refuses writes (root, a mount namespace) -----------------
if [[ $(id -u) == 0 ]] && command -v unshare >/dev/null; then
	unshare --mount --propagation private bash "$0" --in-namespace "$dir" >"$dir/ns.out" 2>&1
	rc=$?
	cat "$dir/ns.out"
	if ((rc == 77)); then
		echo "skip the disk case: no tmpfs mount here"
	elif ((rc != 0)); then
		bad "the disk case (exit $rc)"
	else
		pass=$((pass + $(grep -c '^ok ' "$dir/ns.out")))
	fi
else
	echo "skip the disk case: needs root and unshare"
fi

finish
