// The contract's operations on one job and across queues: delete a job in any state, retry an
// abandoned one, claim from any ready queue in one call (with its wait), the call bounds, and the
// capabilities every medium declares.
#include <algorithm>
#include <set>
#include <thread>

#include "conformance/conformance.h"

namespace jobstore::testing {
namespace {

const QueueRef kQ{"", "email"};

// One job in each state of kQ (the type's claim TTL is 10 ms, one try): returns the ids as
// {ready, claimed, delayed, abandoned}, and the claim of the claimed one in *claim.
std::vector<JobId> OneInEachState(Store& store, ManualClock& clock, Claim* claim) {
  TypeSettings ts;
  ts.claim_ttl_ms = 10;
  ts.max_tries = 1;
  EXPECT_TRUE(store.SetTypeSettings("email", ts).ok());
  JobSpec doomed{.type = "email", .params = "abandoned", .dedup = true};
  auto first = store.Push({doomed});
  auto abandon = store.Claim(kQ, 1);
  clock.Advance(11);
  EXPECT_EQ(store.Maintain()->abandoned, 1u);
  JobSpec ready{.type = "email", .params = "ready", .dedup = true};
  JobSpec claimed{.type = "email", .params = "claimed"};
  JobSpec delayed{.type = "email", .params = "delayed", .release_at_ms = clock.NowMs() + 60'000,
                  .dedup = true};
  auto rest = store.Push({claimed, ready, delayed});
  auto got = store.Claim(kQ, 1, 0);
  EXPECT_TRUE(got.ok() && got->size() == 1u && (*got)[0].params == "claimed");
  *claim = (*got)[0].claim;
  return {rest->ids[1], rest->ids[0], rest->ids[2], first->ids[0]};
}

TEST_P(Conformance, DeleteRemovesOneJobInEachStateAndItsDedupEntry) {
  Claim claim;
  auto ids = OneInEachState(*store_, *clock_, &claim);
  Push1("email", "neighbour");
  EXPECT_EQ(CountsOf(kQ), C(2, 1, 1, 1));
  const JobState states[] = {JobState::kReady, JobState::kClaimed, JobState::kDelayed,
                             JobState::kAbandoned};
  QueueCounts left = C(2, 1, 1, 1);
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(JobStateName(states[i]));
    auto info = store_->Inspect(kQ, ids[i]);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->state, states[i]);
    ExpectOk(store_->DeleteJob(kQ, ids[i]));
    EXPECT_TRUE(store_->Inspect(kQ, ids[i]).status().IsNotFound());
    Status again = store_->DeleteJob(kQ, ids[i]);
    EXPECT_TRUE(again.IsNotFound()) << again.ToString();
    switch (states[i]) {
      case JobState::kReady: --left.ready; break;
      case JobState::kClaimed: --left.claimed; break;
      case JobState::kDelayed: --left.delayed; break;
      case JobState::kAbandoned: --left.abandoned; break;
    }
    EXPECT_EQ(CountsOf(kQ), left);
    ExpectHealthy();
  }
  // The deleted claim's token is gone with the job.
  EXPECT_TRUE(store_->Ack(claim).IsNotFound());
  EXPECT_TRUE(store_->Release(claim).status().IsNotFound());
  // The deleted queued jobs gave their dedup entries back: identical pushes are accepted.
  auto again = store_->Push({JobSpec{.type = "email", .params = "ready", .dedup = true},
                             JobSpec{.type = "email", .params = "delayed", .dedup = true}});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->pushed, 2u);
  // The queue still works: the neighbour and the two new jobs, in order.
  auto jobs = ClaimN(kQ, 5);
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].params, "neighbour");
  EXPECT_TRUE(store_->DeleteJob(kQ, 987654).IsNotFound());
  EXPECT_TRUE(store_->DeleteJob({"", "neverseen"}, 1).IsNotFound());
  ExpectHealthy();
}

