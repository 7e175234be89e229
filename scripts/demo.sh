#!/usr/bin/env bash
# Installs what is missing, builds jobstore and runs the demo on ./demo-store (a fresh store
# under the working directory each run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
workdir=$(pwd)
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" --target jobstore_demo -j"$(nproc)"
rm -rf "$workdir/demo-store"
"$root/build/demo/jobstore_demo" "$workdir/demo-store"
