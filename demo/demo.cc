// jobstore demo: creates a store under the working directory, pushes jobs to two queues,
// claims and acks them, shows a delayed job, a failed job and the counts at each step.
#include <cstdio>
#include <string>
#include <vector>

#include "jobstore/store.h"

using namespace jobstore;

namespace {

void PrintCounts(Store& store, const char* when) {
  std::printf("\n%s\n  %-10s %-10s %6s %8s %8s %10s\n", when, "domain", "type", "ready",
              "claimed", "delayed", "abandoned");
  auto queues = store.Queues();
  if (!queues.ok()) {
    std::printf("  (cannot list the queues: %s)\n", queues.status().ToString().c_str());
    return;
  }
  for (const QueueStats& q : *queues) {
    std::printf("  %-10s %-10s %6llu %8llu %8llu %10llu\n",
                q.queue.domain.empty() ? "(default)" : q.queue.domain.c_str(),
                q.queue.type.c_str(), (unsigned long long)q.counts.ready,
                (unsigned long long)q.counts.claimed, (unsigned long long)q.counts.delayed,
                (unsigned long long)q.counts.abandoned);
  }
}

int Fail(const Status& s) {
  std::fprintf(stderr, "demo: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "demo-store";
  Options options;  // durability: power-loss (pushes are fsynced)
  auto opened = Store::Open(path, options);
  if (!opened.ok()) return Fail(opened.status());
  Store& store = **opened;
  std::printf("store: %s (durability: power-loss)\n", path.c_str());

  std::vector<JobSpec> jobs;
  for (int i = 0; i < 1000; ++i) {
    jobs.push_back({.type = "email", .params = "{\"to\":\"user" + std::to_string(i) + "\"}"});
  }
  for (int i = 0; i < 200; ++i) {
    jobs.push_back({.type = "thumbnail", .domain = "wiki2", .params = "{\"file\":" + std::to_string(i) + "}"});
  }
  jobs.push_back({.type = "email", .params = "{\"digest\":true}", .release_at_ms = SystemClock()->NowMs() + 3'600'000});
  auto pushed = store.Push(jobs);
  if (!pushed.ok()) return Fail(pushed.status());
  std::printf("pushed %zu jobs in one atomic batch (ids %llu..%llu)\n", pushed->pushed,
              (unsigned long long)pushed->ids.front(), (unsigned long long)pushed->ids.back());
  PrintCounts(store, "after push:");

  auto ready = store.ReadyQueues();
  if (!ready.ok()) return Fail(ready.status());
  std::printf("\nready queues (the ready index):");
  for (const QueueRef& q : *ready) {
    std::printf(" %s/%s", q.domain.empty() ? "(default)" : q.domain.c_str(), q.type.c_str());
  }
  std::printf("\n");

  // A worker loop: claim up to 16 from ready queues picked at random, "run", ack.
  size_t done = 0, failed = 0;
  for (;;) {
    auto claimed = store.ClaimAny({}, 16);
    if (!claimed.ok()) return Fail(claimed.status());
    if (claimed->empty()) break;
    std::vector<Claim> ok;
    for (const ClaimedJob& job : *claimed) {
      if (job.claim.id == pushed->ids[7]) {  // pretend one job fails: it is retried later
        auto released = store.Release(job.claim, 60'000, "smtp server unavailable");
        if (!released.ok()) return Fail(released.status());
        ++failed;
        continue;
      }
      ok.push_back(job.claim);
    }
    auto acked = store.AckMany(ok);
    if (!acked.ok()) return Fail(acked.status());
    for (const Status& s : *acked) {
      if (!s.ok()) return Fail(s);
    }
    done += ok.size();
  }
  std::printf("\nworker acked %zu jobs, released %zu failed job for a retry in 60 s\n", done, failed);
  PrintCounts(store, "after the worker drained the ready queues:");

  auto report = store.Maintain();
  if (!report.ok()) return Fail(report.status());
  std::printf("\nmaintenance pass: promoted %llu, reclaimed %llu, abandoned %llu, pruned %llu\n",
              (unsigned long long)report->promoted, (unsigned long long)report->reclaimed,
              (unsigned long long)report->abandoned, (unsigned long long)report->pruned);
  auto violations = store.Check();
  if (!violations.ok()) return Fail(violations.status());
  std::printf("invariant check: %s\n", violations->empty() ? "healthy" : "VIOLATIONS");
  for (const auto& v : *violations) std::printf("  %s\n", v.c_str());
  return violations->empty() ? 0 : 1;
}
