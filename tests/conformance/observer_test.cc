// The observer (Options::observer) on every medium: each committed transition is told once,
// per queue, with the policy's decisions kept apart (released or abandoned by a release,
// reclaimed or abandoned by maintenance, promoted, pruned), and push, claim and ack calls are
// timed. Nothing is told for a call that changed nothing.
#include <map>
#include <tuple>

#include "conformance/conformance.h"
#include "jobstore/observer.h"
#include "support/recording_observer.h"

namespace jobstore::testing {
namespace {

using Event = StoreObserver::Event;
using Call = StoreObserver::Call;

class Observed : public Conformance {
 protected:
  void SetUp() override {
    Conformance::SetUp();
    recorder_ = std::make_shared<RecordingObserver>();
    options_.observer = recorder_;
    ASSERT_NO_FATAL_FAILURE(Reopen());
  }
  std::shared_ptr<RecordingObserver> recorder_;
};

TEST_P(Observed, EveryTransitionIsToldOncePerQueue) {
  const QueueRef mail{"", "mail"}, thumbs{"wiki", "thumbs"};
  TypeSettings once;
  once.max_tries = 1;
  once.retention_ms = 3'600'000;
  ASSERT_TRUE(store_->SetTypeSettings("mail", once).ok());

  JobSpec dup = Spec("mail", "d");
  dup.dedup = true;
  JobSpec later = Spec("thumbs", "t2", "wiki");
  later.release_at_ms = clock_->NowMs() + 1000;
  // Runs of one queue make one call each; mail twice here (a, b, dup | t1, later | c, dup).
  PushAll({Spec("mail", "a"), Spec("mail", "b"), dup, Spec("thumbs", "t1", "wiki"), later,
           Spec("mail", "c"), dup});
  EXPECT_EQ(recorder_->N(mail, Event::kPushed), 4u);
  EXPECT_EQ(recorder_->N(mail, Event::kDeduplicated), 1u);
  EXPECT_EQ(recorder_->N(thumbs, Event::kPushed), 2u);
  // A duplicate of a queued job, dropped by the medium.
  PushAll({dup});
  EXPECT_EQ(recorder_->N(mail, Event::kDeduplicated), 2u);
  EXPECT_EQ(recorder_->N(mail, Event::kPushed), 4u);

  auto two = ClaimN(mail, 2);
  ASSERT_EQ(two.size(), 2u);
  ExpectOk(store_->Ack(two[0].claim));
  EXPECT_TRUE(store_->Ack(two[0].claim).IsNotFound());  // a second ack changes nothing
  auto abandoned = store_->Release(two[1].claim, 0, "failed");
  ASSERT_TRUE(abandoned.ok());
  EXPECT_EQ(abandoned->state, JobState::kAbandoned);
  auto c = ClaimN(mail, 1);
  ASSERT_EQ(c.size(), 1u);
  ASSERT_TRUE(store_->Release(c[0].claim).ok());  // no error: a give-back
  EXPECT_FALSE(store_->Release(c[0].claim).ok());  // stale: nothing told
  auto expiring = ClaimN(mail, 1, 100);
  ASSERT_EQ(expiring.size(), 1u);
  ASSERT_EQ(ClaimN(thumbs, 1, 100).size(), 1u);
  EXPECT_TRUE(ClaimN(QueueRef{"", "nothing"}, 5).empty());
  clock_->Advance(2000);
  MaintainOnce();  // mail: expired, no tries left; thumbs: t1 reclaimed, t2 promoted

  EXPECT_EQ(recorder_->N(mail, Event::kClaimed), 4u);
  EXPECT_EQ(recorder_->N(mail, Event::kAcked), 1u);
  EXPECT_EQ(recorder_->N(mail, Event::kAbandonedFailed), 1u);
  EXPECT_EQ(recorder_->N(mail, Event::kReleased), 1u);
  EXPECT_EQ(recorder_->N(mail, Event::kAbandonedExpired), 1u);
  EXPECT_EQ(recorder_->N(thumbs, Event::kClaimed), 1u);
  EXPECT_EQ(recorder_->N(thumbs, Event::kReclaimed), 1u);
  EXPECT_EQ(recorder_->N(thumbs, Event::kPromoted), 1u);

  ExpectOk(store_->RetryJob(mail, two[1].claim.id));
  EXPECT_FALSE(store_->RetryJob(mail, two[1].claim.id).ok());  // not abandoned now
  ExpectOk(store_->DeleteJob(mail, two[1].claim.id));
  auto none = store_->RepushAbandoned(thumbs);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
  clock_->Advance(3'600'001);
  MaintainOnce();  // the expired one, abandoned for over an hour: pruned
  EXPECT_EQ(recorder_->N(mail, Event::kRepushed), 1u);
  EXPECT_EQ(recorder_->N(mail, Event::kDeleted), 1u);
  EXPECT_EQ(recorder_->N(mail, Event::kPruned), 1u);
  EXPECT_EQ(recorder_->N(thumbs, Event::kRepushed), 0u);

  // Nothing else was told, and the store agrees with what was.
  EXPECT_EQ(recorder_->All().size(), 14u);
  EXPECT_EQ(CountsOf(mail), C(1, 0, 0, 0));    // c, given back
  EXPECT_EQ(CountsOf(thumbs), C(2, 0, 0, 0));  // t1 reclaimed, t2 promoted
  // Calls: pushes 2, claims 5 (the empty one too), acks 2 (the NotFound one too).
  EXPECT_EQ(recorder_->Calls(Call::kPush), 2u);
  EXPECT_EQ(recorder_->Calls(Call::kClaim), 5u);
  EXPECT_EQ(recorder_->Calls(Call::kAck), 2u);
  EXPECT_FALSE(recorder_->negative());
}

TEST_P(Observed, ClaimAnyAndAckManyAreToldPerQueue) {
  PushAll({Spec("a", "1"), Spec("b", "1"), Spec("a", "2"), Spec("b", "2", "x")});
  std::vector<jobstore::Claim> claims;
  for (int i = 0; i < 4; ++i) {
    auto got = store_->ClaimAny({}, 1);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 1u);
    claims.push_back((*got)[0].claim);
  }
  auto acked = store_->AckMany(claims);
  ASSERT_TRUE(acked.ok());
  for (const QueueRef& q : {QueueRef{"", "a"}, QueueRef{"", "b"}, QueueRef{"x", "b"}}) {
    const uint64_t n = q.type == "a" ? 2u : 1u;
    EXPECT_EQ(recorder_->N(q, Event::kClaimed), n) << q.domain << "/" << q.type;
    EXPECT_EQ(recorder_->N(q, Event::kAcked), n) << q.domain << "/" << q.type;
  }
  EXPECT_EQ(recorder_->Calls(Call::kAck), 1u);
}

TEST_P(Observed, AForcedReleaseIsAReleaseAndOnlyWhenItMovedTheJob) {
  const QueueRef q{"", "stuck"};
  const JobId id = Push1("stuck", "1");
  ASSERT_EQ(ClaimN(q, 1).size(), 1u);
  ExpectOk(store_->ForceRelease(q, id));
  EXPECT_FALSE(store_->ForceRelease(q, id).ok());  // ready now: nothing to release
  EXPECT_EQ(recorder_->N(q, Event::kReleased), 1u);
  EXPECT_EQ(CountsOf(q), C(1, 0, 0, 0));
}

TEST_P(Observed, ARefusedCallTellsNoJobs) {
  store_->SetReadOnly(true);
  EXPECT_TRUE(store_->Push({Spec("a", "1")}).status().IsReadOnly());
  store_->SetReadOnly(false);
  EXPECT_FALSE(store_->Push({Spec("bad name", "1")}).ok());
  EXPECT_TRUE(recorder_->All().empty());
  EXPECT_EQ(recorder_->Calls(Call::kPush), 2u);  // timed all the same
}

INSTANTIATE_TEST_SUITE_P(Media, Observed, ::testing::ValuesIn(ObservedMedia()), MediumName);
// The binaries of the served media have no medium whose policy runs here: the suite runs in
// every other binary (and the owner's observer is tested through serve --http).
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Observed);

}  // namespace
}  // namespace jobstore::testing
