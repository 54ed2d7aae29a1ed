#!/usr/bin/env bash
# Runs the libFuzzer target fuzz_request for a bounded time and fails on any
# crash, sanitizer report, leak, hang or out-of-memory:
#
#     tests/fuzz.sh FUZZER SEED_DIR...
#
# It builds nothing (see docs/testing.md for the fuzz build). The seed
# directories are copied into a fresh working corpus, so the checked-in ones
# never change. Settings, from the environment:
#   FUZZ_SECONDS  how long to fuzz (default 60)
#   FUZZ_TIMEOUT  seconds one input may take before it counts as a hang (10)
#   FUZZ_RSS_MB   memory limit of the process, in MiB (2048)
#   FUZZ_MAX_LEN  the longest input libFuzzer makes, in bytes (16384)
#   FUZZ_KEEP=1   keep the working directory (it is kept anyway on failure)
# Prints the number of inputs executed; on failure, the end of libFuzzer's
# output and the path of the input that failed.
set -u
fuzzer=${1:?usage: fuzz.sh FUZZER SEED_DIR...}
shift
seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-10}
rss=${FUZZ_RSS_MB:-2048}
maxlen=${FUZZ_MAX_LEN:-16384}
for v in "$seconds" "$timeout" "$rss" "$maxlen"; do
	[[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || { echo "fuzz.sh: invalid setting '$v'" >&2; exit 2; }
done
[[ -x $fuzzer ]] || { echo "fuzz.sh: no fuzzer at '$fuzzer'" >&2; exit 2; }

# the database of the target is written at every accepted Submit: memory
# is faster than a disk shared with others
base=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && base=/dev/shm
work=$(mktemp -d "$base/jobd-fuzz-run-XXXXXX")
mkdir -p "$work/corpus" "$work/artifacts" "$work/db"
for d in "$@"; do
	[[ -d $d ]] && cp -- "$d"/* "$work/corpus/" 2>/dev/null
done
seeds=$(find "$work/corpus" -type f | wc -l)
echo "fuzz: $fuzzer for ${seeds} seeds, ${seconds} s, -timeout=${timeout}, -rss_limit_mb=${rss}, work dir $work"

# libFuzzer stops itself after -max_total_time; the outer timeout is only
# for a process that stops answering altogether
export JOBD_FUZZ_TMP="$work/db"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
timeout -k 10 $((seconds + timeout + 300)) "$fuzzer" \
	-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss" \
	-max_len="$maxlen" -detect_leaks=1 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
peak=$(sed -n 's/^stat::peak_rss_mb: *//p' "$work/log" | tail -1)
found=$(find "$work/artifacts" -type f | wc -l)
grown=$(find "$work/corpus" -type f | wc -l)
problem=""
[[ $rc -ne 0 ]] && problem="libFuzzer exited $rc"
[[ -z $problem && $found -gt 0 ]] && problem="$found failing inputs"
[[ -z $problem && -z $execs ]] && problem="no final stats"
if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$work/log"; then
	problem=${problem:-"a sanitizer report"}
fi

if [[ -n $problem ]]; then
	echo "fuzz: FAILED: $problem; the end of libFuzzer's output:"
	tail -n 60 "$work/log"
	find "$work/artifacts" -type f -printf 'fuzz: failing input: %p\n'
	echo "fuzz: work dir kept: $work"
	exit 1
fi
echo "fuzz: ok: ${execs} inputs executed in ${seconds} s (peak RSS ${peak:-?} MiB); corpus ${seeds} -> ${grown} inputs"
[[ ${FUZZ_KEEP:-} == 1 ]] && echo "fuzz: work dir kept: $work" || rm -rf "$work"
exit 0
