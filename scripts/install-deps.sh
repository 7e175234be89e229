#!/usr/bin/env bash
# Installs the Debian packages jobstore needs, only those missing. Idempotent; needs root
# (or sudo) only when something is missing.
set -euo pipefail
packages=(g++ cmake make pkg-config librocksdb-dev capnproto libcapnp-dev libgtest-dev
  libbenchmark-dev libcli11-dev nlohmann-json3-dev libssl-dev zlib1g-dev)
packages+=(libsqlite3-dev libpq-dev postgresql-15)  # the SQL medium and its tests' server
packages+=(libhiredis-dev redis-server)  # the Redis medium and the real server its tests start
packages+=(clang libclang-rt-14-dev)  # the libFuzzer targets (tests/fuzz)
packages+=(openssl)  # the served store's TLS test makes a self-signed certificate
packages+=(prometheus chromium)  # tests/observe: promtool check metrics, the page in a browser
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
