#!/bin/bash
# The compose demo, end to end, exactly as the README runs it:
#
#   1. `up --build --exit-code-from demo` builds the images and runs the
#      demo; its exit status must be 0 and it must print its OK line (the
#      program kind count-js, Node.js, included, and the Express app's
#      /blocking answers), and jobd must have stopped gracefully (exit 0)
#      when compose stopped it;
#   2. `down` without -v, then `up -d jobd`: a new container on the same
#      volume must answer with the demo's jobs in the states the demo left
#      them in, and must be reachable from the host on the published port;
#   3. `down -v` removes the containers, the network and the volume, also
#      when a step fails.
#
# Skipped (exit 77) when no Docker engine can be had, unless
# JOBD_REQUIRE_DOCKER=1 (CI), when that is a failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

compose=$(tests/docker-env.sh) || exit

# A project of its own, so that a demo the user has up is left alone, and
# a free host port.
export COMPOSE_PROJECT_NAME=jobdtest$$
export JOBD_PORT= JOBD_HTTP_PORT= EXPRESS_PORT=
# The express image runs `npm ci` at build time: on a machine whose way to
# the registry passes a TLS-inspecting proxy, npm must trust the host's own
# CAs too (deploy/Dockerfile, NPM_EXTRA_CA).
if [[ -z ${NPM_EXTRA_CA:-} ]]; then
	NPM_EXTRA_CA=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null)
	export NPM_EXTRA_CA
fi
log=$(mktemp)
fails=0
fail() {
	echo "test_compose: FAIL: $*" >&2
	fails=$((fails + 1))
}
dc() { $compose -f deploy/compose.yaml "$@"; }
cleanup() {
	dc down -v --remove-orphans >/dev/null 2>&1
	rm -f "$log"
}
trap cleanup EXIT

echo "test_compose: $compose, project $COMPOSE_PROJECT_NAME"

# 1. the README's command
dc up --build --exit-code-from demo 2>&1 | tee "$log" |
	grep -E '^[^ ]*(demo|jobd|express)[-_]|ERROR'
rc=${PIPESTATUS[0]}
if ((rc != 0)); then
	tail -40 "$log" >&2
	fail "the demo exited $rc"
fi
grep -q "demo: OK" "$log" || fail "the demo did not print its OK line"
grep -q "demo: count-js n=[0-9]* (job [0-9]*): result [0-9]*" "$log" ||
	fail "the demo did not run the program kind count-js"
grep -q "demo: every /blocking answered its n" "$log" ||
	fail "the demo did not get every /blocking answer of the Express app"
grep -q "demo: GET /blocking?n=[0-9]* given up after 2 s: its job [0-9]* is cancelled" "$log" ||
	fail "the demo did not see the job of a /blocking given up on cancelled"
grep -q "demo: HTTP at http://jobd:7078: /readyz ready; sha256 job [0-9]* submitted and waited for with curl: JOB_STATE_SUCCEEDED" "$log" ||
	fail "the demo did not use jobd's JSON API over HTTP"
jobd_ctr=$(dc ps -q jobd)
code=$(docker inspect -f '{{.State.ExitCode}}' "$jobd_ctr" 2>/dev/null)
[[ $code == 0 ]] || fail "jobd exited '$code' when compose stopped it, not 0"
docker logs "$jobd_ctr" 2>&1 | grep -q "INFO stopped" ||
	fail "jobd's log has no graceful 'stopped' line"

# 2. a new container on the same volume
dc down >/dev/null 2>&1 || fail "compose down failed"
dc up -d jobd >/dev/null 2>&1 || fail "compose up -d jobd failed"
jobd_ctr=$(dc ps -q jobd)
[[ -n $jobd_ctr ]] || fail "no jobd container after up -d"
for ((i = 0; i < 60; i++)); do
	health=$(docker inspect -f '{{.State.Health.Status}}' "$jobd_ctr" 2>/dev/null)
	[[ $health == healthy ]] && break
	sleep 1
done
[[ $health == healthy ]] || fail "jobd not healthy 60 s after restart ($health)"

list=$(dc exec -T jobd jobctl list --limit 0)
echo "test_compose: after the restart, jobctl list says:"
mapfile -t lines <<<"$list"
printf '  %s\n' "${lines[@]}"
workers=$(dc exec -T jobd jobctl stats | awk '$1 == "workers:" {print $2}')
# "ID STATE PROGRESS KIND ..." -> "KIND STATE N", counted (both lists
# sorted the same way, whatever the locale's order); the Express app's
# /blocking requests are workers + 2 count-js jobs, and one more cancelled
counted=$(awk '{print $4, $2}' <<<"$list" | sort | uniq -c |
	awk '{print $2, $3, $1}' | sort)
want=$(printf '%s\n' "count cancelled $workers" "fail failed 1" \
	"primes succeeded 1" "sha256 succeeded 2" \
	"count-js succeeded $((1 + workers + 2))" "count-js cancelled 2" | sort)
[[ $counted == "$want" ]] ||
	fail "jobs after restart: got [$counted], want [$want]"
primes=$(awk '$4 == "primes" {print $1}' <<<"$list")
got=$(dc exec -T jobd jobctl result "$primes")
[[ $got == 664579 ]] || fail "primes result after restart: '$got'"

# jobctl on the host, through the published port
if [[ -n ${JOBCTL_BIN:-} ]]; then
	addr=$(dc port jobd 7077)
	"$JOBCTL_BIN" --addr "tcp://$addr" status "$primes" | grep -q succeeded ||
		fail "jobctl on the host could not reach jobd at $addr"
fi

# the HTTP listener on the host, through its published port: the page,
# /healthz, and /metrics in Prometheus's format
haddr=$(dc port jobd 7078)
curl -fsS --max-time 5 "http://$haddr/healthz" | grep -qx ok ||
	fail "GET /healthz through the published port $haddr"
curl -fsS --max-time 5 "http://$haddr/" | grep -qi "<title>" ||
	fail "the status page through the published port $haddr"
if command -v promtool >/dev/null; then
	curl -fsS --max-time 5 "http://$haddr/metrics" | promtool check metrics ||
		fail "/metrics through $haddr does not pass promtool check metrics"
fi
echo "test_compose: the HTTP listener answers on the host at $haddr"

if ((fails > 0)); then
	echo "test_compose: $fails check(s) failed; jobd's log:" >&2
	dc logs jobd >&2
	exit 1
fi
echo "test_compose: OK"
