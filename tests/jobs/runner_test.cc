// The Runner: every stop reason, the ack / release / abandon policy with exact counts,
// exceptions, root-job duplicates, throttling, threads and wait mode. Time is a ManualClock
// moved by the jobs themselves; nothing here sleeps.

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <sched.h>

#include "forwarding_store.h"
#include "jobs_fixture.h"
#include "jobstore/builtin_jobs.h"
#include "jobstore/runner.h"
#include "jobstore/throttle.h"

namespace jobstore::testing {
namespace {

class JobsRunner : public JobsFixture {
 protected:
  // A job that fails with `message` (retryable unless told otherwise).
  void RegisterFailing(const std::string& type, const std::string& message,
                       bool allow_retries = true) {
    RegisterFn(
        type, [message](const ClaimedJob&, JobContext&) { return Status::IOError(message); },
        allow_retries);
  }

  // The one job left in `type`'s queue.
  JobInfo OnlyJob(const std::string& type, JobState state) {
    auto page = store_->List({"", type}, state, "", 10);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_EQ(page->jobs.size(), 1u);
    return page->jobs.empty() ? JobInfo{} : page->jobs.front();
  }

  // With 3 jobs of an always-succeeding type "t" queued, runs with `options` and checks that
  // the run took exactly one job and stopped for `reason`, reported as `name`.
  void ExpectOneJobThenStop(RunnerOptions options, StopReason reason, const char* name) {
    RegisterOk("t");
    Push("t", 3);
    RunReport report = RunJobs(std::move(options));
    EXPECT_EQ(report.reason, reason);
    EXPECT_STREQ(StopReasonName(report.reason), name);
    EXPECT_EQ(report.jobs, 1u);
    EXPECT_EQ(Counts("t"), Ready(2));
  }

  // Moves the clock past any retry backoff and promotes the delayed jobs.
  void PassBackoff() {
    clock_->Advance(RunnerOptions{}.backoff.cap_ms + 1);
    ASSERT_TRUE(store_->Maintain().ok());
  }
};

// --- Heartbeat ---------------------------------------------------------------------------

// The job's claim as the store has it now.
ClaimToken TokenOf(Store& store, const QueueRef& queue, JobId id) {
  auto info = store.Inspect(queue, id);
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  return info.ok() ? info->claim_token : ClaimToken{};
}

// A long job keeps its claim: the runner claims with a lease of lease_ms, not the type's hour,
// and renews it each time a third of it has passed (by the manual clock), so maintenance
// never reclaims the job however long it runs; the ack carries the last renewed token.
TEST_F(JobsRunner, HeartbeatRenewsTheLeaseOfALongJob) {
  constexpr int64_t kLease = 60'000;
  int renewals = 0;
  uint64_t reclaimed = 0;
  RegisterFn("long", [&](const ClaimedJob& job, JobContext& ctx) {
    Store& store = ctx.store();
    const QueueRef q = job.claim.queue;
    // Claimed for the lease, not for the type's claim TTL (an hour).
    EXPECT_EQ(TokenOf(store, q, job.claim.id).deadline_ms, clock_->NowMs() + kLease);
    for (int round = 0; round < 4; ++round) {
      const ClaimToken before = TokenOf(store, q, job.claim.id);
      clock_->Advance(kLease / 2);  // past a third of the lease: the next beat renews it
      // The heartbeat runs each wait slice (1 ms here); the bound only keeps a broken one
      // from hanging the test.
      for (int i = 0; i < 20'000 && TokenOf(store, q, job.claim.id) == before; ++i) {
        ctx.WaitForStop(1);
      }
      const ClaimToken after = TokenOf(store, q, job.claim.id);
      EXPECT_NE(after, before) << "round " << round << ": the lease was not renewed";
      if (after != before) ++renewals;
      EXPECT_EQ(after.deadline_ms, clock_->NowMs() + kLease);
      auto report = store.Maintain();
      EXPECT_TRUE(report.ok());
      if (report.ok()) reclaimed += report->reclaimed;
    }
    return Status::OK();
  });
  Push("long", 1);
  RunnerOptions options;
  options.lease_ms = kLease;
  options.wait_slice_ms = 1;
  RunReport report = RunJobs(options);
  EXPECT_EQ(renewals, 4);
  EXPECT_EQ(reclaimed, 0u);  // two lease lengths passed, and the job kept its claim
  EXPECT_EQ(report.succeeded, 1u) << (report.results.empty() ? "" : report.results[0].error);
  EXPECT_EQ(report.failed, 0u);
  EXPECT_EQ(Counts("long"), Ready(0));  // acked with the renewed token
}

// --- Batched claims (RunnerOptions::claim_batch) ------------------------------------------

// Counts the calls that reach the store it wraps.
class CountingStore final : public internal::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<std::vector<ClaimedJob>> ClaimAny(const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    ++claim_calls;
    return inner().ClaimAny(filter, max_jobs, ttl_ms, wait_ms);
  }
  Result<AckedThenClaimed> AckThenClaimAny(const std::vector<jobstore::Claim>& done,
                                           const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    ++ack_then_claim_calls;
    acked_with_claims += done.size();
    // As the default does (AckMany, then ClaimAny), without counting those two.
    return inner().AckThenClaimAny(done, filter, max_jobs, ttl_ms, wait_ms);
  }
  Status Ack(const jobstore::Claim& claim) override {
    ++ack_calls;
    return inner().Ack(claim);
  }
  Result<std::vector<Status>> AckMany(const std::vector<jobstore::Claim>& claims) override {
    ++ack_calls;
    acked_in_batches += claims.size();
    return inner().AckMany(claims);
  }
  Result<uint64_t> ReadyEpoch() override {
    ++epoch_calls;
    return inner().ReadyEpoch();
  }
  std::atomic<int> claim_calls{0}, ack_then_claim_calls{0}, ack_calls{0}, epoch_calls{0};
  std::atomic<size_t> acked_in_batches{0}, acked_with_claims{0};
};

TEST_F(JobsRunner, ABatchIsAckedInTheCallThatClaimsTheNext) {
  std::atomic<int> runs{0};
  RegisterOk("t", &runs);
  Push("t", 40);
  CountingStore counting(std::move(store_));
  RunReport report = Runner(&counting, &registry_, {.claim_batch = 16}).Run();
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.succeeded, 40u);
  EXPECT_EQ(runs.load(), 40);
  EXPECT_EQ(counting.Counts({"", "t"}).value(), QueueCounts{});
  // Four store calls for 40 jobs: claim 16; ack 16 + claim 16; ack 16 + claim 8; ack 8 +
  // claim none. No ack alone, and no epoch read, which only a waiting runner needs.
  EXPECT_EQ(counting.claim_calls.load(), 1);
  EXPECT_EQ(counting.ack_then_claim_calls.load(), 3);
  EXPECT_EQ(counting.acked_with_claims.load(), 40u);
  EXPECT_EQ(counting.ack_calls.load(), 0);
  EXPECT_EQ(counting.epoch_calls.load(), 0);
}

