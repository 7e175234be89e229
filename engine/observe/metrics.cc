// The counters of a Metrics observer, and the exposition of them with the store's gauges.
#include "jobstore/metrics.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <set>

#include "oldest_ready.h"
#include "prometheus_text.h"

#ifndef JOBSTORE_VERSION
#define JOBSTORE_VERSION "unknown"
#endif

namespace jobstore {
namespace {

using observe::Label;
using observe::PrometheusText;
using Event = StoreObserver::Event;
using Call = StoreObserver::Call;
using Outcome = StoreObserver::Outcome;

// Bucket upper bounds. Store calls in nanoseconds: 50 us (a memory claim) to 2.5 s (a fsynced
// push of a large batch on a slow disk). Jobs in milliseconds: 10 ms to an hour.
const std::vector<int64_t> kCallBucketsNs = {
    50'000,     100'000,    250'000,     500'000,     1'000'000,   2'500'000,
    5'000'000,  10'000'000, 25'000'000,  50'000'000,  100'000'000, 250'000'000,
    500'000'000, 1'000'000'000, 2'500'000'000};
const std::vector<int64_t> kJobBucketsMs = {10,     50,     100,     250,     500,     1'000,
                                            2'500,  5'000,  10'000,  30'000,  60'000,  120'000,
                                            300'000, 600'000, 1'800'000, 3'600'000};

// The counter family of each event, in Event order. Both abandonment events share one family,
// told apart by `cause`.
struct EventFamily {
  const char* name;
  const char* help;
  const char* cause;  // non-null: a sample of jobstore_jobs_abandoned_total
};
constexpr EventFamily kEventFamilies[StoreObserver::kEvents] = {
    {"jobstore_jobs_pushed_total", "Jobs accepted by pushes (duplicates not included).", nullptr},
    {"jobstore_jobs_deduplicated_total", "Jobs dropped by pushes as identical to a queued job.",
     nullptr},
    {"jobstore_jobs_claimed_total", "Jobs handed out by claims.", nullptr},
    {"jobstore_jobs_acked_total", "Claimed jobs removed by an ack.", nullptr},
    {"jobstore_jobs_released_total", "Claimed jobs given back to ready or delayed by a release (forced ones too).",
     nullptr},
    {"jobstore_jobs_abandoned_total", nullptr, "failed"},
    {"jobstore_jobs_abandoned_total", nullptr, "expired"},
    {"jobstore_jobs_reclaimed_total",
     "Jobs made ready again by maintenance after their claim expired.", nullptr},
    {"jobstore_jobs_promoted_total", "Delayed jobs made ready by maintenance.", nullptr},
    {"jobstore_jobs_pruned_total", "Abandoned jobs deleted by maintenance past their retention.",
     nullptr},
    {"jobstore_jobs_repushed_total", "Abandoned jobs made ready again (retry, repush).", nullptr},
    {"jobstore_jobs_deleted_total", "Jobs removed one by one (delete).", nullptr},
};
constexpr const char* kAbandonedHelp =
    "Jobs abandoned: cause failed (a release with no tries left or retries off) or expired (a "
    "claim expired with no tries left).";

constexpr const char* kCallNames[StoreObserver::kCalls] = {"push", "claim", "ack"};
constexpr const char* kOutcomeNames[StoreObserver::kOutcomes] = {
    "succeeded", "failed", "retried", "abandoned", "superseded", "unsettled"};
constexpr const char* kStateNames[] = {"ready", "claimed", "delayed", "abandoned"};

uint64_t DiskBytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    auto n = fs::file_size(path, ec);
    return ec ? 0 : n;
  }
  uint64_t total = 0;
  // Files come and go under a live RocksDB (compaction): skip what vanished mid-walk.
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec)) {
      auto n = it->file_size(fec);
      if (!fec) total += n;
    }
  }
  return total;
}

}  // namespace

struct Metrics::Histogram {
  Histogram(const std::vector<int64_t>& bounds, double units_per_second)
      : bounds(bounds), units_per_second(units_per_second), buckets(bounds.size() + 1) {}

