#include "jobstore/runner.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <fstream>
#include <limits>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "jobstore/job_queue_group.h"
#include "signal_stop.h"

namespace jobstore {

const char* StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kNoneReady: return "none-ready";
    case StopReason::kNonePossible: return "none-possible";
    case StopReason::kJobLimit: return "job-limit";
    case StopReason::kTimeLimit: return "time-limit";
    case StopReason::kMemoryLimit: return "memory-limit";
    case StopReason::kSignal: return "signal";
    case StopReason::kReadOnly: return "read-only";
    case StopReason::kError: return "error";
  }
  return "unknown";
}

namespace {

// Worker threads run under SCHED_BATCH: the normal class's CPU share and nice value, but a
// thread woken by another never preempts the one that woke it. With more workers than cores
// that is the store's write path: a RocksDB write group's leader wakes the writers waiting on
// it, and under the normal class the woken worker took the leader's CPU before the leader had
// handed the group on, so every other writer waited for the leader to run again. The Runner's
// drain one job at a time, W=4 on two cores: 60.0k -> 71.5k jobs/s (1.04x -> 1.25x the floor),
// W=1 unchanged (bench/RESULTS.md, eighth session; design note 42). A refusal (a seccomp
// filter, another kernel) leaves the worker in the class it inherited: only speed depends on it.
void RunAsBatchWork() {
  const sched_param param{};  // priority 0, the only one SCHED_BATCH has
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
}

// Resident set size of this process: the second field of /proc/self/statm, in pages.
// nullopt when it cannot be read (then the memory limit is not enforced).
std::optional<uint64_t> ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return std::nullopt;
  return resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// The text a failed job records: the status's message, or its full form when the message
// is empty (so a bare Status::IOError("") still says something).
std::string ErrorText(const Status& status) {
  return status.message().empty() ? status.ToString() : status.message();
}

// Runs `fn` (user code: a job's methods) and turns an exception into an error text, so that
// a throwing job is a failed job and never takes the runner down.
template <typename Fn>
std::optional<std::string> CatchJobException(Fn&& fn) {
  try {
    fn();
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string("uncaught exception: ") + e.what();
  } catch (...) {
    return std::string("uncaught exception of unknown type");
  }
}

using Outcome = StoreObserver::Outcome;

// How a handled job ended, for the store's observer.
Outcome OutcomeOf(const JobResult& result, const Status& store_status) {
  if (!store_status.ok()) return Outcome::kUnsettled;
  if (result.superseded) return Outcome::kSuperseded;
  if (result.ok) return Outcome::kSucceeded;
  if (!result.released) return Outcome::kFailed;
  return result.release.state == JobState::kAbandoned ? Outcome::kAbandoned : Outcome::kRetried;
}

// The stop reason of a run ended by store error `status`.
StopReason ReasonOf(const Status& status) {
  return status.IsReadOnly() ? StopReason::kReadOnly : StopReason::kError;
}

// A batch call whose answer does not hold one status per claim it carried.
Status MiscountedAnswer(const char* call, size_t sent, size_t answered) {
  return Status::Internal(std::string(call) + " of " + std::to_string(sent) + " claims answered " +
                          std::to_string(answered) + " statuses");
}

// Store failures that end the run, as opposed to a stale or vanished claim, which only
// concerns that job (it was reclaimed and will run again, or is gone).
bool EndsRun(const Status& status) {
  return !status.ok() && !status.IsStaleToken() && !status.IsNotFound();
}

}  // namespace

class Runner::Impl {
 public:
  Impl(Store* store, const JobRegistry* registry, RunnerOptions options)
      : registry_(registry),
        options_(std::move(options)),
        clock_(options_.clock            ? options_.clock
               : store->options().clock ? store->options().clock
                                        : SystemClock()),
        store_(store, [](Store*) {}) {}  // the caller's: not closed here

  RunReport Run();
  void RequestStop() { stop_.request_stop(); }
  bool stop_requested() const { return stop_.stop_requested(); }

 private:
  // A job a worker holds, as the heartbeat sees it: its claim, whose token each touch renews.
  struct InHand {
    std::mutex mu;
    Claim claim;            // guarded by mu
    int64_t leased_ms = 0;  // guarded by mu: when the current lease began (runner's clock)
    bool settling = false;  // guarded by mu: the worker took the claim to ack or release it
    std::shared_ptr<Store> store;
  };
  // What became of a claimed job: its result, and the store's answer to its ack or release.
  struct Handled {
    JobResult result;
    Status store_status;
  };
  // The jobs a worker ran and has not acked yet. Their acks ride on the worker's next claim
  // (Store::AckThenClaimAny: on a served store one round trip instead of two, which is most
  // of a short job's cost), or go alone when the worker ends or is about to wait.
  // Until then the heartbeat renews their leases, as while they ran.
  struct Unacked {
    std::vector<Handled> handled;
    std::vector<ClaimedJob> jobs;                 // jobs[k] is handled[k]'s
    std::vector<std::shared_ptr<InHand>> hands;   // and hands[k] its lease
    bool empty() const { return jobs.empty(); }
  };