TEST_F(JobsRunner, TheLastBatchIsAckedAloneWhenTheRunEnds) {
  RegisterOk("t");
  Push("t", 10);
  CountingStore counting(std::move(store_));
  RunReport report = Runner(&counting, &registry_, {.claim_batch = 3, .max_jobs = 5}).Run();
  EXPECT_EQ(report.reason, StopReason::kJobLimit);
  EXPECT_EQ(report.succeeded, 5u);
  // Claim 3; ack 3 + claim 2 (all the limit leaves); then the limit ends the run, and the
  // last 2 are acked on the way out.
  EXPECT_EQ(counting.claim_calls.load(), 1);
  EXPECT_EQ(counting.ack_then_claim_calls.load(), 1);
  EXPECT_EQ(counting.ack_calls.load(), 1);
  EXPECT_EQ(counting.acked_in_batches.load(), 2u);
  EXPECT_EQ(counting.Counts({"", "t"}).value(), Ready(5));
}

// Answers every ack riding on a claim with an I/O error, as a medium failing its writes
// would, while the claim itself succeeds.
class AcksFailWithClaimsStore final : public internal::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<AckedThenClaimed> AckThenClaimAny(const std::vector<jobstore::Claim>& done,
                                           const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    AckedThenClaimed out;
    out.acked.assign(done.size(), Status::IOError("disk on fire"));
    out.claimed = inner().ClaimAny(filter, max_jobs, ttl_ms, wait_ms);
    return out;
  }
};

TEST_F(JobsRunner, AnAckErrorEndsTheRunAndTheJobsClaimedWithItGoBackUnrun) {
  std::atomic<int> runs{0};
  RegisterOk("t", &runs);
  Push("t", 4);
  AcksFailWithClaimsStore failing(std::move(store_));
  RunReport report = Runner(&failing, &registry_, {.claim_batch = 2}).Run();
  EXPECT_EQ(report.reason, StopReason::kError);
  EXPECT_TRUE(report.status.IsIOError()) << report.status.ToString();
  EXPECT_EQ(runs.load(), 2);  // the first batch; the second was claimed with its failed acks
  EXPECT_EQ(report.failed, 2u);
  ASSERT_EQ(report.results.size(), 2u);
  EXPECT_EQ(report.results[0].error, "ack failed: I/O error: disk on fire");
  // The first batch stays claimed (its acks failed: it runs again when the claims expire);
  // the second is ready again, claimed once and never run.
  EXPECT_EQ(failing.Counts({"", "t"}).value(), (QueueCounts{.ready = 2, .claimed = 2}));
  auto page = failing.List({"", "t"}, JobState::kReady, "", 10);
  ASSERT_TRUE(page.ok());
  for (const JobInfo& j : page->jobs) EXPECT_EQ(j.attempts, 1u);
}

