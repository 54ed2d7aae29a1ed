#!/usr/bin/env bash
# jobd --log-format json: every line jobd writes is one JSON object with
# time, level and message; a line about a job has its id and kind as
# fields of their own, and a message with quotes, a newline or bytes that
# are not UTF-8 still makes valid JSON. The text format says the same
# things in its own shape. Needs JOBD_BIN and JOBCTL_BIN; python3 reads
# the JSON.
set -u
: "${JOBD_BIN:?}" "${JOBCTL_BIN:?}"
dir=$(mktemp -d /tmp/jobd-logformat-XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
py=/usr/bin/python3
[[ -x $py ]] || py=python3

# A kind whose runs fail with a message that JSON must escape.
mkdir "$dir/kinds"
printf '#!/bin/sh\nprintf "bad \\"quote\\"\\n\\377 end" >&2\nexit 1\n' >"$dir/fails.sh"
chmod +x "$dir/fails.sh"
printf '[kind]\ndescription = fails\nprogram = %s\n' "$dir/fails.sh" \
	>"$dir/kinds/fails.kind"

for format in json text; do
	start "$format" --log-format "$format" --kinds-dir "$dir/kinds" --workers 1
	addr="ipc://$dir/$format.sock"
	id=$("$JOBCTL_BIN" --addr "$addr" submit fails)
	"$JOBCTL_BIN" --addr "$addr" wait "$id" >/dev/null 2>&1
	stop_daemons
	log="$dir/$format.log"
	if [[ $format == json ]]; then
		if "$py" - "$log" "$id" >"$dir/check" 2>&1 <<'PY'; then
import json, re, sys
path, job = sys.argv[1], int(sys.argv[2])
# valgrind's own lines (--PID-- warnings; a report would fail the test
# through stop_daemons) are not jobd's
lines = [l for l in open(path, 'rb').read().decode('utf-8').splitlines()
         if not re.match(r"^(--|==)[0-9]+(--|==)", l)]
assert len(lines) >= 4, lines
seen = None
for line in lines:
    o = json.loads(line)
    assert set(o) >= {"time", "level", "message"}, o
    assert o["level"] in ("error", "warn", "info", "debug"), o
    assert o["time"].endswith("Z") and "T" in o["time"], o
    if o.get("job") == job:
        seen = o
assert seen is not None, "no line about job %d" % job
assert seen["kind"] == "fails", seen
assert seen["message"].startswith("failed after 1 attempt: "), seen
assert 'bad "quote"' in seen["message"], seen
assert set(o) <= {"time", "level", "message", "job", "kind"}, o
PY
			ok "json: every line an object; the failure names job $id and its kind"
		else
			bad "json: $(cat "$dir/check") in $(head -c 600 "$log")"
		fi
	else
		grep -Eq "^[0-9T:.-]+Z INFO job $id \(fails\) failed after 1 attempt: " "$log" &&
			ok "text: the failure line" ||
			bad "text: no failure line in $(head -c 600 "$log")"
	fi
done

"$JOBD_BIN" --log-format xml >"$dir/out" 2>&1
[[ $? -eq 2 ]] && grep -q "invalid --log-format 'xml': text or json" "$dir/out" &&
	ok "a bad --log-format: exit 2, named" || bad "bad --log-format: $(cat "$dir/out")"
JOBD_LOG_FORMAT=yaml "$JOBD_BIN" >"$dir/out" 2>&1
[[ $? -eq 2 ]] && grep -q "invalid JOBD_LOG_FORMAT 'yaml'" "$dir/out" &&
	ok "a bad JOBD_LOG_FORMAT: exit 2, named" || bad "bad JOBD_LOG_FORMAT: $(cat "$dir/out")"
"$JOBD_BIN" --help | grep -q -- "--log-format FORMAT" && ok "--help: --log-format" ||
	bad "--help does not list --log-format"

finish
