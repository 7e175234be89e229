#!/bin/sh
# Builds the libFuzzer targets with clang and runs each for a bounded time over the checked-in
# corpus (tests/fuzz/corpus/<target>). New interesting inputs go to a scratch directory, not
# into the repository; a crash leaves its input in the build directory and fails the script.
#
#   tests/fuzz/run.sh                 30 s per target
#   FUZZ_SECONDS=600 tests/fuzz/run.sh
#   BUILD_DIR=/tmp/fz tests/fuzz/run.sh
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-30}
JOBS=${JOBS:-2}

command -v clang++ >/dev/null || { echo "run.sh: clang++ not found (apt-get install clang)" >&2; exit 1; }

CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD_DIR" -DJOBSTORE_FUZZ=ON \
  -DJOBSTORE_TEST_DIRS=reliability -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target fuzz_records fuzz_cli_json fuzz_served

status=0
for target in records cli_json served; do
  bin="$BUILD_DIR/tests/fuzz/fuzz_$target"
  scratch="$BUILD_DIR/tests/fuzz/found-$target"
  mkdir -p "$scratch"
  echo "== fuzz_$target for ${SECONDS_EACH}s"
  log="$BUILD_DIR/tests/fuzz/fuzz_$target.log"
  if (cd "$BUILD_DIR/tests/fuzz" && "$bin" "$scratch" "$ROOT/tests/fuzz/corpus/$target" \
        -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1); then
    tail -n 12 "$log"
  else
    tail -n 60 "$log"
    echo "run.sh: fuzz_$target failed (log: $log)" >&2
    status=1
  fi
done
# A crash writes crash-*/timeout-*/oom-* next to the binaries.
if ls "$BUILD_DIR"/tests/fuzz/crash-* "$BUILD_DIR"/tests/fuzz/timeout-* \
      "$BUILD_DIR"/tests/fuzz/oom-* >/dev/null 2>&1; then
  echo "run.sh: the fuzzers found failing inputs:" >&2
  ls "$BUILD_DIR"/tests/fuzz/crash-* "$BUILD_DIR"/tests/fuzz/timeout-* \
     "$BUILD_DIR"/tests/fuzz/oom-* 2>/dev/null >&2
  status=1
fi
exit $status