  std::optional<StopReason> CheckStart();
  // The limits, in MediaWiki's order; without `job_limit` all but max_jobs (inside a batch,
  // whose jobs were reserved under it).
  std::optional<StopReason> CheckLimits(bool job_limit = true);
  // A worker: its rounds, then the acks of the jobs it ran last, whichever way the rounds end.
  void WorkerLoop();
  void WorkerRounds(Unacked* unacked);
  // Ends this worker's part of the run: acks what it ran first, so a failed ack is what the
  // run reports when it is the first failure.
  void End(Unacked* unacked, StopReason reason, Status status = Status::OK());
  // Acks `unacked` and claims up to `max_jobs` in one call. The acked jobs are reported;
  // *ended is an ack's store error that ends the run. Returns the claim's result.
  Result<std::vector<ClaimedJob>> AckThenPop(const std::shared_ptr<Store>& store,
                                             Unacked* unacked, size_t max_jobs, Status* ended);
  // Acks `unacked` alone (AckAll) and reports them. Returns the store error that ends the run.
  Status AckNow(Unacked* unacked);
  // Takes `unacked`'s jobs from the heartbeat: their claims with the latest tokens.
  std::vector<Claim> TakeClaims(Unacked* unacked);
  // Records the store's answers to `unacked`'s acks and reports its jobs; empties it. Returns
  // the first store error that ends the run.
  Status Settle(const std::shared_ptr<Store>& store, Unacked* unacked, std::vector<Status> acked);
  PopFilter CurrentFilter() const;
  // Runs a claimed batch in order (RunnerOptions::claim_batch): a retryable failure is
  // released at once, the rest are added to `unacked` (acked with the next claim), the jobs
  // not started when the run stops released unrun. Returns the store error that ends the
  // run, if any.
  Status RunBatch(const std::shared_ptr<Store>& store, const std::vector<ClaimedJob>& jobs,
                  Unacked* unacked);
  // Whether a batch stops before its next job: a stop request, the time or memory limit, or
  // a run another worker ended for a reason other than the job limit.
  bool CutsBatch();
  // Runs one claimed job (or not, when superseded), filling the result; *retry says whether
  // it is to be released for a retry rather than acked.
  Handled Execute(const std::shared_ptr<Store>& store, const ClaimedJob& claimed, bool* retry);
  // Releases a job that failed and may be retried, filling `handled`; on a store that became
  // unreachable, again on the reopened one.
  void ReleaseForRetry(std::shared_ptr<Store> store, const ClaimedJob& claimed, Handled* handled);
  // Acks `claims` in one call (Ack for one, AckMany for more), on a store that became
  // unreachable again on the reopened one. One status per claim. `uncertain`: an earlier call
  // carrying these acks failed in transit, so it may have applied them.
  std::vector<Status> AckAll(std::shared_ptr<Store> store, const std::vector<Claim>& claims,
                             bool uncertain = false);
  // A job that was not settled (its ack or release failed): its result says so.
  static void NoteUnsettled(Handled* handled, bool retry);
  // Tells the observer and the report how a job ended; returns its store status when that
  // ends the run.
  Status Report(const std::shared_ptr<Store>& store, const Handled& handled);
  // Takes up to claim_batch slots under max_jobs (at least one). Returns 0 when the run is
  // over or a stop was requested. Acks `unacked` before it waits for a slot.
  size_t Reserve(Unacked* unacked);
  void Unreserve(size_t slots) {
    if (options_.max_jobs && slots > 0) taken_.fetch_sub(slots);
  }
  // The heartbeat: registers a claimed job, and takes it back (with its latest token) when its
  // worker settles it; the thread renews the leases of the jobs registered meanwhile.
  std::shared_ptr<InHand> Hold(const std::shared_ptr<Store>& store, const ClaimedJob& claimed);
  ClaimedJob Unhold(const std::shared_ptr<InHand>& hand, const ClaimedJob& claimed);
  void Heartbeat(std::stop_token stop);
  // Tells the store's observer how the job ended and how long it took.
  static void Observe(StoreObserver& observer, const Handled& handled) {
    const JobResult& r = handled.result;
    observer.OnJobRun(r.queue.domain, r.queue.type, OutcomeOf(r, handled.store_status), r.ms);
  }
  // Records a handled job and marks this worker idle.
  void Record(const JobResult& result);
  // Marks this worker as no longer popping or running and wakes the waiting ones. The
  // Locked form returns the new activity count.
  void MarkIdle();
  uint64_t MarkIdleLocked();
  // Nothing was ready. Marks this worker idle, then waits for work (wait mode) or for the
  // other workers, whose jobs may push more. Returns false when this worker should exit.
  bool Idle(const std::shared_ptr<Store>& store, uint64_t epoch);
  // Runs Store::Maintain() when allowed. Returns true when it made jobs ready.
  bool Maintain(Store& store);
  // The store calls go to: the one given, until a reopen replaces it. Each worker holds it for
  // one round (a pop and its job), so a store replaced meanwhile stays open until then.
  std::shared_ptr<Store> Current();
  // `failed` answered `why`. When that says the store is unreachable or slow (IsTransient):
  // with a reopen function, reopens it (once, however many workers saw it fail), retrying
  // with backoff while the reopen fails the same way; without one, rides the outage out
  // (RideOut), since the medium reconnects by itself (a Redis or PostgreSQL server
  // restarting). Returns true when the caller should try again; false when the run must end
  // (a stop, a limit, another error: Finish() was called for the last two).
  bool Reopened(const std::shared_ptr<Store>& failed, const Status& why);
  // Waits one wait slice. Returns true so the caller tries again; false when the run ended or
  // was asked to stop meanwhile.
  bool RideOut();
  // Sets the stop reason (the first one wins) and wakes every waiting worker.
  void Finish(StopReason reason, Status status = Status::OK());
  bool Finished();

