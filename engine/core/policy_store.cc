// The policy, once for every medium: what a call may ask, what the type's settings make of it,
// and what becomes of a failed or expired job. Storing is the backend's.
#include "policy_store.h"

#include <chrono>
#include <algorithm>
#include <set>
#include <tuple>

#include "claim_any.h"
#include "dedup_hash.h"
#include "jobstore/validation.h"

namespace jobstore {
namespace {

// Registrations are few and expire in weeks: each queue's are swept at most once a minute.
constexpr int64_t kRootSweepIntervalMs = 60'000;

int64_t SaturatingAdd(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
  if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
  return a + b;
}

// A lease of `ttl_ms` from `now`; 0 is a lease that never expires.
int64_t DeadlineFor(int64_t now, int64_t ttl_ms) {
  return ttl_ms == 0 ? INT64_MAX : SaturatingAdd(now, ttl_ms);
}

// A steady-clock reading in nanoseconds, for call durations (only taken with an observer).
int64_t Ticks() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

using Event = StoreObserver::Event;
using Call = StoreObserver::Call;

// Tells the observer, if any, how long the call that holds it took.
class CallTimer {
 public:
  CallTimer(StoreObserver* observer, Call call)
      : observer_(observer), call_(call), start_(observer ? Ticks() : 0) {}
  ~CallTimer() {
    if (observer_) observer_->OnCall(call_, Ticks() - start_);
  }
  CallTimer(const CallTimer&) = delete;
  CallTimer& operator=(const CallTimer&) = delete;

