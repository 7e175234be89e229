#!/usr/bin/env bash
# The long benchmark runs of issue 7. Writes JSON to bench/results/ and the plot
# bench/claim_vs_queued.png. Every figure in bench/RESULTS.md comes from here.
#
#   bench/run_all.sh [BUILD_DIR]          (default BUILD_DIR: build-bench next to bench/)
#
# Environment:
#   REPS=3                 repetitions of each jobstore-vs-floor comparison
#   SCALES="10000 1000000 10000000"   queued-job counts of the scaling runs
#   SCALE_CLAIMS=20000     claim+ack operations measured at each scale (W=1, one at a time)
#   SETTLE_MS=60000        idle time that lets compaction of a fresh backlog finish
#   SCALE_FLOOR="10000 1000000"   backlogs of the same-process jobstore-vs-floor scaling check
#   WORK=/tmp              where the (large) scaling stores are built; removed afterwards
#   SKIP_MICRO=1 / SKIP_SCALE=1 / SKIP_WORKLOAD=1 / SKIP_TYPES=1   skip a part
#   ONLY_PLOT=1            only redraw the plot from results/
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD="${1:-$ROOT/build-bench}"
BENCH="$BUILD/bench/jobstore_bench"
MICRO="$BUILD/bench/jobstore_micro_bench"
OUT="$HERE/results"
REPS="${REPS:-3}"
SCALES="${SCALES:-10000 1000000 10000000}"
SCALE_CLAIMS="${SCALE_CLAIMS:-20000}"
SETTLE_MS="${SETTLE_MS:-60000}"
SCALE_FLOOR="${SCALE_FLOOR:-10000 1000000}"
WORK="${WORK:-/tmp}"
mkdir -p "$OUT"

for exe in "$BENCH" "$MICRO"; do
  [[ -x "$exe" ]] || { echo "missing $exe: build first:
  cmake -S $ROOT -B $BUILD -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD -j2" >&2; exit 1; }
done

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Runs a command, records it next to its output: results/NAME.json holds
# {"command": "...", "result": <the command's JSON>}.
record() {
  local name="$1"; shift
  log "$name: $*"
  local tmp="$OUT/.$name.raw"
  "$@" > "$tmp"
  python3 - "$OUT/$name.json" "$tmp" "$BUILD" "$*" <<'EOF'
import json, sys
out, raw, build, cmd = sys.argv[1:5]
result = json.load(open(raw))
json.dump({"command": cmd.replace(build, "$BUILD"), "result": result}, open(out, "w"), indent=2)
EOF
  rm -f "$tmp"
}

# --- The machine ---------------------------------------------------------------------------
machine() {
  local f="$WORK/jobstore_fsync_probe.$$"
  # 2,000 synced 4 KiB writes: the disk's fsync rate (the bound of power-loss pushes).
  local dd_out secs
  dd_out="$(dd if=/dev/zero of="$f" bs=4k count=2000 oflag=dsync 2>&1 | tail -1)"
  rm -f "$f"
  secs="$(echo "$dd_out" | sed -E 's/.* copied, ([0-9.]+) s.*/\1/')"
  python3 - "$OUT/machine.json" "$secs" "$dd_out" <<'EOF'
import json, os, platform, subprocess, sys
out, secs, dd = sys.argv[1], float(sys.argv[2]), sys.argv[3]
cpu = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip(); break
mem_kb = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1])
json.dump({
    "nproc": os.cpu_count(), "cpu": cpu, "mem_mb": mem_kb // 1024,
    "kernel": platform.release(),
    "fsync_probe_command": "dd if=/dev/zero of=FILE bs=4k count=2000 oflag=dsync",
    "fsync_probe_output": dd, "synced_writes_per_s": round(2000 / secs),
    "rocksdb": subprocess.run(["dpkg-query", "-W", "-f=${Version}", "librocksdb-dev"],
                              capture_output=True, text=True).stdout,
}, open(out, "w"), indent=2)
EOF
  log "machine: $(cat "$OUT/machine.json" | tr -d '\n')"
}

