#!/bin/bash
# Runs tandem's libFuzzer targets (tests/fuzz, docs/fuzzing.md) for a bounded time each.
#
#   integration/fuzz/run.sh SECONDS [TARGET...]
#
# Builds the targets with clang (ASan, UBSan, libFuzzer) into their own build dir, then runs
# each TARGET (default: every tests/fuzz/fuzz_*.c) for SECONDS over a temporary copy of its
# seed corpus tests/fuzz/corpus/TARGET/ (every seed runs first, so a reproducer added there
# runs every time; new inputs go to the copy, never into the repository). Leak detection is
# on, memory is bounded (-rss_limit_mb), and so is the time of one input (-timeout).
# Exits non-zero if any target crashed, leaked, hit a sanitizer report, a timeout or the
# memory bound, printing the reproducer's path; 0 when all ran clean.
# Env: FUZZ_BUILD_DIR (default SRC/build-fuzz), FUZZ_OUT (where reproducers and logs go;
#      default FUZZ_BUILD_DIR/fuzz-out), JOBS (build, default 2), CC (default clang-14),
#      FUZZ_RSS_MB (default 2048), FUZZ_TIMEOUT (seconds for one input, default 30),
#      FUZZ_KEEP_CORPUS=DIR (keep each run's grown corpus in DIR/TARGET, e.g. to minimise it
#      into a seed: docs/fuzzing.md).
set -uo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-}
case "$secs" in
'' | *[!0-9]*)
	echo "usage: $0 SECONDS [TARGET...]" >&2
	exit 2
	;;
esac
shift
BUILD=${FUZZ_BUILD_DIR:-$SRC/build-fuzz}
OUT=${FUZZ_OUT:-$BUILD/fuzz-out}
RSS_MB=${FUZZ_RSS_MB:-2048}
TIMEOUT=${FUZZ_TIMEOUT:-30}
CC=${CC:-clang-14}
if ! command -v "$CC" >/dev/null; then
	echo "fuzz: $CC not found (deploy/install-deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
	exit 1
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
	for f in "$SRC"/tests/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz_}")
	done
fi
for t in "${targets[@]}"; do
	if [ ! -f "$SRC/tests/fuzz/fuzz_$t.c" ]; then
		echo "fuzz: no target $t (tests/fuzz/fuzz_$t.c)" >&2
		exit 2
	fi
done

echo "fuzz: building the targets in $BUILD" >&2
mkdir -p "$BUILD"
if ! CC=$CC cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_FUZZ=ON \
	-DTANDEM_TESTS=OFF -DTANDEM_WERROR=ON >"$BUILD/fuzz-configure.log" 2>&1; then
	cat "$BUILD/fuzz-configure.log" >&2
	echo "fuzz: configure failed" >&2
	exit 1
fi
if ! cmake --build "$BUILD" -j "${JOBS:-2}" --target fuzz_all >"$BUILD/fuzz-build.log" 2>&1; then
	tail -50 "$BUILD/fuzz-build.log" >&2
	echo "fuzz: build failed (log: $BUILD/fuzz-build.log)" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tandem-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$OUT"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
	corpus=$tmp/$t
	mkdir -p "$corpus" "$OUT/$t"
	if [ -d "$SRC/tests/fuzz/corpus/$t" ]; then
		cp -r "$SRC/tests/fuzz/corpus/$t/." "$corpus/"
	fi
	seeds=$(find "$corpus" -type f | wc -l)
	log=$OUT/$t.log
	rm -f "$OUT/$t"/crash-* "$OUT/$t"/leak-* "$OUT/$t"/timeout-* "$OUT/$t"/oom-*
	printf 'fuzz: %s: %s s from %s seeds\n' "$t" "$secs" "$seeds" >&2
	# -max_total_time bounds the run; timeout(1) is the backstop should a target hang
	# outside libFuzzer's own watch (twice the time, and a minute for the seeds)
	timeout -k 10 $((2 * secs + 60)) "$BUILD/tests/fuzz/fuzz_$t" \
		-max_total_time="$secs" -rss_limit_mb="$RSS_MB" -timeout="$TIMEOUT" \
		-detect_leaks=1 -print_final_stats=1 -artifact_prefix="$OUT/$t/" \
		"$corpus" >"$log" 2>&1
	rc=$?
	repro=$(find "$OUT/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
		-o -name 'timeout-*' -o -name 'oom-*' \) | head -1)
	if [ "$rc" -ne 0 ] || [ -n "$repro" ] ||
		grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
		failed+=("$t")
		echo "fuzz: $t: FAILED (exit $rc); log: $log" >&2
		grep -E -m 5 'ERROR:|runtime error:|SUMMARY:' "$log" >&2
		if [ -n "$repro" ]; then
			echo "fuzz: $t: reproducer: $repro" >&2
			echo "fuzz: $t: rerun it: $BUILD/tests/fuzz/fuzz_$t $repro" >&2
		fi
	else
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
		printf 'fuzz: %s: ok (%s runs, %s)\n' "$t" "${runs:-?}" "${cov:-cov: ?}" >&2
	fi
	if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
		mkdir -p "$FUZZ_KEEP_CORPUS/$t"
		cp -r "$corpus/." "$FUZZ_KEEP_CORPUS/$t/"
	fi
done
if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran clean for ${secs} s each" >&2
