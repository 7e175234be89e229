#!/bin/sh
# Runs jobstore_bench against a redis-server of its own: started on a unix socket in a
# temporary directory (no TCP port), stopped by its pid afterwards. Every argument goes to
# jobstore_bench, which gets --store redis+unix:... added; pass --floor to run the
# MediaWiki-layout Redis queue on the same server in the same run.
#
#   bench/redis_bench.sh --jobs 100000 --floor                      # Redis's defaults
#   REDIS_APPENDFSYNC=always bench/redis_bench.sh --jobs 100000 --floor --claim-batch 16
#
#   JOBSTORE_BENCH      the jobstore_bench binary (default: build/bench/jobstore_bench)
#   REDIS_APPENDFSYNC   always | everysec | no: appendonly yes with that fsync policy;
#                       unset: the server's defaults (appendonly no, RDB snapshot rules)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bench=${JOBSTORE_BENCH:-$root/build/bench/jobstore_bench}
dir=$(mktemp -d "${TMPDIR:-/tmp}/jobstore-redis-bench.XXXXXX")
sock=$dir/redis.sock
set -- "$@" --store "redis+unix:$sock?prefix=bench"
if [ -n "${REDIS_APPENDFSYNC:-}" ]; then
  persistence="--appendonly yes --appendfsync $REDIS_APPENDFSYNC"
else
  persistence=""
fi
# shellcheck disable=SC2086
redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$dir" \
  --logfile "$dir/redis.log" --daemonize no $persistence &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
tries=0
until redis-cli -s "$sock" ping >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 1000 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "redis_bench.sh: redis-server did not start:" >&2
    cat "$dir/redis.log" >&2
    exit 1
  fi
  sleep 0.01
done
"$bench" "$@"
