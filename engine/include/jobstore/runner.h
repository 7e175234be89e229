// Runner: claims jobs, runs them on worker threads, acks or releases them, and stops when a
// limit is reached (MediaWiki's JobRunner / runJobs.php).
//
//   jobstore::RunnerOptions opts;
//   opts.threads = 4;
//   opts.max_time_ms = 60'000;
//   jobstore::RunReport report = jobstore::Runner(store.get(), &registry, opts).Run();
//   // report.reason: why it stopped; report.results: one entry per job.
//
// Policy, per claimed job:
//   - superseded (a newer root job with its signature exists): acked without running;
//   - Run() returned OK: acked;
//   - failed (error or exception) and allow_retries() is false: acked (the failure is final);
//   - failed and retryable: released with the error and a BackoffPolicy delay; the store
//     retries it if its type allows and attempts < max_tries, else abandons it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobstore/backoff.h"
#include "jobstore/clock.h"
#include "jobstore/registry.h"
#include "jobstore/status.h"
#include "jobstore/store.h"
#include "jobstore/throttle.h"
#include "jobstore/types.h"

namespace jobstore {

// Why a run ended.
enum class StopReason {
  kNoneReady,     // "none-ready": no allowed queue has a ready job (never in wait mode)
  kNonePossible,  // "none-possible": a requested type has no registered job class
  kJobLimit,      // "job-limit": max_jobs jobs were taken
  kTimeLimit,     // "time-limit": more than max_time_ms passed (checked after each job)
  kMemoryLimit,   // "memory-limit": resident memory exceeded memory_limit_bytes
  kSignal,        // "signal": RequestStop() or SIGINT/SIGTERM; jobs in hand were finished
  kReadOnly,      // "read-only": the store refuses writes
  kError,         // "error": a store operation failed; RunReport::status says which
};

// The reason's name as MediaWiki's runJobs reports it ("none-ready", ...).
const char* StopReasonName(StopReason reason);

// What happened to one claimed job.
struct JobResult {
  QueueRef queue;
  JobId id = 0;
  uint32_t attempt = 0;     // 1 for the first run
  bool ok = false;          // succeeded, or superseded
  bool superseded = false;  // root-job duplicate: acked without running
  bool released = false;    // failed and given back to the store for a retry (or abandonment)
  Released release;         // released: where the store put it (ready, delayed until when,
                            // or abandoned and why)
  std::string error;        // why it failed, or why its ack/release failed
  int64_t ms = 0;           // time spent on it, by the runner's clock
};

struct RunReport {
  StopReason reason = StopReason::kNoneReady;
  Status status;            // OK unless reason == kError
  uint64_t jobs = 0;        // claimed jobs handled, superseded included
  uint64_t succeeded = 0;   // ran and acked
  uint64_t failed = 0;      // ran and failed (acked or released)
  uint64_t superseded = 0;  // acked without running
  int64_t elapsed_ms = 0;   // by the runner's clock
  uint64_t reopened = 0;    // times the store was reopened (RunnerOptions::reopen)
  std::vector<JobResult> results;  // in completion order (unless keep_results is false)
};

struct RunnerOptions {
  // Worker threads, each runs one job at a time. They are the runner's own and run under
  // SCHED_BATCH (woken, they never preempt the thread that woke them; same CPU share and nice
  // value), so a job's threads and the processes it starts inherit that class.
  int threads = 1;
  // Jobs a worker claims in one call (1..kMaxClaimBatch). It runs them one after another,
  // releases a retryable failure at once, and acks the rest in the call that claims its next
  // batch (Store::AckThenClaimAny): one store call per batch instead of two per job (the
  // runner's drain of null jobs on RocksDB: bench/RESULTS.md). When the worker ends or must
  // wait for a slot under max_jobs, they are acked alone first. Meanwhile the batch's jobs
  // wait in the worker, their leases renewed by the heartbeat, so batches suit short jobs.
  // When the run stops before a batch is done (a signal, the time or memory limit, another
  // worker's error), its jobs not started are released back to ready unrun.
  size_t claim_batch = 1;
  std::optional<uint64_t> max_jobs;          // stop after taking this many jobs
  std::optional<int64_t> max_time_ms;        // stop once more than this has passed
  std::optional<uint64_t> memory_limit_bytes;  // stop once RSS exceeds this
  std::vector<std::string> types;            // only these types (empty: every registered)
  std::vector<std::string> exclude_types;    // never these
  std::optional<std::string> domain;         // only this domain (nullopt: every domain)
  // Wait mode (runJobs --wait): when nothing is ready, block until a queue gains ready jobs
  // instead of stopping with none-ready.
  bool wait = false;
  // Install SIGINT/SIGTERM handlers for the duration of Run(): a signal finishes the jobs in
  // hand and stops the run with "signal". A second signal gets the default action. The
  // signals are taken by a thread of the runner's own that unblocks them, so a program may
  // block them in all its other threads (advisable: under ThreadSanitizer a signal that lands
  // on an uninstrumented library thread, such as RocksDB's, is deferred and never handled).
  bool handle_signals = false;
  // Call Store::Maintain() when nothing is ready, so due delayed jobs and expired claims
  // become ready without a separate maintenance thread.
  bool maintain = true;
  BackoffPolicy backoff;                     // delay before retrying a failed job
  std::shared_ptr<Throttle> throttle;        // null: no per-type throttling
  std::shared_ptr<Clock> clock;              // null: the store's clock
  // Called with each job's result as it completes, one call at a time (under a lock). Each
  // job's outcome and duration also go to the store's observer (Options::observer), if any.
  std::function<void(const JobResult&)> on_result;
  bool keep_results = true;                  // collect results in RunReport::results
  // Heartbeat: jobs are claimed with a lease of `lease_ms` (instead of the type's claim TTL)
  // and, while one runs, its lease is renewed (Store::Touch) each time a third of it has
  // passed by the runner's clock. A long job keeps its claim; the jobs of a runner that died
  // (kill -9, a lost machine) are reclaimed by maintenance within about `lease_ms`, not after
  // the claim TTL (an hour by default). 0: claim with the type's TTL and never touch.
  int64_t lease_ms = 60'000;
  // Longest real-time slice of one wait (for wait mode and throttles); a stop request or a
  // time limit is noticed within this, and the heartbeat looks at the jobs in hand this often.
  int64_t wait_slice_ms = 200;
  // Opens the store again when it becomes unreachable: a served store whose owner exited
  // fails every call with Unavailable. The runner then calls this, with backoff (10 ms
  // doubling to 1 s) while it fails with Unavailable, DeadlineExceeded or Busy, and carries on
  // with the store it returns (say, Store::Open of the same directory, which makes this
  // process the owner or connects to the new one). Jobs in hand are acked or released there:
  // claims survive an owner's exit and their tokens still work. Null: the runner rides an
  // outage out, trying again each wait slice, for media that reconnect by themselves (Redis,
  // PostgreSQL). Any other error of this function ends the run with it.
  std::function<Result<std::unique_ptr<Store>>()> reopen;
};

class Runner {
 public:
  // `store` and `registry` must outlive the runner. A store reopened during a run
  // (RunnerOptions::reopen) is the runner's, closed when the runner is destroyed.
  Runner(Store* store, const JobRegistry* registry, RunnerOptions options);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Runs jobs on options.threads worker threads until a stop reason is reached, and returns
  // the report. Jobs in hand when the run stops are always finished and acked or released.
  // Blocks the caller. Not reentrant: call it from one thread at a time (it may be called
  // again after it returned; a stop request stays in force).
  RunReport Run();

  // Asks a running (or future) Run() to stop after the jobs in hand; it ends with "signal".
  // Thread-safe and cheap; callable from any thread, but not from a signal handler (use
  // RunnerOptions::handle_signals).
  void RequestStop();

  // Whether a stop was requested. Thread-safe.
  bool stop_requested() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobstore
