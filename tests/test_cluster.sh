#!/usr/bin/env bash
# test_cluster: three jobd daemons sharing one queue in one PostgreSQL
# database (issue 16), each on its own ipc:// address with --node n1..n3
# and a short lease (3 s).
#
#  1. 5,000 jobs (sleep 20 ms) submitted across the three in batches of 50
#     (tests/cluster_load.c, every job with an idempotency key; a batch
#     that fails is sent again to the next daemon), and n2 SIGKILLed while
#     the submits go on and it runs jobs. Every acknowledged job ends and
#     succeeds, none is lost; those n2 was running run again elsewhere once
#     its lease expires, their attempts counted (at least once). In the
#     database: each key once, 5,000 rows.
#  2. Wait and Cancel across daemons: a Wait parked on one node answers
#     when another ends the job; a Cancel sent to a node that does not run
#     the job stops it where it runs, and a Wait parked on a third node
#     answers "cancelled".
#  3. A restart of one node (SIGKILL, then the same --node) leaves the
#     other nodes' running jobs alone: same owner, same attempt, same
#     start, still running.
#  4. PostgreSQL stopped at once under the running nodes: a Submit is
#     answered UNAVAILABLE, a Get of a job running on the node asked still
#     answers; once it is back, every node takes Submits again by itself.
#     (It stops and starts the fixture's server: RUN_SERIAL.)
#
# Reads the jobs table (columns id, state 1..5 = queued running
# succeeded failed cancelled, attempts, idem_key, owner, started_at) with
# psql. Run through tests/pg_cluster.sh (ctest's fixture `postgres`).
set -uo pipefail
cd "$(dirname "$0")"
dir=$(mktemp -d /tmp/jobd-cluster.XXXXXX)
source ./lib.sh
source ./cluster_lib.sh
pgdir=${PG_CLUSTER_DIR:?PG_CLUSTER_DIR is not set (tests/pg_cluster.sh run sets it)}
trap 'bash ./pg_cluster.sh up "$pgdir" >/dev/null 2>&1; cluster_fini' EXIT
load=${CLUSTER_LOAD_BIN:?CLUSTER_LOAD_BIN is not set (ctest sets it)}
make_db "${dir##*/}"

for n in n1 n2 n3; do node_start "$n" --workers 4; done
ok "three nodes on one database"

# --- 1. 5,000 jobs, n2 killed mid-run --------------------------------------
"$load" submit -n 5000 -b 50 -p 40 -k c -t 180 "$dir/acks" \
	"$(addr n1)" "$(addr n2)" "$(addr n3)" >"$dir/submit.out" 2>&1 &
loader=$!
# wait until n2 runs jobs and about a third is in, then kill it
for _ in $(seq 200); do
	n2_running=$(q "SELECT count(*) FROM jobs WHERE state = 2 AND owner = 'n2'")
	acked=$(wc -l <"$dir/acks" 2>/dev/null || echo 0)
	((n2_running > 0 && acked >= 1500)) && break
	sleep 0.05
done
node_kill n2 KILL
n2_had=$(q "SELECT string_agg(id::text, ' ') FROM jobs WHERE state = 2 AND owner = 'n2'")
echo "n2 SIGKILLed with $acked jobs acknowledged, running: ${n2_had:-none}"
[[ -n $n2_had ]] && ok "n2 killed while running jobs" || bad "n2 ran no job when killed"
if wait "$loader"; then
	ok "every batch acknowledged ($(cat "$dir/submit.out"))"
else
	bad "the submits: $(cat "$dir/submit.out")"
fi
if "$load" check -w 180 "$dir/acks" "$(addr n1)" "$(addr n3)" >"$dir/check.out" 2>&1; then
	ok "every acknowledged job ended and succeeded: $(cat "$dir/check.out")"
else
	bad "check: $(cat "$dir/check.out")"