  const JobRegistry* const registry_;
  const RunnerOptions options_;
  const std::shared_ptr<Clock> clock_;
  std::mutex store_mu_;
  std::shared_ptr<Store> store_;  // guarded by store_mu_
  std::mutex reopen_mu_;          // one reopen at a time
  std::vector<std::string> allowed_types_;
  std::stop_source stop_;
  int64_t start_ms_ = 0;
  std::atomic<uint64_t> taken_{0};    // jobs claimed or being claimed: gates max_jobs
  std::atomic<uint64_t> claimed_{0};  // jobs claimed: decides job-limit
  std::mutex maintain_mu_;          // one Maintain() at a time: concurrent passes race for
                                    // the same keys and only waste work
  int64_t last_maintain_ms_ = std::numeric_limits<int64_t>::min() / 2;  // by maintain_mu_

  std::mutex hand_mu_;
  std::vector<std::shared_ptr<InHand>> in_hand_;  // guarded by hand_mu_

  std::mutex mu_;
  std::condition_variable_any cv_;  // activity_ or finished_ changed
  bool finished_ = false;           // guarded by mu_
  RunReport report_;                // guarded by mu_
  int busy_ = 0;                    // guarded by mu_: workers popping or running a job
  uint64_t activity_ = 0;           // guarded by mu_: bumped whenever a worker goes idle
};

std::optional<StopReason> Runner::Impl::CheckStart() {
  if (Current()->IsReadOnly()) return StopReason::kReadOnly;
  if (options_.types.empty()) {
    allowed_types_ = registry_->Types();
  } else {
    // MediaWiki's none-possible: asking for a type nobody can run is a configuration error,
    // not an empty queue, and must not look like one.
    for (const std::string& type : options_.types) {
      if (!registry_->Contains(type)) return StopReason::kNonePossible;
    }
    allowed_types_ = options_.types;
  }
  std::erase_if(allowed_types_, [&](const std::string& type) {
    return std::ranges::find(options_.exclude_types, type) != options_.exclude_types.end();
  });
  // An empty list would mean "any type" to the ready filter, including unrunnable ones.
  if (allowed_types_.empty()) return StopReason::kNonePossible;
  return std::nullopt;
}

std::optional<StopReason> Runner::Impl::CheckLimits(bool job_limit) {
  // MediaWiki's order: jobs, then time, then memory.
  if (job_limit && options_.max_jobs && claimed_.load() >= *options_.max_jobs) {
    return StopReason::kJobLimit;
  }
  if (options_.max_time_ms && clock_->NowMs() - start_ms_ > *options_.max_time_ms) {
    return StopReason::kTimeLimit;
  }
  if (options_.memory_limit_bytes) {
    std::optional<uint64_t> rss = ResidentBytes();
    if (rss && *rss > *options_.memory_limit_bytes) return StopReason::kMemoryLimit;
  }
  return std::nullopt;
}

