#!/usr/bin/env bash
# test_cluster_stress: three jobd nodes on one PostgreSQL database under
# random kills, JOBD_STRESS_ROUNDS rounds (default 5; at least 50 for the
# full run: JOBD_STRESS_ROUNDS=50 ctest -R test_cluster_stress). In each
# round tests/cluster_load.c submits 300 keyed jobs across the three
# nodes, batches of 20, while one victim, drawn at random, is hit:
#
#   - a node: SIGKILL, restarted (same --node) 0-1 s later;
#   - PostgreSQL: an immediate stop (pg_ctl -m immediate: no checkpoint,
#     crash recovery at the next start), started again 0.2-2 s later;
#   - a PostgreSQL backend serving jobd: SIGKILL, after which the
#     postmaster resets every connection and recovers, as after a crash.
#
# A batch that fails is sent again with the same keys to the next node,
# until acknowledged. At the end, from the database (psql): every
# acknowledged key is there exactly once with the id it was acknowledged
# with, no key twice; and every acknowledged job ends and succeeds (Get
# through the nodes). Needs the server's directory (PG_CLUSTER_DIR, set by
# tests/pg_cluster.sh run): it stops and starts that server, so it runs
# alone (RUN_SERIAL).
set -uo pipefail
cd "$(dirname "$0")"
dir=$(mktemp -d /tmp/jobd-cstress.XXXXXX)
source ./lib.sh
source ./cluster_lib.sh
pgdir=${PG_CLUSTER_DIR:?PG_CLUSTER_DIR is not set (tests/pg_cluster.sh run sets it)}
pg_cluster=$PWD/pg_cluster.sh
trap 'bash "$pg_cluster" up "$pgdir" >/dev/null 2>&1; cluster_fini' EXIT
load=${CLUSTER_LOAD_BIN:?CLUSTER_LOAD_BIN is not set (ctest sets it)}
rounds=${JOBD_STRESS_ROUNDS:-5}
JOBD_TEST_LEASE=2s
make_db "${dir##*/}"

nodes=(n1 n2 n3)
for n in "${nodes[@]}"; do node_start "$n" --workers 2; done
addrs=("$(addr n1)" "$(addr n2)" "$(addr n3)")

# sleeps a random time of 0..$1 ms
nap() {
	sleep "$(printf '0.%03d' $((RANDOM % ($1 + 1))))"
}

kills=(0 0 0)
done_rounds=0
for r in $(seq "$rounds"); do
	done_rounds=$r
	"$load" submit -n 300 -b 20 -p 50 -k "r$r" -t 120 "$dir/acks" "${addrs[@]}" \
		>"$dir/submit.out" 2>&1 &
	loader=$!
	nap 500
	case $((RANDOM % 4)) in
	0 | 1)
		v=${nodes[RANDOM % 3]}
		node_kill "$v" KILL
		nap 999
		node_start "$v" --workers 2
		what="node $v SIGKILLed"
		kills[0]=$((kills[0] + 1))
		;;
	2)
		bash "$pg_cluster" down "$pgdir" || bad "round $r: pg_cluster down"
		sleep "$((RANDOM % 2)).$((2 + RANDOM % 8))"
		bash "$pg_cluster" up "$pgdir" || bad "round $r: pg_cluster up"
		what="PostgreSQL stopped at once and started"
		kills[1]=$((kills[1] + 1))
		;;
	3)
		pid=$(q "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY random() LIMIT 1" 2>/dev/null)
		[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null
		what="a PostgreSQL backend ($pid) SIGKILLed"
		kills[2]=$((kills[2] + 1))
		;;
	esac
	if wait "$loader"; then
		ok "round $r: $what; $(cat "$dir/submit.out")"
	else
		bad "round $r: $what; the submits: $(cat "$dir/submit.out")"
	fi
	# every node still answers (a node must recover by itself)
	for n in "${nodes[@]}"; do
		kill -0 "${node_pid[$n]}" 2>/dev/null || {
			bad "round $r: node $n died: $(tail -5 "$dir/$n.log")"
			node_start "$n" --workers 2
		}
	done
	((fail == 0)) || break
done
echo "stress: $done_rounds rounds: ${kills[0]} nodes killed, ${kills[1]} PostgreSQL stops, ${kills[2]} backends killed"

# from the database: every acknowledged key once, with its id
for _ in $(seq 100); do q "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done
res=$("$JOBD_TEST_PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$db" <<EOF
CREATE TEMP TABLE acks (key text, id bigint);
\\copy acks FROM '$dir/acks' WITH (DELIMITER ' ')
SELECT (SELECT count(*) FROM acks) || ' acked, '
    || (SELECT count(DISTINCT key) FROM acks) || ' keys, '
    || (SELECT count(*) FROM acks a WHERE NOT EXISTS
          (SELECT 1 FROM jobs j WHERE j.idem_key = a.key AND j.id = a.id)) || ' missing, '
    || (SELECT count(*) FROM (SELECT idem_key FROM jobs WHERE idem_key IS NOT NULL
          GROUP BY idem_key HAVING count(*) > 1) d) || ' twice, '
    || (SELECT count(*) FROM jobs) || ' rows';
EOF
)
echo "stress: $res"
want="$((done_rounds * 300)) acked, $((done_rounds * 300)) keys, 0 missing, 0 twice"
[[ $res == "$want"* ]] && ok "every acknowledged key in the database exactly once ($res)" ||
	bad "database: $res (wanted $want)"
if "$load" check -w 180 "$dir/acks" "${addrs[@]}" >"$dir/check.out" 2>&1; then
	ok "every acknowledged job ended and succeeded: $(cat "$dir/check.out")"
else
	bad "check: $(cat "$dir/check.out")"
fi
grep -h "^check: " "$dir/check.out"
for n in "${nodes[@]}"; do node_stop "$n"; done
if has_report "$dir"/*.log; then
	bad "a daemon's log has a sanitizer or valgrind report"
	cat "$dir"/*.log
fi
((fail == 0)) || for n in "${nodes[@]}"; do
	echo "--- $n.log"
	tail -40 "$dir/$n.log"
done
finish
