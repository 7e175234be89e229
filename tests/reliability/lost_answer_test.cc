// A lost answer: a served store's owner can commit a call and die before its answer leaves,
// so the client gets Unavailable for a call that took effect. The workload must then report
// that call as still in flight ("F", no result line), and the model must accept it applied in
// full or not at all. (A whole AckMany failing was once reported as "M 0", which made the
// served crash harness find the acked jobs "lost" about one run in four.)
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "forwarding_store.h"
#include "jobstore/store.h"
#include "reliability/harness.h"
#include "reliability/model.h"
#include "reliability/workload.h"

namespace jobstore::testing {
namespace {

// Forwards every call; the answer to the (skip + 1)-th call of one kind is replaced, once
// the call is done, by Unavailable.
class LostAnswerStore final : public internal::ForwardingStore {
 public:
  LostAnswerStore(std::unique_ptr<Store> inner, std::string kind, uint64_t skip)
      : ForwardingStore(std::move(inner)), kind_(std::move(kind)), skip_(skip) {}

  Result<PushResult> Push(const std::vector<JobSpec>& jobs) override {
    return Answer("push", ForwardingStore::Push(jobs));
  }
  Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs,
                                        std::optional<int64_t> ttl_ms) override {
    return Answer("claim", ForwardingStore::Claim(queue, max_jobs, ttl_ms));
  }
  Status Ack(const jobstore::Claim& claim) override {
    Status done = ForwardingStore::Ack(claim);
    return Lose("ack") ? Lost() : done;
  }
  Result<std::vector<Status>> AckMany(const std::vector<jobstore::Claim>& claims) override {
    return Answer("ackmany", ForwardingStore::AckMany(claims));
  }
  Result<Released> Release(const jobstore::Claim& claim, int64_t delay_ms,
                           const std::string& error) override {
    return Answer("release", ForwardingStore::Release(claim, delay_ms, error));
  }
  Result<ClaimToken> Touch(const jobstore::Claim& claim, std::optional<int64_t> ttl_ms) override {
    return Answer("touch", ForwardingStore::Touch(claim, ttl_ms));
  }
  Result<uint64_t> RepushAbandoned(const QueueRef& queue) override {
    return Answer("repush", ForwardingStore::RepushAbandoned(queue));
  }
  Result<MaintenanceReport> Maintain() override {
    return Answer("maintain", ForwardingStore::Maintain());
  }

  bool lost() const { return lost_; }

 private:
  bool Lose(const char* kind) {
    if (lost_ || kind_ != kind || seen_++ < skip_) return false;
    lost_ = true;
    return true;
  }
  Status Lost() const {
    return Status::Unavailable("the answer to a " + kind_ + " was lost (the test's store did it)");
  }
  template <class T>
  Result<T> Answer(const char* kind, Result<T> done) {
    if (Lose(kind)) return Lost();
    return done;
  }

  const std::string kind_;
  const uint64_t skip_;
  uint64_t seen_ = 0;
  bool lost_ = false;
};

// Each kind of writing call of the random workload loses its answer, early and later in the
// run: the workload stops with Unavailable, reports the call as in flight, and the store
// equals the model with that call applied in full (which the model must accept; "not at all"
// is what a failed call of the in-memory store does, and the other tests see it).
TEST(LostAnswer, ACallDoneButAnsweredUnavailableStaysInFlight) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("JOBSTORE_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (const char* kind :
       {"push", "claim", "ack", "ackmany", "release", "touch", "repush", "maintain"}) {
    for (uint64_t skip : {0, 4, 12}) {
      SCOPED_TRACE(std::string(kind) + " after " + std::to_string(skip) + " answered");
      auto clock = std::make_shared<ManualClock>(1'700'000'000'000);
      Options options;
      options.clock = clock;
      auto memory = Store::Open("memory:", options);
      ASSERT_TRUE(memory.ok()) << memory.status().ToString();
      LostAnswerStore store(std::move(memory).value(), kind, skip);
      Model model;
      Workload w(store, *clock, rng(), [&](const std::string& l) { model.Apply(l); });
      Status s = w.Configure();
      if (s.ok()) s = w.Run(3000);
      ASSERT_TRUE(store.lost()) << "the workload made too few calls of this kind";
      ASSERT_TRUE(s.IsUnavailable()) << s.ToString();
      EXPECT_EQ(model.failures, 1u);
      EXPECT_TRUE(model.errors.empty()) << Describe(model.errors);
      ASSERT_TRUE(model.in_flight.has_value() && model.in_flight->failed)
          << "the call with the lost answer was reported as done";
      auto problems = Verify(model, TakeSnapshot(store), Loss::kNone);
      EXPECT_TRUE(problems.empty()) << Describe(problems);
    }
  }
}

}  // namespace
}  // namespace jobstore::testing