RunReport Runner::Impl::Run() {
  {
    // A Runner may run again after a run returned; only a stop request carries over.
    std::lock_guard lock(mu_);
    finished_ = false;
    report_ = RunReport();
    busy_ = 0;
    taken_ = 0;
    claimed_ = 0;
    last_maintain_ms_ = std::numeric_limits<int64_t>::min() / 2;  // no worker runs yet
  }
  start_ms_ = clock_->NowMs();
  if (std::optional<StopReason> reason = CheckStart()) {
    Finish(*reason);
  } else {
    std::optional<internal::SignalStopScope> signals;
    if (options_.handle_signals) signals.emplace(stop_);
    std::jthread heartbeat;
    if (options_.lease_ms > 0) heartbeat = std::jthread([this](std::stop_token s) { Heartbeat(s); });
    std::vector<std::jthread> workers;
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      workers.emplace_back([this] { WorkerLoop(); });
    }
  }  // joins the workers, stops the heartbeat, then restores the signal handlers
  std::lock_guard lock(mu_);
  report_.elapsed_ms = clock_->NowMs() - start_ms_;
  return std::move(report_);
}

PopFilter Runner::Impl::CurrentFilter() const {
  PopFilter filter{allowed_types_, options_.exclude_types};
  if (options_.lease_ms > 0) filter.lease_ms = options_.lease_ms;
  if (options_.throttle) {
    for (std::string& type : options_.throttle->ThrottledTypes()) {
      filter.exclude.push_back(std::move(type));
    }
  }
  return filter;
}

void Runner::Impl::WorkerLoop() {
  RunAsBatchWork();
  Unacked unacked;
  WorkerRounds(&unacked);
  // Every way out of the rounds leaves the jobs run since the last claim to ack here.
  if (Status s = AckNow(&unacked); !s.ok()) Finish(StopReason::kError, std::move(s));
}

void Runner::Impl::End(Unacked* unacked, StopReason reason, Status status) {
  if (Status s = AckNow(unacked); !s.ok() && status.ok()) {
    reason = StopReason::kError;
    status = std::move(s);
  }
  Finish(reason, std::move(status));
}

void Runner::Impl::WorkerRounds(Unacked* unacked) {
  // Wait mode only: the epoch read after a pop found nothing. The pop after it finds a push
  // that came before the read; the wait on it sees one after. Read only then, not every
  // round: on a served store that read is a round trip.
  uint64_t epoch = 0;
  bool have_epoch = false;
  for (;;) {
    if (stop_.stop_requested()) return End(unacked, StopReason::kSignal);
    if (Finished()) return;
    const size_t reserved = Reserve(unacked);
    if (reserved == 0) continue;  // the loop head sees the stop or the finished run
    std::shared_ptr<Store> store = Current();
    {
      std::lock_guard lock(mu_);
      ++busy_;
    }
    Status ended;
    Result<std::vector<ClaimedJob>> popped = AckThenPop(store, unacked, reserved, &ended);
    if (!ended.ok()) {
      // An ack failed in a way that ends the run: what the same call claimed goes back unrun.
      if (popped.ok()) {
        for (const ClaimedJob& job : *popped) (void)store->Release(job.claim);
      }
      Unreserve(reserved);
      MarkIdle();
      return Finish(ReasonOf(ended), ended);
    }
    if (!popped.ok() || popped->empty()) {
      Unreserve(reserved);
      if (!popped.ok()) {
        MarkIdle();
        have_epoch = false;
        if (Reopened(store, popped.status())) continue;
        return Finish(ReasonOf(popped.status()), popped.status());
      }
      if (Maintain(*store)) {
        MarkIdle();
        continue;
      }
      if (options_.wait && !have_epoch) {
        Result<uint64_t> read = store->ReadyEpoch();
        MarkIdle();
        if (!read.ok()) {
          if (Reopened(store, read.status())) continue;
          return Finish(StopReason::kError, read.status());
        }
        epoch = *read;
        have_epoch = true;
        continue;  // pop once more before waiting on it
      }
      if (!Idle(store, epoch)) return;  // Idle marks this worker idle
      have_epoch = false;
      continue;
    }
    have_epoch = false;
    Unreserve(reserved - popped->size());
    claimed_.fetch_add(popped->size());
    {
      std::lock_guard lock(mu_);
      busy_ += static_cast<int>(popped->size()) - 1;  // each job marks one idle when recorded
    }
    ended = RunBatch(store, *popped, unacked);
    if (!ended.ok()) {
      return End(unacked, ReasonOf(ended), ended);
    }
    if (std::optional<StopReason> reason = CheckLimits()) return End(unacked, *reason);
  }
}

