#!/usr/bin/env python3
"""Prints the figures in bench/results/*.json (written by run_all.sh) as Markdown tables.

    python3 bench/summarize.py [RESULTS_DIR]

Medians over repetitions; every row names the command that produced it and its durability.
"""
import glob
import json
import os
import re
import statistics
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")


def load(pattern):
    rows = []
    for f in sorted(glob.glob(os.path.join(OUT, pattern))):
        rows.append((os.path.basename(f), json.load(open(f))))
    return rows


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def fmt(v, digits=0):
    if isinstance(v, float) and v != v:
        return "n/a"
    return f"{v:,.{digits}f}"


def machine():
    m = json.load(open(os.path.join(OUT, "machine.json")))
    print(f"- nproc: {m['nproc']} ({m['cpu']}), {m['mem_mb']} MB RAM, kernel {m['kernel']}, "
          f"RocksDB {m['rocksdb']}")
    print(f"- fsync rate: {m['synced_writes_per_s']} synced 4 KiB writes/s "
          f"(`{m['fsync_probe_command']}`: {m['fsync_probe_output']})")


def workload():
    groups = {}
    for name, d in load("workload_*_r*.json"):
        key = re.sub(r"_r\d+\.json$", "", name)
        groups.setdefault(key, []).append(d)
    print("| run | durability | jobstore push/s | floor push/s | push ratio | push CPU ratio | jobstore drain/s |"
          " floor drain/s | drain ratio | drain CPU ratio | claim p50/p99 µs (store) |"
          " claim p50/p99 µs (floor) | tombstones/claim | reps |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, runs in sorted(groups.items()):
        s = [r["result"]["jobstore"] for r in runs]
        f = [r["result"]["floor"] for r in runs]
        ratio = [r["result"]["ratio"] for r in runs]
        print(f"| {key} | {s[0]['durability']} | {fmt(med([x['push_jobs_per_s'] for x in s]))} | "
              f"{fmt(med([x['push_jobs_per_s'] for x in f]))} | "
              f"{fmt(med([x['push'] for x in ratio]), 2)} "
              f"({fmt(min(x['push'] for x in ratio), 2)}–{fmt(max(x['push'] for x in ratio), 2)}) | "
              f"{fmt(med([x['push_cpu'] for x in ratio]), 2)} | "
              f"{fmt(med([x['drain_jobs_per_s'] for x in s]))} | "
              f"{fmt(med([x['drain_jobs_per_s'] for x in f]))} | "
              f"{fmt(med([x['drain'] for x in ratio]), 2)} "
              f"({fmt(min(x['drain'] for x in ratio), 2)}–{fmt(max(x['drain'] for x in ratio), 2)}) | "
              f"{fmt(med([x['drain_cpu'] for x in ratio]), 2)} | "
              f"{fmt(med([x['claim_p50_us'] for x in s]), 1)} / {fmt(med([x['claim_p99_us'] for x in s]))} | "
              f"{fmt(med([x['claim_p50_us'] for x in f]), 1)} / {fmt(med([x['claim_p99_us'] for x in f]))} | "
              f"{fmt(med([x['tombstones_per_claim'] for x in s]), 2)} | {len(runs)} |")
    print()
    for key, runs in sorted(groups.items()):
        print(f"- `{key}`: `{runs[0]['command']}` (odd repetitions add nothing, even ones "
              f"`--floor-first`)")


def scale():
    qs = sorted({int(m.group(1)) for n, _ in load("scale_*_build.json")
                 for m in [re.match(r"scale_(\d+)_build", n)]})
    print("| queued jobs | build push/s (B=10000) | store size MB | open ms: 1st reopen (replays the build's WAL) |"
          " open ms: 2nd, 3rd | peak RSS KB: 1st / 2nd, 3rd open | claim+ack/s right after build (r1) |"
          " claim+ack/s settled (r2, r3) | CPU µs per claim+ack (r1 / settled) | claim p50 / p99 µs settled |"
          " tombstones per claim settled: first / last 10% |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for q in qs:
        def j(name):
            f = os.path.join(OUT, f"scale_{q}_{name}.json")
            return json.load(open(f))["result"]["jobstore"] if os.path.exists(f) else None
        b = j("build")
        du = json.load(open(os.path.join(OUT, f"scale_{q}_du.json")))
        opens = [o for o in (j("open_r1"), j("open_r2"), j("open_r3")) if o]
        cold = j("claim_r1")
        settled = [c for c in (j("claim_r2"), j("claim_r3")) if c]
        if not opens or not cold:
            continue
        later_open = ", ".join(fmt(o["open_ms"]) for o in opens[1:])
        later_rss = ", ".join(f"{o['peak_rss_kb']:,}" for o in opens[1:])
        srate = ", ".join(fmt(c["drain_jobs_per_s"]) for c in settled)
        scpu = med([c["drain_cpu_us_per_job"] for c in settled])
        print(f"| {q:,} | {fmt(b['push_jobs_per_s'])} | {fmt(du['store_kb'] / 1024)} | "
              f"{fmt(opens[0]['open_ms'])} | {later_open} | {opens[0]['peak_rss_kb']:,} / {later_rss} | "
              f"{fmt(cold['drain_jobs_per_s'])} | {srate} | "
              f"{fmt(cold['drain_cpu_us_per_job'], 1)} / {fmt(scpu, 1)} | "
              f"{fmt(med([c['claim_p50_us'] for c in settled]), 1)} / {fmt(med([c['claim_p99_us'] for c in settled]))} | "
              f"{fmt(med([c['tombstones_per_claim_first10'] for c in settled]), 2)} / "
              f"{fmt(med([c['tombstones_per_claim_last10'] for c in settled]), 2)} |")
    print()
    for q in qs:
        for kind in ("build", "open_r1", "claim_r1", "settle"):
            f = os.path.join(OUT, f"scale_{q}_{kind}.json")
            if os.path.exists(f):
                d = json.load(open(f))
                extra = ""
                if kind == "settle":
                    extra = f" (background CPU while settling: {d['result']['jobstore']['settle_cpu_s']:.1f} s)"
                print(f"- `{d['command']}`{extra}")


def types():
    rows = load("types_*_r*.json")
    if not rows:
        return
    groups = {}
    for name, d in rows:
        groups.setdefault(re.sub(r"_r\d+\.json$", "", name), []).append(d["result"]["jobstore"])
    print("| run | durability | push/s | drain/s (W=4) | drain CPU µs/job | claim p50/p99 µs | peak RSS KB | reps |")
    print("|---|---|---|---|---|---|---|---|")
    for key, rs in sorted(groups.items()):
        print(f"| {key} | {rs[0]['durability']} | {fmt(med([r['push_jobs_per_s'] for r in rs]))} | "
              f"{fmt(med([r['drain_jobs_per_s'] for r in rs]))} | "
              f"{fmt(med([r['drain_cpu_us_per_job'] for r in rs]), 1)} | "
              f"{fmt(med([r['claim_p50_us'] for r in rs]), 1)} / {fmt(med([r['claim_p99_us'] for r in rs]))} | "
              f"{fmt(med([r['peak_rss_kb'] for r in rs]))} | {len(rs)} |")
    for name in ("types_1000_build", "types_1000_open"):
        f = os.path.join(OUT, name + ".json")
        if os.path.exists(f):
            d = json.load(open(f))
            r = d["result"]["jobstore"]
            print(f"\n- {name}: open {fmt(r['open_ms'])} ms, push {fmt(r['push_jobs_per_s'])}/s, "
                  f"peak RSS {r['peak_rss_kb']:,} KB, queued at open {r['queued_at_open']:,}: "
                  f"`{d['command']}`")
    print()
    for key in sorted(groups):
        f = os.path.join(OUT, key + "_r1.json")
        print(f"- `{key}`: `{json.load(open(f))['command']}`")


def micro():
    f = os.path.join(OUT, "micro.json")
    if not os.path.exists(f):
        return
    d = json.load(open(f))
    print("| benchmark | time per iteration | jobs/s | tombstones/claim | label |")
    print("|---|---|---|---|---|")
    for b in d["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        rate = b.get("jobs/s", b.get("picks/s"))
        print(f"| {b['name']} | {b['real_time']:,.1f} {b['time_unit']} | "
              f"{fmt(rate) if rate is not None else ''} | "
              f"{fmt(b['tombstones/claim'], 2) if 'tombstones/claim' in b else ''} | {b.get('label', '')} |")


for title, fn in (("Machine", machine), ("Workload: jobstore vs floor", workload),
                  ("Scaling", scale), ("Job types", types), ("Micro-benchmarks", micro)):
    print(f"### {title}\n")
    try:
        fn()
    except FileNotFoundError as e:
        print(f"(missing: {e.filename})")
    print()
