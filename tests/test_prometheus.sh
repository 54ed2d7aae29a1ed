#!/usr/bin/env bash
# A real Prometheus server scrapes jobd with deploy/prometheus.yml (its
# target pointed at a jobd of this test, its interval shortened), and its
# query API then answers with jobd's figures: the scrape config, the
# exposition and the token all work with the real thing, not only with
# promtool. Needs JOBD_BIN, JOBCTL_BIN, curl and Debian's prometheus.
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}"
dir=$(mktemp -d /tmp/jobd-prometheus-XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
src=$(cd "$(dirname "$0")/.." && pwd)
command -v prometheus >/dev/null && command -v curl >/dev/null || {
	echo "prometheus and curl are needed (deploy/debian-deps.sh installs them)" >&2
	exit 1
}

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
jport=$(free_port)
pport=$(free_port)
printf 'secret-token-%s\n' "$RANDOM$RANDOM" >"$dir/token"
chmod 600 "$dir/token"
export JOBD_TOKEN_FILE="$dir/token" # for jobctl, lib.sh's start included
start s --http "http://127.0.0.1:$jport" --workers 2 --auth-token-file "$dir/token"
jobctl=("$JOBCTL_BIN" --addr "ipc://$dir/s.sock")
for _ in 1 2 3; do "${jobctl[@]}" submit count n=1000 >/dev/null; done

# deploy/prometheus.yml, pointed here, with the token, every 200 ms
sed -e "s|targets: \[\"jobd:7078\"\]|targets: [\"127.0.0.1:$jport\"]|" \
	-e "s|scrape_interval: 15s|scrape_interval: 200ms|" \
	-e "s|scrape_timeout: 5s|scrape_timeout: 200ms|" \
	-e "s|    # authorization:|    authorization:|" \
	-e "s|    #   type: Bearer|      type: Bearer|" \
	-e "s|    #   credentials_file: .*|      credentials_file: $dir/token|" \
	"$src/deploy/prometheus.yml" >"$dir/prometheus.yml"
grep -q "credentials_file: $dir/token" "$dir/prometheus.yml" &&
	grep -q "127.0.0.1:$jport" "$dir/prometheus.yml" ||
	{ bad "deploy/prometheus.yml no longer has the lines this test edits"; finish; }
promtool check config "$dir/prometheus.yml" >"$dir/check" 2>&1 &&
	ok "promtool check config: deploy/prometheus.yml, edited" ||
	bad "promtool check config: $(cat "$dir/check")"

prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
	--web.listen-address="127.0.0.1:$pport" >"$dir/prometheus.log" 2>&1 &

# query EXPR: the value of the first series of an instant query, or ""
query() {
	curl -s --max-time 2 "http://127.0.0.1:$pport/api/v1/query" \
		--data-urlencode "query=$1" |
		/usr/bin/python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null
}
up="" workers="" submitted=""
for _ in $(seq 150); do
	up=$(query 'up{job="jobd"}')
	workers=$(query 'jobd_workers')
	submitted=$(query 'sum(jobd_jobs_submitted_total)')
	[[ $up == 1 && $workers == 2 && $submitted == 3 ]] && break
	sleep 0.2
done
[[ $up == 1 ]] && ok "Prometheus scrapes jobd (up = 1), with the token" ||
	bad "up = '$up'; prometheus log: $(tail -c 600 "$dir/prometheus.log")"
[[ $workers == 2 ]] && ok "jobd_workers = 2 in Prometheus" || bad "jobd_workers = '$workers'"
[[ $submitted == 3 ]] && ok "sum(jobd_jobs_submitted_total) = 3 in Prometheus" ||
	bad "jobd_jobs_submitted_total sums to '$submitted'"

stop_daemons
finish