Result<std::vector<ClaimedJob>> Runner::Impl::AckThenPop(const std::shared_ptr<Store>& store,
                                                         Unacked* unacked, size_t max_jobs,
                                                         Status* ended) {
  JobQueueGroup group(store.get(), options_.domain);
  const PopFilter filter = CurrentFilter();
  if (unacked->empty()) return group.PopMany(filter, max_jobs);
  const std::vector<Claim> claims = TakeClaims(unacked);
  Result<AckedThenClaimed> both = group.AckThenPopMany(claims, filter, max_jobs);
  if (!both.ok()) {
    // Nothing was done: the acks go alone, with AckAll's retries and reopen, and the pop
    // fails as the call did, so the rounds deal with it as with any failed pop.
    *ended = Settle(store, unacked,
                    AckAll(store, claims, /*uncertain=*/both.status().IsTransient()));
    return both.status();
  }
  std::vector<Status> acked = std::move(both->acked);
  if (acked.size() != claims.size()) {
    acked.assign(claims.size(), MiscountedAnswer("AckThenClaimAny", claims.size(), acked.size()));
  }
  *ended = Settle(store, unacked, std::move(acked));
  return std::move(both->claimed);
}

Status Runner::Impl::AckNow(Unacked* unacked) {
  if (unacked->empty()) return Status::OK();
  std::shared_ptr<Store> store = Current();
  return Settle(store, unacked, AckAll(store, TakeClaims(unacked)));
}

std::vector<Claim> Runner::Impl::TakeClaims(Unacked* unacked) {
  std::vector<Claim> claims;
  claims.reserve(unacked->jobs.size());
  for (size_t k = 0; k < unacked->jobs.size(); ++k) {
    claims.push_back(Unhold(unacked->hands[k], unacked->jobs[k]).claim);
  }
  return claims;
}

Status Runner::Impl::Settle(const std::shared_ptr<Store>& store, Unacked* unacked,
                            std::vector<Status> acked) {
  Status ended;
  for (size_t k = 0; k < unacked->handled.size(); ++k) {
    Handled& handled = unacked->handled[k];
    handled.store_status = std::move(acked[k]);
    NoteUnsettled(&handled, /*retry=*/false);
    Status s = Report(store, handled);
    if (ended.ok()) ended = std::move(s);
  }
  unacked->handled.clear();
  unacked->jobs.clear();
  unacked->hands.clear();
  return ended;
}

size_t Runner::Impl::Reserve(Unacked* unacked) {
  const size_t want = std::clamp<size_t>(options_.claim_batch, 1, kMaxClaimBatch);
  if (!options_.max_jobs) return want;
  // Reserve the jobs before claiming them, so N workers never take more than max_jobs.
  while (taken_.fetch_add(1) >= *options_.max_jobs) {
    taken_.fetch_sub(1);
    // About to wait, maybe for long: the jobs run already are acked first.
    if (Status s = AckNow(unacked); !s.ok()) {
      Finish(StopReason::kError, std::move(s));
      return 0;
    }
    std::unique_lock lock(mu_);
    const uint64_t seen = activity_;
    if (claimed_.load() >= *options_.max_jobs) {
      lock.unlock();
      Finish(StopReason::kJobLimit);
      return 0;
    }
    // The other reservations may yet come back empty: wait until one is resolved.
    cv_.wait(lock, stop_.get_token(), [&] { return finished_ || activity_ != seen; });
    if (finished_ || stop_.stop_requested()) return 0;
  }
  // The rest of a batch only as far as the limit allows, without waiting for it.
  size_t got = 1;
  for (; got < want; ++got) {
    if (taken_.fetch_add(1) >= *options_.max_jobs) {
      taken_.fetch_sub(1);
      break;
    }
  }
  return got;
}

Status Runner::Impl::RunBatch(const std::shared_ptr<Store>& store,
                              const std::vector<ClaimedJob>& jobs, Unacked* unacked) {
  std::vector<std::shared_ptr<InHand>> hands;  // the heartbeat renews every lease of the batch
  hands.reserve(jobs.size());
  for (const ClaimedJob& job : jobs) hands.push_back(Hold(store, job));
  Status ended;
  size_t next = 0;
  for (; next < jobs.size() && ended.ok(); ++next) {
    if (next > 0 && CutsBatch()) break;
    bool retry = false;
    Handled handled = Execute(store, jobs[next], &retry);
    if (retry) {
      ReleaseForRetry(store, Unhold(hands[next], jobs[next]), &handled);
      ended = Report(store, handled);
    } else {
      unacked->handled.push_back(std::move(handled));
      unacked->jobs.push_back(jobs[next]);
      unacked->hands.push_back(hands[next]);
    }
  }
  // Not started: back to ready, unrun. A release that fails leaves the claim to expire, and
  // the job runs again then.
  for (size_t k = next; k < jobs.size(); ++k) {
    (void)store->Release(Unhold(hands[k], jobs[k]).claim);
    claimed_.fetch_sub(1);
    MarkIdle();
  }
  return ended;
}

