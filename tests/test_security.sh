#!/usr/bin/env bash
# TLS and token authentication, end to end: jobd and jobctl with a throwaway
# CA made here by openssl, on free loopback ports. Needs JOBD_BIN and
# JOBCTL_BIN (ctest sets them; JOBD_BIN may be a wrapper, e.g. valgrind).
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}"
command -v openssl >/dev/null || { echo "FAIL openssl is needed"; exit 1; }
dir=$(mktemp -d /tmp/jobd-sec-XXXXXX)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
jobctl=("$JOBCTL_BIN" --timeout 10)
trap 'kill_daemons; rm -rf "$dir"' EXIT

# The text s as an extended regular expression that matches it literally.
esc() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g'; }

# refused NAME STDERR_REGEX -- jobd args...: jobd exits 1 at start, says
# why, and has not created its database.
refused() {
	local name=$1 err_re=$2
	shift 3
	rm -f "$dir/refused.db"
	timeout 60 "${wrap[@]}" "$JOBD_BIN" --db "$dir/refused.db" "$@" >/dev/null 2>"$dir/err"
	local rc=$?
	if [[ $rc -ne 1 ]]; then
		bad "$name: exit $rc, wanted 1: $(head -c 400 "$dir/err")"
	elif ! grep -Eq -- "$err_re" "$dir/err"; then
		bad "$name: stderr '$(head -c 400 "$dir/err")' does not match /$err_re/"
	elif [[ -e $dir/refused.db ]]; then
		bad "$name: the database was created before the refusal"
	else
		ok "$name"
	fi
}

# ---- the help texts name every option and variable ----
"$JOBD_BIN" --help >"$dir/help.jobd" 2>&1
"$JOBCTL_BIN" --help >"$dir/help.jobctl" 2>&1
for w in tls+tcp:// "--tls-cert FILE" JOBD_TLS_CERT "--tls-key FILE" JOBD_TLS_KEY \
	"--tls-ca FILE" JOBD_TLS_CA "--auth-token-file FILE" JOBD_AUTH_TOKEN_FILE \
	"authorization: Bearer TOKEN" "umask 077"; do
	grep -qF -- "$w" "$dir/help.jobd" && ok "jobd --help: $w" || bad "jobd --help lacks '$w'"
done
for w in "--token-file FILE" '$JOBD_TOKEN' '$JOBD_TOKEN_FILE' "--tls-ca FILE" \
	'$JOBD_CLIENT_TLS_CA' "--tls-cert FILE, --tls-key FILE" '$JOBD_CLIENT_TLS_CERT' \
	'$JOBD_CLIENT_TLS_KEY' "--tls-server-name NAME" '$JOBD_CLIENT_TLS_SERVER_NAME' \
	"5  any other error from the daemon (UNAUTHENTICATED"; do
	grep -qF -- "$w" "$dir/help.jobctl" && ok "jobctl --help: $w" || bad "jobctl --help lacks '$w'"
done

# ---- a CA, a server and a client certificate, and an unrelated CA ----
cd "$dir" || exit 1
cert() { # cert NAME CA SUBJECT EXTENSIONS: NAME.key, NAME.pem signed by CA
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1.key" -out "$1.csr" -subj "$3" 2>/dev/null &&
		printf '%s\n' "$4" >"$1.ext" &&
		openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
			-CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
}
for ca in ca other; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$ca.key" -out "$ca.pem" -days 2 -subj "/CN=jobd test $ca CA" \
		2>/dev/null || { echo "FAIL openssl could not make a CA"; exit 1; }
done
cert server ca /CN=localhost \
	"subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth" || { echo "FAIL server certificate"; exit 1; }