 private:
  StoreObserver* const observer_;
  const Call call_;
  const int64_t start_;
};

}  // namespace

std::unique_ptr<Store> Store::Over(std::unique_ptr<Backend> backend, const Options& options) {
  return std::make_unique<PolicyStore>(std::move(backend), options);
}

PolicyStore::PolicyStore(std::unique_ptr<Backend> backend, const Options& options)
    : options_(options),
      clock_(options.clock ? options.clock : SystemClock()),
      backend_(std::move(backend)),
      observer_(options_.observer.get()) {
  read_only_.store(options.read_only);
  if (options_.maintenance_interval_ms > 0 && backend_->Writable().ok()) {
    maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
  }
}

PolicyStore::~PolicyStore() {
  {
    std::lock_guard<std::mutex> l(thread_mu_);
    stopping_ = true;
  }
  thread_cv_.notify_all();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
}

bool PolicyStore::IsReadOnly() const { return read_only_.load() || !backend_->Writable().ok(); }

Status PolicyStore::CheckWritable() const {
  Status s = backend_->Writable();
  if (!s.ok()) return s;
  if (read_only_.load()) {
    return Status::ReadOnly("the store is in read-only mode; switch it off to change jobs");
  }
  return Status::OK();
}

Result<int64_t> PolicyStore::TtlFor(const std::string& type, std::optional<int64_t> ttl_ms) {
  if (ttl_ms) return *ttl_ms;
  auto settings = backend_->GetTypeSettings(type);
  if (!settings.ok()) return settings.status();
  return settings->claim_ttl_ms;
}

Result<PushResult> PolicyStore::Push(const std::vector<JobSpec>& jobs) {
  CallTimer timer(observer_, Call::kPush);
  const size_t n = jobs.size();
  Status s = CheckWritable();
  if (s.ok()) s = ValidatePushBatch(n);
  if (!s.ok()) return s;
  for (size_t i = 0; i < n; ++i) {
    s = ValidateSpec(jobs[i], options_.max_params_bytes);
    if (!s.ok()) {
      return Status::InvalidArgument("job " + std::to_string(i) + " of the batch: " + s.message() +
                                     "; nothing was pushed");
    }
  }
  PushResult result;
  result.ids.resize(n);
  result.duplicate.assign(n, false);
  if (n == 0) return result;

  const int64_t now = Now();
  // Dedup within the batch: the first spec of a (queue, hash) is kept, each later one points
  // at it; the backend sees each kept spec once.
  std::vector<NewJob> kept;
  kept.reserve(n);
  std::vector<size_t> slot(n);  // index into `kept` of the spec that stands for jobs[i]
  std::vector<bool> collapsed(n, false);
  std::map<std::tuple<std::string_view, std::string_view, std::string>, size_t> first_of;
  for (size_t i = 0; i < n; ++i) {
    const JobSpec& spec = jobs[i];
    NewJob job{&spec, {}, spec.release_at_ms > now};
    if (spec.dedup) {
      job.dedup_hash = DedupHash(spec.type, spec.params);
      auto [it, inserted] =
          first_of.emplace(std::make_tuple(std::string_view(spec.type),
                                           std::string_view(spec.domain), job.dedup_hash),
                           kept.size());
      if (!inserted) {
        slot[i] = it->second;
        collapsed[i] = true;
        continue;
      }
    }
    slot[i] = kept.size();
    kept.push_back(std::move(job));
  }
  auto stored = backend_->Push(kept, now);
  if (!stored.ok()) return stored.status();
  if (stored->ids.size() != kept.size() || stored->duplicate.size() != kept.size()) {
    return Status::Internal("the backend answered a push of " + std::to_string(kept.size()) +
                            " jobs with " + std::to_string(stored->ids.size()) + " ids");
  }
  for (size_t i = 0; i < n; ++i) {
    result.ids[i] = stored->ids[slot[i]];
    result.duplicate[i] = collapsed[i] || stored->duplicate[slot[i]];
    if (result.duplicate[i]) {
      ++result.duplicates;
    } else {
      ++result.pushed;
    }
  }
  if (observer_) ObservePush(jobs, result);
  return result;
}

namespace {

// A restored job's spec and state, or InvalidArgument naming what is wrong with it.
Status RestoredFrom(const JobInfo& job, int64_t now, size_t max_params_bytes, JobSpec* spec,
                    RestoredState* state) {
  Status s = ValidateRestore(job, max_params_bytes);
  if (!s.ok()) return s;
  *spec = RestoredSpec(job);
  state->id = job.id;
  state->attempts = job.attempts;
  state->enqueued_at_ms = job.enqueued_at_ms;
  state->last_error = job.last_error;
  switch (job.state) {
    case JobState::kClaimed:  // its lease died with the store it was claimed in
    case JobState::kReady:
      state->state = JobState::kReady;
      break;
    case JobState::kDelayed:
      state->state = job.release_at_ms > now ? JobState::kDelayed : JobState::kReady;
      break;
    case JobState::kAbandoned:
      state->state = JobState::kAbandoned;
      state->claimed_at_ms = job.claimed_at_ms;
      state->abandoned_at_ms = job.abandoned_at_ms;
      break;
  }
  return Status::OK();
}

}  // namespace

Result<PushResult> PolicyStore::Restore(const std::vector<JobInfo>& jobs) {
  CallTimer timer(observer_, Call::kPush);
  const size_t n = jobs.size();
  Status s = CheckWritable();
  if (s.ok()) s = ValidatePushBatch(n);
  if (!s.ok()) return s;
  const int64_t now = Now();
  std::vector<JobSpec> specs(n);
  std::vector<RestoredState> states(n);
  std::vector<NewJob> restored(n);
  std::set<std::tuple<std::string_view, std::string_view, JobId>> ids;
  for (size_t i = 0; i < n; ++i) {
    s = RestoredFrom(jobs[i], now, options_.max_params_bytes, &specs[i], &states[i]);
    if (s.ok() && jobs[i].id != 0 &&
        !ids.emplace(jobs[i].queue.domain, jobs[i].queue.type, jobs[i].id).second) {
      s = Status::InvalidArgument("its id is in the batch twice");
    }
    if (!s.ok()) {
      return Status::InvalidArgument("job " + std::to_string(i) + " of the batch (id " +
                                     std::to_string(jobs[i].id) + " of '" + jobs[i].queue.type +
                                     "'): " + s.message() + "; nothing was restored");
    }
    restored[i].spec = &specs[i];
    if (specs[i].dedup) restored[i].dedup_hash = DedupHash(specs[i].type, specs[i].params);
    restored[i].delayed = states[i].state == JobState::kDelayed;
    restored[i].restore = &states[i];
  }
  PushResult result;
  if (n == 0) return result;
  auto stored = backend_->Push(restored, now);
  if (!stored.ok()) return stored.status();
  if (stored->ids.size() != n || stored->duplicate.size() != n) {
    return Status::Internal("the backend answered a restore of " + std::to_string(n) +
                            " jobs with " + std::to_string(stored->ids.size()) + " ids");
  }
  if (observer_) ObservePush(specs, *stored);
  return stored;
}

void PolicyStore::ObservePush(const std::vector<JobSpec>& jobs, const PushResult& result) const {
  for (size_t i = 0; i < jobs.size();) {
    const JobSpec& first = jobs[i];
    uint64_t pushed = 0, duplicates = 0;
    for (; i < jobs.size() && jobs[i].type == first.type && jobs[i].domain == first.domain; ++i) {
      ++(result.duplicate[i] ? duplicates : pushed);
    }
    if (pushed) observer_->OnJobs(first.domain, first.type, Event::kPushed, pushed);
    if (duplicates) observer_->OnJobs(first.domain, first.type, Event::kDeduplicated, duplicates);
  }
}

void PolicyStore::ObserveAcks(const std::vector<jobstore::Claim>& claims,
                              const std::vector<Status>& statuses) const {
  for (size_t i = 0; i < claims.size();) {
    const QueueRef& first = claims[i].queue;
    uint64_t acked = 0;
    for (; i < claims.size() && claims[i].queue == first; ++i) acked += statuses[i].ok();
    if (acked) observer_->OnJobs(first.domain, first.type, Event::kAcked, acked);
  }
}

Result<std::vector<ClaimedJob>> PolicyStore::Claim(const QueueRef& queue, size_t max_jobs,
                                                   std::optional<int64_t> ttl_ms) {
  CallTimer timer(observer_, Call::kClaim);
  Status s = CheckWritable();
  if (s.ok()) s = ValidateQueue(queue);
  if (s.ok() && ttl_ms) s = ValidateTtl(*ttl_ms);
  if (s.ok()) s = ValidateClaimBatch(max_jobs, "claim");
  if (!s.ok()) return s;
  if (max_jobs == 0) return std::vector<ClaimedJob>{};
  auto ttl = TtlFor(queue.type, ttl_ms);
  if (!ttl.ok()) return ttl.status();
  const int64_t now = Now();
  auto claimed = backend_->Claim(queue, max_jobs, now, DeadlineFor(now, *ttl));
  if (observer_ && claimed.ok() && !claimed->empty()) {
    observer_->OnJobs(queue.domain, queue.type, Event::kClaimed, claimed->size());
  }
  return claimed;
}

Result<std::vector<ClaimedJob>> PolicyStore::ClaimAny(const ReadyFilter& filter, size_t max_jobs,
                                                      std::optional<int64_t> ttl_ms,
                                                      int64_t wait_ms) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateFilter(filter);
  if (s.ok() && ttl_ms) s = ValidateTtl(*ttl_ms);
  if (s.ok()) s = ValidateClaimBatch(max_jobs, "claim");
  if (!s.ok()) return s;
  return internal::ClaimAnyVia(*this, filter, max_jobs, ttl_ms, wait_ms);
}