TEST_F(JobsRunner, ManyThreadsWithBatchesRunEveryJobExactlyOnce) {
  std::mutex mu;
  std::map<JobId, int> runs;
  RegisterFn("t", [&](const ClaimedJob& job, JobContext&) {
    std::lock_guard lock(mu);
    ++runs[job.claim.id];
    return Status::OK();
  });
  std::vector<JobId> ids = Push("t", 500);
  RunReport report = RunJobs({.threads = 4, .claim_batch = 7});
  EXPECT_EQ(report.succeeded, 500u);
  EXPECT_EQ(runs.size(), 500u);
  for (JobId id : ids) EXPECT_EQ(runs[id], 1) << id;
  EXPECT_EQ(Counts("t"), QueueCounts{});
}

TEST_F(JobsRunner, ARetryableFailureInABatchIsReleasedAndTheRestAcked) {
  RegisterFn("t", [](const ClaimedJob& job, JobContext&) {
    return job.params == "bad" ? Status::IOError("boom") : Status::OK();
  });
  ASSERT_TRUE(store_->Push({{.type = "t", .params = "ok"}, {.type = "t", .params = "bad"},
                            {.type = "t", .params = "ok"}})
                  .ok());
  RunReport report = RunJobs({.claim_batch = 3});
  EXPECT_EQ(report.succeeded, 2u);
  EXPECT_EQ(report.failed, 1u);
  ASSERT_EQ(report.results.size(), 3u);
  EXPECT_TRUE(report.results[0].released);  // released at once, before the batch's ack
  EXPECT_EQ(report.results[0].error, "boom");
  EXPECT_EQ(Counts("t"), (QueueCounts{.delayed = 1}));  // backing off for its retry
}

TEST_F(JobsRunner, JobLimitHoldsWithBatches) {
  RegisterOk("t");
  Push("t", 30);
  RunReport report = RunJobs({.threads = 3, .claim_batch = 8, .max_jobs = 10});
  EXPECT_EQ(report.reason, StopReason::kJobLimit);
  EXPECT_EQ(report.jobs, 10u);
  EXPECT_EQ(Counts("t"), Ready(20));
}

TEST_F(JobsRunner, ABatchStoppedByTheTimeLimitReleasesItsJobsNotStarted) {
  RegisterFn("t", [this](const ClaimedJob&, JobContext&) {
    clock_->Advance(600);
    return Status::OK();
  });
  Push("t", 5);
  RunReport report = RunJobs({.claim_batch = 5, .max_time_ms = 1000});
  EXPECT_EQ(report.reason, StopReason::kTimeLimit);
  EXPECT_EQ(report.jobs, 2u);  // 600 ms: go on; 1200 ms: stop before the third
  EXPECT_EQ(Counts("t"), Ready(3));
  auto page = store_->List({"", "t"}, JobState::kReady, "", 10);
  ASSERT_TRUE(page.ok());
  for (const JobInfo& j : page->jobs) EXPECT_EQ(j.attempts, 1u);  // claimed once, not run
}

TEST_F(JobsRunner, TheHeartbeatRenewsTheLeasesOfJobsWaitingInABatch) {
  // Job 1 takes 5 s of a 3 s lease; job 2 waits behind it in the worker. Both stay claimed:
  // maintenance at the end of job 1 reclaims neither, and both are acked with renewed tokens.
  std::atomic<int> reclaimed{-1};
  std::atomic<int> renewals{0};
  RegisterFn("t", [this, &reclaimed, &renewals](const ClaimedJob& job, JobContext& ctx) {
    if (job.params != "slow") return Status::OK();
    const QueueRef q = job.claim.queue;
    const JobId waiting = job.claim.id + 1;
    for (int i = 0; i < 5; ++i) {
      const ClaimToken before = TokenOf(*store_, q, waiting);
      clock_->Advance(1000);
      // The heartbeat renews once a third of the lease (1 s) has passed; it runs each wait
      // slice (1 ms here), and the bound only keeps a broken one from hanging the test.
      for (int spin = 0; spin < 20'000 && TokenOf(*store_, q, waiting) == before; ++spin) {
        ctx.WaitForStop(1);
      }
      if (TokenOf(*store_, q, waiting) != before) ++renewals;
    }
    auto m = store_->Maintain();
    reclaimed = m.ok() ? static_cast<int>(m->reclaimed) : -2;
    return Status::OK();
  });
  ASSERT_TRUE(store_->Push({{.type = "t", .params = "slow"}, {.type = "t", .params = "next"}}).ok());
  RunReport report = RunJobs({.claim_batch = 2, .lease_ms = 3000, .wait_slice_ms = 1});
  EXPECT_EQ(renewals.load(), 5);
  EXPECT_EQ(reclaimed.load(), 0);
  EXPECT_EQ(report.succeeded, 2u);
  EXPECT_EQ(Counts("t"), QueueCounts{});
}

// lease_ms 0: the type's claim TTL, never renewed.
TEST_F(JobsRunner, WithoutALeaseTheTypesClaimTtlHolds) {
  int64_t deadline = 0;
  RegisterFn("t", [&](const ClaimedJob& job, JobContext& ctx) {
    deadline = TokenOf(ctx.store(), job.claim.queue, job.claim.id).deadline_ms;
    return Status::OK();
  });
  Push("t", 1);
  const int64_t start = clock_->NowMs();
  RunnerOptions options;
  options.lease_ms = 0;
  RunReport report = RunJobs(options);
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(deadline, start + TypeSettings{}.claim_ttl_ms);
}