TEST_P(Conformance, RetryMovesOneAbandonedJobBackWithAttemptsReset) {
  Claim claim;
  auto ids = OneInEachState(*store_, *clock_, &claim);
  const JobId abandoned = ids[3];
  for (size_t i = 0; i < 3; ++i) {
    Status s = store_->RetryJob(kQ, ids[i]);
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_NE(s.message().find("not abandoned"), std::string::npos) << s.ToString();
  }
  EXPECT_TRUE(store_->RetryJob(kQ, 987654).IsNotFound());
  EXPECT_EQ(CountsOf(kQ), C(1, 1, 1, 1));
  ExpectOk(store_->RetryJob(kQ, abandoned));
  EXPECT_EQ(CountsOf(kQ), C(2, 1, 1, 0));
  auto info = store_->Inspect(kQ, abandoned);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::kReady);
  EXPECT_EQ(info->attempts, 0u);
  // Behind the job that was ready already; its next claim is its first attempt again.
  auto jobs = ClaimN(kQ, 2);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].params, "ready");
  EXPECT_EQ(jobs[1].params, "abandoned");
  EXPECT_EQ(jobs[1].attempts, 1u);
  EXPECT_TRUE(store_->RetryJob(kQ, abandoned).IsInvalidArgument());  // claimed now
  ExpectHealthy();
}

TEST_P(Conformance, AForcedReleaseFreesAStuckClaimAndFencesItsWorker) {
  const JobId id = Push1("email", "stuck");
  Push1("email", "behind");
  auto stuck = ClaimN(kQ, 1, 0);  // a lease that never expires, its worker gone
  ASSERT_EQ(stuck.size(), 1u);
  EXPECT_EQ(stuck[0].claim.id, id);
  ExpectOk(store_->ForceRelease(kQ, id));
  EXPECT_EQ(CountsOf(kQ), C(2, 0, 0, 0));
  auto info = store_->Inspect(kQ, id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::kReady);
  EXPECT_EQ(info->attempts, 1u);  // the claim it had still counts
  // The dead worker's token is stale: it can neither ack nor move the job now.
  EXPECT_TRUE(store_->Ack(stuck[0].claim).IsStaleToken());
  EXPECT_TRUE(store_->Touch(stuck[0].claim).status().IsStaleToken());
  // It is back in its place, first.
  auto again = ClaimN(kQ, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].claim.id, id);
  EXPECT_EQ(again[0].attempts, 2u);
  ExpectOk(store_->Ack(again[0].claim));
  Status ready = store_->ForceRelease(kQ, id + 1);
  EXPECT_TRUE(ready.IsInvalidArgument()) << ready.ToString();
  EXPECT_NE(ready.message().find("is ready, not claimed"), std::string::npos) << ready.ToString();
  EXPECT_TRUE(store_->ForceRelease(kQ, id).IsNotFound());
  EXPECT_TRUE(store_->ForceRelease({"", "neverseen"}, 1).IsNotFound());
  store_->SetReadOnly(true);
  EXPECT_TRUE(store_->ForceRelease(kQ, id + 1).IsReadOnly());
  store_->SetReadOnly(false);
  ExpectHealthy();
}