Status PolicyStore::Ack(const jobstore::Claim& claim) {
  auto r = AckMany({claim});
  if (!r.ok()) return r.status();
  return std::move((*r)[0]);
}

namespace {
// A backend that answered an ack list with a different number of statuses (a bug in it).
Status MiscountedAcks(const std::vector<jobstore::Claim>& sent, const std::vector<Status>& got) {
  return Status::Internal("the backend answered an ack of " + std::to_string(sent.size()) +
                          " claims with " + std::to_string(got.size()) + " statuses");
}
}  // namespace

// A job listed twice is refused in its later listings (acking it once is what was meant, and
// a backend would otherwise wait on its own hold of the job), and a claim of an invalid queue
// is refused. Sorting indices finds the twice-listed without allocating per claim: acks are a
// hot path. Returns one Status per claim; *all_fine when every one is OK.
std::vector<Status> PolicyStore::CheckAckList(const std::vector<jobstore::Claim>& claims,
                                              bool* all_fine) const {
  std::vector<Status> result(claims.size());
  std::vector<uint32_t> order(claims.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  auto key = [&](uint32_t i) {
    return std::tie(claims[i].id, claims[i].queue.type, claims[i].queue.domain);
  };
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return key(a) < key(b) || (key(a) == key(b) && a < b);
  });
  *all_fine = true;
  for (size_t k = 0; k < order.size(); ++k) {
    const uint32_t i = order[k];
    if (k > 0 && key(order[k - 1]) == key(i)) {
      result[i] = Status::InvalidArgument("job " + std::to_string(claims[i].id) +
                                          " is listed twice in one ack");
    } else {
      result[i] = ValidateQueue(claims[i].queue);
    }
    *all_fine = *all_fine && result[i].ok();
  }
  return result;
}

