#!/bin/sh
# Installs the Debian packages jobd builds and tests with, when any is
# missing. Runs apt-get as root, through sudo when not root. Debian 12
# (bookworm).
#
# The C build: cmake ... libinih-dev, libjansson-dev (JSON: the HTTP
# gateway, jobctl --json, the JSON log format), tzdata (the time zones
# of cron schedules, which jobd reads; the tests of them) and libpq-dev
# (the PostgreSQL back end, --db postgresql://...). The tests
# besides: sqlite3 (one test looks into a database), postgresql (the
# server the tests start and stop themselves, tests/pg_cluster.sh; and
# psql), openssl (test
# certificates), curl (the HTTP tests), prometheus (its promtool checks
# /metrics), chromium (the status page's test drives it), and for the
# Python and Node.js clients' tests python3-protobuf, python3-pytest,
# python3-venv, protobuf-compiler (protoc generates both clients' code),
# nodejs and npm.
# Node.js counts as there when `node` and `npm` run, whatever package brought
# them (Debian's npm cannot be installed beside NodeSource's nodejs).
#
#   deploy/debian-deps.sh [--build-only]
#
# --build-only: the C build's packages alone (the container image's build).
set -eu
pkgs="cmake make gcc pkg-config libc6-dev libnng-dev libmbedtls-dev \
libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev help2man libinih-dev \
libjansson-dev tzdata libpq-dev"
tests=1
if [ "${1-}" = --build-only ]; then
	tests=""
else
	pkgs="$pkgs sqlite3 postgresql openssl curl prometheus chromium python3 \
python3-protobuf python3-pytest python3-venv protobuf-compiler"
fi
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$tests" ] && { ! command -v node >/dev/null 2>&1 ||
	! command -v npm >/dev/null 2>&1; }; then
	missing="$missing nodejs npm"
fi
[ -z "$missing" ] && exit 0
echo "debian-deps: installing$missing" >&2
as_root=""
[ "$(id -u)" = 0 ] || as_root=sudo
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
# shellcheck disable=SC2086
$as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The tests need only promtool, which Debian ships in the prometheus
# package with a Prometheus server that the package enables and starts:
# stop it and keep it off (the tests start nothing on port 9090).
case " $missing " in
*" prometheus "*)
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		$as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
	;;
esac
# Debian's postgresql makes a cluster 15/main and starts it: the tests
# start their own servers (tests/pg_cluster.sh), so stop it and keep it
# off. Only when this script installed the package: a server the machine
# already ran is left alone.
case " $missing " in
*" postgresql "*)
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		$as_root systemctl disable --now postgresql >/dev/null 2>&1 || true
	fi
	if command -v pg_lsclusters >/dev/null 2>&1; then
		pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
			$as_root pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
			$as_root sed -i 's/^auto/manual/' "/etc/postgresql/$ver/$name/start.conf" 2>/dev/null || true
		done
	fi
	;;
esac