// --- Stop reasons ------------------------------------------------------------------------

TEST_F(JobsRunner, NoneReadyAfterRunningEverything) {
  std::atomic<int> runs = 0;
  RegisterOk("t", &runs);
  std::vector<JobId> ids = Push("t", 3);
  RunReport report = RunJobs();
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_STREQ(StopReasonName(report.reason), "none-ready");
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(report.jobs, 3u);
  EXPECT_EQ(report.succeeded, 3u);
  EXPECT_EQ(report.failed, 0u);
  EXPECT_EQ(Counts("t"), QueueCounts{});
  ASSERT_EQ(report.results.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {  // fifo, one thread: in push order
    EXPECT_EQ(report.results[i].id, ids[i]);
    EXPECT_EQ(report.results[i].queue, (QueueRef{"", "t"}));
    EXPECT_EQ(report.results[i].attempt, 1u);
    EXPECT_TRUE(report.results[i].ok);
    EXPECT_TRUE(report.results[i].error.empty());
  }
}

TEST_F(JobsRunner, NoneReadyOnAnEmptyStore) {
  RegisterOk("t");
  RunReport report = RunJobs();
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.jobs, 0u);
}

TEST_F(JobsRunner, NonePossibleForAnUnregisteredType) {
  RegisterOk("t");
  Push("t", 1);
  Push("other", 1);
  RunReport report = RunJobs({.types = {"other"}});
  EXPECT_EQ(report.reason, StopReason::kNonePossible);
  EXPECT_STREQ(StopReasonName(report.reason), "none-possible");
  EXPECT_EQ(report.jobs, 0u);
  EXPECT_EQ(Counts("t"), Ready(1));
  EXPECT_EQ(Counts("other"), Ready(1));
}

TEST_F(JobsRunner, NonePossibleWithoutAnyRunnableType) {
  Push("t", 1);
  EXPECT_EQ(RunJobs().reason, StopReason::kNonePossible);  // empty registry
  RegisterOk("t");
  EXPECT_EQ(RunJobs({.exclude_types = {"t"}}).reason, StopReason::kNonePossible);
  EXPECT_EQ(Counts("t"), Ready(1));
}

TEST_F(JobsRunner, UnregisteredTypesAreNeverClaimed) {
  RegisterOk("t");
  Push("t", 2);
  Push("foreign", 2);  // another program's type
  RunReport report = RunJobs();
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.succeeded, 2u);
  EXPECT_EQ(Counts("foreign"), Ready(2));
}

TEST_F(JobsRunner, JobLimit) {
  ExpectOneJobThenStop({.max_jobs = 1}, StopReason::kJobLimit, "job-limit");
  RunReport report;
  // Reaching the limit with the last job is still the limit (MediaWiki checks after a job).
  report = RunJobs({.max_jobs = 2});
  EXPECT_EQ(report.reason, StopReason::kJobLimit);
  EXPECT_EQ(report.jobs, 2u);
  EXPECT_EQ(Counts("t"), QueueCounts{});
  // A limit the queue cannot reach ends with none-ready.
  Push("t", 1);
  report = RunJobs({.max_jobs = 5});
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.jobs, 1u);
}

TEST_F(JobsRunner, JobLimitIsExactWithManyThreads) {
  RegisterOk("t");
  Push("t", 100);
  RunReport report = RunJobs({.threads = 4, .max_jobs = 10});
  EXPECT_EQ(report.reason, StopReason::kJobLimit);
  EXPECT_EQ(report.jobs, 10u);
  EXPECT_EQ(report.succeeded, 10u);
  EXPECT_EQ(Counts("t"), Ready(90));
}

TEST_F(JobsRunner, TimeLimitIsCheckedAfterEachJob) {
  // Each job takes 600 ms of (manual) time; the limit is 1000 ms, strictly exceeded.
  RegisterFn("t", [this](const ClaimedJob&, JobContext&) {
    clock_->Advance(600);
    return Status::OK();
  });
  Push("t", 5);
  RunReport report = RunJobs({.max_time_ms = 1000});
  EXPECT_EQ(report.reason, StopReason::kTimeLimit);
  EXPECT_STREQ(StopReasonName(report.reason), "time-limit");
  EXPECT_EQ(report.jobs, 2u);  // 600 ms: go on; 1200 ms: stop
  EXPECT_EQ(report.elapsed_ms, 1200);
  EXPECT_EQ(Counts("t"), Ready(3));
  for (const JobResult& r : report.results) EXPECT_EQ(r.ms, 600);
}

TEST_F(JobsRunner, NegativeMaxTimeRunsOneJob) {
  // MediaWiki's JobRunnerTest case: the limit is checked after a job, never before the first.
  ExpectOneJobThenStop({.max_time_ms = -1}, StopReason::kTimeLimit, "time-limit");
}