# --- jobstore vs floor, same run --------------------------------------------------------------
workload() {
  local order
  for rep in $(seq 1 "$REPS"); do
    # Odd repetitions run jobstore first, even ones the floor first: drift cancels out.
    order=""; (( rep % 2 == 0 )) && order="--floor-first"
    # The headline targets: drain W=4 >= 1.0x floor, push B=100 >= 0.8x floor.
    record "workload_pc_w4_r$rep" "$BENCH" --jobs 100000 --payload 100 --batch 100 --workers 4 \
      --durability process-crash --floor $order --json
    # power-loss: pushes fsync (B=100 per sync); the drain must not be slowed.
    record "workload_pl_w4_r$rep" "$BENCH" --jobs 100000 --payload 100 --batch 100 --workers 4 \
      --durability power-loss --floor $order --json
    # one worker: the per-claim cost without contention.
    record "workload_pc_w1_r$rep" "$BENCH" --jobs 50000 --payload 100 --batch 100 --workers 1 \
      --durability process-crash --floor $order --json
    # push batch 1 under power-loss: one fsync per job.
    record "workload_pl_b1_r$rep" "$BENCH" --jobs 2000 --payload 100 --batch 1 --workers 4 \
      --durability power-loss --floor $order --json
    # Not a target: the floor given jobstore's memtable insert hint, to show what the hint is
    # worth to a bare queue as well (RocksDB's defaults leave it off).
    record "workload_hint_pc_w4_r$rep" "$BENCH" --jobs 100000 --payload 100 --batch 100 \
      --workers 4 --durability process-crash --floor --floor-hint $order --json
    record "workload_hint_pl_w4_r$rep" "$BENCH" --jobs 100000 --payload 100 --batch 100 \
      --workers 4 --durability power-loss --floor --floor-hint $order --json
  done
}

# --- Micro-benchmarks ------------------------------------------------------------------------
micro() {
  log "micro: $MICRO --benchmark_out=$OUT/micro.json --benchmark_out_format=json"
  "$MICRO" --benchmark_out="$OUT/micro.json" --benchmark_out_format=json \
    --benchmark_min_time=1 2>&1 | tee "$OUT/micro.txt" >&2
}

# --- Scaling: claim+ack cost vs queued jobs; open time and RSS -----------------------------
# Each step is a fresh process on the same store. claim_r1 runs right after the build (RocksDB
# is still compacting the fresh backlog in the background); then one process idles SETTLE_MS
# so that compaction finishes, and claim_r2/r3 measure the settled store.
scale() {
  local q dir n
  for q in $SCALES; do
    dir="$WORK/jobstore_scale_$q"
    rm -rf "$dir" "$dir.floor"
    n=$(( q < 3 * SCALE_CLAIMS ? q / 4 : SCALE_CLAIMS ))
    # Build the backlog with large batches (process-crash).
    record "scale_${q}_build" "$BENCH" --jobs "$q" --payload 100 --batch 10000 --workers 1 \
      --durability process-crash --dir "$dir" --keep --drain-max 0 --json
    du -sk "$dir" | awk -v q="$q" '{print "{\"queued\": " q ", \"store_kb\": " $1 "}"}' \
      > "$OUT/scale_${q}_du.json"
    # Open time and peak RSS, fresh processes (page cache warm). r1 replays the build's WAL.
    for rep in 1 2 3; do
      record "scale_${q}_open_r$rep" "$BENCH" --dir "$dir" --reuse --drain-max 0 --json
    done
    # Claim+ack one at a time, one worker.
    record "scale_${q}_claim_r1" "$BENCH" --dir "$dir" --reuse --workers 1 --drain-max "$n" --json
    record "scale_${q}_settle" "$BENCH" --dir "$dir" --reuse --drain-max 0 \
      --settle-ms "$SETTLE_MS" --json
    for rep in 2 3; do
      record "scale_${q}_claim_r$rep" "$BENCH" --dir "$dir" --reuse --workers 1 \
        --drain-max "$n" --json
    done
    rm -rf "$dir"
  done
  # Same process, jobstore then floor: is the step from 10k to 1M jobstore's or RocksDB's?
  for q in $SCALE_FLOOR; do
    n=$(( q < 3 * SCALE_CLAIMS ? q / 4 : SCALE_CLAIMS ))
    record "scale_floor_$q" "$BENCH" --jobs "$q" --payload 100 --batch 10000 --workers 1 \
      --drain-max "$n" --durability process-crash --floor --json
  done
}

