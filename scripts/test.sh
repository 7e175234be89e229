#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test three times: a normal build, an
# ASan+UBSan build and a TSan build. Idempotent; build trees live in build-test*/.
#   JOBSTORE_SANITIZERS=0  skip the two sanitizer builds (quick local runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
jobs=$(nproc)

suite() {
  local name=$1
  shift
  echo "=== $name ==="
  cmake -S "$root" -B "$root/build-test-$name" "$@" >/dev/null
  cmake --build "$root/build-test-$name" -j"$jobs"
  ctest --test-dir "$root/build-test-$name" --output-on-failure -j"$jobs" --timeout 900
}

suite release -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${JOBSTORE_SANITIZERS:-1}" != 0 ]; then
  suite asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOBSTORE_SANITIZE=address
  # TSan runs the 200k-job concurrency test with fewer jobs: the same threads and interleavings
  # at a tenth of the volume (TSan slows each operation ~10x).
  JOBSTORE_CONCURRENCY_JOBS=20000 TSAN_OPTIONS="halt_on_error=1 suppressions=$root/tests/tsan.supp" \
    suite tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOBSTORE_SANITIZE=thread
fi