TEST_P(Conformance, ClaimAnyFillsItsBatchFromEveryReadyQueueTheFilterAllows) {
  PushAll({Spec("email", "e1"), Spec("email", "e2"), Spec("resize", "r1", "wiki2"),
           Spec("purge", "p1")});
  auto none = store_->ClaimAny({.types = {"nosuchtype"}}, 5);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto only_wiki2 = store_->ClaimAny({.domain = std::string("wiki2")}, 5);
  ASSERT_TRUE(only_wiki2.ok()) << only_wiki2.status().ToString();
  ASSERT_EQ(only_wiki2->size(), 1u);
  EXPECT_EQ((*only_wiki2)[0].params, "r1");
  auto no_purge = store_->ClaimAny({.exclude = {"purge"}}, 5);
  ASSERT_TRUE(no_purge.ok());
  ASSERT_EQ(no_purge->size(), 2u);
  for (const ClaimedJob& j : *no_purge) {
    EXPECT_EQ(j.claim.queue, kQ);
    EXPECT_EQ(j.attempts, 1u);
  }
  auto rest = store_->ClaimAny({}, 5);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].params, "p1");
  EXPECT_EQ(CountsOf(kQ), C(0, 2, 0, 0));
  EXPECT_TRUE(Ready().empty());
  // Claims from ClaimAny are claims like any other: they ack.
  for (const ClaimedJob& j : *no_purge) ExpectOk(store_->Ack(j.claim));
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(Conformance, ClaimAnyHonoursTheTtlAndTheBounds) {
  PushAll({Spec("email", "a")});
  auto got = store_->ClaimAny({}, 1, 5000);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].claim.token.deadline_ms, clock_->NowMs() + 5000);
  EXPECT_TRUE(store_->ClaimAny({}, kMaxClaimBatch + 1).status().IsInvalidArgument());
  EXPECT_TRUE(store_->ClaimAny({}, 1, -1).status().IsInvalidArgument());
  EXPECT_TRUE(store_->ClaimAny({.types = {"bad type"}}, 1).status().IsInvalidArgument());
  EXPECT_TRUE(store_->ClaimAny({.domain = std::string("bad/domain")}, 1).status().IsInvalidArgument());
  auto zero = store_->ClaimAny({}, 0);
  ASSERT_TRUE(zero.ok());
  EXPECT_TRUE(zero->empty());
}

TEST_P(Conformance, ClaimAnyWaitsForAPushAndGivesUpAtItsDeadline) {
  // Nothing ready and no wait: at once, empty.
  auto empty = store_->ClaimAny({}, 1, std::nullopt, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  // A push from another thread ends the wait (the wait's bound is far beyond the test's time).
  std::thread pusher([&] { Push1("email", "late"); });
  auto got = store_->ClaimAny({}, 1, std::nullopt, 120'000);
  pusher.join();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].params, "late");
  // A short wait with nothing coming returns empty, not an error.
  auto timed_out = store_->ClaimAny({}, 1, std::nullopt, 20);
  ASSERT_TRUE(timed_out.ok()) << timed_out.status().ToString();
  EXPECT_TRUE(timed_out->empty());
}

TEST_P(Conformance, CallsOverTheirBoundsAreRefusedWhole) {
  std::vector<Claim> claims(kMaxClaimBatch + 1, Claim{kQ, 1, {}});
  auto acked = store_->AckMany(claims);
  EXPECT_TRUE(acked.status().IsInvalidArgument()) << acked.status().ToString();
  std::vector<JobSpec> jobs(kMaxPushBatch + 1, Spec("email", ""));
  auto pushed = store_->Push(jobs);
  EXPECT_TRUE(pushed.status().IsInvalidArgument()) << pushed.status().ToString();
  EXPECT_NE(pushed.status().message().find("split it"), std::string::npos);
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 0));
  EXPECT_TRUE(store_->List(kQ, JobState::kReady, "", 0).status().IsInvalidArgument());
  EXPECT_TRUE(store_->List(kQ, JobState::kReady, "", kMaxListLimit + 1).status().IsInvalidArgument());
}

TEST_P(Conformance, ALongErrorIsRecordedCut) {
  TypeSettings ts;
  ts.retries_allowed = false;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
  const JobId id = Push1("email", "x");
  ExpectOk(store_->Release(ClaimN(kQ, 1)[0].claim, 0, std::string(3 * kMaxErrorBytes, 'e')).status());
  auto info = store_->Inspect(kQ, id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::kAbandoned);
  EXPECT_EQ(info->last_error, std::string(kMaxErrorBytes, 'e'));
}

TEST_P(Conformance, CapabilitiesAreDeclared) {
  const Capabilities c = store_->capabilities();
  EXPECT_FALSE(c.medium.empty());
  EXPECT_FALSE(c.note.empty());
  EXPECT_TRUE(c.exact_counts);
  EXPECT_TRUE(c.exact_ready_index);
  // A medium that keeps nothing says so, and one that keeps things does not claim otherwise.
  EXPECT_EQ(c.push_durability == Capabilities::Durability::kNothing, !GetParam().persistent);
}

}  // namespace
}  // namespace jobstore::testing