TEST_F(JobsRunner, MemoryLimit) {
  // Any process exceeds one byte.
  ExpectOneJobThenStop({.memory_limit_bytes = 1}, StopReason::kMemoryLimit, "memory-limit");
  // A generous limit is not reached.
  RunReport report = RunJobs({.memory_limit_bytes = uint64_t{1} << 50});
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.jobs, 2u);
}

TEST_F(JobsRunner, StopRequestFinishesTheJobInHand) {
  Runner* runner = nullptr;
  RegisterFn("t", [&runner](const ClaimedJob&, JobContext& ctx) {
    EXPECT_FALSE(ctx.stop_requested());
    runner->RequestStop();
    EXPECT_TRUE(ctx.stop_requested());
    EXPECT_TRUE(ctx.WaitForStop(-1));  // returns at once: the stop is requested
    return Status::OK();
  });
  Push("t", 3);
  Runner r(store_.get(), &registry_, {});
  runner = &r;
  RunReport report = r.Run();
  EXPECT_EQ(report.reason, StopReason::kSignal);
  EXPECT_STREQ(StopReasonName(report.reason), "signal");
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(Counts("t"), Ready(2));  // the job in hand was acked, the rest untouched
}

TEST_F(JobsRunner, StopRequestedBeforeRunTakesNothing) {
  RegisterOk("t");
  Push("t", 2);
  Runner runner(store_.get(), &registry_, {});
  runner.RequestStop();
  EXPECT_TRUE(runner.stop_requested());
  RunReport report = runner.Run();
  EXPECT_EQ(report.reason, StopReason::kSignal);
  EXPECT_EQ(report.jobs, 0u);
  EXPECT_EQ(Counts("t"), Ready(2));
}

TEST_F(JobsRunner, ReadOnlyStoreRunsNothing) {
  RegisterOk("t");
  Push("t", 2);
  store_->SetReadOnly(true);
  RunReport report = RunJobs();
  EXPECT_EQ(report.reason, StopReason::kReadOnly);
  EXPECT_STREQ(StopReasonName(report.reason), "read-only");
  EXPECT_EQ(report.jobs, 0u);
  EXPECT_EQ(Counts("t"), Ready(2));
}

TEST_F(JobsRunner, StoreTurningReadOnlyMidRunStops) {
  RegisterFn("t", [this](const ClaimedJob&, JobContext&) {
    store_->SetReadOnly(true);
    return Status::OK();
  });
  Push("t", 3);
  RunReport report = RunJobs();
  EXPECT_EQ(report.reason, StopReason::kReadOnly);
  ASSERT_EQ(report.results.size(), 1u);
  EXPECT_FALSE(report.results[0].ok);  // ran, but its ack was refused
  EXPECT_NE(report.results[0].error.find("ack failed"), std::string::npos);
  // The job stays claimed (its lease will expire and it runs again): nothing is lost.
  EXPECT_EQ(Counts("t"), (QueueCounts{.ready = 2, .claimed = 1}));
}

// --- Ack / release / abandon ----------------------------------------------------------------

TEST_F(JobsRunner, RetryableFailureIsReleasedWithBackoffThenAbandoned) {
  RegisterFailing("t", "smtp down");
  const JobId id = Push("t", 1).at(0);
  const uint32_t max_tries = store_->GetTypeSettings("t")->max_tries;
  ASSERT_EQ(max_tries, 3u);
  Released last_release;
  for (uint32_t attempt = 1; attempt <= max_tries; ++attempt) {
    RunReport report = RunJobs();
    EXPECT_EQ(report.reason, StopReason::kNoneReady);
    ASSERT_EQ(report.results.size(), 1u);
    const JobResult& result = report.results[0];
    EXPECT_EQ(result.id, id);
    EXPECT_EQ(result.attempt, attempt);
    EXPECT_FALSE(result.ok);
    EXPECT_TRUE(result.released);
    EXPECT_EQ(result.error, "smtp down");
    EXPECT_EQ(report.failed, 1u);
    last_release = result.release;
    if (attempt < max_tries) {
      // Released with a delay, not left claimed until its TTL (MediaWiki's weakness).
      EXPECT_EQ(Counts("t"), (QueueCounts{.delayed = 1}));
      JobInfo info = OnlyJob("t", JobState::kDelayed);
      EXPECT_EQ(result.release.state, JobState::kDelayed);
      EXPECT_EQ(result.release.release_at_ms, info.release_at_ms);
      EXPECT_EQ(info.attempts, attempt);
      EXPECT_EQ(info.last_error, "smtp down");
      EXPECT_GT(info.release_at_ms, clock_->NowMs());
      // Not ready before the backoff passes.
      EXPECT_EQ(RunJobs().jobs, 0u);
      PassBackoff();
    }
  }
  EXPECT_EQ(Counts("t"), (QueueCounts{.abandoned = 1}));
  JobInfo info = OnlyJob("t", JobState::kAbandoned);
  EXPECT_EQ(info.id, id);
  EXPECT_EQ(last_release.state, JobState::kAbandoned);
  EXPECT_EQ(last_release.reason, "attempts used up (3 of 3)");
  EXPECT_EQ(info.attempts, max_tries);
  EXPECT_EQ(info.last_error, "smtp down");
}

