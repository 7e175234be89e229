// Micro-benchmarks of the per-job operations: push, claim+ack, release.
#include <chrono>
#include <string>

#include "micro_common.h"

namespace jobstore::bench {
namespace {

const QueueRef kQueue{"", "micro"};

// Push batches of `batch` jobs (100-byte params). Under power-loss each Push fsyncs.
void BM_Push(benchmark::State& state, size_t batch, Durability d) {
  TempStore ts(d);
  auto specs = Specs(kQueue.type, batch);
  uint64_t jobs = 0;
  for (auto _ : state) {
    auto r = ts.store->Push(specs);
    if (!r.ok()) {
      state.SkipWithError(("push: " + r.status().ToString()).c_str());
      break;
    }
    jobs += batch;
  }
  state.counters["jobs/s"] = benchmark::Counter(double(jobs), benchmark::Counter::kIsRate);
  state.SetLabel(std::string("durability:") + DName(d));
}

// Claim `k` jobs, then ack them (Ack for k = 1, AckMany otherwise). The queue is refilled,
// untimed, 20k jobs at a time. Reports jobs/s and tombstones skipped per Claim call.
void BM_ClaimAck(benchmark::State& state, size_t k, Durability d) {
  TempStore ts(d);
  constexpr size_t kRefill = 20'000;
  if (!Fill(state, *ts.store, kQueue.type, kRefill)) return;
  size_t available = kRefill;
  PerfCounters perf;
  uint64_t jobs = 0, claims = 0, tombstones = 0;
  std::vector<Claim> acks;
  for (auto _ : state) {
    if (available < k) {
      state.PauseTiming();
      if (!Fill(state, *ts.store, kQueue.type, kRefill)) break;
      available += kRefill;
      state.ResumeTiming();
    }
    uint64_t t0 = PerfCounters::Tombstones();
    auto r = ts.store->Claim(kQueue, k);
    tombstones += PerfCounters::Tombstones() - t0;
    ++claims;
    if (!r.ok() || r->size() != k) {
      state.SkipWithError(r.ok() ? "claim returned too few jobs"
                                 : ("claim: " + r.status().ToString()).c_str());
      break;
    }
    if (k == 1) {
      Status st = ts.store->Ack(r->front().claim);
      if (!st.ok()) {
        state.SkipWithError(("ack: " + st.ToString()).c_str());
        break;
      }
    } else {
      acks.clear();
      for (auto& job : *r) acks.push_back(job.claim);
      auto acked = ts.store->AckMany(acks);
      if (!acked.ok()) {
        state.SkipWithError(("ack: " + acked.status().ToString()).c_str());
        break;
      }
      for (auto& st : *acked) {
        if (!st.ok()) {
          state.SkipWithError(("ack: " + st.ToString()).c_str());
          break;
        }
      }
    }
    available -= k;
    jobs += k;
  }
  state.counters["jobs/s"] = benchmark::Counter(double(jobs), benchmark::Counter::kIsRate);
  state.counters["tombstones/claim"] = claims ? double(tombstones) / claims : 0;
  state.SetLabel(std::string("durability:") + DName(d) + " (claims/acks never sync)");
}

// Release a claimed job back to ready (no delay, no error). Only Release is timed; the
// claim before it is not (manual time).
void BM_Release(benchmark::State& state, Durability d) {
  TempStore ts(d);
  if (!Fill(state, *ts.store, kQueue.type, 10'000)) return;
  uint64_t jobs = 0;
  for (auto _ : state) {
    auto r = ts.store->Claim(kQueue, 1);
    if (!r.ok() || r->empty()) {
      state.SkipWithError("claim failed");
      break;
    }
    auto t0 = std::chrono::steady_clock::now();
    Status st = ts.store->Release(r->front().claim).status();
    auto t1 = std::chrono::steady_clock::now();
    if (!st.ok()) {
      state.SkipWithError(("release: " + st.ToString()).c_str());
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    ++jobs;
  }
  state.counters["jobs/s"] = benchmark::Counter(double(jobs), benchmark::Counter::kIsRate);
  state.SetLabel(std::string("durability:") + DName(d) + " (releases never sync)");
}

int Register() {
  for (Durability d : {Durability::kProcessCrash, Durability::kPowerLoss}) {
    std::string dn = std::string("/durability:") + DName(d);
    for (size_t b : {size_t{1}, size_t{100}}) {
      benchmark::RegisterBenchmark(("push/batch:" + std::to_string(b) + dn).c_str(), BM_Push, b,
                                   d)
          ->UseRealTime();
    }
  }
  Durability pc = Durability::kProcessCrash;
  std::string dn = std::string("/durability:") + DName(pc);
  for (size_t k : {size_t{1}, size_t{16}}) {
    benchmark::RegisterBenchmark(("claim_ack/k:" + std::to_string(k) + dn).c_str(), BM_ClaimAck,
                                 k, pc)
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark(("release" + dn).c_str(), BM_Release, pc)->UseManualTime();
  return 0;
}
const int registered = Register();

}  // namespace
}  // namespace jobstore::bench
