#!/bin/sh
# Builds the project under each sanitizer and runs the whole CTest suite there.
#
#   scripts/test-sanitizers.sh                 # address (ASan+UBSan), then thread (TSan)
#   scripts/test-sanitizers.sh address         # one of them
#   JOBS=4 BUILD_ROOT=/tmp scripts/test-sanitizers.sh thread
#   CTEST_ARGS="-R reliability" scripts/test-sanitizers.sh address
#
# Build directories: $BUILD_ROOT/build-asan and $BUILD_ROOT/build-tsan (default: the source
# root). The reliability tests size themselves down in sanitizer builds (JOBSTORE_SANITIZED);
# JOBSTORE_CRASH_ROUNDS, JOBSTORE_POWER_CYCLES and JOBSTORE_IOFAULT_CYCLES override that.
# JOBSTORE_SANITIZERS=1 scripts/test.sh runs the same two configurations after the normal one.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_ROOT=${BUILD_ROOT:-$ROOT}
JOBS=${JOBS:-2}
SANITIZERS=${*:-address thread}

# Fail on the first report; keep the child processes' reports too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# RocksDB is not built with TSan: tests/tsan.supp explains what that hides.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$ROOT/tests/tsan.supp}

for san in $SANITIZERS; do
  case $san in
    address) dir=$BUILD_ROOT/build-asan ;;
    thread) dir=$BUILD_ROOT/build-tsan ;;
    *) echo "test-sanitizers.sh: unknown sanitizer '$san' (address or thread)" >&2; exit 2 ;;
  esac
  echo "== $san: building in $dir"
  # -g1: line tables for the reports, without the compile time of full debug info.
  cmake -S "$ROOT" -B "$dir" -DJOBSTORE_SANITIZE="$san" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DJOBSTORE_BENCH=OFF -DJOBSTORE_TEST_DIRS= >/dev/null
  cmake --build "$dir" -j"$JOBS"
  echo "== $san: testing"
  # shellcheck disable=SC2086
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" --timeout 900 ${CTEST_ARGS:-})
done
