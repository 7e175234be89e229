// The same push and claim+ack micro-benchmarks on the bare-RocksDB floor (floor.h), so that
// jobstore/floor ratios can be read from one run of jobstore_micro_bench.
#include <string>

#include "floor.h"
#include "micro_common.h"

namespace jobstore::bench {
namespace {

struct TempFloor {
  std::string dir = MakeTempDir("jobstore_micro_floor");
  std::unique_ptr<FloorQueue> q;
  explicit TempFloor(Durability d) {
    Status st = FloorQueue::Open(dir + "/floor", d, FloorQueue::Variant{}, &q);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      std::abort();
    }
  }
  ~TempFloor() {
    q.reset();
    RemoveDir(dir);
  }
};

std::vector<std::string> Payloads(size_t n) {
  std::vector<std::string> v(n);
  for (size_t i = 0; i < n; ++i) v[i].assign(100, static_cast<char>('a' + i % 26));
  return v;
}

void BM_FloorPush(benchmark::State& state, size_t batch, Durability d) {
  TempFloor f(d);
  auto payloads = Payloads(batch);
  uint64_t jobs = 0;
  for (auto _ : state) {
    if (Status st = f.q->Push(payloads); !st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      break;
    }
    jobs += batch;
  }
  state.counters["jobs/s"] = benchmark::Counter(double(jobs), benchmark::Counter::kIsRate);
  state.SetLabel(std::string("durability:") + DName(d));
}

void BM_FloorClaimAck(benchmark::State& state, Durability d) {
  TempFloor f(d);
  constexpr size_t kRefill = 20'000;
  auto refill = Payloads(1000);
  auto fill = [&] {
    for (size_t i = 0; i < kRefill / 1000; ++i) {
      if (!f.q->Push(refill).ok()) return false;
    }
    return true;
  };
  if (!fill()) {
    state.SkipWithError("push failed");
    return;
  }
  size_t available = kRefill;
  PerfCounters perf;
  uint64_t jobs = 0, tombstones = 0;
  std::string payload;
  for (auto _ : state) {
    if (available == 0) {
      state.PauseTiming();
      if (!fill()) {
        state.SkipWithError("push failed");
        break;
      }
      available = kRefill;
      state.ResumeTiming();
    }
    uint64_t id = 0;
    bool found = false;
    uint64_t t0 = PerfCounters::Tombstones();
    Status st = f.q->Claim(&id, &payload, &found);
    tombstones += PerfCounters::Tombstones() - t0;
    if (!st.ok() || !found) {
      state.SkipWithError(st.ok() ? "floor queue empty" : st.ToString().c_str());
      break;
    }
    if (st = f.q->Ack(id); !st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      break;
    }
    --available;
    ++jobs;
  }
  state.counters["jobs/s"] = benchmark::Counter(double(jobs), benchmark::Counter::kIsRate);
  state.counters["tombstones/claim"] = jobs ? double(tombstones) / jobs : 0;
  state.SetLabel(std::string("durability:") + DName(d) + " (claims/acks never sync)");
}

int Register() {
  for (Durability d : {Durability::kProcessCrash, Durability::kPowerLoss}) {
    std::string dn = std::string("/durability:") + DName(d);
    for (size_t b : {size_t{1}, size_t{100}}) {
      benchmark::RegisterBenchmark(("floor/push/batch:" + std::to_string(b) + dn).c_str(),
                                   BM_FloorPush, b, d)
          ->UseRealTime();
    }
  }
  Durability pc = Durability::kProcessCrash;
  benchmark::RegisterBenchmark(
      ("floor/claim_ack/k:1/durability:" + std::string(DName(pc))).c_str(), BM_FloorClaimAck,
      pc)
      ->UseRealTime();
  return 0;
}
const int registered = Register();

}  // namespace
}  // namespace jobstore::bench
