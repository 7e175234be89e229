#!/usr/bin/env bash
# The SQL medium against MediaWiki's own JobQueueDB on the same database (bench/RESULTS.md):
# push B=100 and drain W=4, on SQLite (a file in a temp directory) and on a PostgreSQL 15 with
# its default settings (fsync on, synchronous_commit on) started here on a unix socket only,
# as `nobody` when run as root, and stopped by pid.
#   bench/sql_bench.sh [BUILD_DIR]   (default build/)
#   PG_JOBS=20000 SQLITE_JOBS=2000 bench/sql_bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench=${1:-$root/build}/bench/jobstore_bench
pg_jobs=${PG_JOBS:-20000}
sqlite_jobs=${SQLITE_JOBS:-2000}
bin=/usr/lib/postgresql/15/bin
tmp=$(mktemp -d /tmp/jobstore-sqlbench-XXXXXX)
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  chown nobody "$tmp"
  run_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi
pg_pid=
cleanup() {
  if [ -n "$pg_pid" ]; then kill -INT "$pg_pid" 2>/dev/null || true; wait "$pg_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"${run_as[@]}" "$bin/initdb" -D "$tmp/data" -U jobstore --auth=trust -E UTF8 --locale=C >/dev/null
"${run_as[@]}" "$bin/postgres" -D "$tmp/data" -k "$tmp" -c listen_addresses= >"$tmp/server.log" 2>&1 &
pg_pid=$!
for _ in $(seq 100); do "$bin/pg_isready" -q -h "$tmp" && break; sleep 0.1; done
url="postgresql://jobstore@/postgres?host=$tmp"

echo "== PostgreSQL 15 (defaults: fsync on, synchronous_commit on), $pg_jobs jobs"
"$bench" --store "$url" --jobs "$pg_jobs" --batch 100 --workers 4 --durability power-loss --floor
echo "== SQLite (jobstore: WAL, synchronous=FULL on push; MediaWiki: rollback journal, FULL), $sqlite_jobs jobs"
"$bench" --store "sqlite:$tmp/jobs.db" --jobs "$sqlite_jobs" --batch 100 --workers 4 \
  --durability power-loss --floor