TEST_F(JobsRunner, FailureWithoutRetriesIsAcked) {
  RegisterFailing("t", "permanent", /*allow_retries=*/false);
  Push("t", 2);
  RunReport report = RunJobs();
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.failed, 2u);
  EXPECT_EQ(report.succeeded, 0u);
  for (const JobResult& r : report.results) {
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.released);
    EXPECT_EQ(r.error, "permanent");
  }
  EXPECT_EQ(Counts("t"), QueueCounts{});  // MediaWiki: acked, gone
}

TEST_F(JobsRunner, TypeWithoutRetriesAbandonsAtOnce) {
  RegisterFailing("t", "nope");
  TypeSettings settings;
  settings.retries_allowed = false;
  ASSERT_TRUE(store_->SetTypeSettings("t", settings).ok());
  Push("t", 1);
  RunReport report = RunJobs();
  EXPECT_EQ(report.failed, 1u);
  ASSERT_EQ(report.results.size(), 1u);
  EXPECT_TRUE(report.results[0].released);
  EXPECT_EQ(report.results[0].release.state, JobState::kAbandoned);
  EXPECT_EQ(report.results[0].release.reason, "retries are off for type 't'");
  EXPECT_EQ(Counts("t"), (QueueCounts{.abandoned = 1}));
  EXPECT_EQ(OnlyJob("t", JobState::kAbandoned).last_error, "nope");
}

TEST_F(JobsRunner, JobDecidesAfterItsRunWhetherToRetry) {
  // allow_retries() is asked after Run(), so a job can call a failure permanent.
  class Decider final : public Job {
   public:
    explicit Decider(const ClaimedJob& job) : permanent_(job.params == "permanent") {}
    Status Run(JobContext&) override {
      ran_ = true;
      return Status::IOError("failed");
    }
    bool allow_retries() const override { return !(ran_ && permanent_); }

   private:
    bool permanent_;
    bool ran_ = false;
  };
  ASSERT_TRUE(registry_.Register<Decider>("t").ok());
  Push("t", 1, "permanent");
  Push("t", 1, "transient");
  RunReport report = RunJobs();
  EXPECT_EQ(report.failed, 2u);
  EXPECT_EQ(Counts("t"), (QueueCounts{.delayed = 1}));
  EXPECT_EQ(OnlyJob("t", JobState::kDelayed).params, "transient");
}

// --- Exceptions -------------------------------------------------------------------------

TEST_F(JobsRunner, ExceptionsAreFailuresNotCrashes) {
  RegisterFn("std", [](const ClaimedJob&, JobContext&) -> Status {
    throw std::runtime_error("boom");
  });
  RegisterFn("int", [](const ClaimedJob&, JobContext&) -> Status { throw 42; });
  RegisterFn("final", [](const ClaimedJob&, JobContext&) -> Status {
    throw std::logic_error("bad");
  }, /*allow_retries=*/false);
  ASSERT_TRUE(registry_
                  .Register("factory",
                            [](const ClaimedJob&) -> Result<std::unique_ptr<Job>> {
                              throw std::runtime_error("cannot build");
                            })
                  .ok());
  for (const char* type : {"std", "int", "final", "factory"}) Push(type, 1);
  RunReport report = RunJobs();
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.jobs, 4u);
  EXPECT_EQ(report.failed, 4u);
  std::map<std::string, std::string> errors;
  for (const JobResult& r : report.results) errors[r.queue.type] = r.error;
  EXPECT_EQ(errors["std"], "uncaught exception: boom");
  EXPECT_EQ(errors["int"], "uncaught exception of unknown type");
  EXPECT_EQ(errors["final"], "uncaught exception: bad");
  EXPECT_EQ(errors["factory"], "factory of job type 'factory' threw: cannot build");
  // Retryable failures were released, the final one acked.
  EXPECT_EQ(Counts("std"), (QueueCounts{.delayed = 1}));
  EXPECT_EQ(Counts("int"), (QueueCounts{.delayed = 1}));
  EXPECT_EQ(Counts("factory"), (QueueCounts{.delayed = 1}));
  EXPECT_EQ(Counts("final"), QueueCounts{});
}

// --- Root-job duplicates ------------------------------------------------------------------

TEST_F(JobsRunner, SupersededRootJobsAreAckedWithoutRunning) {
  std::vector<std::string> ran;
  RegisterFn("t", [&ran](const ClaimedJob& job, JobContext&) {
    ran.push_back(job.params);
    return Status::OK();
  });
  auto root = [](std::string params, int64_t ts) {
    return JobSpec{.type = "t", .params = std::move(params), .root_signature = "refresh:Page",
                   .root_timestamp_ms = ts, .root_is_self = true};
  };
  ASSERT_TRUE(store_->Push({root("old", 1000)}).ok());
  ASSERT_TRUE(store_->Push({root("new", 2000)}).ok());
  RunReport report = RunJobs();
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.jobs, 2u);
  EXPECT_EQ(report.superseded, 1u);
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(ran, std::vector<std::string>{"new"});
  ASSERT_EQ(report.results.size(), 2u);
  EXPECT_TRUE(report.results[0].superseded);
  EXPECT_TRUE(report.results[0].ok);
  EXPECT_FALSE(report.results[1].superseded);
  EXPECT_EQ(Counts("t"), QueueCounts{});
}

