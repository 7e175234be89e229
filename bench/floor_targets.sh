#!/usr/bin/env bash
# The targets of issue 17, each against the floor (bare RocksDB, default options) in the same
# run: 100,000 jobs of 256 bytes, pushed in batches of 100; REPS repetitions alternating which
# engine goes first. Prints the table bench/RESULTS.md records; the raw JSON goes to OUT.
#
#   bench/floor_targets.sh [BUILD_DIR] [OUT_DIR]       (default BUILD_DIR: build-bench)
#   REPS=5 JOBS=100000
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="${1:-$HERE/../build-bench}"
OUT="${2:-$(mktemp -d /tmp/jobstore-floor-XXXXXX)}"
BENCH="$BUILD/bench/jobstore_bench"
REPS="${REPS:-5}"
JOBS="${JOBS:-100000}"
[[ -x "$BENCH" ]] || { echo "missing $BENCH (build it Release first)" >&2; exit 1; }
mkdir -p "$OUT"
# The machine's cost of waking a thread on another CPU, before and after the runs: the W=4 >=
# W=1 target depends on it (design note 44), and a VM's figure can change within minutes.
"$BUILD/bench/jobstore_wakeup_cost" --json > "$OUT/wakeup_before.json"
common=(--jobs "$JOBS" --payload 256 --batch 100 --floor --json)
declare -A configs=(
  [pc_w4]="--workers 4 --durability process-crash"
  [pc_w1]="--workers 1 --durability process-crash"
  [pl_w4]="--workers 4 --durability power-loss"
  [runner_w4]="--workers 4 --durability process-crash --runner --claim-batch 16"
  [runner1_w4]="--workers 4 --durability process-crash --runner --claim-batch 1"
  [runner1_w1]="--workers 1 --durability process-crash --runner --claim-batch 1"
)
for rep in $(seq 1 "$REPS"); do
  order=""; (( rep % 2 == 0 )) && order="--floor-first"
  for name in pc_w4 pc_w1 pl_w4 runner_w4 runner1_w4 runner1_w1; do
    sync  # the previous run's dirty pages are not written back during this one
    # shellcheck disable=SC2086
    "$BENCH" "${common[@]}" ${configs[$name]} $order > "$OUT/${name}_r$rep.json"
    echo "[$(date +%H:%M:%S)] $name r$rep" >&2
  done
done
"$BUILD/bench/jobstore_wakeup_cost" --json > "$OUT/wakeup_after.json"
python3 - "$OUT" "$REPS" "$JOBS" <<'PY'
import json, statistics, sys
out, reps, jobs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def runs(name):
    rows = []
    for r in range(1, reps + 1):
        d = json.load(open(f"{out}/{name}_r{r}.json"))
        rows.append(d)
    return rows
def fig(rows, engine, key):
    return [row[engine][key] for row in rows]
def med(v):
    return f"{statistics.median(v):,.2f} ({min(v):.2f}-{max(v):.2f})"
def rate(v):
    return f"{statistics.median(v):,.0f}"
print(f"{reps} repetitions each, {jobs} jobs of 256 bytes, batches of 100; medians (ranges)")
wake = [json.load(open(f"{out}/wakeup_{w}.json")) for w in ("before", "after")]
def handoff(key):
    v = [w[key] for w in wake]
    return "not measured" if None in v else f"{v[0]:.1f} / {v[1]:.1f} us"
print(f"one thread waking another (jobstore_wakeup_cost, before / after the runs): on another CPU "
      f"{handoff('sleeping_two_cpus_wall_us')}, on the same CPU {handoff('sleeping_one_cpu_wall_us')}\n")
print("| figure | durability | jobstore jobs/s | floor jobs/s | ratio | CPU/job ratio | bytes written/job (jobstore / floor) |")
print("|---|---|---|---|---|---|---|")
for name, label, phase in [("pc_w4", "push B=100", "push"), ("pl_w4", "push B=100", "push"),
                           ("pc_w4", "drain W=4, one at a time", "drain"),
                           ("pc_w1", "drain W=1, one at a time", "drain"),
                           ("runner_w4", "Runner W=4, claims of 16 + AckMany vs floor one at a time", "drain"),
                           ("runner1_w4", "Runner W=4, one at a time (each ack rides on the next claim)", "drain"),
                           ("runner1_w1", "Runner W=1, one at a time (each ack rides on the next claim)", "drain")]:
    rows = runs(name)
    eng = [k for k in rows[0] if k != "floor" and k != "ratio"][0]
    js, fl = fig(rows, eng, f"{phase}_jobs_per_s"), fig(rows, "floor", f"{phase}_jobs_per_s")
    ratio = [a / b for a, b in zip(js, fl)]
    cpu = [a / b for a, b in zip(fig(rows, eng, f"{phase}_cpu_us_per_job"), fig(rows, "floor", f"{phase}_cpu_us_per_job"))]
    wal = (statistics.median(fig(rows, eng, f"{phase}_wal_bytes_per_job")),
           statistics.median(fig(rows, "floor", f"{phase}_wal_bytes_per_job")))
    mine = f"{wal[0]:.0f}" if wal[0] else "n/a"
    print(f"| {label} | {rows[0][eng]['durability']} | {rate(js)} | {rate(fl)} | **{med(ratio)}** | {med(cpu)} | {mine} / {wal[1]:.0f} |")
w4 = fig(runs("pc_w4"), "jobstore", "drain_jobs_per_s")
w1 = fig(runs("pc_w1"), "jobstore", "drain_jobs_per_s")
print(f"\njobstore drain W=4 / W=1: {statistics.median(w4) / statistics.median(w1):.2f} "
      f"({statistics.median(w4):,.0f} / {statistics.median(w1):,.0f} jobs/s)")
r4 = fig(runs("runner1_w4"), "jobstore-runner1", "drain_jobs_per_s")
r1 = fig(runs("runner1_w1"), "jobstore-runner1", "drain_jobs_per_s")
print(f"Runner one at a time W=4 / W=1: {statistics.median(r4) / statistics.median(r1):.2f} "
      f"({statistics.median(r4):,.0f} / {statistics.median(r1):,.0f} jobs/s)")
PY
echo "raw JSON: $OUT" >&2
