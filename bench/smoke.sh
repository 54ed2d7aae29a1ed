#!/bin/bash
# bench_smoke: jobd-bench --quick runs every workload, exits 0, and its
# JSON holds each workload's figures. Nothing about speed is asserted.
# restart-scheduled itself fails (and so exits 1) unless Stats counts
# every job of its database as scheduled after the start.
#
# smoke.sh BENCH cluster (bench_cluster): the same for the cluster
# workload alone, on the PostgreSQL server at $JOBD_TEST_DB_URL (ctest's
# fixture `postgres`, through tests/pg_cluster.sh run).
set -u
bench=$1
mode=${2-all}
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
json=$dir/bench.json

fail() {
	echo "bench_smoke: $*" >&2
	[ -f "$json" ] && cat "$json" >&2
	exit 1
}

# has_figures WORKLOAD NAME...: the JSON has each figure NAME with a
# value, within WORKLOAD's own block ("name": {"label": ..., "value": N)
has_figures() {
	local w=$1 block f
	shift
	grep -q "^    \"$w\": {" "$json" || fail "no workload '$w' in the JSON"
	block=$(awk -v w="    \"$w\": {" \
		'index($0, w) == 1 { on = 1; next } on && /^    }/ { exit } on' \
		"$json")
	for f in "$@"; do
		grep -Eq "\"$f\": \\{\"label\": \"[^\"]*\", \"value\": -?[0-9]" \
			<<<"$block" || fail "no figure '$f' with a value in '$w'"
	done
}

if [ "$mode" = cluster ]; then
	[ -n "${JOBD_TEST_DB_URL-}" ] || fail "no JOBD_TEST_DB_URL"
	"$bench" --quick --dir "$dir" --json "$json" \
		--pg-url "$JOBD_TEST_DB_URL" cluster
	rc=$?
	[ "$rc" -eq 0 ] || fail "jobd-bench --quick cluster exited $rc"
	for set in sqlite pg1 pg3; do
		has_figures cluster ${set}_submit_jobs_per_s \
			${set}_submit_calls_jobs_per_s ${set}_submit_p99_us \
			${set}_batch_jobs_per_s ${set}_batch_calls_jobs_per_s \
			${set}_batch_call_p99_us ${set}_batch_cpu_jobd_us
	done
	has_figures cluster pg3_pg1_submit_ratio pg3_pg1_batch_ratio \
		get_local_p99_us get_remote_p99_us lease_s rescued_jobs \
		rescue_first_s rescue_all_s pg1_batch_cpu_pg_us
	grep -q '"status": "ok"' "$json" || fail "cluster not ok"
	ls -d "$dir"/jobd-bench-* >/dev/null 2>&1 &&
		fail "data directory left behind"
	echo "bench_cluster: ok"
	exit 0
fi

# the command line: --help on stdout with 0, a usage error is 2
help=$("$bench" --help) || fail "--help did not exit 0"
grep -q '^usage: jobd-bench' <<<"$help" || fail "--help"
grep -q '^  inflight ' <<<"$help" || fail "--help does not list inflight"
grep -q '^  --inflight N ' <<<"$help" || fail "--help does not list --inflight"
grep -q '^  memory-scheduled$' <<<"$help" ||
	fail "--help does not list memory-scheduled"
grep -q '^  restart-scheduled$' <<<"$help" ||
	fail "--help does not list restart-scheduled"
grep -q '^  latency-scrape ' <<<"$help" ||
	fail "--help does not list latency-scrape"
grep -q '^  cluster ' <<<"$help" || fail "--help does not list cluster"
grep -q '^  --pg-url URL ' <<<"$help" || fail "--help does not list --pg-url"
"$bench" --batch 0 2>/dev/null
[ $? -eq 2 ] || fail "--batch 0 is not a usage error (2)"
"$bench" --inflight 0 2>/dev/null
[ $? -eq 2 ] || fail "--inflight 0 is not a usage error (2)"
"$bench" --pg-url mysql://x cluster 2>/dev/null
[ $? -eq 2 ] || fail "a --pg-url not postgresql:// is not a usage error (2)"
"$bench" nosuch 2>/dev/null
[ $? -eq 2 ] || fail "an unknown workload is not a usage error (2)"

"$bench" --quick --dir "$dir" --json "$json"
rc=$?
[ "$rc" -eq 0 ] || fail "jobd-bench --quick exited $rc"
[ -s "$json" ] || fail "no JSON written"
ls -d "$dir"/jobd-bench-* >/dev/null 2>&1 && fail "data directory left behind"

# the figures each workload must have
declare -A figures=(
	[latency]="idle_p50_us idle_p99_us busy_p99_us busy_idle_p99_ratio
		prog_p99_us prog_idle_p99_ratio"
	[latency-scrape]="idle_p50_us idle_p99_us busy_p50_us busy_p99_us
		busy_idle_p99_ratio scrapes scrape_p99_us"
	[throughput]="submit_rtt_p50_us submit_rtt_p99_us submit_fsync_p50_us
		submit_fsync_p99_us submit_ceiling_jobs_per_s submit_jobs_per_s
		submit_p99_us batch_rtt_p50_us batch_fsync_p50_us
		batch_ceiling_jobs_per_s batch_jobs_per_s batch_call_p99_us
		submit_cpu_jobd_us submit_cpu_bench_us
		submit_cpu_ceiling_jobs_per_s batch_cpu_ceiling_jobs_per_s"
	[inflight]="submit_rtt_p50_us submit_rtt_p99_us submit_fsync_p50_us
		submit_fsync_p99_us submit_ceiling_jobs_per_s submit_jobs_per_s
		submit_calls_jobs_per_s submit_p50_us submit_p99_us
		wait_rtt_p50_us wait_fsync_p50_us wait_ceiling_jobs_per_s
		wait_jobs_per_s wait_p50_us wait_p99_us submit_cpu_jobd_us
		submit_cpu_ceiling_jobs_per_s wait_cpu_jobd_us
		wait_cpu_ceiling_jobs_per_s"
	[exec]="jobs_per_s floor_spawns_per_s floor_ratio queued_jobs
		queued_jobs_per_s queued_floor_ratio"
	[speedup]="wall_1_s wall_n_s ratio"
	[memory]="bytes_per_job submit_s"
	[restart]="ping_ms first_running_ms"
	[memory-scheduled]="bytes_per_job scheduled_jobs submit_s"
	[restart-scheduled]="ping_ms db_jobs stats_scheduled stats_ms"
)
for w in latency latency-scrape throughput inflight exec speedup memory \
	restart memory-scheduled restart-scheduled; do
	# shellcheck disable=SC2086 # a list of names
	has_figures "$w" ${figures[$w]}
done
n=$(grep -c '"status": "ok"' "$json")
[ "$n" -eq 10 ] || fail "$n of 10 workloads ok"
grep -q '"online_cpus": [0-9]' "$json" || fail "no machine in the JSON"
echo "bench_smoke: ok"
