#!/usr/bin/env bash
# The HTTP front's gate (daemon/tcpgate.c) against a real jobd, with curl
# and raw connections (bash's /dev/tcp): more idle connections than the cap
# (a jobd with a low open-file limit, so a cap of 8) leave room for curl
# and the nng front; a client that sends nothing, and one that sends its
# head a byte a second, are closed after http_head_ms; a keep-alive client
# sends POSTs with bodies on one connection, with a pause longer than
# http_head_ms between them, and a body that looks like a head; a long-poll
# Wait longer than http_head_ms is not cut, over http and https; https
# through the gate, keep-alive too; a TLS client that trickles its
# handshake is closed; a client that closes during a parked Wait has its
# call released. Needs JOBD_BIN, JOBCTL_BIN and curl.
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}"
here=$(cd "$(dirname "$0")" && pwd)
command -v curl >/dev/null || { echo "curl is needed"; exit 77; }
command -v openssl >/dev/null || { echo "openssl is needed"; exit 77; }
dir=$(mktemp -d /tmp/jobd-httpgate-XXXXXX)
# shellcheck source=tests/lib.sh
. "$here/lib.sh"
trap 'kill_daemons; rm -rf "$dir"' EXIT
trap '' PIPE # a write to a connection the gate closed fails, not kills

head_s=10 # limit.h http_head_ms, in seconds

# gstart NAME ARGS...: jobd with --http on a port of the kernel's; sets
# port[NAME] once /healthz answers through the gate. jobd runs under
# "${pre[@]}" when set.
declare -A port
pre=()
gstart() {
	local name=$1 p= s=http
	shift
	[[ " $* " == *" --tls-cert "* ]] && s=https
	"${pre[@]}" "${wrap[@]}" "$JOBD_BIN" --listen "ipc://$dir/$name.sock" --db "$dir/$name.db" \
		--http "$s://127.0.0.1:0" --grace 100ms "$@" 2>>"$dir/$name.log" &
	pids+=($!)
	for _ in $(seq 1200); do
		p=$(grep -o 'HTTP on https\?://127.0.0.1:[0-9]*' "$dir/$name.log" | grep -o '[0-9]*$')
		[[ -n $p ]] && curl -ks -o /dev/null --max-time 5 "$s://127.0.0.1:$p/healthz" &&
			{ port[$name]=$p; return 0; }
		sleep 0.05
	done
	echo "jobd did not start:" >&2
	cat "$dir/$name.log" >&2
	exit 1
}

