#!/bin/bash
# bench_smoke: jobd-bench --quick runs every workload, exits 0, and its
# JSON holds each workload's figures. Nothing about speed is asserted.
set -u
bench=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
json=$dir/bench.json

fail() {
	echo "bench_smoke: $*" >&2
	[ -f "$json" ] && cat "$json" >&2
	exit 1
}

# the command line: --help on stdout with 0, a usage error is 2
"$bench" --help | grep -q '^usage: jobd-bench' || fail "--help"
"$bench" --batch 0 2>/dev/null
[ $? -eq 2 ] || fail "--batch 0 is not a usage error (2)"
"$bench" nosuch 2>/dev/null
[ $? -eq 2 ] || fail "an unknown workload is not a usage error (2)"

"$bench" --quick --dir "$dir" --json "$json"
rc=$?
[ "$rc" -eq 0 ] || fail "jobd-bench --quick exited $rc"
[ -s "$json" ] || fail "no JSON written"
ls -d "$dir"/jobd-bench-* >/dev/null 2>&1 && fail "data directory left behind"

for w in latency throughput exec speedup memory restart; do
	grep -q "\"$w\": {" "$json" || fail "no workload '$w' in the JSON"
done
# one line per figure: "name": {"label": ..., "value": NUMBER, ...
for f in idle_p50_us idle_p99_us busy_p99_us busy_idle_p99_ratio \
	submit_jobs_per_s submit_p99_us batch_jobs_per_s batch_call_p99_us \
	prog_p99_us prog_idle_p99_ratio jobs_per_s floor_spawns_per_s \
	floor_ratio queued_jobs queued_jobs_per_s queued_floor_ratio \
	wall_1_s wall_n_s ratio bytes_per_job submit_s ping_ms \
	first_running_ms; do
	grep -Eq "\"$f\": \\{\"label\": \"[^\"]*\", \"value\": -?[0-9]" "$json" ||
		fail "no figure '$f' with a value in the JSON"
done
n=$(grep -c '"status": "ok"' "$json")
[ "$n" -eq 6 ] || fail "$n of 6 workloads ok"
grep -q '"online_cpus": [0-9]' "$json" || fail "no machine in the JSON"
echo "bench_smoke: ok"
