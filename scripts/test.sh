#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test: the CTest suite of a normal
# (RelWithDebInfo) build. Idempotent; build trees live under build-test/. This is what CI runs
# (.ci/run), and it fits CI's 45 minutes on 2 cores.
#
# Before resolving an issue that touches the engine, run the longer passes too:
#   JOBSTORE_SANITIZERS=1  the whole suite again under ASan+UBSan and under TSan
#                          (scripts/test-sanitizers.sh; two more builds, ~3x the test time)
#   JOBSTORE_FUZZ=1        a bounded libFuzzer run (clang) over the record decoder, the CLI's
#                          JSON input and the served store's messages (FUZZ_SECONDS each)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
jobs=$(nproc)

echo "== release: building in $root/build-test/release"
cmake -S "$root" -B "$root/build-test/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1" -DJOBSTORE_TEST_DIRS= >/dev/null
cmake --build "$root/build-test/release" -j"$jobs"
echo "== release: testing"
ctest --test-dir "$root/build-test/release" --output-on-failure -j"$jobs" --timeout 900

if [ "${JOBSTORE_FUZZ:-0}" != 0 ]; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} JOBS="$jobs" BUILD_DIR="$root/build-test/fuzz" "$root/tests/fuzz/run.sh"
fi

if [ "${JOBSTORE_SANITIZERS:-0}" != 0 ]; then
  # Sanitizers slow each operation 3-10x: the 200k-job concurrency test runs the same threads
  # and interleavings at a tenth of the volume there.
  JOBSTORE_CONCURRENCY_JOBS=20000 JOBS="$jobs" BUILD_ROOT="$root/build-test" \
    "$root/scripts/test-sanitizers.sh"
fi