bool Runner::Impl::CutsBatch() {
  if (stop_.stop_requested() || CheckLimits(/*job_limit=*/false)) return true;
  // Another worker ended the run for a reason that concerns every job (an error, read-only);
  // the job limit does not: this batch's jobs were reserved under it.
  std::lock_guard lock(mu_);
  return finished_ && report_.reason != StopReason::kJobLimit &&
         report_.reason != StopReason::kNoneReady;
}

Status Runner::Impl::Report(const std::shared_ptr<Store>& store, const Handled& handled) {
  if (StoreObserver* observer = store->options().observer.get()) Observe(*observer, handled);
  Record(handled.result);
  return EndsRun(handled.store_status) ? handled.store_status : Status::OK();
}

Runner::Impl::Handled Runner::Impl::Execute(const std::shared_ptr<Store>& store,
                                            const ClaimedJob& claimed, bool* retry) {
  Handled handled;
  JobResult& result = handled.result;
  result.queue = claimed.claim.queue;
  result.id = claimed.claim.id;
  result.attempt = claimed.attempts;
  *retry = false;
  if (claimed.superseded) {
    // A newer root job covers this one's work: acknowledge it unrun (MediaWiki's
    // DuplicateJob), so it neither runs nor lingers.
    result.superseded = true;
    result.ok = true;
    return handled;
  }
  const int64_t t0 = clock_->NowMs();
  // A job that cannot be built (bad params, factory error) fails like one that ran and
  // failed; the store then retries or abandons it per its type, keeping the error.
  bool allow_retries = true;
  std::optional<std::string> error;
  Result<std::unique_ptr<Job>> job = registry_->Create(claimed);
  if (!job.ok()) {
    error = ErrorText(job.status());
  } else {
    Job& j = **job;
    std::optional<std::string> thrown = CatchJobException([&] {
      // Charge the throttle before running, as MediaWiki does right after the pop, so other
      // workers stop picking this type while the job runs.
      if (options_.throttle) {
        options_.throttle->Charge(claimed.claim.queue.type, j.work_item_count());
      }
      JobContext context(store.get(), stop_.get_token());
      Status status = j.Run(context);
      if (!status.ok()) error = ErrorText(status);
    });
    if (thrown) error = std::move(thrown);
    // Asked after the run, so a job can tell a permanent failure from a transient one.
    if (error) {
      if (std::optional<std::string> also = CatchJobException([&] { allow_retries = j.allow_retries(); })) {
        *error += "; allow_retries() threw: " + *also;
      }
    }
  }
  result.ms = clock_->NowMs() - t0;
  result.ok = !error;
  if (error) result.error = *error;
  // MediaWiki acks a failed job whose retries are not allowed: the failure is final.
  *retry = error && allow_retries;
  return handled;
}

std::shared_ptr<Runner::Impl::InHand> Runner::Impl::Hold(const std::shared_ptr<Store>& store,
                                                         const ClaimedJob& claimed) {
  if (options_.lease_ms <= 0) return nullptr;
  auto hand = std::make_shared<InHand>();
  hand->claim = claimed.claim;
  hand->leased_ms = clock_->NowMs();
  hand->store = store;
  std::lock_guard lock(hand_mu_);
  in_hand_.push_back(hand);
  return hand;
}

ClaimedJob Runner::Impl::Unhold(const std::shared_ptr<InHand>& hand, const ClaimedJob& claimed) {
  if (!hand) return claimed;
  {
    std::lock_guard lock(hand_mu_);
    std::erase(in_hand_, hand);
  }
  // Waits out a touch in flight: the ack or release must carry the token it returned.
  std::lock_guard lock(hand->mu);
  hand->settling = true;
  ClaimedJob current = claimed;
  current.claim = hand->claim;
  return current;
}

