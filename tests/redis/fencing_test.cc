// Claim tokens across stores: a claim that changed between the two steps of a settle or of a
// reclaim (peek, the policy's decision, the fenced move) makes the move StaleToken and changes
// nothing; many stores claiming one queue never share a job.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "jobstore/backend.h"
#include "redis_fixture.h"

namespace jobstore::testing {
namespace {

class RedisFencingTest : public RedisTest {
 protected:
  void SetUp() override {
    RedisTest::SetUp();
    a_ = Open();
    b_ = Open();
    ASSERT_TRUE(a_ && b_);
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    RedisTest::TearDown();
  }
  const QueueRef q_{"", "t"};
  std::unique_ptr<Store> a_, b_;
};

TEST_F(RedisFencingTest, ATouchMakesTheOldTokenStale) {
  PushAll(*a_, {Spec("t", "x")});
  auto jobs = ClaimN(*a_, q_, 1, 1000);
  ASSERT_EQ(jobs.size(), 1u);
  const Claim old = jobs[0].claim;
  clock_->Advance(10);
  auto touched = b_->Touch(old, 5000);
  ASSERT_TRUE(touched.ok()) << touched.status().ToString();
  EXPECT_EQ(touched->deadline_ms, clock_->NowMs() + 5000);
  EXPECT_NE(touched->nonce, old.token.nonce);
  EXPECT_TRUE(a_->Ack(old).IsStaleToken());
  EXPECT_TRUE(a_->Release(old).status().IsStaleToken());
  EXPECT_TRUE(a_->Touch(old, 100).status().IsStaleToken());
  EXPECT_EQ(CountsOf(*a_, q_), C(0, 1, 0, 0));
  Claim now = old;
  now.token = *touched;
  // A touch to the same deadline keeps the token.
  auto same = a_->Touch(now, touched->deadline_ms - clock_->NowMs());
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, *touched);
  EXPECT_TRUE(a_->Ack(now).ok());
  EXPECT_TRUE(a_->Ack(now).IsNotFound());
  ExpectHealthy(*a_);
}

TEST_F(RedisFencingTest, ASettleWhoseClaimWasTouchedMidwayIsStale) {
  PushAll(*a_, {Spec("t", "x")});
  auto jobs = ClaimN(*a_, q_, 1, 1000);
  ASSERT_EQ(jobs.size(), 1u);
  const Claim claim = jobs[0].claim;
  ClaimToken fresh;
  int decisions = 0;
  // Between the peek and the move, another store extends the lease (a new token).
  Status s = a_->backend()->Settle(claim, clock_->NowMs(), [&](uint32_t attempts) {
    ++decisions;
    EXPECT_EQ(attempts, 1u);
    auto t = b_->Touch(claim, 9000);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    if (t.ok()) fresh = *t;
    Disposition d;
    d.to = Disposition::To::kAbandoned;
    d.error = "must not land";
    return d;
  });
  EXPECT_EQ(decisions, 1);
  EXPECT_TRUE(s.IsStaleToken()) << s.ToString();
  EXPECT_EQ(CountsOf(*a_, q_), C(0, 1, 0, 0));
  auto info = a_->Inspect(q_, claim.id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::kClaimed);
  EXPECT_EQ(info->deadline_ms, fresh.deadline_ms);
  EXPECT_TRUE(info->last_error.empty());
  Claim now = claim;
  now.token = fresh;
  EXPECT_TRUE(a_->Ack(now).ok());
  ExpectHealthy(*a_);
}

TEST_F(RedisFencingTest, ASettleWhoseClaimWasReclaimedMidwayIsStale) {
  PushAll(*a_, {Spec("t", "x")});
  auto jobs = ClaimN(*a_, q_, 1, 1000);
  ASSERT_EQ(jobs.size(), 1u);
  const Claim claim = jobs[0].claim;
  Status s = a_->backend()->Settle(claim, clock_->NowMs(), [&](uint32_t) {
    clock_->Advance(2000);
    auto r = b_->Maintain();  // the lease expired: back to ready
    EXPECT_TRUE(r.ok() && r->reclaimed == 1);
    Disposition d;
    d.to = Disposition::To::kDelayed;
    d.release_at_ms = clock_->NowMs() + 60'000;
    return d;
  });
  EXPECT_TRUE(s.IsStaleToken()) << s.ToString();
  EXPECT_EQ(CountsOf(*a_, q_), C(1, 0, 0, 0));
  auto again = ClaimN(*b_, q_, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 2u);
  EXPECT_TRUE(a_->Ack(claim).IsStaleToken());
  EXPECT_TRUE(b_->Ack(again[0].claim).ok());
  ExpectHealthy(*a_);
}

TEST_F(RedisFencingTest, AReclaimWhoseJobWasAckedMidwayLeavesItGone) {
  PushAll(*a_, {Spec("t", "x"), Spec("t", "y")});
  auto jobs = ClaimN(*a_, q_, 2, 1000);
  ASSERT_EQ(jobs.size(), 2u);
  clock_->Advance(2000);
  MaintenancePlan plan;
  plan.now_ms = clock_->NowMs();
  plan.promote = false;
  int decided = 0;
  // While maintenance decides, the worker of the first job acks it after all (late, but its
  // token is still current: nothing had moved the job yet).
  plan.on_expired = [&](uint32_t attempts) {
    if (decided++ == 0) {
      EXPECT_TRUE(b_->Ack(jobs[0].claim).ok());
    }
    Disposition d;
    if (attempts >= 1) d.to = Disposition::To::kReady;
    return d;
  };
  MaintenanceReport report;
  ASSERT_TRUE(a_->backend()->Maintain(q_, plan, &report).ok());
  EXPECT_EQ(decided, 2);
  EXPECT_EQ(report.reclaimed, 1u);  // only the second: the first was acked in between
  EXPECT_EQ(CountsOf(*a_, q_), C(1, 0, 0, 0));
  auto left = ClaimN(*a_, q_, 5);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].params, "y");
  EXPECT_TRUE(a_->Ack(left[0].claim).ok());
  ExpectHealthy(*a_);
}

