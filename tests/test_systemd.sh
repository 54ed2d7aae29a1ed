#!/bin/bash
# The installed systemd unit, run by a real systemd (PID 1 of a container):
#   - `systemctl start jobd` serves jobs, with settings from /etc/default/jobd;
#   - `systemctl stop jobd` is jobd's graceful stop: exit 0, a running job
#     is re-queued, not lost;
#   - SIGKILL makes systemd restart it (Restart=on-failure), and the job
#     runs again;
#   - a kind file dropped in the unit's kinds directory is taken by
#     `systemctl reload jobd` (ExecReload=, SIGHUP), and its jobs run.
#
# Skipped (exit 77) when there is no Docker engine (a failure under
# JOBD_REQUIRE_DOCKER=1), when the build is sanitized (its binaries need the
# compiler's runtime), or when systemd cannot boot in a container here.
#
# Environment, set by CMake: BUILD_DIR, PREFIX, BINDIR, JOBD_SANITIZE.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
skip() {
	echo "test_systemd: skipped: $*"
	exit 77
}
fails=0
fail() {
	echo "test_systemd: FAIL: $*" >&2
	fails=$((fails + 1))
}

[[ -z ${JOBD_SANITIZE:-} ]] || skip "a sanitized build ($JOBD_SANITIZE)"
"$here/docker-env.sh" >/dev/null || exit