void Runner::Impl::Heartbeat(std::stop_token stop) {
  const int64_t renew_after = std::max<int64_t>(1, options_.lease_ms / 3);
  std::mutex m;
  std::condition_variable_any cv;
  while (!stop.stop_requested()) {
    std::vector<std::shared_ptr<InHand>> hands;
    {
      std::lock_guard lock(hand_mu_);
      hands = in_hand_;
    }
    for (const std::shared_ptr<InHand>& hand : hands) {
      std::lock_guard lock(hand->mu);
      const int64_t now = clock_->NowMs();
      if (hand->settling || now - hand->leased_ms < renew_after) continue;
      // A failed touch changes nothing: a stale token (the job was force-released or
      // reclaimed) fails the settle too, which reports it; an outage is tried again next beat.
      Result<ClaimToken> renewed = hand->store->Touch(hand->claim, options_.lease_ms);
      if (renewed.ok()) {
        hand->claim.token = *renewed;
        hand->leased_ms = now;
      }
    }
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, std::chrono::milliseconds(std::max<int64_t>(1, options_.wait_slice_ms)),
                [] { return false; });
  }
}

void Runner::Impl::ReleaseForRetry(std::shared_ptr<Store> store, const ClaimedJob& claimed,
                                   Handled* handled) {
  JobResult& result = handled->result;
  // An outage keeps the worker here, trying again, so the job's outcome reaches the store
  // once it is back (or the claim expires and the job runs again). An attempt that failed in
  // transit may have been applied before the store went away.
  bool uncertain = false;
  for (;;) {
    // Release now with a backoff rather than leaving the claim to expire: the retry comes
    // after seconds, not after the claim TTL (MediaWiki's weakness, §8 item 2).
    auto released = store->Release(claimed.claim, options_.backoff.DelayMs(claimed.attempts),
                                   result.error);
    handled->store_status = released.status();
    result.released = released.ok();
    if (released.ok()) result.release = *released;
    // The claim is in the store, not in the connection: its token works on the reopened one.
    if (!Reopened(store, handled->store_status)) break;
    uncertain = true;
    store = Current();
  }
  // After an attempt of unknown outcome, a token gone stale is that attempt's doing: it went
  // through.
  if (uncertain && handled->store_status.IsStaleToken()) {
    handled->store_status = Status::OK();
    result.released = true;
  }
  NoteUnsettled(handled, /*retry=*/true);
}

std::vector<Status> Runner::Impl::AckAll(std::shared_ptr<Store> store,
                                         const std::vector<Claim>& claims, bool uncertain) {
  std::vector<Status> out(claims.size());
  for (;;) {
    Status whole;
    if (claims.size() == 1) {
      whole = out[0] = store->Ack(claims[0]);
    } else {
      Result<std::vector<Status>> acked = store->AckMany(claims);
      whole = acked.status();
      if (acked.ok() && acked->size() != claims.size()) {
        whole = MiscountedAnswer("AckMany", claims.size(), acked->size());
      }
      if (whole.ok()) {
        out = std::move(acked).value();
      } else {
        std::fill(out.begin(), out.end(), whole);
      }
    }
    if (!Reopened(store, whole)) break;
    uncertain = true;
    store = Current();
  }
  // After an attempt of unknown outcome, a job gone is that attempt's doing: it went through.
  if (uncertain) {
    for (Status& s : out) {
      if (s.IsNotFound()) s = Status::OK();
    }
  }
  return out;
}

void Runner::Impl::NoteUnsettled(Handled* handled, bool retry) {
  if (handled->store_status.ok()) return;
  // The job's own outcome stands, but it was not settled: it will run again (a stale claim)
  // or is gone. Either way the caller must see it.
  JobResult& result = handled->result;
  if (!result.error.empty()) result.error += "; ";
  result.error += std::string(retry ? "release" : "ack") +
                  " failed: " + handled->store_status.ToString();
  result.ok = false;
}

void Runner::Impl::Record(const JobResult& result) {
  std::lock_guard lock(mu_);
  ++report_.jobs;
  if (result.superseded && result.ok) {
    ++report_.superseded;
  } else if (result.ok) {
    ++report_.succeeded;
  } else {
    ++report_.failed;
  }
  if (options_.on_result) options_.on_result(result);
  if (options_.keep_results) report_.results.push_back(result);
  MarkIdleLocked();
}

void Runner::Impl::MarkIdle() {
  std::lock_guard lock(mu_);
  MarkIdleLocked();
}

uint64_t Runner::Impl::MarkIdleLocked() {
  --busy_;
  cv_.notify_all();
  return ++activity_;
}

