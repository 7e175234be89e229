// Job semantics (issue 4): delayed jobs, dedup, root jobs, the abandoned lifecycle, the failure
// path, read-only mode and the maintenance thread. Time comes from the manual clock.
#include <atomic>
#include <thread>

#include "conformance/conformance.h"

namespace jobstore::testing {
namespace {

const QueueRef kQ{"", "refresh"};

JobSpec Delayed(const std::string& params, int64_t at) {
  JobSpec j;
  j.type = "refresh";
  j.params = params;
  j.release_at_ms = at;
  return j;
}

JobSpec Dedup(const std::string& params) {
  JobSpec j;
  j.type = "refresh";
  j.params = params;
  j.dedup = true;
  return j;
}

JobSpec Rooted(const std::string& params, const std::string& sig, int64_t ts, bool self) {
  JobSpec j;
  j.type = "refresh";
  j.params = params;
  j.root_signature = sig;
  j.root_timestamp_ms = ts;
  j.root_is_self = self;
  return j;
}

TEST_P(Conformance, DelayedJobIsNotClaimableUntilPromoted) {
  const int64_t now = clock_->NowMs();
  PushAll({Delayed("later", now + 60'000)});
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 1, 0));
  EXPECT_TRUE(ClaimN(kQ, 1).empty());
  EXPECT_TRUE(Ready().empty());
  auto listed = store_->List(kQ, JobState::kDelayed, "", 10);
  ASSERT_EQ(listed->jobs.size(), 1u);
  EXPECT_EQ(listed->jobs[0].release_at_ms, now + 60'000);

  clock_->Advance(59'999);
  EXPECT_EQ(MaintainOnce().promoted, 0u);
  clock_->Advance(1);
  EXPECT_EQ(MaintainOnce().promoted, 1u);
  EXPECT_EQ(CountsOf(kQ), C(1, 0, 0, 0));
  EXPECT_EQ(Ready(), (std::vector<QueueRef>{kQ}));
  EXPECT_EQ(ClaimN(kQ, 1)[0].params, "later");
  ExpectHealthy();
}

TEST_P(Conformance, DelayedJobsPromoteInReleaseOrderWithBoundedPasses) {
  options_.maintenance_batch = 3;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  const int64_t now = clock_->NowMs();
  std::vector<JobSpec> specs;
  // Pushed out of order; release order is 0..7 by the number.
  for (int i : {5, 2, 7, 0, 3, 6, 1, 4}) specs.push_back(Delayed(std::to_string(i), now + 1 + i));
  specs.push_back(Delayed("far", now + 365LL * 24 * 3600 * 1000));
  PushAll(specs);
  clock_->Advance(100);
  auto first = MaintainOnce();
  EXPECT_EQ(first.promoted, 3u);
  EXPECT_TRUE(first.more);
  EXPECT_EQ(MaintainOnce().promoted, 3u);
  auto last = MaintainOnce();
  EXPECT_EQ(last.promoted, 2u);
  EXPECT_FALSE(last.more);
  EXPECT_EQ(CountsOf(kQ), C(8, 0, 1, 0));
  auto jobs = ClaimN(kQ, 8);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(jobs[i].params, std::to_string(i));
}

TEST_P(Conformance, MillisecondPrecisionDelays) {
  const int64_t now = clock_->NowMs();
  PushAll({Delayed("a", now + 1)});
  EXPECT_EQ(MaintainOnce().promoted, 0u);
  clock_->Advance(1);
  EXPECT_EQ(MaintainOnce().promoted, 1u);
  // A release time at or before now is ready at once.
  PushAll({Delayed("b", clock_->NowMs())});
  EXPECT_EQ(CountsOf(kQ), C(2, 0, 0, 0));
}

TEST_P(Conformance, DedupDropsDuplicatesOfQueuedJobs) {
  auto first = store_->Push({Dedup("{\"page\":1}")});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->pushed, 1u);
  auto second = store_->Push({Dedup("{\"page\":1}"), Dedup("{\"page\":2}")});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->pushed, 1u);
  EXPECT_EQ(second->duplicates, 1u);
  EXPECT_TRUE(second->duplicate[0]);
  EXPECT_EQ(second->ids[0], first->ids[0]);
  EXPECT_FALSE(second->duplicate[1]);
  EXPECT_EQ(CountsOf(kQ), C(2, 0, 0, 0));
  // Without the dedup flag nothing is dropped.
  JobSpec plain = Dedup("{\"page\":1}");
  plain.dedup = false;
  PushAll({plain});
  EXPECT_EQ(CountsOf(kQ), C(3, 0, 0, 0));
  // Other queues (domain or type) are independent.
  JobSpec other = Dedup("{\"page\":1}");
  other.domain = "wiki2";
  EXPECT_EQ(store_->Push({other})->pushed, 1u);
  ExpectHealthy();
}

TEST_P(Conformance, ClaimedCopyDoesNotBlockAndDelayedCopyDoes) {
  PushAll({Dedup("x")});
  auto jobs = ClaimN(kQ, 1);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(store_->Push({Dedup("x")})->pushed, 1u);  // claimed copy does not block
  EXPECT_EQ(store_->Push({Dedup("x")})->duplicates, 1u);
  JobSpec d = Dedup("y");
  d.release_at_ms = clock_->NowMs() + 1000;
  EXPECT_EQ(store_->Push({d})->pushed, 1u);
  EXPECT_EQ(store_->Push({Dedup("y")})->duplicates, 1u);  // delayed copy blocks
  // The reclaimed original does not take the dedup entry back from the queued duplicate.
  ASSERT_TRUE(store_->Release(jobs[0].claim).ok());
  EXPECT_EQ(CountsOf(kQ), C(2, 0, 1, 0));
  ExpectHealthy();
}

TEST_P(Conformance, DuplicatesInsideOneBatchCollapseToTheFirst) {
  auto r = store_->Push({Dedup("same"), Dedup("same"), Dedup("other"), Dedup("same")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pushed, 2u);
  EXPECT_EQ(r->duplicates, 2u);
  EXPECT_EQ(r->ids[1], r->ids[0]);
  EXPECT_EQ(r->ids[3], r->ids[0]);
  EXPECT_EQ((std::vector<bool>(r->duplicate)), (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(CountsOf(kQ), C(2, 0, 0, 0));
}

TEST_P(Conformance, ConcurrentIdenticalDedupPushesLeaveExactlyOne) {
  for (int round = 0; round < 20; ++round) {
    const std::string params = "round" + std::to_string(round);
    std::atomic<int> pushed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        auto r = store_->Push({Dedup(params)});
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        pushed += static_cast<int>(r->pushed);
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(pushed.load(), 1) << params;
  }
  EXPECT_EQ(CountsOf(kQ), C(20, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(Conformance, OlderRootJobIsSupersededAtClaim) {
  PushAll({Rooted("old child", "sig", 100, false)});
  PushAll({Rooted("root", "sig", 200, true)});  // registers sig -> 200
  PushAll({Rooted("new child", "sig", 200, false), Rooted("other sig", "sig2", 50, false)});
  auto jobs = ClaimN(kQ, 4);
  ASSERT_EQ(jobs.size(), 4u);
  EXPECT_EQ(jobs[0].params, "old child");
  EXPECT_TRUE(jobs[0].superseded);
  EXPECT_FALSE(jobs[1].superseded);
  EXPECT_FALSE(jobs[2].superseded);
  EXPECT_FALSE(jobs[3].superseded);
  // A superseded job still has to be acked; it is counted as claimed until then.
  EXPECT_EQ(CountsOf(kQ), C(0, 4, 0, 0));
  for (auto& j : jobs) ASSERT_TRUE(store_->Ack(j.claim).ok());
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 0));
}

TEST_P(DurableConformance, RootRegistrationSurvivesReopenAndKeepsTheNewest) {
  PushAll({Rooted("root 300", "s", 300, true), Rooted("root 200", "s", 200, true)});
  ASSERT_NO_FATAL_FAILURE(Reopen());
  PushAll({Rooted("child 250", "s", 250, false)});
  auto jobs = ClaimN(kQ, 3);
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_FALSE(jobs[0].superseded);  // root 300 itself
  EXPECT_TRUE(jobs[1].superseded);   // root 200 < 300
  EXPECT_TRUE(jobs[2].superseded);   // child 250 < 300
}

TEST_P(Conformance, ClaimRegistersNewerRootTimestamp) {
  // MediaWiki's base queue records a newer root timestamp seen at pop.
  PushAll({Rooted("new", "s", 500, false), Rooted("old", "s", 400, false)});
  auto jobs = ClaimN(kQ, 2);
  EXPECT_FALSE(jobs[0].superseded);
  EXPECT_TRUE(jobs[1].superseded);
}

TEST_P(Conformance, RootRegistrationsExpire) {
  TypeSettings ts;
  ts.root_job_ttl_ms = 1000;
  ASSERT_TRUE(store_->SetTypeSettings("refresh", ts).ok());
  const int64_t now = clock_->NowMs();
  PushAll({Rooted("root", "s", now, true)});
  ASSERT_TRUE(store_->Ack(ClaimN(kQ, 1)[0].claim).ok());
  clock_->Advance(1000);
  EXPECT_EQ(MaintainOnce().roots_expired, 0u);  // not older than the TTL yet
  clock_->Advance(30'000);
  EXPECT_EQ(MaintainOnce().roots_expired, 0u);  // expired, but swept at most once a minute
  clock_->Advance(30'000);
  EXPECT_EQ(MaintainOnce().roots_expired, 1u);
  PushAll({Rooted("child", "s", now - 5, false)});
  EXPECT_FALSE(ClaimN(kQ, 1)[0].superseded);
}

TEST_P(Conformance, FailedJobIsRetriedWithDelayThenAbandonedWithItsError) {
  TypeSettings ts;
  ts.max_tries = 2;
  ASSERT_TRUE(store_->SetTypeSettings("refresh", ts).ok());
  const JobId id = Push1("refresh", "job");
  auto first = ClaimN(kQ, 1);
  auto retried = store_->Release(first[0].claim, 2000, "timeout talking to db");
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->state, JobState::kDelayed);
  EXPECT_EQ(retried->release_at_ms, clock_->NowMs() + 2000);
  EXPECT_EQ(retried->reason, "");
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 1, 0));
  clock_->Advance(2000);
  MaintainOnce();
  auto second = ClaimN(kQ, 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].attempts, 2u);
  auto abandoned = store_->Release(second[0].claim, 2000, "still failing");
  ASSERT_TRUE(abandoned.ok()) << abandoned.status().ToString();
  EXPECT_EQ(abandoned->state, JobState::kAbandoned);
  EXPECT_EQ(abandoned->reason, "attempts used up (2 of 2)");
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 1));
  auto info = store_->Inspect(kQ, id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::kAbandoned);
  EXPECT_EQ(info->attempts, 2u);
  EXPECT_EQ(info->last_error, "still failing");
  EXPECT_EQ(info->abandoned_at_ms, clock_->NowMs());
  EXPECT_EQ(info->params, "job");
  ExpectHealthy();
}

TEST_P(Conformance, FailureWithoutRetriesIsAbandonedAtOnce) {
  TypeSettings ts;
  ts.retries_allowed = false;
  ASSERT_TRUE(store_->SetTypeSettings("refresh", ts).ok());
  Push1("refresh", "job");
  auto released = store_->Release(ClaimN(kQ, 1)[0].claim, 0, "boom");
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_EQ(released->state, JobState::kAbandoned);
  EXPECT_EQ(released->reason, "retries are off for type 'refresh'");
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 1));
}

TEST_P(Conformance, ReleaseWithoutErrorIsAGiveBackWhateverTheAttempts) {
  TypeSettings ts;
  ts.max_tries = 1;
  ASSERT_TRUE(store_->SetTypeSettings("refresh", ts).ok());
  Push1("refresh", "job");
  auto released = store_->Release(ClaimN(kQ, 1)[0].claim);
  ASSERT_TRUE(released.ok()) << released.status().ToString();
  EXPECT_EQ(released->state, JobState::kReady);
  EXPECT_EQ(CountsOf(kQ), C(1, 0, 0, 0));
}

TEST_P(Conformance, RepushAbandonedMovesEveryJobBackWithAttemptsReset) {
  TypeSettings ts;
  ts.max_tries = 1;
  ts.claim_ttl_ms = 10;
  ASSERT_TRUE(store_->SetTypeSettings("refresh", ts).ok());
  PushAll({Spec("refresh", "a"), Spec("refresh", "b"), Spec("refresh", "c")});
  ClaimN(kQ, 2);
  clock_->Advance(11);
  EXPECT_EQ(MaintainOnce().abandoned, 2u);
  EXPECT_EQ(CountsOf(kQ), C(1, 0, 0, 2));
  auto moved = store_->RepushAbandoned(kQ);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 2u);
  EXPECT_EQ(CountsOf(kQ), C(3, 0, 0, 0));  // no copy left behind
  auto jobs = ClaimN(kQ, 3);
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].params, "c");  // repushed jobs queue behind what was ready
  EXPECT_EQ(jobs[1].attempts, 1u);
  EXPECT_EQ(jobs[2].attempts, 1u);
  EXPECT_EQ(*store_->RepushAbandoned(kQ), 0u);
  ExpectHealthy();
}