tmp=$(mktemp -d /tmp/jobd-systemd-XXXXXX)
ctr=jobd-systemd-test-$$
cleanup() {
	docker rm -f "$ctr" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

# An image with systemd and jobd's runtime libraries.
img=jobd-systemd-test:latest
docker build -q --network host -t "$img" - >"$tmp/build.log" 2>&1 <<'EOF' ||
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        systemd systemd-sysv libnng1 libprotobuf-c1 libsqlite3-0 libinih1 libjansson4 libpq5 \
 && rm -rf /var/lib/apt/lists/*
EOF
	{ cat "$tmp/build.log"; echo "test_systemd: FAIL: image build"; exit 1; }

# systemd as PID 1: privileged where the engine allows it, as on an
# ordinary machine; without, where it does not (this sandbox).
run=(docker run -d --name "$ctr" --tmpfs /run --tmpfs /run/lock
	-v /sys/fs/cgroup:/sys/fs/cgroup:rw)
"${run[@]}" --privileged --cgroupns=host "$img" /lib/systemd/systemd >/dev/null 2>&1 ||
	{ docker rm -f "$ctr" >/dev/null 2>&1; "${run[@]}" "$img" /lib/systemd/systemd >/dev/null; } ||
	skip "no container with systemd as PID 1 can be started here"
inside() { docker exec "$ctr" "$@"; }
for ((i = 0; i < 30; i++)); do
	s=$(inside systemctl is-system-running 2>/dev/null)
	[[ $s == running || $s == degraded ]] && break
	sleep 1
done
[[ $s == running || $s == degraded ]] || skip "systemd did not boot in the container ($s)"

# The project, installed as `cmake --install` does, and a setting.
DESTDIR=$tmp/root cmake --install "$BUILD_DIR" >/dev/null ||
	{ echo "test_systemd: FAIL: cmake --install"; exit 1; }
tar -C "$tmp/root" -c . | docker exec -i "$ctr" tar -C / -x
[[ $BINDIR == /* ]] || BINDIR=$PREFIX/$BINDIR
jobctl() { inside "$BINDIR/jobctl" "$@"; }
inside sh -c 'echo JOBD_GRACE=1s >/etc/default/jobd'
inside systemctl daemon-reload

# prop NAME: one property of the unit
prop() { inside systemctl show jobd -P "$1"; }
# up: waits until jobd answers
up() {
	for ((i = 0; i < 50; i++)); do
		jobctl --timeout 0.5 ping >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

if ! inside systemctl start jobd; then
	status=$(prop ExecMainStatus)
	if [[ $status != 226 ]]; then
		inside journalctl -u jobd --no-pager | tail -20
		echo "test_systemd: FAIL: systemctl start jobd (status $status)"
		exit 1
	fi
	# 226/NAMESPACE: the kernel here refuses the mount namespaces that
	# ProtectSystem= and the rest (and DynamicUser=) are made of. The
	# rest of the unit is still tested, with a drop-in that turns those
	# off; the hardening itself cannot be tested on such a machine.
	echo "test_systemd: this machine cannot give a service its own mount" \
		"namespace (226/NAMESPACE); going on without the unit's" \
		"namespace options"
	inside useradd --system --no-create-home jobd
	inside mkdir -p /etc/systemd/system/jobd.service.d
	inside sh -c 'printf "%s\n" "[Service]" DynamicUser=no User=jobd \
		ProtectSystem=no ProtectHome=no PrivateTmp=no PrivateDevices=no \
		ProtectClock=no ProtectHostname=no ProtectKernelTunables=no \
		ProtectKernelModules=no ProtectKernelLogs=no \
		ProtectControlGroups=no ProtectProc=default RestrictNamespaces=no \
		>/etc/systemd/system/jobd.service.d/no-namespaces.conf'
	inside systemctl daemon-reload
	inside systemctl reset-failed jobd
	inside systemctl start jobd || fail "systemctl start jobd, without namespaces"
fi
up || fail "jobd started by systemd does not answer ping"
got=$(jobctl submit primes limit=100000 --wait | tail -1)
[[ $got == 9592 ]] || fail "primes under systemd: '$got'"

# a program kind, added while jobd runs: systemctl reload
kinds=$(prop Environment | tr ' ' '\n' | sed -n 's/^JOBD_KINDS_DIR=//p')
[[ -n $kinds ]] || fail "the unit sets no JOBD_KINDS_DIR"
inside sh -c "printf '%s\n' '[kind]' 'description = says its word' \
	'program = /bin/echo' 'args = -n {word}' '[param word]' 'type = string' \
	'required = yes' >'$kinds/say.kind'"
inside systemctl reload jobd || fail "systemctl reload jobd"
for ((i = 0; i < 50; i++)); do
	jobctl kinds | grep -q '^say:' && break
	sleep 0.1
done
got=$(jobctl submit say word=hello --wait)
[[ $got == hello ]] || fail "a program kind after systemctl reload: '$got'"

# graceful stop: a running job is re-queued
long=$(jobctl submit count n=100000000000)
for ((i = 0; i < 50; i++)); do
	jobctl status "$long" | grep -q running && break
	sleep 0.1
done
inside systemctl stop jobd
[[ $(prop Result) == success && $(prop ExecMainStatus) == 0 ]] ||
	fail "systemctl stop: Result=$(prop Result), exit $(prop ExecMainStatus)"
inside journalctl -u jobd --no-pager | grep -q "grace period over" ||
	fail "the stop did not use jobd's grace (JOBD_GRACE from /etc/default/jobd)"

inside systemctl start jobd
up || fail "jobd does not answer after a restart"
[[ $(jobctl status "$long" | awk '{print $2}') =~ ^(queued|running)$ ]] ||
	fail "job $long after a graceful stop: $(jobctl status "$long")"

# SIGKILL: systemd restarts jobd, which runs the job again
pid=$(prop MainPID)
inside systemctl kill -s KILL jobd
for ((i = 0; i < 100; i++)); do
	p=$(prop MainPID)
	[[ $p != 0 && $p != "$pid" ]] && break
	sleep 0.1
done
[[ $(prop NRestarts) -ge 1 ]] || fail "no restart after SIGKILL (NRestarts=$(prop NRestarts))"
up || fail "jobd does not answer after systemd restarted it"
[[ $(jobctl status "$long" | awk '{print $2}') =~ ^(queued|running)$ ]] ||
	fail "job $long after SIGKILL: $(jobctl status "$long")"
jobctl cancel "$long" >/dev/null

if ((fails > 0)); then
	inside journalctl -u jobd --no-pager | tail -30 >&2
	exit 1
fi
echo "test_systemd: OK (started, served, reloaded a kind, stopped gracefully," \
	"restarted after SIGKILL)"
