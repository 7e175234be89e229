#!/usr/bin/env bash
# One build of jobstore against another, in one run, alternating, REPS repetitions each:
# push (B=100) and drain (W=4, claim one at a time) of 100,000 jobs of 100 bytes, process-crash
# durability. Prints the medians (and ranges) of both and their ratio; writes the raw JSON of
# every run to OUT.
#
#   bench/compare_builds.sh OLD_BUILD_DIR NEW_BUILD_DIR [OUT_DIR]
#   REPS=5 JOBS=100000 DURABILITY=process-crash
#
# Used to show that a change does not slow the RocksDB path down (both builds Release, the
# same flags; the old one is typically a worktree of the previous main).
set -euo pipefail
OLD="$1/bench/jobstore_bench"
NEW="$2/bench/jobstore_bench"
OUT="${3:-$(mktemp -d /tmp/jobstore-compare-XXXXXX)}"
REPS="${REPS:-5}"
JOBS="${JOBS:-100000}"
DURABILITY="${DURABILITY:-process-crash}"
mkdir -p "$OUT"
for exe in "$OLD" "$NEW"; do [[ -x "$exe" ]] || { echo "missing $exe" >&2; exit 1; }; done
args=(--jobs "$JOBS" --payload 100 --batch 100 --workers 4 --durability "$DURABILITY" --json)
for rep in $(seq 1 "$REPS"); do
  # Alternate which build goes first, so neither always runs on a warmer machine.
  if (( rep % 2 )); then order=(old new); else order=(new old); fi
  for which in "${order[@]}"; do
    exe=$OLD; [[ $which == new ]] && exe=$NEW
    # The previous run's dirty pages (its WAL and tables, tens of MB) must not be written
    # back while this one runs: a kernel flusher on the other core halves a push's rate.
    sync
    "$exe" "${args[@]}" > "$OUT/${which}_r$rep.json"
    echo "[$(date +%H:%M:%S)] $which r$rep done" >&2
  done
done
python3 - "$OUT" "$REPS" "${args[*]}" <<'PY'
import json, statistics, sys
out, reps, args = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(which):
    rows = []
    for r in range(1, reps + 1):
        d = json.load(open(f"{out}/{which}_r{r}.json"))
        d = d["jobstore"] if "jobstore" in d else d
        rows.append(d)
    return rows
old, new = load("old"), load("new")
print(f"command: jobstore_bench {args}  ({reps} runs each, alternating)")
print("| figure | old (median, range) | new (median, range) | new / old |")
print("|---|---|---|---|")
for key, label in [("push_jobs_per_s", "push B=100, jobs/s"), ("drain_jobs_per_s", "drain W=4, jobs/s"),
                   ("push_cpu_us_per_job", "push CPU µs/job"), ("drain_cpu_us_per_job", "drain CPU µs/job"),
                   ("claim_p50_us", "claim p50 µs"), ("ack_p50_us", "ack p50 µs"), ("peak_rss_kb", "peak RSS KB")]:
    o = [r[key] for r in old]; n = [r[key] for r in new]
    mo, mn = statistics.median(o), statistics.median(n)
    print(f"| {label} | {mo:,.0f} ({min(o):,.0f}–{max(o):,.0f}) | {mn:,.0f} ({min(n):,.0f}–{max(n):,.0f}) | {mn / mo:.3f} |")
print("durability:", old[0].get("durability"), "; every run verified:", all(r["verified"] for r in old + new))
PY
