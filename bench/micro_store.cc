// Micro-benchmarks of the store-wide operations: Maintain with 100k expired claims,
// PickReadyQueue among 10,000 ready queues, Store::Open.
#include <chrono>
#include <cstdio>
#include <string>

#include "micro_common.h"

namespace jobstore::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;
double Secs(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// One iteration: 100k jobs are claimed with a 1 s lease (untimed), the ManualClock jumps
// 2 s ahead, then Maintain() runs until it reports no more work (timed). max_tries is raised
// so every expired claim goes back to ready, each iteration alike.
void BM_MaintainExpired(benchmark::State& state, Durability d) {
  constexpr size_t kJobs = 100'000;
  const QueueRef q{"", "maint"};
  TempStore ts(d);
  TypeSettings ts_settings;
  ts_settings.max_tries = 1'000'000;
  if (Status st = ts.store->SetTypeSettings(q.type, ts_settings); !st.ok()) {
    state.SkipWithError(("settings: " + st.ToString()).c_str());
    return;
  }
  if (!Fill(state, *ts.store, q.type, kJobs)) return;
  uint64_t reclaimed = 0, passes = 0;
  for (auto _ : state) {
    for (size_t claimed = 0; claimed < kJobs;) {
      auto r = ts.store->Claim(q, 1000, /*ttl_ms=*/1000);
      if (!r.ok() || r->empty()) {
        state.SkipWithError("claim failed or queue empty");
        return;
      }
      claimed += r->size();
    }
    ts.clock->Advance(2000);
    auto t0 = SteadyClock::now();
    uint64_t this_round = 0;
    for (;;) {
      auto rep = ts.store->Maintain();
      ++passes;
      if (!rep.ok()) {
        state.SkipWithError(("maintain: " + rep.status().ToString()).c_str());
        return;
      }
      this_round += rep->reclaimed + rep->abandoned;
      if (!rep->more) break;
    }
    auto t1 = SteadyClock::now();
    state.SetIterationTime(Secs(t0, t1));
    if (this_round != kJobs) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "maintain reclaimed %llu of %zu expired claims",
                    (unsigned long long)this_round, kJobs);
      state.SkipWithError(buf);
      return;
    }
    reclaimed += this_round;
  }
  state.counters["jobs/s"] = benchmark::Counter(double(reclaimed), benchmark::Counter::kIsRate);
  state.counters["passes"] = double(passes) / std::max<uint64_t>(1, state.iterations());
  state.SetLabel(std::string("durability:") + DName(d) + " (maintenance never syncs)");
}

// PickReadyQueue with 10,000 ready queues: one job in each of 10,000 domains of one type.
// The store is built once per process and kept for every run of the benchmark: registering a
// new domain is one synced write each (store_impl.cc GetDomain), so the setup alone takes
// 10,000 fsyncs.
void BM_PickReadyQueue(benchmark::State& state, Durability d) {
  constexpr int kQueues = 10'000;
  static std::unique_ptr<TempStore> shared;
  if (!shared) {
    auto ts = std::make_unique<TempStore>(d);
    std::vector<JobSpec> specs;
    for (int i = 0; i < kQueues; ++i) {
      char dom[16];
      std::snprintf(dom, sizeof dom, "d%05d", i);
      specs.emplace_back();
      specs.back().type = "pick";
      specs.back().domain.assign(dom);
      specs.back().params.assign(1, 'x');
      if (specs.size() == 1000) {
        if (auto r = ts->store->Push(specs); !r.ok()) {
          state.SkipWithError(("push: " + r.status().ToString()).c_str());
          return;
        }
        specs.clear();
      }
    }
    shared = std::move(ts);
  }
  TempStore& ts = *shared;
  uint64_t picks = 0;
  for (auto _ : state) {
    auto q = ts.store->PickReadyQueue();
    if (!q.ok() || !*q) {
      state.SkipWithError("no ready queue");
      break;
    }
    benchmark::DoNotOptimize(q);
    ++picks;
  }
  state.counters["picks/s"] = benchmark::Counter(double(picks), benchmark::Counter::kIsRate);
  state.SetLabel(std::string("durability:") + DName(d) + " (read only)");
}

// Store::Open of a closed store holding `jobs` ready jobs (100-byte params) in `types` types.
// Only Open is timed; the close after it is not.
void BM_Open(benchmark::State& state, uint64_t jobs, int types, Durability d) {
  std::string dir = MakeTempDir("jobstore_micro_open");
  std::string path = dir + "/store";
  Options opts;
  opts.durability = d;
  {
    auto r = Store::Open(path, opts);
    if (!r.ok()) {
      state.SkipWithError(("open: " + r.status().ToString()).c_str());
      RemoveDir(dir);
      return;
    }
    for (int t = 0; t < types; ++t) {
      if (!Fill(state, **r, "open_t" + std::to_string(t), jobs / types, 10'000)) {
        RemoveDir(dir);
        return;
      }
    }
  }
  for (auto _ : state) {
    auto t0 = SteadyClock::now();
    auto r = Store::Open(path, opts);
    auto t1 = SteadyClock::now();
    if (!r.ok()) {
      state.SkipWithError(("open: " + r.status().ToString()).c_str());
      break;
    }
    state.SetIterationTime(Secs(t0, t1));
    r.value().reset();
  }
  RemoveDir(dir);
  state.SetLabel(std::string("durability:") + DName(d));
}

int Register() {
  Durability pc = Durability::kProcessCrash;
  std::string dn = std::string("/durability:") + DName(pc);
  benchmark::RegisterBenchmark(("maintain/expired_claims:100000" + dn).c_str(),
                               BM_MaintainExpired, pc)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(3);
  benchmark::RegisterBenchmark(("pick_ready_queue/ready_queues:10000" + dn).c_str(),
                               BM_PickReadyQueue, pc)
      ->UseRealTime();
  for (auto [jobs, types] : {std::pair<uint64_t, int>{0, 1}, {100'000, 1}, {100'000, 100}}) {
    char name[128];
    std::snprintf(name, sizeof name, "open/jobs:%llu/types:%d%s", (unsigned long long)jobs,
                  types, dn.c_str());
    benchmark::RegisterBenchmark(name, BM_Open, jobs, types, pc)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(10);
  }
  return 0;
}
const int registered = Register();

}  // namespace
}  // namespace jobstore::bench
