#!/bin/bash
# The whole test suite: dependencies, formatting, a -Werror build with unit and integration
# tests, a -Werror Release build (-O3: the packagers' build; configure and build only),
# and an ASan/UBSan build with the unit tests and two whole-cluster runs (failover,
# offline KSK) whose every process log must be free of sanitizer reports, and the libFuzzer
# targets for 10 s each (integration/fuzz/run.sh, clang; docs/fuzzing.md). Exits non-zero if
# anything failed.
# Env: JOBS (default 2), ITEST_JOBS (integration tests at once, default 4),
#      BUILD_DIR (default build), ASAN_BUILD_DIR (default build-asan),
#      RELEASE_BUILD_DIR (default build-release), FUZZ_BUILD_DIR (default build-fuzz),
#      SKIP_DEPS=1 (do not run deploy/install-deps.sh), SKIP_ASAN=1, SKIP_INTEGRATION=1,
#      SKIP_FUZZ=1, FUZZ_SECONDS (per target, default 10).
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
cd "$SRC" || exit 1
JOBS=${JOBS:-2}
# integration tests wait on clusters far more than they compute: four at once on two cores
# (each must pass on a loaded machine anyway) keeps the suite within its 25-minute budget
# (79 tests summing 2,660 s took 893 s at three at once)
ITEST_JOBS=${ITEST_JOBS:-4}
BUILD=${BUILD_DIR:-$SRC/build}
ASAN_BUILD=${ASAN_BUILD_DIR:-$SRC/build-asan}
RELEASE_BUILD=${RELEASE_BUILD_DIR:-$SRC/build-release}
failed=()
passed=()
start=$(date +%s)

step() { printf '\n==> %s\n' "$*"; }
# run NAME CMD...: runs a step, records its outcome, goes on either way
run() {
	local name=$1 t0 rc
	shift
	step "$name"
	t0=$(date +%s)
	"$@"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		passed+=("$name")
		printf '==> %s: ok (%ss)\n' "$name" "$(($(date +%s) - t0))"
	else
		failed+=("$name")
		printf '==> %s: FAILED (exit %s, %ss)\n' "$name" "$rc" "$(($(date +%s) - t0))"
	fi
	return "$rc"
}

deps() { sh "$SRC/deploy/install-deps.sh"; }

format_check() {
	local files
	mapfile -t files < <(find src tests -type f \( -name '*.c' -o -name '*.h' \) | sort)
	[ "${#files[@]}" -gt 0 ] || return 0
	clang-format --dry-run --Werror "${files[@]}"
}

shell_check() {
	local files
	mapfile -t files < <(
		ls tests/run.sh .ci/run deploy/*.sh integration/*.sh integration/bench/*.sh \
			integration/fuzz/*.sh integration/drills/*.sh 2>/dev/null
	)
	# a few files per process, JOBS processes at once: -x follows every sourced library, so
	# one process over all files took most of a minute
	printf '%s\0' "${files[@]}" | xargs -0 -n 6 -P "$JOBS" shellcheck -x
}

configure_build() { # DIR CMAKE-ARGS...
	local dir=$1
	shift
	cmake -S "$SRC" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_WERROR=ON "$@" &&
		cmake --build "$dir" -j "$JOBS"
}

# the build a packager makes (-O3 finds warnings -O2 does not), without the tests
release_build() {
	cmake -S "$SRC" -B "$RELEASE_BUILD" -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON \
		-DTANDEM_TESTS=OFF &&
		cmake --build "$RELEASE_BUILD" -j "$JOBS"
}

if [ "${SKIP_DEPS:-0}" != 1 ]; then
	run "install dependencies" deps || true
fi
run "clang-format (src/, tests/)" format_check || true
if command -v shellcheck >/dev/null; then
	run "shellcheck (scripts)" shell_check || true
fi

# normal build: -Werror, unit tests and integration tests
if run "build ($BUILD, -Werror)" configure_build "$BUILD" -DTANDEM_SANITIZE=OFF; then
	run "unit tests ($BUILD)" ctest --test-dir "$BUILD" -L unit --output-on-failure -j "$JOBS" || true
	if [ "${SKIP_INTEGRATION:-0}" != 1 ]; then
		run "integration tests ($BUILD)" \
			ctest --test-dir "$BUILD" -L integration --output-on-failure -j "$ITEST_JOBS" || true
	fi
fi

run "build ($RELEASE_BUILD, Release, -Werror)" release_build || true

# sanitizer build: unit tests under ASan + UBSan
if [ "${SKIP_ASAN:-0}" != 1 ]; then
	if run "build ($ASAN_BUILD, ASan/UBSan)" configure_build "$ASAN_BUILD" -DTANDEM_SANITIZE=ON; then
		ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1} \
			UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
			run "unit tests under ASan/UBSan ($ASAN_BUILD)" \
			ctest --test-dir "$ASAN_BUILD" -L unit --output-on-failure -j "$JOBS" || true
		# the daemons and tandemctl under the sanitizers, in a whole cluster: every
		# process's log is checked for a sanitizer report after a clean stop
		if [ "${SKIP_INTEGRATION:-0}" != 1 ]; then
			ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1} \
				UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
				TANDEM_SANITIZER_CHECK=1 \
				run "cluster failover under ASan/UBSan ($ASAN_BUILD)" \
				bash "$SRC/integration/test_cluster_failover.sh" "$ASAN_BUILD" || true
			ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1} \
				UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
				TANDEM_SANITIZER_CHECK=1 \
				run "cluster offline KSK under ASan/UBSan ($ASAN_BUILD)" \
				bash "$SRC/integration/test_cluster_offline_ksk.sh" "$ASAN_BUILD" || true
		fi
	fi
fi

# the fuzz targets, each for a bounded time over its seed corpus (a crash, leak or sanitizer
# report fails the step and names the reproducer)
if [ "${SKIP_FUZZ:-0}" != 1 ]; then
	FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-$SRC/build-fuzz} JOBS=$JOBS \
		run "fuzz targets, ${FUZZ_SECONDS:-10} s each (clang, ASan/UBSan)" \
		bash "$SRC/integration/fuzz/run.sh" "${FUZZ_SECONDS:-10}" || true
fi

printf '\n==> summary (%ss)\n' "$(($(date +%s) - start))"
for s in "${passed[@]}"; do printf '  ok      %s\n' "$s"; done
for s in "${failed[@]}"; do printf '  FAILED  %s\n' "$s"; done
printf 'steps: %d passed, %d failed\n' "${#passed[@]}" "${#failed[@]}"
[ "${#failed[@]}" -eq 0 ]