# --- 1,000 job types -------------------------------------------------------------------------
types() {
  for rep in $(seq 1 "$REPS"); do
    record "types_1_r$rep" "$BENCH" --jobs 100000 --payload 100 --batch 100 --workers 4 \
      --types 1 --durability process-crash --json
    record "types_1000_r$rep" "$BENCH" --jobs 100000 --payload 100 --batch 100 --workers 4 \
      --types 1000 --durability process-crash --json
  done
  local dir="$WORK/jobstore_types_1000"
  rm -rf "$dir"
  record "types_1000_build" "$BENCH" --jobs 1000000 --payload 100 --batch 1000 --types 1000 \
    --durability process-crash --dir "$dir" --keep --drain-max 0 --json
  record "types_1000_open" "$BENCH" --dir "$dir" --reuse --types 1000 --drain-max 0 --json
  rm -rf "$dir"
}

# --- The plot ----------------------------------------------------------------------------------
plot() {
  python3 - "$OUT" > "$OUT/claim_vs_queued.dat" <<'EOF'
import glob, json, os, re, statistics, sys
out = sys.argv[1]
rows = {}
for f in glob.glob(os.path.join(out, "scale_*_claim_r[23].json")):
    q = int(re.search(r"scale_(\d+)_claim", f).group(1))
    r = json.load(open(f))["result"]["jobstore"]
    rows.setdefault(q, []).append((r["drain_jobs_per_s"], r["drain_cpu_us_per_job"]))
print("# queued_jobs median_claim_ack_per_s min max median_cpu_us_per_claim_ack"
      " (W=1, one at a time, process-crash; settled store: runs r2, r3)")
for q in sorted(rows):
    v = [x[0] for x in rows[q]]
    c = [x[1] for x in rows[q]]
    print(q, statistics.median(v), min(v), max(v), statistics.median(c))
EOF
  gnuplot <<EOF
set terminal pngcairo size 900,540
set output "$HERE/claim_vs_queued.png"
set title "jobstore claim+ack throughput vs queued jobs\n(1 worker, claim 1 + ack 1, process-crash; settled store, 2 fresh-process runs: median and range)"
set logscale x
set xlabel "jobs queued when the run starts"
set ylabel "claim+ack per second (wall)"
set y2label "CPU microseconds per claim+ack"
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set grid
set key bottom left
plot "$OUT/claim_vs_queued.dat" using 1:2:3:4 with yerrorlines lw 2 pt 7 title "claim+ack/s (median, min-max)", \
     "" using 1:5 axes x1y2 with linespoints lw 2 pt 5 dt 2 title "CPU us per claim+ack (median)"
EOF
  log "plot: $HERE/claim_vs_queued.png"
}

if [[ -n "${ONLY_PLOT:-}" ]]; then plot; exit 0; fi
machine
[[ -n "${SKIP_SCALE:-}" ]] || { scale; plot; }
[[ -n "${SKIP_WORKLOAD:-}" ]] || workload
[[ -n "${SKIP_TYPES:-}" ]] || types
[[ -n "${SKIP_MICRO:-}" ]] || micro
log "done: $OUT"