cert client ca /CN=client "extendedKeyUsage=clientAuth" || exit 1
cert rogue other /CN=client "extendedKeyUsage=clientAuth" || exit 1
chmod 600 ./*.key
token=$(openssl rand -hex 32)
printf '%s\n' "$token" >token
printf '%s\r\n' "$token" >token.crlf
printf 'not-the-token-at-all-0123456789\n' >wrong.token
chmod 600 token token.crlf wrong.token
cd - >/dev/null || exit 1

# start NAME SCHEME ARGS...: jobd on SCHEME://127.0.0.1:PORT, a free port
# (tried again on another if it was taken); sets port_NAME and pid_NAME.
start() {
	local name=$1 scheme=$2 port rc
	shift 2
	for _ in $(seq 20); do
		port=$((20000 + RANDOM % 40000))
		"${wrap[@]}" "$JOBD_BIN" --listen "$scheme://127.0.0.1:$port" --db "$dir/$name.db" \
			--log-level debug "$@" 2>"$dir/$name.log" &
		local pid=$!
		for _ in $(seq 300); do
			grep -q " ready: " "$dir/$name.log" && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.05
		done
		if grep -q " ready: " "$dir/$name.log"; then
			pids+=("$pid")
			printf -v "port_$name" %s "$port"
			printf -v "pid_$name" %s "$pid"
			return 0
		fi
		wait $pid
		rc=$?
		grep -q "Address in use" "$dir/$name.log" && continue
		echo "jobd $name did not start (exit $rc):" >&2
		cat "$dir/$name.log" >&2
		exit 1
	done
	echo "no free port for jobd $name" >&2
	exit 1
}

# stop NAME: SIGTERM; jobd must exit 0 (a valgrind wrapper's error exit
# shows here too).
stop() {
	local pid_var="pid_$1"
	kill -TERM "${!pid_var}"
	wait "${!pid_var}"
	local rc=$?
	[[ $rc -eq 0 ]] && ok "jobd $1 stops cleanly" ||
		bad "jobd $1: exit $rc after SIGTERM: $(tail -c 600 "$dir/$1.log")"
}

# ---- TLS: the server is verified ----
start tls tls+tcp --tls-cert "$dir/server.pem" --tls-key "$dir/server.key"
tls="tls+tcp://127.0.0.1:$port_tls"
tls_re=$(esc "$tls")
run "tls: the right CA and server name" 0 "^pong from jobd" "" -- \
	--addr "$tls" --tls-ca "$dir/ca.pem" --tls-server-name localhost ping
JOBD_CLIENT_TLS_CA="$dir/ca.pem" JOBD_CLIENT_TLS_SERVER_NAME=localhost \
	run "tls: settings from JOBD_CLIENT_TLS_*" 0 "^pong from jobd" "" -- --addr "$tls" ping
id=$("$JOBCTL_BIN" --addr "$tls" --tls-ca "$dir/ca.pem" --tls-server-name localhost \
	submit sha256 --input "$dir/token")
run "tls: a job's input and result over TLS" 0 "^[0-9a-f]{64}$" "" -- \
	--addr "$tls" --tls-ca "$dir/ca.pem" --tls-server-name localhost wait "$id"
run "tls: another CA" 3 "" "cannot reach jobd at '$tls_re': TLS handshake failed.*'$dir/other.pem'" -- \
	--addr "$tls" --tls-ca "$dir/other.pem" --tls-server-name localhost ping
run "tls: a name the certificate does not hold" 3 "" "TLS handshake failed.*not be for 'jobd.example'" -- \
	--addr "$tls" --tls-ca "$dir/ca.pem" --tls-server-name jobd.example ping
run "tls: an IP address is not matched" 3 "" "an IP address is never matched" -- \
	--addr "$tls" --tls-ca "$dir/ca.pem" ping
run "tls: plain tcp:// to a TLS port" 3 "" "cannot reach jobd at 'tcp://127.0.0.1:$port_tls'.*tls\+tcp://" -- \
	--addr "tcp://127.0.0.1:$port_tls" ping
run "tls: no CA for a tls+tcp:// address" 2 "" "'$tls_re' needs a CA file" -- --addr "$tls" ping
run "tls: a CA for a tcp:// address" 2 "" "TLS settings are given, but 'tcp://127.0.0.1:$port_tls' is not" -- \
	--addr "tcp://127.0.0.1:$port_tls" --tls-ca "$dir/ca.pem" ping
run "tls: a CA file that is not there" 2 "" "cannot read TLS CA file '$dir/none.pem'" -- \
	--addr "$tls" --tls-ca "$dir/none.pem" ping
run "tls: a CA file that is no certificate" 2 "" "TLS CA file '$dir/token' holds no valid certificate" -- \
	--addr "$tls" --tls-ca "$dir/token" ping
stop tls

# ---- TLS with client certificates, and a token ----
start mtls tls+tcp --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" \
	--tls-ca "$dir/ca.pem" --auth-token-file "$dir/token"
mtls="tls+tcp://127.0.0.1:$port_mtls"
mtls_re=$(esc "$mtls")
grep -qF "listening on $mtls (TLS, client certificates required)" "$dir/mtls.log" &&
	ok "mtls: the log says client certificates are required" ||
	bad "mtls: no 'listening' line: $(cat "$dir/mtls.log")"
export JOBD_CLIENT_TLS_CA="$dir/ca.pem" JOBD_CLIENT_TLS_SERVER_NAME=localhost
run "mtls: no client certificate" 3 "" "cannot reach jobd at '$mtls_re'.*client certificate" -- \
	--addr "$mtls" --token-file "$dir/token" ping
run "mtls: a client certificate of another CA" 3 "" "TLS handshake (failed|.*closed the connection)|closed the connection during the TLS handshake" -- \
	--addr "$mtls" --tls-cert "$dir/rogue.pem" --tls-key "$dir/rogue.key" --token-file "$dir/token" ping
run "mtls: a client certificate without its key" 2 "" "needs its key" -- \
	--addr "$mtls" --tls-cert "$dir/client.pem" ping
run "mtls: a CA-signed client certificate" 0 "^pong from jobd" "" -- \
	--addr "$mtls" --tls-cert "$dir/client.pem" --tls-key "$dir/client.key" --token-file "$dir/token" ping
run "mtls: a client certificate, no token" 5 "" "UNAUTHENTICATED: missing token" -- \
	--addr "$mtls" --tls-cert "$dir/client.pem" --tls-key "$dir/client.key" ping
unset JOBD_CLIENT_TLS_CA JOBD_CLIENT_TLS_SERVER_NAME
stop mtls

# ---- tokens ----
start auth tcp --auth-token-file "$dir/token"
export JOBD_ADDR="tcp://127.0.0.1:$port_auth"
run "token: none" 5 "" "ping failed: UNAUTHENTICATED: missing token" -- ping
grep -q "needs a token: give it with --token-file" "$dir/err" &&
	ok "token: jobctl says how to give one" || bad "token: no hint: $(cat "$dir/err")"
for cmd in "stats" "kinds" "list" "status 1" "submit count n=1"; do
	# shellcheck disable=SC2086
	run "token: '$cmd' needs it too" 5 "" "UNAUTHENTICATED" -- $cmd
done
JOBD_TOKEN=wrong-token run "token: a wrong one in JOBD_TOKEN" 5 "" "UNAUTHENTICATED: invalid token" -- ping
grep -q "the token from JOBD_TOKEN is not this jobd's" "$dir/err" &&
	ok "token: jobctl says where the wrong one came from" || bad "token: $(cat "$dir/err")"
run "token: a wrong one in --token-file" 5 "" "UNAUTHENTICATED: invalid token" -- \
	--token-file "$dir/wrong.token" ping
JOBD_TOKEN="$token" run "token: JOBD_TOKEN" 0 "^pong from jobd" "" -- ping
run "token: --token-file" 0 "^42$" "" -- --token-file "$dir/token" submit count n=42 --wait
run "token: a file ending in CRLF" 0 "^pong" "" -- --token-file "$dir/token.crlf" ping
JOBD_TOKEN_FILE="$dir/token" run "token: JOBD_TOKEN_FILE" 0 "^workers: " "" -- stats
JOBD_TOKEN="$token" run "token: --token-file wins over JOBD_TOKEN" 5 "" "invalid token" -- \
	--token-file "$dir/wrong.token" ping
run "token: a token file that is not there" 2 "" "cannot read token file '$dir/none'" -- \
	--token-file "$dir/none" ping
: >"$dir/empty.token"
chmod 600 "$dir/empty.token"
run "token: an empty token file" 2 "" "token file '$dir/empty.token' is empty" -- \
	--token-file "$dir/empty.token" ping
unset JOBD_ADDR
stop auth
grep -q "DEBUG refused a request for 'Ping': invalid token" "$dir/auth.log" &&
	ok "token: refusals are logged at debug level" || bad "token: no debug line in the log"
if grep -qF -- "$token" "$dir/auth.log" "$dir/mtls.log"; then
	bad "token: the token is in jobd's log"
else
	ok "token: the token is nowhere in jobd's debug log"
fi

# ---- jobd refuses to start, naming the file, before it opens its database
tlsl="tls+tcp://127.0.0.1:1"
tlsl_re=$(esc "$tlsl")
refused "no such certificate file" "cannot start: cannot read TLS certificate file '$dir/none.pem'" -- \
	--listen "$tlsl" --tls-cert "$dir/none.pem" --tls-key "$dir/server.key"
refused "no key" "listen address '$tlsl_re' needs a TLS certificate and key" -- \
	--listen "$tlsl" --tls-cert "$dir/server.pem"
refused "no certificate or key" "listen address '$tlsl_re' needs a TLS certificate and key" -- \
	--listen "$tlsl"
refused "no such key file" "cannot read TLS key file '$dir/none.key'" -- \
	--listen "$tlsl" --tls-cert "$dir/server.pem" --tls-key "$dir/none.key"
refused "a certificate that is not one" "TLS certificate file '$dir/server.key' holds no valid certificate" -- \
	--listen "$tlsl" --tls-cert "$dir/server.key" --tls-key "$dir/server.key"
refused "a key that is not one" "TLS key file '$dir/token' holds no valid private key" -- \
	--listen "$tlsl" --tls-cert "$dir/server.pem" --tls-key "$dir/token"
refused "another certificate's key" "TLS key file '$dir/client.key' is not the key of the certificate in '$dir/server.pem'" -- \
	--listen "$tlsl" --tls-cert "$dir/server.pem" --tls-key "$dir/client.key"
refused "a CA file that is no certificate" "TLS CA file '$dir/token' holds no valid certificate" -- \
	--listen "$tlsl" --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" --tls-ca "$dir/token"
cp "$dir/server.key" "$dir/open.key" && chmod 644 "$dir/open.key"
refused "a key others can read" "TLS key file '$dir/open.key' is readable by others" -- \
	--listen "$tlsl" --tls-cert "$dir/server.pem" --tls-key "$dir/open.key"
JOBD_TLS_CERT="$dir/server.pem" JOBD_TLS_KEY="$dir/server.key" \
	refused "TLS files without a tls+tcp:// address" "no listen address is tls\+tcp://" -- \
	--listen "ipc://$dir/x.sock"
JOBD_TLS_CERT="$dir/none.pem" JOBD_TLS_KEY="$dir/server.key" \
	refused "JOBD_TLS_CERT" "cannot read TLS certificate file '$dir/none.pem'" -- --listen "$tlsl"
refused "an empty token file" "token file '$dir/empty.token' is empty" -- \
	--listen "ipc://$dir/x.sock" --auth-token-file "$dir/empty.token"
refused "no such token file" "cannot read token file '$dir/none'" -- \
	--listen "ipc://$dir/x.sock" --auth-token-file "$dir/none"
cp "$dir/token" "$dir/open.token" && chmod 644 "$dir/open.token"
refused "a token file others can read" "token file '$dir/open.token' is readable by others" -- \
	--listen "ipc://$dir/x.sock" --auth-token-file "$dir/open.token"
JOBD_AUTH_TOKEN_FILE="$dir/empty.token" \
	refused "JOBD_AUTH_TOKEN_FILE" "token file '$dir/empty.token' is empty" -- --listen "ipc://$dir/x.sock"

stop_daemons
finish
