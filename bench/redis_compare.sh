#!/usr/bin/env bash
# jobstore on Redis against the MediaWiki-layout Redis floor (bench/redis_floor.h), in the same
# run on the same server: push B=100, drain W=4 one job at a time, and the drain again with
# claims of 16 + AckMany, under Redis's default persistence and under appendfsync always.
# Each comparison runs REPS times, alternating which engine goes first; prints the medians and
# writes every run's JSON to bench/results/redis-*.json with the command that produced it.
#
#   bench/redis_compare.sh [BUILD_DIR]      (default: build next to bench/)
#   REPS=5 JOBS=100000
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD="${1:-$ROOT/build}"
export JOBSTORE_BENCH="$BUILD/bench/jobstore_bench"
REPS="${REPS:-5}"
JOBS="${JOBS:-100000}"
OUT="$HERE/results"
mkdir -p "$OUT"
[[ -x "$JOBSTORE_BENCH" ]] || { echo "missing $JOBSTORE_BENCH: build it first" >&2; exit 1; }

for fsync in default always; do
  for k in 1 16; do
    for rep in $(seq 1 "$REPS"); do
      first=""
      [[ $((rep % 2)) -eq 0 ]] && first="--floor-first"
      args="--jobs $JOBS --batch 100 --workers 4 --claim-batch $k --floor $first --json"
      env=""
      [[ $fsync == always ]] && env="REDIS_APPENDFSYNC=always"
      cmd="$env bench/redis_bench.sh $args"
      json=$(env $env "$HERE/redis_bench.sh" $args)
      printf '{"command": "%s", "uptime": "%s", "result": %s}\n' "$cmd" "$(cut -d' ' -f1-3 /proc/loadavg)" \
        "$json" > "$OUT/redis-$fsync-k$k-$rep.json"
      echo "[$(date +%H:%M:%S)] $cmd" >&2
    done
  done
done

python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
def med(v): return statistics.median(v) if v else float('nan')
print("| persistence | claim batch | jobstore push/s | floor push/s | push ratio | jobstore drain/s | floor drain/s | drain ratio | server CPU us/job jobstore / floor (drain) | server bytes/job jobstore / floor | load avg |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for fsync in ("default", "always"):
    for k in (1, 16):
        runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, f"redis-{fsync}-k{k}-*.json")))]
        if not runs: continue
        j = [r["result"]["jobstore"] for r in runs]; f = [r["result"]["floor"] for r in runs]
        print(f"| {fsync} | {k} | {med([x['push_jobs_per_s'] for x in j]):,.0f} | {med([x['push_jobs_per_s'] for x in f]):,.0f} | "
              f"{med([r['result']['ratio']['push'] for r in runs]):.2f} | {med([x['drain_jobs_per_s'] for x in j]):,.0f} | "
              f"{med([x['drain_jobs_per_s'] for x in f]):,.0f} | {med([r['result']['ratio']['drain'] for r in runs]):.2f} | "
              f"{med([x['drain_server_cpu_us_per_job'] for x in j]):.1f} / {med([x['drain_server_cpu_us_per_job'] for x in f]):.1f} | "
              f"{med([x['server_bytes_per_job'] for x in j]):.0f} / {med([x['server_bytes_per_job'] for x in f]):.0f} | "
              f"{', '.join(r['uptime'].split()[0] for r in runs)} |")
PY