TEST_P(Conformance, AbandonedJobsArePrunedAfterRetentionAsARange) {
  TypeSettings ts;
  ts.max_tries = 1;
  ts.claim_ttl_ms = 10;
  ts.retention_ms = 7LL * 24 * 3600 * 1000;
  ASSERT_TRUE(store_->SetTypeSettings("refresh", ts).ok());
  PushAll({Spec("refresh", "a"), Spec("refresh", "b")});
  ClaimN(kQ, 1);
  clock_->Advance(11);
  MaintainOnce();  // a abandoned at t0
  clock_->Advance(1000);
  ClaimN(kQ, 1);
  clock_->Advance(11);
  MaintainOnce();  // b abandoned at t0 + 1011
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 2));
  clock_->Advance(ts.retention_ms - 1011 + 1);
  auto rep = MaintainOnce();
  EXPECT_EQ(rep.pruned, 1u);
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 1));
  clock_->Advance(1011);
  EXPECT_EQ(MaintainOnce().pruned, 1u);
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 0));
  ExpectHealthy();
  if (!GetParam().persistent) return;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(Conformance, ReadOnlyRefusesEveryWriteButReadsWork) {
  PushAll({Spec("refresh", "a"), Spec("refresh", "b")});
  auto claimed = ClaimN(kQ, 1);
  store_->SetReadOnly(true);
  EXPECT_TRUE(store_->IsReadOnly());
  EXPECT_TRUE(store_->Push({}).status().IsReadOnly());  // even an empty push
  EXPECT_TRUE(store_->Push({Spec("refresh", "c")}).status().IsReadOnly());
  EXPECT_TRUE(store_->Claim(kQ, 1).status().IsReadOnly());
  EXPECT_TRUE(store_->Ack(claimed[0].claim).IsReadOnly());
  EXPECT_TRUE(store_->Release(claimed[0].claim).status().IsReadOnly());
  EXPECT_TRUE(store_->Touch(claimed[0].claim).status().IsReadOnly());
  EXPECT_TRUE(store_->Clear(kQ).IsReadOnly());
  EXPECT_TRUE(store_->RepushAbandoned(kQ).status().IsReadOnly());
  EXPECT_TRUE(store_->Maintain().status().IsReadOnly());
  EXPECT_TRUE(store_->SetTypeSettings("refresh", {}).IsReadOnly());
  EXPECT_EQ(CountsOf(kQ), C(1, 1, 0, 0));
  EXPECT_EQ(store_->List(kQ, JobState::kReady, "", 10)->jobs.size(), 1u);
  store_->SetReadOnly(false);
  ASSERT_TRUE(store_->Ack(claimed[0].claim).ok());
  options_.read_only = true;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_TRUE(store_->IsReadOnly());
  EXPECT_TRUE(store_->Claim(kQ, 1).status().IsReadOnly());
  EXPECT_TRUE(store_->ClaimAny({}, 1).status().IsReadOnly());
  EXPECT_TRUE(store_->AckMany({claimed[0].claim}).status().IsReadOnly());
  EXPECT_TRUE(store_->AckThenClaimAny({claimed[0].claim}, {}, 1).status().IsReadOnly());
  EXPECT_TRUE(store_->AckThenClaimAny({}, {}, 1).status().IsReadOnly());
  EXPECT_TRUE(store_->RetryJob(kQ, claimed[0].claim.id).IsReadOnly());
  EXPECT_TRUE(store_->DeleteJob(kQ, claimed[0].claim.id).IsReadOnly());
  if (GetParam().persistent) {
    EXPECT_EQ(CountsOf(kQ), C(1, 0, 0, 0));
  }
}

TEST_P(Conformance, MaintenanceThreadPromotesWithoutExplicitCalls) {
  options_.maintenance_interval_ms = 1;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  const uint64_t epoch = *store_->ReadyEpoch();
  PushAll({Delayed("x", clock_->NowMs() + 5000)});
  clock_->Advance(5000);
  // The background pass makes the job ready; wait for the ready notification, not a sleep.
  for (int i = 0; i < 1000 && CountsOf(kQ).ready == 0; ++i) {
    ExpectOk(store_->WaitForReady(epoch, 100));
  }
  EXPECT_EQ(CountsOf(kQ), C(1, 0, 0, 0));
  store_.reset();  // stops the thread cleanly
}

TEST_P(Conformance, WaitForReadyReturnsOnPush) {
  const uint64_t epoch = *store_->ReadyEpoch();
  std::thread pusher([&] { Push1("refresh", "x"); });
  ExpectOk(store_->WaitForReady(epoch, 60'000));
  pusher.join();
  EXPECT_NE(*store_->ReadyEpoch(), epoch);
}

}  // namespace
}  // namespace jobstore::testing