Result<std::vector<Status>> PolicyStore::AckMany(const std::vector<jobstore::Claim>& claims) {
  CallTimer timer(observer_, Call::kAck);
  Status s = CheckWritable();
  if (s.ok()) s = ValidateClaimBatch(claims.size(), "ack");
  if (!s.ok()) return s;
  bool all_fine = true;
  std::vector<Status> result = CheckAckList(claims, &all_fine);
  auto ack = [&](const std::vector<jobstore::Claim>& list) -> Result<std::vector<Status>> {
    auto acked = backend_->Ack(list);
    if (acked.ok() && acked->size() != list.size()) return MiscountedAcks(list, *acked);
    if (observer_ && acked.ok()) ObserveAcks(list, *acked);
    return acked;
  };
  if (all_fine) return ack(claims);
  std::vector<jobstore::Claim> distinct;
  std::vector<size_t> origin;  // index in `claims` of distinct[k]
  for (size_t i = 0; i < claims.size(); ++i) {
    if (!result[i].ok()) continue;
    distinct.push_back(claims[i]);
    origin.push_back(i);
  }
  if (distinct.empty()) return result;
  auto acked = ack(distinct);
  if (!acked.ok()) return acked.status();
  for (size_t k = 0; k < distinct.size(); ++k) result[origin[k]] = std::move((*acked)[k]);
  return result;
}

// The acks and the claim from one ready queue in one backend call (on RocksDB one write
// instead of two); a batch that queue cannot fill is topped up as ClaimAny would, and the
// wait, if any, happens after the acks are written. Whatever the fused call cannot take as it
// is (an invalid ack list or claim, a refusal, nothing ready) goes the default way, AckMany
// then ClaimAny, which say what was wrong. Timed as one claim.
Result<AckedThenClaimed> PolicyStore::AckThenClaimAny(const std::vector<jobstore::Claim>& done,
                                                      const ReadyFilter& filter, size_t max_jobs,
                                                      std::optional<int64_t> ttl_ms,
                                                      int64_t wait_ms) {
  bool fused = !done.empty() && max_jobs > 0 && CheckWritable().ok() &&
               ValidateFilter(filter).ok() && (!ttl_ms || ValidateTtl(*ttl_ms).ok()) &&
               ValidateClaimBatch(max_jobs, "claim").ok() &&
               ValidateClaimBatch(done.size(), "ack").ok();
  if (fused) CheckAckList(done, &fused);
  std::optional<QueueRef> queue;
  Result<int64_t> ttl = Status::NotFound("");
  if (fused) {
    auto picked = PickReadyQueue(filter);
    if (picked.ok() && *picked) {
      queue = std::move(**picked);
      ttl = TtlFor(queue->type, ttl_ms);
    }
    fused = queue && ttl.ok();
  }
  if (!fused) return Store::AckThenClaimAny(done, filter, max_jobs, ttl_ms, wait_ms);

  Result<AckedThenClaimed> r = Status::Internal("not called");
  {
    CallTimer timer(observer_, Call::kClaim);
    const int64_t now = Now();
    r = backend_->AckThenClaim(done, *queue, max_jobs, now, DeadlineFor(now, *ttl));
  }
  if (!r.ok()) return r.status();
  if (r->acked.size() != done.size()) return MiscountedAcks(done, r->acked);
  AckedThenClaimed& out = *r;
  if (observer_) {
    ObserveAcks(done, out.acked);
    if (out.claimed.ok() && !out.claimed->empty()) {
      observer_->OnJobs(queue->domain, queue->type, Event::kClaimed, out.claimed->size());
    }
  }
  if (out.claimed.ok() && out.claimed->size() < max_jobs) {
    auto more = ClaimAny(filter, max_jobs - out.claimed->size(), ttl_ms,
                         out.claimed->empty() ? wait_ms : 0);
    if (more.ok()) {
      for (ClaimedJob& job : *more) out.claimed->push_back(std::move(job));
    } else if (out.claimed->empty()) {
      out.claimed = more.status();
    }
  }
  return std::move(out);
}

