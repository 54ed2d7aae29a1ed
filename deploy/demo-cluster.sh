#!/bin/bash
# The cluster demo (deploy/compose.cluster.yaml): three jobd nodes on one
# PostgreSQL queue, and one of them killed midway.
#
#   1. every node answers, and a job submitted on one node is waited for
#      on another;
#   2. DEMO_JOBS jobs (sleep DEMO_MS ms each; 24 of 3 s) are submitted
#      round the nodes, each with an idempotency key;
#   3. once the victim node (DEMO_VICTIM) runs jobs, its daemon is killed
#      with SIGKILL: the demo shares its process namespace
#      (pid: service:jobd2) and finds the process named jobd;
#   4. every job is waited for on the surviving nodes: each must succeed,
#      and those the victim was running show attempts 2: they ran again on
#      another node once the victim's lease expired;
#   5. prints a summary (the queue by kind and state, as any node sees it);
#   6. asks each surviving node over HTTP (port 7078, the image's
#      JOBD_HTTP): /readyz is ready, Stats through the JSON API counts the
#      same succeeded jobs on each (they are the cluster's), and /metrics
#      shows the jobs each node itself finished;
#   and prints "demo-cluster: OK" when every job succeeded, at least one
#   ran again after the kill, and the nodes agree.
#
# Environment: DEMO_NODES (the nodes' addresses, space-separated),
# DEMO_VICTIM (one of them), DEMO_JOBS, DEMO_MS.
set -uo pipefail
read -ra nodes <<<"${DEMO_NODES:-tcp://jobd1:7077 tcp://jobd2:7077 tcp://jobd3:7077}"
victim=${DEMO_VICTIM:-tcp://jobd2:7077}
jobs=${DEMO_JOBS:-24}
ms=${DEMO_MS:-3000}
fails=0
say() { printf 'demo-cluster: %s\n' "$*"; }
bad() {
	printf 'demo-cluster: FAIL: %s\n' "$*"
	fails=$((fails + 1))
}
die() {
	printf 'demo-cluster: FAIL: %s\n' "$*"
	exit 1
}
jc() {
	local a=$1
	shift
	jobctl --addr "$a" "$@"
}
survivors=()
for n in "${nodes[@]}"; do [[ $n != "$victim" ]] && survivors+=("$n"); done

# 1. every node answers; Wait across nodes
for n in "${nodes[@]}"; do
	for _ in $(seq 100); do jc "$n" ping >/dev/null 2>&1 && break; sleep 0.2; done
	jc "$n" ping >/dev/null || die "node $n does not answer"
done
say "${#nodes[@]} nodes answer: ${nodes[*]}"
id=$(jc "${nodes[0]}" submit primes limit=100000) || die "submit on ${nodes[0]}"
out=$(jc "${nodes[-1]}" wait "$id") || die "wait on ${nodes[-1]} for job $id: $out"
say "job $id submitted on ${nodes[0]}, waited for on ${nodes[-1]}: $out"

# 2. the jobs, round the nodes
ids=()
for ((i = 0; i < jobs; i++)); do
	n=${nodes[i % ${#nodes[@]}]}
	id=$(jc "$n" submit sleep "ms=$ms" --key "demo-cluster-$i") || die "submit on $n"
	ids+=("$id")
done
say "$jobs jobs (sleep ${ms} ms) submitted round the nodes: ids ${ids[0]}..${ids[-1]}"

# 3. kill the victim once it runs jobs
busy=0
for _ in $(seq 100); do
	busy=$(jc "$victim" stats 2>/dev/null | awk '$1 == "busy_workers:" || $1 == "busy:" {print $2}')
	((${busy:-0} > 0)) && break
	sleep 0.1
done
pid=""
for p in /proc/[0-9]*; do
	[[ $(cat "$p/comm" 2>/dev/null) == jobd ]] && pid=${p#/proc/} && break
done
[[ -n $pid ]] || die "no process named jobd in this namespace (is the demo's pid: service:jobd2?)"
kill -KILL "$pid" || die "cannot SIGKILL jobd ($pid)"
say "SIGKILL to $victim's jobd (pid $pid) while it ran ${busy:-?} jobs"
sleep 1
jc "$victim" --timeout 1 ping >/dev/null 2>&1 && bad "$victim still answers after SIGKILL"

# 4. every job ends, on the survivors
ok=0 again=0
t0=$SECONDS
for id in "${ids[@]}"; do
	a=${survivors[id % ${#survivors[@]}]}
	if jc "$a" wait "$id" --timeout 120 >/dev/null; then
		ok=$((ok + 1))
	else
		bad "job $id did not succeed: $(jc "$a" status "$id")"
	fi
	att=$(jc "$a" --json status "$id" | sed -n 's/.*"attempts":\([0-9]*\).*/\1/p')
	if ((${att:-1} > 1)); then
		again=$((again + 1))
		say "job $id: attempts $att: it was running on $victim, it ran again on another node"
	fi
done
say "$ok of $jobs jobs succeeded ($again ran again after the kill), $((SECONDS - t0)) s after it"
((ok == jobs)) || bad "$((jobs - ok)) jobs did not succeed"
((again > 0)) || bad "no job ran again: the victim ran none when killed?"

# 5. the queue as any node sees it: jobs by kind and state
jc "${survivors[0]}" list --limit 1000 | awk '{print $4, $2}' | sort | uniq -c |
	awk '{printf "demo-cluster:   %-8s %-10s %d\n", $2, $3, $1}'

# 6. each survivor over HTTP: ready, the cluster's counts, its own metrics
seen=
for a in "${survivors[@]}"; do
	h=${a#tcp://}
	h=http://${h%:*}:7078
	r=$(curl -s --max-time 10 "$h/readyz")
	[[ $r == ready* ]] || bad "$h/readyz: '$r'"
	n=$(curl -s --max-time 10 "$h/v1/stats" | sed -n 's/.*"succeeded":"\([0-9]*\)".*/\1/p')
	m=$(curl -s --max-time 10 "$h/metrics" |
		awk '/^jobd_jobs_finished_total\{.*state="succeeded"/ { n += $2 } END { print n + 0 }')
	say "$h: readyz '$r'; Stats: ${n:-?} succeeded in the cluster; /metrics: $m finished here"
	((${n:-0} >= jobs + 1)) || bad "$h: Stats counts ${n:-no} succeeded jobs, not the $((jobs + 1)) at least of the cluster"
	[[ -z $seen || $seen == "$n" ]] || bad "the nodes' Stats disagree: $seen and $n succeeded"
	seen=$n
done
((fails == 0)) || die "$fails check(s) failed"
say "OK"