// --- Throttling -------------------------------------------------------------------------

TEST_F(JobsRunner, ThrottledTypeIsSkippedUntilItsBackoffEnds) {
  ASSERT_TRUE(RegisterNullJob(&registry_).ok());
  auto throttle = std::make_shared<Throttle>(std::map<std::string, double>{{"null", 1.0}}, clock_);
  Push("null", 3, R"({"work_items": 5})");
  // The first job is taken, and charges 5 items at 1/s: 5 s of backoff for "null".
  RunReport report = RunJobs({.types = {"null"}, .throttle = throttle});
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.jobs, 1u);
  EXPECT_EQ(Counts("null"), Ready(2));
  // A second runner sharing the throttle finds the type backed off (MediaWiki's case).
  report = RunJobs({.types = {"null"}, .throttle = throttle});
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.jobs, 0u);
  clock_->Advance(4999);
  EXPECT_EQ(RunJobs({.types = {"null"}, .throttle = throttle}).jobs, 0u);
  clock_->Advance(1);
  EXPECT_EQ(RunJobs({.types = {"null"}, .throttle = throttle}).jobs, 1u);
  // Without the throttle (--nothrottle) the rest runs at once.
  EXPECT_EQ(RunJobs({.types = {"null"}}).jobs, 1u);
  EXPECT_EQ(Counts("null"), QueueCounts{});
}

TEST_F(JobsRunner, ThrottleLeavesOtherTypesRunning) {
  RegisterOk("slow");
  RegisterOk("fast");
  auto throttle = std::make_shared<Throttle>(std::map<std::string, double>{{"slow", 0.5}}, clock_);
  Push("slow", 3);
  Push("fast", 4);
  RunReport report = RunJobs({.throttle = throttle});
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  // One slow job (then 2 s of backoff), every fast one.
  EXPECT_EQ(Counts("slow"), Ready(2));
  EXPECT_EQ(Counts("fast"), QueueCounts{});
  EXPECT_EQ(report.jobs, 5u);
  EXPECT_TRUE(throttle->IsThrottled("slow"));
}

// --- Filters ------------------------------------------------------------------------------

TEST_F(JobsRunner, TypesExcludeAndDomainRestrictTheRun) {
  RegisterOk("a");
  RegisterOk("b");
  Push("a", 2);
  Push("b", 2);
  Push("a", 2, "", "wiki2");
  EXPECT_EQ(RunJobs({.types = {"a"}, .domain = ""}).jobs, 2u);
  EXPECT_EQ(Counts("a"), QueueCounts{});
  EXPECT_EQ(Counts("a", "wiki2"), Ready(2));
  EXPECT_EQ(Counts("b"), Ready(2));
  EXPECT_EQ(RunJobs({.exclude_types = {"b"}}).jobs, 2u);  // every domain by default
  EXPECT_EQ(Counts("a", "wiki2"), QueueCounts{});
  EXPECT_EQ(Counts("b"), Ready(2));
  EXPECT_EQ(RunJobs({.domain = "wiki2"}).jobs, 0u);
  EXPECT_EQ(RunJobs().jobs, 2u);
}

// --- Threads, maintenance, wait mode ------------------------------------------------------

TEST_F(JobsRunner, ManyThreadsRunEveryJobExactlyOnce) {
  std::mutex mu;
  std::multiset<JobId> ran;
  RegisterFn("t", [&](const ClaimedJob& job, JobContext&) {
    std::lock_guard lock(mu);
    ran.insert(job.claim.id);
    return Status::OK();
  });
  std::vector<JobId> ids = Push("t", 200);
  std::atomic<int> callbacks = 0;
  RunReport report = RunJobs({.threads = 4, .on_result = [&](const JobResult&) { ++callbacks; }});
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.succeeded, 200u);
  EXPECT_EQ(callbacks, 200);
  EXPECT_EQ(ran, std::multiset<JobId>(ids.begin(), ids.end()));
  EXPECT_EQ(Counts("t"), QueueCounts{});
}

// The workers are the runner's own threads and run under SCHED_BATCH (runner.h); the thread
// that called Run() keeps its class.
TEST_F(JobsRunner, WorkersRunUnderTheBatchSchedulingClass) {
  std::mutex mu;
  std::set<int> policies;
  std::set<std::thread::id> threads;
  RegisterFn("t", [&](const ClaimedJob&, JobContext&) {
    std::lock_guard lock(mu);
    policies.insert(sched_getscheduler(0));  // 0: the calling thread
    threads.insert(std::this_thread::get_id());
    return Status::OK();
  });
  Push("t", 20);
  const int caller_policy = sched_getscheduler(0);
  RunReport report = RunJobs({.threads = 2});
  EXPECT_EQ(report.succeeded, 20u);
  EXPECT_EQ(policies, std::set<int>{SCHED_BATCH});
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
  EXPECT_EQ(sched_getscheduler(0), caller_policy);
}