bool Runner::Impl::Idle(const std::shared_ptr<Store>& store, uint64_t epoch) {
  {
    std::unique_lock lock(mu_);
    const uint64_t seen = MarkIdleLocked();
    if (!options_.wait) {
      // Stop only when no other worker is popping or running: a running job may push more
      // work, and the run should not end while that is still possible.
      if (busy_ == 0) {
        lock.unlock();
        Finish(StopReason::kNoneReady);
        return false;
      }
      cv_.wait(lock, stop_.get_token(), [&] { return finished_ || activity_ != seen; });
      return true;
    }
  }
  // Wait mode: block until a queue gains ready jobs. The wait is sliced so that a stop
  // request, a time limit or the end of a throttle backoff is noticed without polling hard.
  int64_t slice = std::max<int64_t>(1, options_.wait_slice_ms);
  if (options_.throttle) {
    if (int64_t next = options_.throttle->NextChangeInMs(); next > 0) slice = std::min(slice, next);
  }
  Status waited = store->WaitForReady(epoch, slice);
  if (!waited.ok()) {
    if (Reopened(store, waited)) return true;
    Finish(StopReason::kError, waited);
    return false;
  }
  if (std::optional<StopReason> reason = CheckLimits()) {
    Finish(*reason);
    return false;
  }
  return true;
}

bool Runner::Impl::Maintain(Store& store) {
  if (!options_.maintain) return false;
  std::lock_guard lock(maintain_mu_);
  // Maintenance only finds work when time moves (delays come due, claims expire), so idle
  // workers of a waiting runner need not repeat a pass more often than once a wait slice.
  const int64_t now = clock_->NowMs();
  if (now - last_maintain_ms_ < options_.wait_slice_ms) return false;
  last_maintain_ms_ = now;
  // Errors are not fatal here: maintenance is an optimisation of the run, and a store that
  // really fails will fail the next claim, which reports it.
  Result<MaintenanceReport> report = store.Maintain();
  const bool made_ready = report.ok() && (report->promoted > 0 || report->reclaimed > 0);
  // After a productive pass, the next may find more (report.more): do not wait a slice.
  if (made_ready) last_maintain_ms_ = std::numeric_limits<int64_t>::min() / 2;
  return made_ready;
}

std::shared_ptr<Store> Runner::Impl::Current() {
  std::lock_guard lock(store_mu_);
  return store_;
}

bool Runner::Impl::RideOut() {
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop_.get_token(),
                 std::chrono::milliseconds(std::max<int64_t>(1, options_.wait_slice_ms)),
                 [&] { return finished_; });
    if (finished_ || stop_.stop_requested()) return false;
  }
  if (std::optional<StopReason> reason = CheckLimits()) {
    Finish(*reason);
    return false;
  }
  return true;
}

bool Runner::Impl::Reopened(const std::shared_ptr<Store>& failed, const Status& why) {
  if (!why.IsTransient()) return false;
  if (!options_.reopen) return RideOut();
  std::lock_guard reopening(reopen_mu_);
  if (Finished()) return false;
  if (Current() != failed) return true;  // another worker reopened it meanwhile
  auto pause = std::chrono::milliseconds(10);
  for (;;) {
    if (stop_.stop_requested()) return false;
    Result<std::unique_ptr<Store>> opened = options_.reopen();
    if (opened.ok()) {
      std::shared_ptr<Store> fresh(std::move(opened).value());
      {
        std::lock_guard lock(store_mu_);
        store_ = std::move(fresh);
      }
      std::lock_guard lock(mu_);
      ++report_.reopened;
      return true;
    }
    // Unreachable again (the next owner is not up yet) or held by one that does not serve
    // (yet): wait and try again. Anything else will not pass by waiting.
    const Status& s = opened.status();
    if (!s.IsTransient() && !s.IsBusy()) {
      Finish(StopReason::kError,
             s.Prefixed("reopening the store (after: " + why.message() + ") failed"));
      return false;
    }
    if (std::optional<StopReason> reason = CheckLimits()) {
      Finish(*reason);
      return false;
    }
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop_.get_token(), pause, [] { return false; });
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
  }
}

void Runner::Impl::Finish(StopReason reason, Status status) {
  std::lock_guard lock(mu_);
  if (!finished_) {
    finished_ = true;
    report_.reason = reason;
    report_.status = std::move(status);
  }
  cv_.notify_all();
}

bool Runner::Impl::Finished() {
  std::lock_guard lock(mu_);
  return finished_;
}

Runner::Runner(Store* store, const JobRegistry* registry, RunnerOptions options)
    : impl_(std::make_unique<Impl>(store, registry, std::move(options))) {}
Runner::~Runner() = default;
RunReport Runner::Run() { return impl_->Run(); }
void Runner::RequestStop() { impl_->RequestStop(); }
bool Runner::stop_requested() const { return impl_->stop_requested(); }

}  // namespace jobstore