TEST_F(RedisFencingTest, ManyStoresClaimingOneQueueNeverShareAJob) {
#ifdef JOBSTORE_SANITIZED
  constexpr int kJobs = 1000;
#else
  constexpr int kJobs = 5000;
#endif
  constexpr int kStores = 4;
  std::vector<JobSpec> specs;
  for (int i = 0; i < kJobs; ++i) specs.push_back(Spec("t", std::to_string(i)));
  for (int i = 0; i < kJobs; i += 1000) {
    PushAll(*a_, std::vector<JobSpec>(specs.begin() + i, specs.begin() + std::min(i + 1000, kJobs)));
  }
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kStores; ++i) stores.push_back(Open());
  std::mutex mu;
  std::set<JobId> seen;
  std::atomic<int> duplicates{0}, errors{0}, acked{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      for (;;) {
        auto jobs = stores[i]->Claim(q_, 1 + (i % 2) * 15);
        if (!jobs.ok()) {
          ++errors;
          return;
        }
        if (jobs->empty()) return;
        std::vector<Claim> claims;
        for (const auto& j : *jobs) {
          claims.push_back(j.claim);
          std::lock_guard<std::mutex> l(mu);
          if (!seen.insert(j.claim.id).second) ++duplicates;
        }
        auto acks = stores[i]->AckMany(claims);
        if (!acks.ok()) {
          ++errors;
          return;
        }
        for (const Status& s : *acks) s.ok() ? ++acked : ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(duplicates.load(), 0);
  EXPECT_EQ(acked.load(), kJobs);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(CountsOf(*a_, q_), C(0, 0, 0, 0));
  EXPECT_TRUE(a_->ReadyQueues()->empty());
  ExpectHealthy(*a_);
}

}  // namespace
}  // namespace jobstore::testing
