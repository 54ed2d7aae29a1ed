#!/bin/sh
# Installs the Debian packages jobd builds with, when any is missing.
# Runs apt-get as root, through sudo when not root. Debian 12 (bookworm).
set -eu
pkgs="cmake make gcc pkg-config libc6-dev libnng-dev libmbedtls-dev \
libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev sqlite3 help2man \
libinih-dev libjansson-dev"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "debian-deps: installing$missing" >&2
as_root=""
[ "$(id -u)" = 0 ] || as_root=sudo
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
# shellcheck disable=SC2086
$as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
