#!/bin/bash
# Makes a Docker engine, a compose command and a usable debian:bookworm-slim
# available for the container tests, and prints the compose command.
#
#   tests/docker-env.sh     exit 0: ready, and prints `docker compose` or
#                           `docker-compose` on stdout
#                           exit 77: no engine can be had here (the reason
#                           is on stderr); exit 1 instead when
#                           JOBD_REQUIRE_DOCKER=1 (CI), where the container
#                           tests must run
#
# An ordinary machine with a registry needs nothing of this: a running
# engine and a compose command are used as they are. A machine without a
# registry (this project's sandbox and CI) has the workplace's
# docker-local.sh, which installs and starts an engine and builds the base
# image with debootstrap; it is run when there is no engine and it can be
# found. Its image has two differences from Docker Hub's, mended here
# without touching deploy/: its root directory is mode 0700 (so nothing runs
# as a non-root user) and it sets no PATH.
set -uo pipefail
say() { echo "docker-env: $*" >&2; }
skip() {
	say "$*"
	[[ ${JOBD_REQUIRE_DOCKER:-0} == 1 ]] && say "JOBD_REQUIRE_DOCKER=1: failing" && exit 1
	exit 77
}

here=$(cd "$(dirname "$0")" && pwd)
if ! docker info >/dev/null 2>&1; then
	local_sh=""
	for f in "${DOCKER_LOCAL:-}" "$(cd "$here/../.." && pwd)/shared/tools/docker-local.sh" \
		/work/shared/tools/docker-local.sh; do
		[[ -n $f && -x $f ]] && local_sh=$f && break
	done
	[[ -n $local_sh ]] || skip "no Docker engine (docker info fails) and no docker-local.sh to start one"
	[[ $(id -u) == 0 ]] || skip "no Docker engine, and $local_sh needs root"
	"$local_sh" >&2 || skip "$local_sh failed"
	docker info >/dev/null 2>&1 || skip "no Docker engine after $local_sh"
fi

if docker compose version >/dev/null 2>&1; then
	compose="docker compose"
elif command -v docker-compose >/dev/null; then
	compose="docker-compose"
else
	skip "no compose command (neither 'docker compose' nor 'docker-compose')"
fi

img=debian:bookworm-slim
docker image inspect "$img" >/dev/null 2>&1 || docker pull -q "$img" >&2 ||
	skip "no image $img and none can be pulled"
if ! docker run --rm --user 65534 "$img" /bin/true >/dev/null 2>&1; then
	say "mending $img: its root directory is not searchable by other users"
	c=$(docker create --user root "$img" /bin/true) || exit 1
	docker export "$c" | docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["bash"]' - "$img" >/dev/null
	rc=$?
	docker rm "$c" >/dev/null
	((rc == 0)) || exit 1
	docker run --rm --user 65534 "$img" /bin/true ||
		{ say "$img still unusable"; exit 1; }
fi
echo "$compose"
