#!/bin/sh
# The status page's browser test under ctest (tests/web/CMakeLists.txt).
#
#   ctest.sh setup    npm ci here (playwright-core, nothing else)
#   ctest.sh test     node --test page.test.js (JOBD_BIN, WEB_SCREENSHOT_DIR
#                     from ctest)
#
# node, npm or chromium missing is a failure, not a skip: CI installs them.
set -eu
cd "$(dirname "$0")"

need() {
	command -v "$1" >/dev/null 2>&1 || {
		echo "ctest.sh: '$1' not found: $2" >&2
		exit 1
	}
}

case ${1:-} in
setup)
	need node "install nodejs and npm (Debian: apt-get install nodejs npm)"
	need npm "install nodejs and npm (Debian: apt-get install nodejs npm)"
	npm ci --no-audit --no-fund
	;;
test)
	need node "install nodejs (Debian: apt-get install nodejs)"
	chromium=${JOBD_CHROMIUM:-/usr/bin/chromium}
	[ -x "$chromium" ] || {
		echo "ctest.sh: no chromium at $chromium (Debian: apt-get install chromium; or set JOBD_CHROMIUM)" >&2
		exit 1
	}
	exec node --test page.test.js
	;;
*)
	echo "usage: ctest.sh setup | test" >&2
	exit 2
	;;
esac
