#!/bin/bash
# The cluster demo (deploy/compose.cluster.yaml), end to end, as its header
# runs it:
#
#   1. `up --build --exit-code-from demo`: PostgreSQL, three jobd nodes and
#      the demo, which kills jobd2 midway; its exit status must be 0, it
#      must print its OK line and say that jobs ran again after the kill;
#      jobd1 and jobd3 must have stopped gracefully (exit 0) when compose
#      stopped them, and jobd2's daemon must have died of the SIGKILL;
#   2. `down` without -v, then `up -d jobd1`: a new node on the same
#      database answers with the demo's jobs, all succeeded, reachable
#      from the host on the published port;
#   3. `down -v` removes the containers, the network and the volume, also
#      when a step fails.
#
# Skipped (exit 77) when no Docker engine can be had, unless
# JOBD_REQUIRE_DOCKER=1 (CI), when that is a failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

compose=$(tests/docker-env.sh) || exit

export COMPOSE_PROJECT_NAME=jobdcluster$$
export JOBD_PORT= JOBD_HTTP_PORT=
log=$(mktemp)
fails=0
fail() {
	echo "test_compose_cluster: FAIL: $*" >&2
	fails=$((fails + 1))
}
dc() { $compose -f deploy/compose.cluster.yaml "$@"; }
cleanup() {
	dc down -v --remove-orphans >/dev/null 2>&1
	rm -f "$log"
}
trap cleanup EXIT

echo "test_compose_cluster: $compose, project $COMPOSE_PROJECT_NAME"

# 1. the demo
dc up --build --exit-code-from demo 2>&1 | tee "$log" |
	grep -E '^[^ ]*(demo|jobd[123]|postgres)[-_]|ERROR'
rc=${PIPESTATUS[0]}
if ((rc != 0)); then
	tail -60 "$log" >&2
	fail "the demo exited $rc"
fi
grep -q "demo-cluster: OK" "$log" || fail "the demo did not print its OK line"
grep -Eq "demo-cluster: [0-9]+ of [0-9]+ jobs succeeded \([1-9][0-9]* ran again after the kill\)" "$log" ||
	fail "the demo did not show jobs of the killed node finishing elsewhere"
for n in jobd1 jobd3; do
	c=$(dc ps -q "$n")
	code=$(docker inspect -f '{{.State.ExitCode}}' "$c" 2>/dev/null)
	[[ $code == 0 ]] || fail "$n exited '$code' when compose stopped it, not 0"
done
n=$(grep -Ec "demo-cluster: http://jobd[13]:7078: readyz 'ready'; Stats: [0-9]+ succeeded" "$log")
((n == 2)) || fail "the demo did not read both survivors over HTTP ($n)"
grep -q "jobd2: jobd ended (137)" "$log" ||
	fail "jobd2's daemon did not end by SIGKILL (exit status 137)"

# 2. a node again on the same database
dc down >/dev/null 2>&1 || fail "compose down failed"
dc up -d jobd1 >/dev/null 2>&1 || fail "compose up -d jobd1 failed"
c=$(dc ps -q jobd1)
for ((i = 0; i < 90; i++)); do
	health=$(docker inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null)
	[[ $health == healthy ]] && break
	sleep 1
done
[[ $health == healthy ]] || fail "jobd1 not healthy 90 s after the restart ($health)"
list=$(dc exec -T jobd1 jobctl list --limit 0)
counted=$(awk '{print $4, $2}' <<<"$list" | sort | uniq -c | awk '{print $2, $3, $1}' | sort)
echo "test_compose_cluster: after the restart: $(tr '\n' ';' <<<"$counted")"
grep -Eq "^sleep succeeded [0-9]+$" <<<"$counted" || fail "no succeeded sleep jobs after the restart"
grep -Eq "^sleep (queued|running|failed|cancelled)" <<<"$counted" && fail "sleep jobs not all succeeded: $counted"
if [[ -n ${JOBCTL_BIN:-} ]]; then
	addr=$(dc port jobd1 7077)
	"$JOBCTL_BIN" --addr "tcp://$addr" ping >/dev/null ||
		fail "jobctl on the host could not reach jobd1 at $addr"
fi

if ((fails > 0)); then
	echo "test_compose_cluster: $fails check(s) failed; the logs:" >&2
	dc logs --tail 80 >&2
	exit 1
fi
echo "test_compose_cluster: OK"