fi
grep -h "^check: " "$dir/check.out"
rows=$(q "SELECT count(*) || ' ' || count(DISTINCT idem_key) FROM jobs WHERE idem_key LIKE 'c-%'")
[[ $rows == "5000 5000" ]] && ok "5,000 rows, one per key" || bad "rows and keys: $rows"
# n2's jobs ran again elsewhere, the attempt counted
if [[ -n $n2_had ]]; then
	again=$(q "SELECT count(*) FROM jobs WHERE id IN (${n2_had// /,}) AND state = 3 AND attempts >= 2 AND owner IS DISTINCT FROM 'n2'")
	n=$(wc -w <<<"$n2_had")
	((again == n)) && ok "n2's $n running jobs re-ran on other nodes (attempts >= 2)" ||
		bad "of n2's $n running jobs, $again re-ran elsewhere: $(q "SELECT id, state, attempts, owner FROM jobs WHERE id IN (${n2_had// /,})" | tr '\n' ' ')"
fi
node_start n2 --workers 4
ok "n2 back with the same node name"

# --- 2. Wait and Cancel across nodes -------------------------------------------
id=$(jc n1 submit sleep ms=300)
if jc n3 wait "$id" >"$dir/wait.out" 2>&1; then
	ok "a Wait on n3 answered when job $id ended"
else
	bad "wait on n3: $(cat "$dir/wait.out")"
fi
id=$(jc n1 submit count n=100000000000)
owner=""
for _ in $(seq 200); do
	owner=$(q "SELECT owner FROM jobs WHERE id = $id AND state = 2")
	[[ -n $owner ]] && break
	sleep 0.05
done
others=()
for n in n1 n2 n3; do [[ $n != "$owner" ]] && others+=("$n"); done
if [[ -z $owner ]] || ((${#others[@]} != 2)); then
	bad "job $id did not start on a node (owner '$owner')"
else
	jc "${others[0]}" wait "$id" >"$dir/wait1.out" 2>&1 &
	w1=$!
	jc "$owner" wait "$id" >"$dir/wait2.out" 2>&1 &
	w2=$!
	sleep 0.3
	run "cancel on ${others[1]}, job running on $owner" 0 "" "" -- \
		--addr "$(addr "${others[1]}")" cancel "$id"
	wait "$w1"
	st1=$?
	wait "$w2"
	st2=$?
	((st1 == 1)) && grep -q cancelled "$dir/wait1.out" &&
		ok "the Wait parked on ${others[0]} answered: cancelled" ||
		bad "wait on ${others[0]}: exit $st1, $(cat "$dir/wait1.out")"
	((st2 == 1)) && grep -q cancelled "$dir/wait2.out" &&
		ok "the Wait parked on $owner answered: cancelled" ||
		bad "wait on $owner: exit $st2, $(cat "$dir/wait2.out")"
	state=$(q "SELECT state FROM jobs WHERE id = $id")
	[[ $state == 5 ]] && ok "job $id cancelled in the database" || bad "job $id state $state"
fi

# --- 3. a restart of one node leaves the others' jobs alone --------------------
ids=()
for i in $(seq 12); do
	n=n$(((i % 3) + 1))
	ids+=("$(jc "$n" submit sleep ms=600000)")
done
for _ in $(seq 400); do
	running=$(q "SELECT count(*) FROM jobs WHERE state = 2")
	((running == 12)) && break
	sleep 0.05
done
[[ $running == 12 ]] && ok "12 long jobs running on 3 nodes of 4 workers" ||
	bad "$running of 12 long jobs running"
snap="SELECT id, owner, attempts, started_at FROM jobs WHERE state = 2 AND owner <> 'n3' ORDER BY id"
before=$(q "$snap")
n3_jobs=$(q "SELECT count(*) FROM jobs WHERE state = 2 AND owner = 'n3'")
node_kill n3 KILL
node_start n3 --workers 4
sleep 1
after=$(q "$snap")
if [[ -n $before && $before == "$after" ]]; then
	ok "n3 killed and restarted: n1's and n2's $(wc -l <<<"$before") running jobs untouched"
else
	bad "n1's and n2's jobs changed: before: $(tr '\n' ' ' <<<"$before") after: $(tr '\n' ' ' <<<"$after")"
fi
mine=$(q "SELECT count(*) FROM jobs WHERE id IN ($(
	IFS=,
	echo "${ids[*]}"
)) AND owner = 'n3' AND attempts >= 2")
echo "n3 had $n3_jobs of them; $mine of its own re-run after its restart"

# --- 4. PostgreSQL away under the running nodes --------------------------------
live=$(q "SELECT id FROM jobs WHERE state = 2 AND owner = 'n1' ORDER BY id LIMIT 1")
bash ./pg_cluster.sh down "$pgdir" || bad "pg_cluster.sh down"
run "Submit with PostgreSQL down: UNAVAILABLE" 3 "" "UNAVAILABLE" -- \
	--addr "$(addr n2)" submit sleep ms=1
run "Get of job $live, running on n1, with PostgreSQL down" 0 "running" "" -- \
	--addr "$(addr n1)" status "$live"
sleep 1
bash ./pg_cluster.sh up "$pgdir" || bad "pg_cluster.sh up"
for n in n1 n2 n3; do
	back=""
	for _ in $(seq 300); do
		jc "$n" submit sleep ms=1 >/dev/null 2>&1 && back=1 && break
		sleep 0.1
	done
	[[ -n $back ]] && ok "$n takes Submits again once PostgreSQL is back, by itself" ||
		bad "$n refuses Submits 30 s after PostgreSQL came back"
done

for i in "${ids[@]}"; do jc n1 cancel "$i" >/dev/null 2>&1; done

for n in n1 n2 n3; do node_stop "$n"; done
if has_report "$dir"/*.log; then
	bad "a daemon's log has a sanitizer or valgrind report"
	cat "$dir"/*.log
fi
((fail == 0)) || for n in n1 n2 n3; do
	echo "--- $n.log"
	tail -50 "$dir/$n.log"
done
finish
