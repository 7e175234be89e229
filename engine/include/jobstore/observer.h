// StoreObserver: what a store did, told as it happens, for metrics (jobstore/metrics.h is the
// Prometheus one). Set Options::observer when opening a store: the policy layer, which every
// medium runs under (and, for a served store, the server's), calls it after each operation that
// moved jobs, with the queue and how many, and after each push, claim and ack with how long the
// call took; the runner (runner.h) reports each job it ran to its store's observer.
//
//   auto metrics = std::make_shared<jobstore::Metrics>();
//   jobstore::Options options;
//   options.observer = metrics;
//   auto store = jobstore::Store::Open("/var/lib/app/jobs", options);
//
// Every method is called on the thread that made the store call, after the medium committed,
// possibly from many threads at once: an implementation is thread-safe, never blocks and never
// calls the store (it runs on the hot path of push, claim and ack). A store without an observer
// pays one null check per call.
//
// A client of a served store (unix:, tcp:, or a directory another process serves) runs no
// policy of its own: its observer hears only the runner's jobs (OnJobRun); the owner's
// observer (jobstore serve --http, run --http in the owner) counts what every client did.
#pragma once

#include <cstdint>
#include <string_view>

namespace jobstore {

class StoreObserver {
 public:
  // What happened to jobs of one queue.
  enum class Event : uint8_t {
    kPushed,            // accepted by a push (duplicates are not)
    kDeduplicated,      // dropped by a push as identical to a queued job
    kClaimed,           // handed out by Claim or ClaimAny (superseded ones too)
    kAcked,             // removed by an ack
    kReleased,          // given back by Release (to ready or delayed) or ForceRelease
    kAbandonedFailed,   // abandoned by Release: failed with no tries left, or retries off
    kAbandonedExpired,  // abandoned by maintenance: its claim expired with no tries left
    kReclaimed,         // made ready by maintenance: its claim expired with tries left
    kPromoted,          // made ready by maintenance: its delay ended
    kPruned,            // deleted by maintenance: abandoned for longer than the retention
    kRepushed,          // made ready again from abandoned (RetryJob, RepushAbandoned)
    kDeleted,           // removed by DeleteJob
  };
  static constexpr int kEvents = 12;

  // Store calls whose duration is measured (real time, whatever the store's clock says). An
  // AckThenClaimAny whose acks and claim are one write is one kClaim.
  enum class Call : uint8_t { kPush, kClaim, kAck };
  static constexpr int kCalls = 3;

  // How a job the runner ran ended.
  enum class Outcome : uint8_t {
    kSucceeded,   // ran and was acked
    kFailed,      // failed and was acked: its job class allows no retries
    kRetried,     // failed and was released for a retry
    kAbandoned,   // failed and was released, and the store abandoned it (no tries left)
    kSuperseded,  // a newer root job covers it: acked without running
    kUnsettled,   // its ack or release failed (a stale claim): it will run again or is gone
  };
  static constexpr int kOutcomes = 6;

  virtual ~StoreObserver() = default;

  // `n` (>= 1) jobs of queue (domain, type) went through `event`. The views are valid only
  // during the call.
  virtual void OnJobs(std::string_view domain, std::string_view type, Event event,
                      uint64_t n) = 0;
  // A call to the store took `nanoseconds` from entry to return (failed calls included).
  virtual void OnCall(Call call, int64_t nanoseconds) = 0;
  // The runner finished a job of `type` in `ms` by the runner's clock.
  virtual void OnJobRun(std::string_view domain, std::string_view type, Outcome outcome,
                        int64_t ms) {}
};

}  // namespace jobstore
