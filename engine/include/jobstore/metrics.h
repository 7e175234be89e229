// Metrics: a StoreObserver (observer.h) that counts what a store does, and the Prometheus text
// exposition of it together with what the store holds now. Served at /metrics by the status
// server (status_server.h); `jobstore metrics` prints the store's part.
//
//   auto metrics = std::make_shared<jobstore::Metrics>();
//   jobstore::Options options;
//   options.observer = metrics;
//   auto store = jobstore::Store::Open("/var/lib/app/jobs", options);
//   ...
//   auto text = metrics->Exposition(**store, {.disk_paths = {{"", "/var/lib/app/jobs"}}});
//
// The families (every queue labelled domain and type, and backend on a routed store):
//   jobstore_queue_jobs{state}                      gauge: jobs per queue and state
//   jobstore_queue_oldest_ready_age_seconds          gauge: age of the job at the head of the
//                                                    ready order (0 when none is ready)
//   jobstore_jobs_{pushed,deduplicated,claimed,acked,released,reclaimed,promoted,pruned,
//                  repushed,deleted}_total           counters
//   jobstore_jobs_abandoned_total{cause}             counter: cause "failed" (by a release) or
//                                                    "expired" (a claim expired, no tries left)
//   jobstore_store_call_duration_seconds{call}       histogram: push, claim and ack calls
//   jobstore_runner_job_duration_seconds{type}       histogram: jobs the runner ran
//   jobstore_runner_jobs_total{type,outcome}         counter: how they ended
//   jobstore_store_size_bytes{backend}               gauge: files on disk (disk_paths)
//   jobstore_build_info{version,medium}              gauge: always 1
// Counters and histograms count from this object's creation (per process, as a Prometheus
// exporter does: rate() and increase() take a restart as a reset).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jobstore/observer.h"
#include "jobstore/status.h"
#include "jobstore/store.h"

namespace jobstore {

struct ExpositionOptions {
  // Include the counters and histograms this object holds (false: only what the store holds
  // now, as `jobstore metrics` prints from a process that did nothing itself).
  bool counters = true;
  // Files whose size on disk is reported, as (backend label, path): a directory is summed over
  // every file under it. An empty label gives the metric no backend label.
  std::vector<std::pair<std::string, std::string>> disk_paths;
};

class Metrics final : public StoreObserver {
 public:
  Metrics();
  ~Metrics() override;

  // StoreObserver: thread-safe; a queue or type seen for the first time takes a lock once,
  // every later call only atomic increments under a shared lock.
  void OnJobs(std::string_view domain, std::string_view type, Event event, uint64_t n) override;
  void OnCall(Call call, int64_t nanoseconds) override;
  void OnJobRun(std::string_view domain, std::string_view type, Outcome outcome,
                int64_t ms) override;

  // The exposition (Prometheus text format 0.0.4) of `store` read now and of these counters:
  // every queue of the store gets every per-queue family, zeros included, so a rate starts at
  // the first event. Times come from the store's clock. Fails only when the store cannot be
  // read. Thread-safe.
  Result<std::string> Exposition(Store& store, const ExpositionOptions& options = {}) const;

  // One counter's value, for tests and tools.
  uint64_t Count(const QueueRef& queue, Event event) const;

 private:
  struct Histogram;
  struct QueueCounters;
  struct TypeCounters;
  // Orders (domain, type) keys and finds them by string_views without building strings.
  struct KeyLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::pair<std::string_view, std::string_view>(a.first, a.second) <
             std::pair<std::string_view, std::string_view>(b.first, b.second);
    }
  };
  using Key = std::pair<std::string, std::string>;
  using KeyView = std::pair<std::string_view, std::string_view>;

  QueueCounters& CountersOf(std::string_view domain, std::string_view type);
  TypeCounters& RunsOf(std::string_view type);

  mutable std::shared_mutex mu_;  // guards the maps' shape; the counters are atomics
  std::map<Key, std::unique_ptr<QueueCounters>, KeyLess> queues_;
  std::map<std::string, std::unique_ptr<TypeCounters>, std::less<>> types_;
  std::array<std::unique_ptr<Histogram>, kCalls> calls_;
};

}  // namespace jobstore