TEST_F(JobsRunner, RunDoesNotEndWhileARunningJobMayPushMore) {
  // Each "parent" pushes a "child" when it runs; with two threads, the idle thread must not
  // end the run (none-ready) while the other still runs a parent.
  RegisterFn("parent", [](const ClaimedJob&, JobContext& ctx) {
    auto pushed = ctx.store().Push({{.type = "child"}});
    return pushed.status();
  });
  RegisterOk("child");
  Push("parent", 5);
  RunReport report = RunJobs({.threads = 2});
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.succeeded, 10u);
  EXPECT_EQ(Counts("parent"), QueueCounts{});
  EXPECT_EQ(Counts("child"), QueueCounts{});
}

TEST_F(JobsRunner, DueDelayedJobsAreRunThroughMaintenance) {
  RegisterOk("t");
  JobSpec spec{.type = "t", .release_at_ms = clock_->NowMs() + 60'000};
  ASSERT_TRUE(store_->Push({spec}).ok());
  EXPECT_EQ(RunJobs().jobs, 0u);
  EXPECT_EQ(Counts("t"), (QueueCounts{.delayed = 1}));
  clock_->Advance(60'000);
  EXPECT_EQ(RunJobs({.maintain = false}).jobs, 0u);  // nobody promoted it
  EXPECT_EQ(RunJobs().jobs, 1u);
  EXPECT_EQ(Counts("t"), QueueCounts{});
}

TEST_F(JobsRunner, WaitModeBlocksUntilWorkArrives) {
  std::atomic<int> runs = 0;
  RegisterOk("t", &runs);
  RunReport report;
  std::thread runner([&] { report = RunJobs({.max_jobs = 3, .wait = true}); });
  // Whether the runner is already waiting or not yet started, it must take all three.
  for (int i = 0; i < 3; ++i) Push("t", 1);
  runner.join();
  EXPECT_EQ(report.reason, StopReason::kJobLimit);
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(Counts("t"), QueueCounts{});
}

// A waiting runner acks (and reports) the jobs it ran before it waits for more, not when
// the wait ends: the job's result arrives while the runner still waits.
TEST_F(JobsRunner, WaitModeAcksAndReportsTheLastJobBeforeItWaits) {
  RegisterOk("t");
  Push("t", 1);
  std::promise<JobResult> reported;
  RunnerOptions options{.wait = true};
  options.on_result = [&](const JobResult& r) { reported.set_value(r); };
  Runner runner(store_.get(), &registry_, options);
  RunReport report;
  std::thread thread([&] { report = runner.Run(); });
  std::future<JobResult> result = reported.get_future();
  // A bound only so that a broken runner fails the test instead of hanging it.
  const bool arrived = result.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  EXPECT_TRUE(arrived) << "the job's ack was held back while the runner waited";
  if (arrived) {
    EXPECT_TRUE(result.get().ok);
  }
  EXPECT_EQ(Counts("t"), QueueCounts{});
  runner.RequestStop();
  thread.join();
  EXPECT_EQ(report.reason, StopReason::kSignal);
  EXPECT_EQ(report.succeeded, 1u);
}

TEST_F(JobsRunner, WaitModeEndsOnStopRequest) {
  RegisterOk("t");
  Runner runner(store_.get(), &registry_, {.wait = true});
  RunReport report;
  std::thread thread([&] { report = runner.Run(); });
  runner.RequestStop();
  thread.join();
  EXPECT_EQ(report.reason, StopReason::kSignal);
  EXPECT_EQ(report.jobs, 0u);
}

TEST_F(JobsRunner, WaitModeEndsOnTimeLimit) {
  // The job proves the run has started (so its start time is taken) before the test moves
  // the clock past the limit; the runner then notices after its job or in its wait.
  std::promise<void> started;
  RegisterFn("t", [&](const ClaimedJob&, JobContext&) {
    clock_->Advance(500);
    started.set_value();
    return Status::OK();
  });
  Push("t", 1);
  RunReport report;
  std::thread thread([&] { report = RunJobs({.max_time_ms = 1000, .wait = true}); });
  started.get_future().wait();
  clock_->Advance(501);
  thread.join();
  EXPECT_EQ(report.reason, StopReason::kTimeLimit);
  EXPECT_EQ(report.jobs, 1u);
}

TEST_F(JobsRunner, ResultsCanBeStreamedInsteadOfKept) {
  RegisterOk("t");
  Push("t", 4);
  std::vector<JobId> streamed;
  RunReport report = RunJobs({.on_result = [&](const JobResult& r) { streamed.push_back(r.id); },
                              .keep_results = false});
  EXPECT_EQ(report.succeeded, 4u);
  EXPECT_TRUE(report.results.empty());
  EXPECT_EQ(streamed.size(), 4u);
}

}  // namespace
}  // namespace jobstore::testing