Result<Released> PolicyStore::Release(const jobstore::Claim& claim, int64_t delay_ms,
                                      const std::string& error) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateQueue(claim.queue);
  if (s.ok() && delay_ms < 0) {
    s = Status::InvalidArgument("release delay " + std::to_string(delay_ms) +
                                " ms is negative; use 0 to make the job ready at once");
  }
  if (!s.ok()) return s;
  auto settings = backend_->GetTypeSettings(claim.queue.type);
  if (!settings.ok()) return settings.status();
  const TypeSettings ts = *settings;
  const int64_t now = Now();
  const std::string recorded = error.substr(0, kMaxErrorBytes);
  Released outcome;
  // A release without an error is a give-back, whatever the attempts; a failed run is retried
  // only while the type allows retries and attempts are left (docs/DESIGN.md §2).
  s = backend_->Settle(claim, now, [&](uint32_t attempts) {
    Disposition d;
    d.error = recorded;
    outcome = Released{};
    if (!recorded.empty() && !ts.retries_allowed) {
      d.to = Disposition::To::kAbandoned;
      outcome.reason = "retries are off for type '" + claim.queue.type + "'";
    } else if (!recorded.empty() && attempts >= ts.max_tries) {
      d.to = Disposition::To::kAbandoned;
      outcome.reason = "attempts used up (" + std::to_string(attempts) + " of " +
                       std::to_string(ts.max_tries) + ")";
    } else if (delay_ms > 0) {
      d.to = Disposition::To::kDelayed;
      d.release_at_ms = SaturatingAdd(now, delay_ms);
    }
    outcome.state = d.to == Disposition::To::kAbandoned ? JobState::kAbandoned
                    : d.to == Disposition::To::kDelayed ? JobState::kDelayed
                                                        : JobState::kReady;
    outcome.release_at_ms = d.release_at_ms;
    return d;
  });
  if (!s.ok()) return s;
  if (observer_) {
    observer_->OnJobs(claim.queue.domain, claim.queue.type,
                      outcome.state == JobState::kAbandoned ? Event::kAbandonedFailed
                                                            : Event::kReleased,
                      1);
  }
  return outcome;
}

Result<ClaimToken> PolicyStore::Touch(const jobstore::Claim& claim, std::optional<int64_t> ttl_ms) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateQueue(claim.queue);
  if (s.ok() && ttl_ms) s = ValidateTtl(*ttl_ms);
  if (!s.ok()) return s;
  auto ttl = TtlFor(claim.queue.type, ttl_ms);
  if (!ttl.ok()) return ttl.status();
  return backend_->Touch(claim, DeadlineFor(Now(), *ttl));
}

