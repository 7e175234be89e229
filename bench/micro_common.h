// Helpers shared by the micro-benchmarks (jobstore_micro_bench).
//
// Every benchmark states the store's durability in its name ("durability:process-crash" or
// "durability:power-loss"). Durability only changes pushes: claims, acks, releases and
// maintenance are never synced (docs/DESIGN.md §5). All run on real time (the fsync waits count).
#pragma once

#include <benchmark/benchmark.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "jobstore/store.h"
#include "workload.h"

namespace jobstore::bench {

// A store in a fresh temporary directory, removed on destruction.
struct TempStore {
  std::string dir;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::unique_ptr<Store> store;

  explicit TempStore(Durability d, Options opts = {}) : dir(MakeTempDir("jobstore_micro")) {
    opts.durability = d;
    opts.clock = clock;
    auto r = Store::Open(dir + "/store", opts);
    if (!r.ok()) {
      std::fprintf(stderr, "open %s: %s\n", dir.c_str(), r.status().ToString().c_str());
      std::abort();
    }
    store = std::move(r.value());
  }
  ~TempStore() {
    store.reset();
    RemoveDir(dir);
  }
};

inline std::vector<JobSpec> Specs(const std::string& type, size_t n, size_t payload = 100,
                                  const std::string& domain = "") {
  std::vector<JobSpec> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i].type = type;
    v[i].domain = domain;
    v[i].params.assign(payload, static_cast<char>('a' + i % 26));
  }
  return v;
}

// Pushes n jobs in batches of `batch`; aborts the benchmark on failure.
inline bool Fill(benchmark::State& state, Store& store, const std::string& type, size_t n,
                 size_t batch = 1000) {
  for (size_t done = 0; done < n;) {
    size_t k = std::min(batch, n - done);
    auto r = store.Push(Specs(type, k));
    if (!r.ok()) {
      state.SkipWithError(("push: " + r.status().ToString()).c_str());
      return false;
    }
    done += k;
  }
  return true;
}

// Tombstones and keys skipped by RocksDB iterators in this thread (perf context).
struct PerfCounters {
  PerfCounters() { rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount); }
  ~PerfCounters() { rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable); }
  static uint64_t Tombstones() {
    return rocksdb::get_perf_context()->internal_delete_skipped_count;
  }
};

inline const char* DName(Durability d) {
  return d == Durability::kPowerLoss ? "power-loss" : "process-crash";
}

}  // namespace jobstore::bench
