#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test three times: a normal build, an
# ASan+UBSan build and a TSan build (scripts/test-sanitizers.sh), plus a short fuzz run. Idempotent; build trees live
# under build-test/.
#   JOBSTORE_SANITIZERS=0  skip the two sanitizer builds (quick local runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
jobs=$(nproc)

echo "== release: building in $root/build-test/release"
cmake -S "$root" -B "$root/build-test/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1" >/dev/null
cmake --build "$root/build-test/release" -j"$jobs"
echo "== release: testing"
ctest --test-dir "$root/build-test/release" --output-on-failure -j"$jobs" --timeout 900

# A bounded libFuzzer run (clang) over the record decoder and the CLI's JSON input.
FUZZ_SECONDS=${FUZZ_SECONDS:-20} JOBS="$jobs" BUILD_DIR="$root/build-test/fuzz" "$root/tests/fuzz/run.sh"

if [ "${JOBSTORE_SANITIZERS:-1}" != 0 ]; then
  # Sanitizers slow each operation 3-10x: the 200k-job concurrency test runs the same threads
  # and interleavings at a tenth of the volume there.
  JOBSTORE_CONCURRENCY_JOBS=20000 JOBS="$jobs" BUILD_ROOT="$root/build-test" \
    "$root/scripts/test-sanitizers.sh"
fi