Status PolicyStore::ForceRelease(const QueueRef& queue, JobId id) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateQueue(queue);
  if (!s.ok()) return s;
  // The claim's current token, then a settle fenced by it: a claim that moved in between (an
  // ack, a touch, a reclaim) makes the token stale, and the job is looked at again. Such races
  // last one write, so a few looks suffice.
  for (int look = 0; look < 8; ++look) {
    auto info = backend_->Inspect(queue, id);
    if (!info.ok()) return info.status();
    if (info->state != JobState::kClaimed) {
      return Status::InvalidArgument("job " + std::to_string(id) + " of '" + queue.type +
                                     "' is " + JobStateName(info->state) +
                                     ", not claimed; only a claimed job can be released");
    }
    if (info->claim_token.deadline_ms == 0) {
      return Status::Internal("the " + backend_->capabilities().medium +
                              " medium did not report the claim's token of job " +
                              std::to_string(id));
    }
    s = backend_->Settle({queue, id, info->claim_token}, Now(),
                         [](uint32_t) { return Disposition{}; });  // back to ready, as it was
    if (s.ok() && observer_) observer_->OnJobs(queue.domain, queue.type, Event::kReleased, 1);
    if (!s.IsStaleToken()) return s;
  }
  return Status::Busy("job " + std::to_string(id) + " of '" + queue.type +
                      "' kept changing hands while it was being released; try again");
}

Result<uint64_t> PolicyStore::RepushAbandoned(const QueueRef& queue) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateQueue(queue);
  if (!s.ok()) return s;
  auto moved = backend_->RepushAbandoned(queue);
  if (observer_ && moved.ok() && *moved > 0) {
    observer_->OnJobs(queue.domain, queue.type, Event::kRepushed, *moved);
  }
  return moved;
}

Status PolicyStore::RetryJob(const QueueRef& queue, JobId id) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateQueue(queue);
  if (!s.ok()) return s;
  s = backend_->RetryJob(queue, id);
  if (observer_ && s.ok()) observer_->OnJobs(queue.domain, queue.type, Event::kRepushed, 1);
  return s;
}

Status PolicyStore::DeleteJob(const QueueRef& queue, JobId id) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateQueue(queue);
  if (!s.ok()) return s;
  s = backend_->DeleteJob(queue, id);
  if (observer_ && s.ok()) observer_->OnJobs(queue.domain, queue.type, Event::kDeleted, 1);
  return s;
}

Status PolicyStore::Clear(const QueueRef& queue) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateQueue(queue);
  if (!s.ok()) return s;
  return backend_->Clear(queue);
}

Result<MaintenanceReport> PolicyStore::Maintain() {
  Status s = CheckWritable();
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> l(maintain_mu_);
  const int64_t now = Now();
  auto queues = backend_->Queues();
  if (!queues.ok()) return queues.status();
  MaintenanceReport report;
  std::map<std::string, TypeSettings> settings;
  for (const QueueStats& q : *queues) {
    auto known = settings.find(q.queue.type);
    if (known == settings.end()) {
      auto ts = backend_->GetTypeSettings(q.queue.type);
      if (!ts.ok()) return ts.status();
      known = settings.emplace(q.queue.type, *ts).first;
    }
    const TypeSettings& ts = known->second;
    MaintenancePlan plan;
    plan.now_ms = now;
    plan.limit = options_.maintenance_batch;
    // Exact counts let an idle category cost nothing.
    plan.promote = q.counts.delayed > 0;
    plan.reclaim = q.counts.claimed > 0;
    if (q.counts.abandoned > 0) plan.prune_before_ms = SaturatingAdd(now, -ts.retention_ms);
    int64_t& next_sweep = next_root_sweep_ms_[{q.queue.domain, q.queue.type}];
    if (now >= next_sweep) {
      plan.roots_before_ms = SaturatingAdd(now, -ts.root_job_ttl_ms);
      next_sweep = SaturatingAdd(now, kRootSweepIntervalMs);
    }
    if (!plan.promote && !plan.reclaim && plan.prune_before_ms == INT64_MIN &&
        plan.roots_before_ms == INT64_MIN) {
      continue;
    }
    const uint32_t max_tries = ts.max_tries;
    plan.on_expired = [max_tries](uint32_t attempts) {
      Disposition d;
      if (attempts >= max_tries) {
        d.to = Disposition::To::kAbandoned;
        d.error = "claim expired after " + std::to_string(attempts) + " attempts";
      }
      return d;
    };
    const MaintenanceReport before = report;
    s = backend_->Maintain(q.queue, plan, &report);
    if (!s.ok()) return s;
    if (observer_) ObserveMaintenance(q.queue, before, report);
  }
  return report;
}

