#!/bin/bash
# `cmake --install` into a staging directory (DESTDIR), then use what it put
# there the way a user would:
#   - every file is where GNUInstallDirs says, and the programs run;
#   - a program outside the project builds against the client library
#     through find_package(jobd) and through pkg-config (jobd-client), and
#     both builds talk to the installed jobd;
#   - the example plugin (examples/plugin) builds outside the project
#     against the kind API, through find_package(jobd) (jobd::kind) and
#     through pkg-config (jobd-kind), and carries the ABI stamp; when the
#     installed jobd has --plugin, it runs a fib job;
#   - the systemd unit passes `systemd-analyze verify` against the staged
#     tree (when systemd-analyze is there), and its exposure score is shown;
#   - the manual pages are there and come from --help (when help2man was).
#
# Environment, set by CMake: BUILD_DIR, PREFIX, BINDIR, LIBDIR, INCLUDEDIR,
# DATADIR, MANDIR, UNITDIR (the last six as given to install()), HAVE_MAN,
# JOBD_SANITIZE (a sanitized library needs the same flags in its users).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fails=0
fail() {
	echo "test_install: FAIL: $*" >&2
	fails=$((fails + 1))
}
# abs DIR: DIR under the prefix unless it is absolute
abs() { [[ $1 == /* ]] && echo "$1" || echo "$PREFIX/$1"; }

tmp=$(mktemp -d /tmp/jobd-install-XXXXXX)
pid=""
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
dest=$tmp/root
root=$dest$PREFIX

DESTDIR=$dest cmake --install "$BUILD_DIR" >"$tmp/install.log" ||
	{ cat "$tmp/install.log"; echo "test_install: FAIL: cmake --install"; exit 1; }

bindir=$dest$(abs "$BINDIR")
libdir=$dest$(abs "$LIBDIR")
want=("$bindir/jobd" "$bindir/jobctl"
	"$libdir/libjobd_client.a" "$libdir/libjobd_proto.a"
	"$dest$(abs "$INCLUDEDIR")/jobd/jobd_client.h"
	"$dest$(abs "$INCLUDEDIR")/jobd/jobd.pb-c.h"
	"$dest$(abs "$INCLUDEDIR")/jobd/jobd_status.h"
	"$dest$(abs "$INCLUDEDIR")/jobd/kind.h"
	"$libdir/pkgconfig/jobd-kind.pc"
	"$dest$(abs "$DATADIR")/jobd/proto/jobd/v1/jobd.proto"
	"$libdir/pkgconfig/jobd-client.pc"
	"$libdir/cmake/jobd/jobdConfig.cmake"
	"$libdir/cmake/jobd/jobdConfigVersion.cmake"
	"$dest$(abs "$UNITDIR")/jobd.service")
if [[ $HAVE_MAN == 1 ]]; then
	want+=("$dest$(abs "$MANDIR")/man1/jobd.1" "$dest$(abs "$MANDIR")/man1/jobctl.1")
fi
for f in "${want[@]}"; do
	[[ -f $f ]] || fail "not installed: ${f#"$dest"}"
done
"$bindir/jobd" --version | grep -q '^jobd ' || fail "installed jobd --version"
"$bindir/jobctl" --version | grep -q '^jobctl ' || fail "installed jobctl --version"

# the installed daemon, for the two client builds
addr=ipc://$tmp/jobd.sock
"$bindir/jobd" --listen "$addr" --db "$tmp/jobd.db" --log-level warn &
pid=$!
for ((i = 0; i < 50; i++)); do
	"$bindir/jobctl" --addr "$addr" --timeout 0.2 ping >/dev/null 2>&1 && break
	sleep 0.1
done

# find_package(jobd), as a CMake user would, from the staged prefix
mkdir -p "$tmp/cm"
cp "$here/install_consumer.c" "$tmp/cm/"
cat >"$tmp/cm/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(jobd 0.1 REQUIRED)
add_executable(consumer install_consumer.c)
target_link_libraries(consumer PRIVATE jobd::client)
EOF
san=${JOBD_SANITIZE:+-fsanitize=$JOBD_SANITIZE}
if cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$root" \
	-DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" \
	>"$tmp/cm.log" 2>&1 && cmake --build "$tmp/cm/build" >>"$tmp/cm.log" 2>&1; then
	got=$("$tmp/cm/build/consumer" "$addr")
	[[ $got == 168 ]] || fail "find_package build: got '$got', want 168"
else
	cat "$tmp/cm.log" >&2
	fail "a program using find_package(jobd) did not build"
fi

# pkg-config jobd-client, with the staging directory as sysroot
export PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
if flags=$(pkg-config --cflags --libs jobd-client) &&
	cc $san -o "$tmp/pc" "$here/install_consumer.c" $flags 2>"$tmp/pc.log"; then
	got=$("$tmp/pc" "$addr")
	[[ $got == 168 ]] || fail "pkg-config build: got '$got', want 168"
else
	cat "$tmp/pc.log" >&2
	fail "a program using pkg-config jobd-client did not build ($flags)"
fi

# the example plugin, as a plugin author would build it: find_package(jobd)
# and jobd::kind, then pkg-config jobd-kind; both objects export the stamp
# and the init function
stamped() {
	local syms
	syms=$(nm -D --defined-only "$1" 2>/dev/null) || return 1
	grep -q ' jobd_plugin_stamp$' <<<"$syms" && grep -q ' jobd_plugin_init$' <<<"$syms"
}
plugin=""
if cmake -S "$here/../examples/plugin" -B "$tmp/plugin" -DCMAKE_PREFIX_PATH="$root" \
	>"$tmp/plugin.log" 2>&1 && cmake --build "$tmp/plugin" >>"$tmp/plugin.log" 2>&1; then
	plugin=$tmp/plugin/fib.so
	stamped "$plugin" || fail "the find_package plugin has no jobd_plugin_stamp/init"
else
	cat "$tmp/plugin.log" >&2
	fail "the example plugin did not build with find_package(jobd)"
fi
if flags=$(pkg-config --cflags jobd-kind) &&
	cc -shared -fPIC -fvisibility=hidden $flags -o "$tmp/fib-pc.so" \
		"$here/../examples/plugin/fib.c" 2>"$tmp/plugin-pc.log"; then
	stamped "$tmp/fib-pc.so" || fail "the pkg-config plugin has no jobd_plugin_stamp/init"
else
	cat "$tmp/plugin-pc.log" >&2
	fail "the example plugin did not build with pkg-config jobd-kind ($flags)"
fi
# loaded by the installed jobd, once it has --plugin
if [[ -n $plugin ]] && "$bindir/jobd" --help 2>&1 | grep -q -- '--plugin'; then
	paddr=ipc://$tmp/jobd-plugin.sock
	"$bindir/jobd" --listen "$paddr" --db "$tmp/jobd-plugin.db" --log-level warn \
		--plugin "$plugin" 2>"$tmp/jobd-plugin.log" &
	ppid=$!
	for ((i = 0; i < 50; i++)); do
		"$bindir/jobctl" --addr "$paddr" --timeout 0.2 ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	got=$("$bindir/jobctl" --addr "$paddr" submit fib n=90 --wait 2>&1)
	grep -q '2880067194370816120' <<<"$got" ||
		fail "fib n=90 in the installed jobd with --plugin: got '$got' ($(cat "$tmp/jobd-plugin.log"))"
	kill "$ppid" 2>/dev/null
	wait "$ppid" 2>/dev/null
else
	echo "test_install: the installed jobd has no --plugin: the plugin is not run"
fi

# the unit, checked against the staged tree (so ExecStart must exist there)
unit=$dest$(abs "$UNITDIR")/jobd.service
grep -q "^ExecStart=$(abs "$BINDIR")/jobd$" "$unit" ||
	fail "the unit's ExecStart is not the installed jobd"
if command -v systemd-analyze >/dev/null; then
	# verify looks for ExecReload='s /bin/sh in the staged tree: the
	# system's, as it will be there
	mkdir -p "$dest/bin" && cp /bin/sh "$dest/bin/sh"
	systemd-analyze verify --man=no --recursive-errors=no --root="$dest" "$unit" ||
		fail "systemd-analyze verify jobd.service"
	systemd-analyze security --offline=true --root="$dest" "$unit" 2>/dev/null |
		grep "Overall exposure" | sed 's/^/test_install: /'
else
	echo "test_install: no systemd-analyze here: the unit's syntax is not checked"
fi

if [[ $HAVE_MAN == 1 ]]; then
	grep -q 'listen' "$dest$(abs "$MANDIR")/man1/jobd.1" ||
		fail "jobd.1 does not describe --listen"
	grep -q 'submit' "$dest$(abs "$MANDIR")/man1/jobctl.1" ||
		fail "jobctl.1 does not describe submit"
else
	echo "test_install: help2man was not found: no manual pages to check"
fi

if ((fails > 0)); then
	echo "test_install: $fails check(s) failed; installed:" >&2
	sed 's/^/  /' "$tmp/install.log" >&2
	exit 1
fi
echo "test_install: OK ($(grep -c Installing "$tmp/install.log") files installed)"
