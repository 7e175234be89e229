#include "reliability/harness.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>

namespace jobstore::testing {

std::string FreshDir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  std::filesystem::path base = tmp && *tmp ? tmp : "/tmp";
  std::filesystem::path dir =
      base / ("jobstore-rel-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void RemoveDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

uint64_t EnvU64(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  return std::strtoull(v, nullptr, 10);
}

uint64_t TestSeed() {
  uint64_t seed = EnvU64("JOBSTORE_SEED", 0);
  if (seed != 0) return seed;
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

Status MaintainUntilIdle(Store& store, ManualClock& clock, int64_t advance_ms) {
  clock.Advance(advance_ms);
  for (int pass = 0; pass < 100000; ++pass) {
    auto r = store.Maintain();
    if (!r.ok()) return r.status();
    if (!r->more) return Status::OK();
  }
  return Status::Corruption("Maintain() reports more work after 100000 passes");
}

std::string DrainAll(Store& store, ManualClock& clock) {
  // Claims expire and delayed jobs come due; nothing reaches retention (pruning is fine too).
  Status s = MaintainUntilIdle(store, clock, 3LL * 24 * 3600 * 1000);
  if (!s.ok()) return "maintain: " + s.ToString();
  auto queues = store.Queues();
  if (!queues.ok()) return "queues: " + queues.status().ToString();
  for (auto& qs : *queues) {
    auto repushed = store.RepushAbandoned(qs.queue);
    if (!repushed.ok()) return "repush: " + repushed.status().ToString();
    for (int round = 0;; ++round) {
      if (round > 1000000) return "claiming never ends in " + qs.queue.type;
      auto jobs = store.Claim(qs.queue, 256);
      if (!jobs.ok()) return "claim: " + jobs.status().ToString();
      if (jobs->empty()) break;
      std::vector<Claim> claims;
      for (auto& j : *jobs) claims.push_back(j.claim);
      auto acked = store.AckMany(claims);
      if (!acked.ok()) return "ack: " + acked.status().ToString();
      for (auto& st : *acked) {
        if (!st.ok()) return "ack: " + st.ToString();
      }
    }
    auto counts = store.Counts(qs.queue);
    if (!counts.ok()) return "counts: " + counts.status().ToString();
    if (counts->total() != 0) {
      return "queue (" + qs.queue.domain + "," + qs.queue.type + ") still holds " +
             std::to_string(counts->total()) + " jobs after draining";
    }
  }
  auto ready = store.ReadyQueues();
  if (!ready.ok()) return "ready queues: " + ready.status().ToString();
  if (!ready->empty()) return "ReadyQueues() not empty after draining";
  return "";
}

}  // namespace jobstore::testing