  void Observe(int64_t value) {
    value = std::max<int64_t>(value, 0);
    const size_t i = static_cast<size_t>(
        std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    sum.fetch_add(static_cast<uint64_t>(value), std::memory_order_relaxed);
  }

  // The family's samples for one label set (`labels` plus le).
  void Write(PrometheusText* out, std::string_view name, std::vector<Label> labels) const {
    uint64_t cumulative = 0;
    labels.emplace_back("le", "");
    const std::string bucket = std::string(name) + "_bucket";
    std::string le;
    for (size_t i = 0; i <= bounds.size(); ++i) {
      cumulative += buckets[i].load(std::memory_order_relaxed);
      le = i < bounds.size() ? observe::FormatNumber(static_cast<double>(bounds[i]) / units_per_second)
                             : "+Inf";
      labels.back().second = le;
      out->Sample(bucket, labels, cumulative);
    }
    labels.pop_back();
    out->Sample(std::string(name) + "_sum", labels,
                static_cast<double>(sum.load(std::memory_order_relaxed)) / units_per_second);
    // The count is the +Inf bucket, as the format requires, even while observations land.
    out->Sample(std::string(name) + "_count", labels, cumulative);
  }

  const std::vector<int64_t>& bounds;
  const double units_per_second;
  std::vector<std::atomic<uint64_t>> buckets;  // not cumulative: bucket i counts (b[i-1], b[i]]
  std::atomic<uint64_t> sum{0};
};

struct Metrics::QueueCounters {
  std::array<std::atomic<uint64_t>, kEvents> n{};
};

struct Metrics::TypeCounters {
  TypeCounters() : duration(kJobBucketsMs, 1e3) {}
  std::array<std::atomic<uint64_t>, kOutcomes> outcomes{};
  Histogram duration;
};

Metrics::Metrics() {
  for (auto& h : calls_) h = std::make_unique<Histogram>(kCallBucketsNs, 1e9);
}

Metrics::~Metrics() = default;

Metrics::QueueCounters& Metrics::CountersOf(std::string_view domain, std::string_view type) {
  const KeyView key(domain, type);
  {
    std::shared_lock l(mu_);
    auto it = queues_.find(key);
    if (it != queues_.end()) return *it->second;
  }
  std::unique_lock l(mu_);
  auto [it, inserted] = queues_.try_emplace(Key(domain, type), nullptr);
  if (inserted) it->second = std::make_unique<QueueCounters>();
  return *it->second;
}

Metrics::TypeCounters& Metrics::RunsOf(std::string_view type) {
  {
    std::shared_lock l(mu_);
    auto it = types_.find(type);
    if (it != types_.end()) return *it->second;
  }
  std::unique_lock l(mu_);
  auto [it, inserted] = types_.try_emplace(std::string(type), nullptr);
  if (inserted) it->second = std::make_unique<TypeCounters>();
  return *it->second;
}

void Metrics::OnJobs(std::string_view domain, std::string_view type, Event event, uint64_t n) {
  CountersOf(domain, type).n[static_cast<size_t>(event)].fetch_add(n, std::memory_order_relaxed);
}

void Metrics::OnCall(Call call, int64_t nanoseconds) {
  calls_[static_cast<size_t>(call)]->Observe(nanoseconds);
}

void Metrics::OnJobRun(std::string_view domain, std::string_view type, Outcome outcome,
                       int64_t ms) {
  TypeCounters& t = RunsOf(type);
  t.outcomes[static_cast<size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
  t.duration.Observe(ms);
}

uint64_t Metrics::Count(const QueueRef& queue, Event event) const {
  std::shared_lock l(mu_);
  auto it = queues_.find(KeyView(queue.domain, queue.type));
  return it == queues_.end() ? 0 : it->second->n[static_cast<size_t>(event)].load();
}

Result<std::string> Metrics::Exposition(Store& store, const ExpositionOptions& options) const {
  auto queues = store.Queues();
  if (!queues.ok()) return queues.status().Prefixed("metrics: list the store's queues");
  const int64_t now = observe::StoreNow(store);
  std::vector<double> age(queues->size(), 0.0);
  for (size_t i = 0; i < queues->size(); ++i) {
    auto ms = observe::OldestReadyAgeMs(store, (*queues)[i], now);
    if (!ms.ok()) return ms.status().Prefixed("metrics");
    age[i] = static_cast<double>(*ms) / 1e3;
  }
  auto labels_of = [](const QueueStats& q) {
    std::vector<Label> l = {{"domain", q.queue.domain}, {"type", q.queue.type}};
    if (!q.backend.empty()) l.emplace_back("backend", q.backend);
    return l;
  };

  PrometheusText out;
  out.Family("jobstore_queue_jobs", "gauge", "Jobs in the store, per queue and state.");
  for (const QueueStats& q : *queues) {
    const uint64_t by_state[] = {q.counts.ready, q.counts.claimed, q.counts.delayed,
                                 q.counts.abandoned};
    for (size_t s = 0; s < 4; ++s) {
      auto l = labels_of(q);
      l.emplace_back("state", kStateNames[s]);
      out.Sample("jobstore_queue_jobs", l, by_state[s]);
    }
  }
  out.Family("jobstore_queue_oldest_ready_age_seconds", "gauge",
             "Age of the job at the head of the queue's ready order, the next to be claimed "
             "(the oldest ready job of a fifo or random queue); 0 when none is ready.");
  for (size_t i = 0; i < queues->size(); ++i) {
    out.Sample("jobstore_queue_oldest_ready_age_seconds", labels_of((*queues)[i]), age[i]);
  }

  if (options.counters) {
    std::shared_lock l(mu_);
    // Every queue of the store and every queue counted (one deleted since, say), once each.
    std::set<KeyView> keys;
    for (const QueueStats& q : *queues) keys.emplace(q.queue.domain, q.queue.type);
    for (const auto& [key, counters] : queues_) keys.emplace(key.first, key.second);
    auto value = [&](const KeyView& key, int e) -> uint64_t {
      auto it = queues_.find(key);
      return it == queues_.end() ? 0 : it->second->n[static_cast<size_t>(e)].load();
    };
    for (int e = 0; e < kEvents; ++e) {
      const EventFamily& f = kEventFamilies[e];
      if (f.cause && e > 0 && kEventFamilies[e - 1].cause) continue;  // written with the first
      out.Family(f.name, "counter", f.cause ? kAbandonedHelp : f.help);
      for (const KeyView& key : keys) {
        if (!f.cause) {
          out.Sample(f.name, {{"domain", key.first}, {"type", key.second}}, value(key, e));
          continue;
        }
        for (int c = e; c < kEvents && kEventFamilies[c].cause; ++c) {
          out.Sample(f.name,
                     {{"domain", key.first}, {"type", key.second}, {"cause", kEventFamilies[c].cause}},
                     value(key, c));
        }
      }
    }
    out.Family("jobstore_store_call_duration_seconds", "histogram",
               "How long push, claim and ack calls to the store took, from entry to return.");
    for (int c = 0; c < kCalls; ++c) {
      calls_[static_cast<size_t>(c)]->Write(&out, "jobstore_store_call_duration_seconds",
                                            {{"call", kCallNames[c]}});
    }
    out.Family("jobstore_runner_job_duration_seconds", "histogram",
               "How long the runner took over each job (run, then ack or release), per type.");
    for (const auto& [type, t] : types_) {
      t->duration.Write(&out, "jobstore_runner_job_duration_seconds", {{"type", type}});
    }
    out.Family("jobstore_runner_jobs_total", "counter",
               "Jobs the runner finished, per type and outcome: succeeded, failed (final), "
               "retried, abandoned, superseded, unsettled (its ack or release failed).");
    for (const auto& [type, t] : types_) {
      for (int o = 0; o < kOutcomes; ++o) {
        out.Sample("jobstore_runner_jobs_total", {{"type", type}, {"outcome", kOutcomeNames[o]}},
                   t->outcomes[static_cast<size_t>(o)].load());
      }
    }
  }

  if (!options.disk_paths.empty()) {
    out.Family("jobstore_store_size_bytes", "gauge", "Size of the store's files on disk.");
    for (const auto& [backend, path] : options.disk_paths) {
      std::vector<Label> l;
      if (!backend.empty()) l.emplace_back("backend", backend);
      out.Sample("jobstore_store_size_bytes", l, DiskBytes(path));
    }
  }
  const std::string medium = store.capabilities().medium;
  out.Family("jobstore_build_info", "gauge",
             "Always 1; the labels say which jobstore serves and on which medium.");
  out.Sample("jobstore_build_info", {{"version", JOBSTORE_VERSION}, {"medium", medium}},
             uint64_t{1});
  return out.Take();
}

}  // namespace jobstore