void PolicyStore::ObserveMaintenance(const QueueRef& queue, const MaintenanceReport& before,
                                     const MaintenanceReport& after) const {
  auto tell = [&](Event event, uint64_t was, uint64_t is) {
    if (is > was) observer_->OnJobs(queue.domain, queue.type, event, is - was);
  };
  tell(Event::kPromoted, before.promoted, after.promoted);
  tell(Event::kReclaimed, before.reclaimed, after.reclaimed);
  tell(Event::kAbandonedExpired, before.abandoned, after.abandoned);
  tell(Event::kPruned, before.pruned, after.pruned);
}

void PolicyStore::MaintenanceLoop() {
  std::unique_lock<std::mutex> l(thread_mu_);
  while (!stopping_) {
    thread_cv_.wait_for(l, std::chrono::milliseconds(options_.maintenance_interval_ms),
                        [&] { return stopping_; });
    if (stopping_) break;
    l.unlock();
    // Keep going while a pass reports more, up to a bound, so a backlog drains promptly.
    for (int pass = 0; pass < 16 && !IsReadOnly(); ++pass) {
      auto r = Maintain();
      if (!r.ok() || !r->more) break;
    }
    l.lock();
  }
}

Result<QueueCounts> PolicyStore::Counts(const QueueRef& queue) {
  Status s = ValidateQueue(queue);
  if (!s.ok()) return s;
  return backend_->Counts(queue);
}

Result<std::vector<QueueStats>> PolicyStore::Queues() { return backend_->Queues(); }

Result<ListPage> PolicyStore::List(const QueueRef& queue, JobState state,
                                   const std::string& cursor, size_t limit) {
  Status s = ValidateQueue(queue);
  if (!s.ok()) return s;
  if (limit == 0 || limit > kMaxListLimit) {
    return Status::InvalidArgument("list limit " + std::to_string(limit) + " must be 1.." +
                                   std::to_string(kMaxListLimit));
  }
  return backend_->List(queue, state, cursor, limit);
}

Result<JobInfo> PolicyStore::Inspect(const QueueRef& queue, JobId id) {
  Status s = ValidateQueue(queue);
  if (!s.ok()) return s;
  return backend_->Inspect(queue, id);
}

Result<std::vector<std::string>> PolicyStore::Check() { return backend_->Check(); }

Result<std::vector<QueueRef>> PolicyStore::ReadyQueues() { return backend_->ReadyQueues(); }

Result<std::optional<QueueRef>> PolicyStore::PickReadyQueue(const ReadyFilter& filter) {
  return backend_->PickReadyQueue(filter);
}

Result<uint64_t> PolicyStore::ReadyEpoch() { return backend_->ReadyEpoch(); }

Status PolicyStore::WaitForReady(uint64_t epoch, int64_t max_wait_ms) {
  return backend_->WaitForReady(epoch, max_wait_ms);
}

Result<TypeSettings> PolicyStore::GetTypeSettings(const std::string& type) {
  Status s = ValidateType(type);
  if (!s.ok()) return s;
  return backend_->GetTypeSettings(type);
}

Status PolicyStore::SetTypeSettings(const std::string& type, const TypeSettings& settings) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateType(type);
  if (s.ok()) s = ValidateSettings(settings);
  if (!s.ok()) return s;
  return backend_->SetTypeSettings(type, settings);
}

Result<std::vector<std::string>> PolicyStore::Types() { return backend_->Types(); }

}  // namespace jobstore