# response FD: reads one response from FD (status line, headers, a
# Content-Length body; up to 60 s for each, a slow build on a busy machine);
# prints the status code and the body.
response() {
	local fd=$1 line len=0 st body=
	IFS= read -r -t 60 -u "$fd" line || return 1
	st=$(cut -d' ' -f2 <<<"$line")
	while IFS= read -r -t 60 -u "$fd" line; do
		line=${line%$'\r'}
		[[ -z $line ]] && break
		[[ ${line,,} == content-length:* ]] && len=${line#*:} && len=${len// /}
	done
	((len > 0)) && IFS= read -r -N "$len" -t 60 -u "$fd" body
	echo "$st $body"
}

# trickle PORT BYTES: sends BYTES (printf escapes) one a second on a new
# connection until they are all sent or the connection is closed; prints
# "closed" or "never closed".
trickle() {
	local fd b i
	exec {fd}<>"/dev/tcp/127.0.0.1/$1"
	b=$(printf '%b' "$2" | od -An -tx1 | tr -s ' \n' ' ')
	for i in $b; do
		printf "\\x$i" >&"$fd" 2>/dev/null || { echo closed; return; }
		sleep 1
	done
	echo "never closed"
}

gstart main --workers 2
B=http://127.0.0.1:${port[main]}
grep -q "HTTP on $B, at most [0-9]* connections" "$dir/main.log" &&
	ok "the log gives the cap" || bad "the log gives no cap: $(grep 'HTTP on' "$dir/main.log")"

# ---- what runs for longer than http_head_ms, side by side ----------------
# a client that sends nothing
exec {silent}<>"/dev/tcp/127.0.0.1/${port[main]}"
SECONDS=0 # for the keep-alive client's pause
# a slowloris: a head a byte a second (40 s if it were let)
trickle "${port[main]}" 'GET /v1/stats HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaa\r\n\r\n' >"$dir/slowloris" &
slowpid=$!
# a long-poll Wait on a job that outlives it: its Grpc-Timeout (longer than
# http_head_ms) ends it with 504, the connection intact
jobid() { grep -o '"id":"[0-9]*"' | head -1 | grep -o '[0-9]*'; }
long=$(curl -s --max-time 20 -X POST -d '{"kind":"sleep","params":{"ms":"60000"}}' "$B/v1/jobs" | jobid)
[[ -n $long ]] || bad "submit a long job"
curl -s -o "$dir/wait.body" -w '%{http_code}' --max-time 60 \
	-H "Grpc-Timeout: $((head_s + 3))S" "$B/v1/jobs/$long:wait" >"$dir/wait.st" &
waitpid=$!

# a keep-alive client: a POST whose body looks like the start of a head
# (a line, a blank line, a line not ended), then a pause longer than
# http_head_ms, then another POST, then a GET, on the same connection
exec {ka}<>"/dev/tcp/127.0.0.1/${port[main]}"
body=$'{\n\n"kind":"count","params":{"n":"1"}}'
printf 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\ncontent-length: %d\r\n\r\n%s' "${#body}" "$body" >&"$ka"
r=$(response "$ka")
[[ $r == 200* && $r == *'"kind":"count"'* ]] && ok "keep-alive: a POST" || bad "keep-alive: a POST: '$r'"

# a client that shuts its side down once its request is sent still gets
# the reply, and then the connection closes (Debian's python3)
if [[ -x /usr/bin/python3 ]]; then
	r=$(/usr/bin/python3 - "${port[main]}" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n")
s.shutdown(socket.SHUT_WR)
s.settimeout(20)
d = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            print("closed", end=" ")
            break
        d += b
except socket.timeout:
    print("open", end=" ")
print(d.split(b"\r\n")[0].decode(), b'"version"' in d)
PY
)
	[[ $r == "closed HTTP/1.1 200 OK True" ]] && ok "half-close: the reply, then the close" || bad "half-close: '$r'"
fi

# ---- the cap ---------------------------------------------------------------
# a jobd whose open-file limit allows 8 HTTP connections (three descriptors
# each), and 30 idle connections to it
pre=(bash -c 'ulimit -n 256 && exec "$@"' ulimit)
gstart capped --workers 1
pre=()
cpid=${pids[-1]}
C=${port[capped]}
grep -q 'at most 8 connections' "$dir/capped.log" && ok "cap: 8 under an open-file limit of 256" ||
	bad "cap: $(grep 'HTTP on' "$dir/capped.log")"
idle=()
for _ in $(seq 30); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$C"
	idle+=("$fd")
done
sleep 1.5
st=$(curl -s -o "$dir/capped.body" -w '%{http_code}' --max-time 30 "http://127.0.0.1:$C/v1/stats")
[[ $st == 200 ]] && grep -q '"workers"' "$dir/capped.body" && ok "cap: 30 idle connections, and curl is answered" ||
	bad "cap: curl $st $(head -c 200 "$dir/capped.body")"
"$JOBCTL_BIN" --addr "ipc://$dir/capped.sock" ping >/dev/null 2>"$dir/err" &&
	ok "cap: the nng front answers Ping" || bad "cap: Ping: $(cat "$dir/err")"
grep -q 'the most it takes' "$dir/capped.log" && ok "cap: the log says it is full" ||
	bad "cap: no line at the cap"
nfd=$(ls "/proc/$cpid/fd" | wc -l)
((nfd < 256)) && ok "cap: jobd has descriptors to spare ($nfd open)" || bad "cap: $nfd descriptors open"
for fd in "${idle[@]}"; do exec {fd}>&-; done

# ---- https through the gate --------------------------------------------------
mkdir "$dir/certs"
sh "$here/../clients/conformance/make-certs.sh" "$dir/certs"
c=$dir/certs
gstart tls --tls-cert "$c/server.pem" --tls-key "$c/server.key"
T=${port[tls]}
tcurl() { curl -s --cacert "$c/ca.pem" --resolve "localhost:$T:127.0.0.1" "$@"; }
st=$(tcurl -o "$dir/tls.body" -w '%{http_code}' --max-time 20 "https://localhost:$T/v1/ping")
[[ $st == 200 ]] && grep -q '"version"' "$dir/tls.body" && ok "https: ping" || bad "https: ping $st"
n=$(tcurl -o /dev/null -w '%{num_connects}\n' --max-time 20 "https://localhost:$T/v1/ping" \
	--next -s -X POST -d '{"kind":"count","params":{"n":"1"}}' --cacert "$c/ca.pem" \
	--resolve "localhost:$T:127.0.0.1" -o /dev/null -w '%{num_connects}\n' --max-time 20 \
	"https://localhost:$T/v1/jobs" | tr '\n' ' ')
[[ $n == "1 0 " ]] && ok "https: keep-alive, a GET then a POST" || bad "https: keep-alive: connects '$n'"
tlong=$(tcurl -X POST --max-time 20 -d '{"kind":"sleep","params":{"ms":"60000"}}' "https://localhost:$T/v1/jobs" | jobid)
tcurl -o "$dir/twait.body" -w '%{http_code}' --max-time 60 -H "Grpc-Timeout: $((head_s + 3))S" \
	"https://localhost:$T/v1/jobs/$tlong:wait" >"$dir/twait.st" &
twaitpid=$!
# a TLS record header, then its body a byte a second
trickle "$T" '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' >"$dir/tlsslow" &
tslowpid=$!

# ---- the end of what runs long -------------------------------------------------
wait "$slowpid"
[[ $(cat "$dir/slowloris") == closed ]] && ok "a head a byte a second: closed" ||
	bad "slowloris: $(cat "$dir/slowloris")"
grep -q "did not send a request's head within" "$dir/main.log" && ok "slowloris: logged" || bad "slowloris: not logged"
IFS= read -r -t 30 -u "$silent" _
rc=$?
((rc == 1)) && ok "a client that sends nothing: closed" || bad "a silent client: read $rc"
grep -q "sent no byte within" "$dir/main.log" && ok "a silent client: logged" || bad "a silent client: not logged"
# ... and counted in /metrics, with the ipc gate's refusal of a peer that
# is not an SP client (an HTTP request on the ipc:// socket)
python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"GET / HTTP/1.0\r\n\r\n"); s.settimeout(10); s.recv(1)' "$dir/main.sock" 2>/dev/null || true
metric() { curl -s --max-time 10 "$B/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
n=$(metric 'jobd_gate_closed_total{gate="http",reason="silent"}')
((${n:-0} >= 1)) && ok "metrics: the silent client" || bad "metrics: silent closes: '$n'"
n=$(metric 'jobd_gate_closed_total{gate="http",reason="slow_head"}')
((${n:-0} >= 1)) && ok "metrics: the slowloris" || bad "metrics: slow heads: '$n'"
n=$(metric 'jobd_gate_connections{gate="http"}')
((${n:-0} >= 2)) && ok "metrics: connections open now ($n)" || bad "metrics: open connections: '$n'"
for _ in $(seq 100); do
	n=$(metric 'jobd_gate_closed_total{gate="ipc",reason="bad_header"}')
	((${n:-0} >= 1)) && break
	sleep 0.1
done
((${n:-0} >= 1)) && ok "metrics: the ipc gate refused a peer that is not a client" ||
	bad "metrics: ipc bad headers: '$n'"
wait "$waitpid"
[[ $(cat "$dir/wait.st") == 504 ]] && grep -q DEADLINE_EXCEEDED "$dir/wait.body" &&
	ok "a Wait longer than http_head_ms: its own deadline ends it" ||
	bad "long Wait: $(cat "$dir/wait.st") $(cat "$dir/wait.body")"
((SECONDS > head_s)) || sleep $((head_s + 1 - SECONDS))
body='{"kind":"count","params":{"n":"2"}}'
printf 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nCONTENT-LENGTH: %d\r\n\r\n%s' "${#body}" "$body" >&"$ka" 2>/dev/null
r=$(response "$ka")
[[ $r == 200* && $r == *'"count"'* ]] && ok "keep-alive: a POST after a pause" || bad "keep-alive: after a pause: '$r'"
printf 'GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n' >&"$ka" 2>/dev/null
r=$(response "$ka")
[[ $r == 200*'"version"'* ]] && ok "keep-alive: then a GET" || bad "keep-alive: then a GET: '$r'"
exec {ka}>&-
wait "$twaitpid"
[[ $(cat "$dir/twait.st") == 504 ]] && ok "https: a Wait longer than http_head_ms is not cut" ||
	bad "https: long Wait: $(cat "$dir/twait.st") $(cat "$dir/twait.body")"
wait "$tslowpid"
[[ $(cat "$dir/tlsslow") == closed ]] && ok "https: a handshake a byte a second: closed" ||
	bad "https: slow handshake: $(cat "$dir/tlsslow")"

# ---- a client that closes during a parked Wait -----------------------------
parked() { curl -s --max-time 10 "$B/v1/stats" | grep -o '"parkedCalls":"[0-9]*"' | grep -o '[0-9]*'; }
curl -s -o /dev/null --max-time 60 "$B/v1/jobs/$long:wait" &
wpid=$!
n=
for _ in $(seq 200); do n=$(parked); [[ $n == 1 ]] && break; sleep 0.05; done
[[ $n == 1 ]] && ok "a Wait is parked" || bad "a Wait is parked: parkedCalls $n"
kill "$wpid"
wait "$wpid" 2>/dev/null
for _ in $(seq 200); do n=$(parked); [[ $n == 0 ]] && break; sleep 0.05; done
[[ $n == 0 ]] && ok "the client closed: its Wait is released" || bad "the client closed: parkedCalls $n"

curl -s -o /dev/null --max-time 10 -X POST "$B/v1/jobs/$long:cancel"
tcurl -o /dev/null --max-time 10 -X POST "https://localhost:$T/v1/jobs/$tlong:cancel"
stop_daemons
grep -q 'HTTP gate .*closed [0-9]* that sent nothing' "$dir/main.log" && ok "the counts at exit" ||
	bad "no counts at exit"
finish
