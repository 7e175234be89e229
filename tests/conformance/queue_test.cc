// The queue contract on every medium: push, claim, ack, release, touch, reclaim, counts, order,
// reopen, the ready index and bad input.
#include <algorithm>
#include <set>

#include "jobstore/validation.h"
#include "conformance/conformance.h"

namespace jobstore::testing {
namespace {

const QueueRef kEmail{"", "email"};

TEST_P(Conformance, PushClaimAckWithExactCounts) {
  auto ids = PushAll({Spec("email", "a"), Spec("email", "b"), Spec("email", "c")});
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(CountsOf(kEmail), C(3, 0, 0, 0));

  auto jobs = ClaimN(kEmail, 2);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].params, "a");
  EXPECT_EQ(jobs[1].params, "b");
  EXPECT_EQ(jobs[0].attempts, 1u);
  EXPECT_EQ(jobs[0].claim.id, ids[0]);
  EXPECT_EQ(CountsOf(kEmail), C(1, 2, 0, 0));

  ASSERT_TRUE(store_->Ack(jobs[0].claim).ok());
  EXPECT_EQ(CountsOf(kEmail), C(1, 1, 0, 0));
  auto again = store_->Ack(jobs[0].claim);
  EXPECT_TRUE(again.IsNotFound()) << again.ToString();
  EXPECT_EQ(CountsOf(kEmail), C(1, 1, 0, 0));
  ASSERT_TRUE(store_->Ack(jobs[1].claim).ok());
  auto last = ClaimN(kEmail, 5);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].params, "c");
  ASSERT_TRUE(store_->Ack(last[0].claim).ok());
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));
  EXPECT_TRUE(ClaimN(kEmail, 1).empty());
  ExpectHealthy();
}

TEST_P(Conformance, FifoOrderAcrossManyBatches) {
  std::vector<JobSpec> specs;
  for (int i = 0; i < 500; ++i) specs.push_back(Spec("email", std::to_string(i)));
  PushAll(specs);
  int next = 0;
  while (true) {
    auto jobs = ClaimN(kEmail, 7);
    if (jobs.empty()) break;
    for (auto& j : jobs) {
      EXPECT_EQ(j.params, std::to_string(next++));
      ASSERT_TRUE(store_->Ack(j.claim).ok());
    }
  }
  EXPECT_EQ(next, 500);
}

TEST_P(Conformance, PriorityOrderHigherFirstThenFifo) {
  TypeSettings ts;
  ts.order = Order::kPriority;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
  std::vector<JobSpec> specs;
  const int prios[] = {0, 5, -3, 5, 100, 0};
  for (int i = 0; i < 6; ++i) {
    specs.push_back(Spec("email", "p" + std::to_string(prios[i]) + "#" + std::to_string(i)));
    specs.back().priority = prios[i];
  }
  PushAll(specs);
  auto jobs = ClaimN(kEmail, 6);
  std::vector<std::string> got;
  for (auto& j : jobs) got.push_back(j.params);
  EXPECT_EQ(got, (std::vector<std::string>{"p100#4", "p5#1", "p5#3", "p0#0", "p0#5", "p-3#2"}));
  // A higher-priority job pushed after the head moved past its rank is still next.
  ASSERT_TRUE(store_->Ack(jobs[0].claim).ok());
  auto urgent = Spec("email", "urgent");
  urgent.priority = 1000;
  PushAll({urgent, Spec("email", "low")});
  auto next = ClaimN(kEmail, 2);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].params, "urgent");
  EXPECT_EQ(next[1].params, "low");
  ExpectHealthy();
}

TEST_P(Conformance, RandomOrderDeliversEveryJobNotInInsertionOrder) {
  TypeSettings ts;
  ts.order = Order::kRandom;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
  std::vector<JobSpec> specs;
  for (int i = 0; i < 300; ++i) specs.push_back(Spec("email", std::to_string(i)));
  PushAll(specs);
  std::vector<int> order;
  while (true) {
    auto jobs = ClaimN(kEmail, 1);
    if (jobs.empty()) break;
    order.push_back(std::stoi(jobs[0].params));
    ASSERT_TRUE(store_->Ack(jobs[0].claim).ok());
  }
  ASSERT_EQ(order.size(), 300u);
  EXPECT_EQ(std::set<int>(order.begin(), order.end()).size(), 300u);
  std::vector<int> sorted(order);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(order, sorted);
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));
}

TEST_P(DurableConformance, IdsAreNeverReusedAcrossAckAndReopen) {
  std::set<JobId> seen;
  for (int round = 0; round < 3; ++round) {
    auto ids = PushAll({Spec("email", "x"), Spec("email", "y")});
    for (JobId id : ids) EXPECT_TRUE(seen.insert(id).second) << "id " << id << " reused";
    for (auto& j : ClaimN(kEmail, 10)) ASSERT_TRUE(store_->Ack(j.claim).ok());
    ASSERT_NO_FATAL_FAILURE(Reopen());
  }
  EXPECT_EQ(seen.size(), 6u);
}

TEST_P(Conformance, StaleTokenIsRejectedAfterReclaimAndNewClaimerAcks) {
  TypeSettings ts;
  ts.claim_ttl_ms = 1000;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
  Push1("email", "job");
  auto first = ClaimN(kEmail, 1);
  ASSERT_EQ(first.size(), 1u);
  clock_->Advance(1001);
  auto rep = MaintainOnce();
  EXPECT_EQ(rep.reclaimed, 1u);
  EXPECT_EQ(CountsOf(kEmail), C(1, 0, 0, 0));

  auto second = ClaimN(kEmail, 1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].claim.id, first[0].claim.id);
  EXPECT_EQ(second[0].attempts, 2u);
  EXPECT_NE(second[0].claim.token, first[0].claim.token);

  Status stale = store_->Ack(first[0].claim);
  EXPECT_TRUE(stale.IsStaleToken()) << stale.ToString();
  EXPECT_EQ(CountsOf(kEmail), C(0, 1, 0, 0));
  EXPECT_TRUE(store_->Release(first[0].claim).status().IsStaleToken());
  EXPECT_TRUE(store_->Touch(first[0].claim).status().IsStaleToken());
  ASSERT_TRUE(store_->Ack(second[0].claim).ok());
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));
  ExpectHealthy();
}

// Every path that moves a claim must forget its token, or an ack of the old token would
// delete keys blind (acks skip the read for tokens this process handed out).
TEST_P(Conformance, AckOfAClaimMovedByAnyPathChangesNothing) {
  TypeSettings ts;
  ts.claim_ttl_ms = 1000;
  ts.max_tries = 2;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());

  Push1("email", "released");
  auto released = ClaimN(kEmail, 1);
  ASSERT_TRUE(store_->Release(released[0].claim).ok());
  EXPECT_TRUE(store_->Ack(released[0].claim).IsStaleToken());
  EXPECT_EQ(CountsOf(kEmail), C(1, 0, 0, 0));

  auto failed = ClaimN(kEmail, 1);  // second attempt of the same job: abandoned on failure
  ASSERT_EQ(failed[0].attempts, 2u);
  ASSERT_TRUE(store_->Release(failed[0].claim, 0, "boom").ok());
  EXPECT_TRUE(store_->Ack(failed[0].claim).IsStaleToken());
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 1));

  Push1("email", "reclaimed");
  auto expired = ClaimN(kEmail, 1);
  clock_->Advance(1001);
  ASSERT_EQ(MaintainOnce().reclaimed, 1u);
  EXPECT_TRUE(store_->Ack(expired[0].claim).IsStaleToken());
  EXPECT_EQ(CountsOf(kEmail), C(1, 0, 0, 1));

  auto acked = ClaimN(kEmail, 1);
  ASSERT_TRUE(store_->Ack(acked[0].claim).ok());
  EXPECT_TRUE(store_->Ack(acked[0].claim).IsNotFound());
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 1));

  Push1("email", "cleared");
  auto cleared = ClaimN(kEmail, 1);
  ASSERT_TRUE(store_->Clear(kEmail).ok());
  EXPECT_TRUE(store_->Ack(cleared[0].claim).IsNotFound());
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));

  ExpectHealthy();
}

TEST_P(DurableConformance, AClaimTokenStillAcksAfterAReopen) {
  Push1("email", "reopened");
  auto before_reopen = ClaimN(kEmail, 1);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ASSERT_TRUE(store_->Ack(before_reopen[0].claim).ok());  // no cached token: read and acked
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(Conformance, ClaimNotExpiredAtExactDeadline) {
  TypeSettings ts;
  ts.claim_ttl_ms = 1000;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
  Push1("email", "job");
  ASSERT_EQ(ClaimN(kEmail, 1).size(), 1u);
  clock_->Advance(1000);
  EXPECT_EQ(MaintainOnce().reclaimed, 0u);
  clock_->Advance(1);
  EXPECT_EQ(MaintainOnce().reclaimed, 1u);
}

TEST_P(Conformance, AttemptsCountedOncePerClaimAndAbandonedAfterMaxTries) {
  TypeSettings ts;
  ts.claim_ttl_ms = 100;
  ts.max_tries = 3;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
  const JobId id = Push1("email", "job");
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    auto jobs = ClaimN(kEmail, 1);
    ASSERT_EQ(jobs.size(), 1u) << "attempt " << attempt;
    EXPECT_EQ(jobs[0].attempts, attempt);
    clock_->Advance(101);
    auto rep = MaintainOnce();
    if (attempt < 3) {
      EXPECT_EQ(rep.reclaimed, 1u);
      EXPECT_EQ(CountsOf(kEmail), C(1, 0, 0, 0));
    } else {
      EXPECT_EQ(rep.abandoned, 1u);
      EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 1));
    }
  }
  EXPECT_TRUE(ClaimN(kEmail, 1).empty());
  auto page = store_->List(kEmail, JobState::kAbandoned, "", 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].id, id);
  EXPECT_EQ(page->jobs[0].attempts, 3u);
  EXPECT_EQ(page->jobs[0].params, "job");
  EXPECT_EQ(page->jobs[0].last_error, "claim expired after 3 attempts");
  ExpectHealthy();
}

TEST_P(Conformance, ReleaseReturnsJobWithoutWaitingForTtl) {
  Push1("email", "job");
  auto jobs = ClaimN(kEmail, 1);
  ASSERT_TRUE(store_->Release(jobs[0].claim).ok());
  EXPECT_EQ(CountsOf(kEmail), C(1, 0, 0, 0));
  auto again = ClaimN(kEmail, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 2u);
  ASSERT_TRUE(store_->Release(again[0].claim, 5000).ok());
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 1, 0));
  EXPECT_TRUE(ClaimN(kEmail, 1).empty());
  clock_->Advance(5000);
  EXPECT_EQ(MaintainOnce().promoted, 1u);
  EXPECT_EQ(CountsOf(kEmail), C(1, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(Conformance, TouchExtendsLeaseAndChangesToken) {
  TypeSettings ts;
  ts.claim_ttl_ms = 1000;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
  Push1("email", "job");
  auto jobs = ClaimN(kEmail, 1);
  clock_->Advance(900);
  auto token = store_->Touch(jobs[0].claim, 1000);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_NE(*token, jobs[0].claim.token);
  EXPECT_EQ(token->deadline_ms, clock_->NowMs() + 1000);
  clock_->Advance(500);  // past the first deadline, not the second
  EXPECT_EQ(MaintainOnce().reclaimed, 0u);
  EXPECT_TRUE(store_->Ack(jobs[0].claim).IsStaleToken());
  Claim renewed = jobs[0].claim;
  renewed.token = *token;
  ASSERT_TRUE(store_->Ack(renewed).ok());
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));
}

TEST_P(Conformance, ZeroTtlClaimNeverExpires) {
  Push1("email", "job");
  auto jobs = ClaimN(kEmail, 1, 0);
  EXPECT_EQ(jobs[0].claim.token.deadline_ms, INT64_MAX);
  clock_->Advance(365LL * 24 * 3600 * 1000);
  EXPECT_EQ(MaintainOnce().reclaimed, 0u);
  EXPECT_EQ(CountsOf(kEmail), C(0, 1, 0, 0));
}

TEST_P(Conformance, AckManyAcksValidAndReportsEachFailure) {
  PushAll({Spec("email", "a"), Spec("email", "b")});
  auto jobs = ClaimN(kEmail, 2);
  Claim bogus = jobs[0].claim;
  bogus.id = 999999;
  auto acked = store_->AckMany({jobs[0].claim, bogus, jobs[1].claim, jobs[1].claim});
  ASSERT_TRUE(acked.ok()) << acked.status().ToString();
  const std::vector<Status>& statuses = *acked;
  ASSERT_EQ(statuses.size(), 4u);
  EXPECT_TRUE(statuses[0].ok());
  EXPECT_TRUE(statuses[1].IsNotFound());
  EXPECT_TRUE(statuses[2].ok());
  EXPECT_TRUE(statuses[3].IsInvalidArgument()) << statuses[3].ToString();
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));
}

TEST_P(Conformance, AckThenClaimAnyAcksFirstThenClaims) {
  const QueueRef kOther{"", "other"};
  PushAll({Spec("email", "a"), Spec("email", "b"), Spec("email", "c"), Spec("other", "x")});
  auto jobs = ClaimN(kEmail, 2);
  ASSERT_EQ(jobs.size(), 2u);
  Claim bogus = jobs[0].claim;
  bogus.id = 999999;
  const ReadyFilter email_only{.types = {"email"}};

  auto r = store_->AckThenClaimAny({jobs[0].claim, bogus}, email_only, 5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->acked.size(), 2u);
  EXPECT_TRUE(r->acked[0].ok()) << r->acked[0].ToString();
  EXPECT_TRUE(r->acked[1].IsNotFound()) << r->acked[1].ToString();
  ASSERT_TRUE(r->claimed.ok()) << r->claimed.status().ToString();
  ASSERT_EQ(r->claimed->size(), 1u);  // only "c" was ready in the queues the filter allows
  EXPECT_EQ((*r->claimed)[0].params, "c");
  EXPECT_EQ((*r->claimed)[0].attempts, 1u);
  EXPECT_EQ(CountsOf(kEmail), C(0, 2, 0, 0));
  EXPECT_EQ(CountsOf(kOther), C(1, 0, 0, 0));

  // The last acks, and nothing more to claim there: an empty claim, both acked.
  auto last = store_->AckThenClaimAny({jobs[1].claim, (*r->claimed)[0].claim}, email_only, 1);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  ASSERT_EQ(last->acked.size(), 2u);
  EXPECT_TRUE(last->acked[0].ok());
  EXPECT_TRUE(last->acked[1].ok());
  ASSERT_TRUE(last->claimed.ok()) << last->claimed.status().ToString();
  EXPECT_TRUE(last->claimed->empty());
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));

  // Nothing to ack: ClaimAny alone.
  auto first = store_->AckThenClaimAny({}, {}, 3);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->acked.empty());
  ASSERT_TRUE(first->claimed.ok());
  ASSERT_EQ(first->claimed->size(), 1u);
  EXPECT_EQ((*first->claimed)[0].params, "x");
  EXPECT_EQ(CountsOf(kOther), C(0, 1, 0, 0));
  ExpectHealthy();
}

// The claim fills its batch from more than one queue, as ClaimAny does, after the acks.
TEST_P(Conformance, AckThenClaimAnyFillsTheBatchFromSeveralQueues) {
  const QueueRef kOther{"", "other"};
  PushAll({Spec("email", "a"), Spec("other", "x"), Spec("other", "y")});
  auto x = ClaimN(kOther, 1);
  ASSERT_EQ(x.size(), 1u);
  auto r = store_->AckThenClaimAny({x[0].claim}, {}, 5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->acked.size(), 1u);
  EXPECT_TRUE(r->acked[0].ok()) << r->acked[0].ToString();
  ASSERT_TRUE(r->claimed.ok()) << r->claimed.status().ToString();
  std::vector<std::string> got;
  for (const ClaimedJob& job : *r->claimed) got.push_back(job.params);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"a", "y"}));
  EXPECT_EQ(CountsOf(kEmail), C(0, 1, 0, 0));
  EXPECT_EQ(CountsOf(kOther), C(0, 1, 0, 0));
  for (const ClaimedJob& job : *r->claimed) EXPECT_TRUE(store_->Ack(job.claim).ok());
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));
  EXPECT_EQ(CountsOf(kOther), C(0, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(Conformance, AckThenClaimAnyFailsWholeOnlyWhenNothingWasDone) {
  PushAll({Spec("email", "a")});
  auto jobs = ClaimN(kEmail, 1);
  ASSERT_EQ(jobs.size(), 1u);
  // Too many acks: refused before anything is done.
  std::vector<Claim> many(kMaxClaimBatch + 1, jobs[0].claim);
  EXPECT_TRUE(store_->AckThenClaimAny(many, {}, 1).status().IsInvalidArgument());
  EXPECT_EQ(CountsOf(kEmail), C(0, 1, 0, 0));
  // No acks and a claim that cannot be: the call fails.
  EXPECT_TRUE(store_->AckThenClaimAny({}, {}, kMaxClaimBatch + 1).status().IsInvalidArgument());
  // An ack done and a claim refused: the ack stands, the claim's error is beside it.
  auto r = store_->AckThenClaimAny({jobs[0].claim}, {}, kMaxClaimBatch + 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->acked.size(), 1u);
  EXPECT_TRUE(r->acked[0].ok());
  EXPECT_TRUE(r->claimed.status().IsInvalidArgument()) << r->claimed.status().ToString();
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));
}

TEST_P(Conformance, ClearRemovesEveryState) {
  TypeSettings ts;
  ts.claim_ttl_ms = 10;
  ts.max_tries = 1;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
  PushAll({Spec("email", "a"), Spec("email", "b"), Spec("email", "c")});
  auto delayed = Spec("email", "d");
  delayed.release_at_ms = clock_->NowMs() + 60000;
  PushAll({delayed});
  ClaimN(kEmail, 1);
  clock_->Advance(11);
  MaintainOnce();  // a -> abandoned
  ClaimN(kEmail, 1);  // b claimed
  EXPECT_EQ(CountsOf(kEmail), C(1, 1, 1, 1));
  Push1("other", "keep");
  ASSERT_TRUE(store_->Clear(kEmail).ok());
  EXPECT_EQ(CountsOf(kEmail), C(0, 0, 0, 0));
  EXPECT_EQ(Ready(), (std::vector<QueueRef>{{"", "other"}}));
  ExpectHealthy();
  // The queue works afterwards.
  Push1("email", "fresh");
  auto jobs = ClaimN(kEmail, 5);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].params, "fresh");
  ExpectHealthy();
  if (!GetParam().persistent) return;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(CountsOf(kEmail), C(0, 1, 0, 0));
  ExpectHealthy();
}

TEST_P(Conformance, ReadyIndexIsExactAndPicksOnlyReadyQueues) {
  EXPECT_TRUE(Ready().empty());
  EXPECT_FALSE(Pick().has_value());
  Push1("email", "1", "wiki1");
  Push1("resize", "1", "wiki2");
  EXPECT_EQ(Ready(),
            (std::vector<QueueRef>{{"wiki1", "email"}, {"wiki2", "resize"}}));
  // A queue holding only a claimed job is not ready.
  ClaimN({"wiki1", "email"}, 1);
  EXPECT_EQ(Ready(), (std::vector<QueueRef>{{"wiki2", "resize"}}));
  for (int i = 0; i < 20; ++i) {
    auto pick = Pick();
    ASSERT_TRUE(pick.has_value());
    EXPECT_EQ(*pick, (QueueRef{"wiki2", "resize"}));
  }
  EXPECT_FALSE(Pick({.domain = std::string("wiki1")}).has_value());
  EXPECT_FALSE(Pick({.exclude = {"resize"}}).has_value());
  if (!GetParam().persistent) return;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Ready(), (std::vector<QueueRef>{{"wiki2", "resize"}}));
}

TEST_P(Conformance, PickIsUniformAcrossReadyQueues) {
  for (int i = 0; i < 4; ++i) Push1("t" + std::to_string(i), "x");
  std::map<std::string, int> hits;
  for (int i = 0; i < 4000; ++i) hits[Pick()->type]++;
  ASSERT_EQ(hits.size(), 4u);
  for (auto& [t, n] : hits) {
    EXPECT_GT(n, 800) << t;
    EXPECT_LT(n, 1200) << t;
  }
}

TEST_P(DurableConformance, EverythingSurvivesReopen) {
  TypeSettings ts;
  ts.order = Order::kPriority;
  ts.claim_ttl_ms = 5000;
  ts.max_tries = 7;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
  PushAll({Spec("email", "a"), Spec("email", "b"), Spec("email", "c", "w2")});
  auto d = Spec("email", "later");
  d.release_at_ms = clock_->NowMs() + 1000;
  PushAll({d});
  auto claimed = ClaimN(kEmail, 1);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  auto settings = store_->GetTypeSettings("email");
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(*settings, ts);
  EXPECT_EQ(CountsOf(kEmail), C(1, 1, 1, 0));
  EXPECT_EQ(CountsOf({"w2", "email"}), C(1, 0, 0, 0));
  EXPECT_EQ(Ready(), (std::vector<QueueRef>{{"", "email"}, {"w2", "email"}}));
  ASSERT_TRUE(store_->Ack(claimed[0].claim).ok());  // the claim token survives too
  auto next = ClaimN(kEmail, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].params, "b");
  clock_->Advance(1000);
  EXPECT_EQ(MaintainOnce().promoted, 1u);
  ExpectHealthy();
}

TEST_P(Conformance, BadInputIsRejectedAndChangesNothing) {
  Push1("email", "keep");
  auto expect_invalid = [&](JobSpec spec, const std::string& fragment) {
    auto r = store_->Push({Spec("email", "fine"), spec});
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().ToString();
  };
  expect_invalid(Spec("", "x"), "job type is empty");
  expect_invalid(Spec(std::string(65, 't'), "x"), "is 65 bytes; the limit is 64");
  expect_invalid(Spec("bad type", "x"), "forbidden character");
  expect_invalid(Spec("bad\x01type", "x"), "\\x01");
  expect_invalid(Spec("email", "x", std::string(65, 'd')), "domain");
  expect_invalid(Spec("email", "x", "wiki/1"), "forbidden character");
  expect_invalid(Spec("email", std::string((1u << 20) + 1, 'p')), "the limit is 1048576");
  JobSpec prio = Spec("email", "x");
  prio.priority = kMaxPriority + 1;
  expect_invalid(prio, "priority");
  JobSpec root = Spec("email", "x");
  root.root_is_self = true;
  expect_invalid(root, "root signature");
  EXPECT_EQ(CountsOf(kEmail), C(1, 0, 0, 0));
  EXPECT_EQ(*store_->Types(), (std::vector<std::string>{"email"}));

  Claim unknown{kEmail, 424242, {}};
  EXPECT_TRUE(store_->Ack(unknown).IsNotFound());
  EXPECT_TRUE(store_->Ack({{"", "nosuchtype"}, 1, {}}).IsNotFound());
  EXPECT_TRUE(store_->Claim({"", "bad type"}, 1).status().IsInvalidArgument());
  EXPECT_TRUE(store_->Claim(kEmail, 1, -5).status().IsInvalidArgument());
  EXPECT_TRUE(store_->Claim(kEmail, 1000000).status().IsInvalidArgument());
  EXPECT_TRUE(store_->Release(ClaimN(kEmail, 1)[0].claim, -1).status().IsInvalidArgument());
  TypeSettings zero;
  zero.max_tries = 0;
  EXPECT_TRUE(store_->SetTypeSettings("email", zero).IsInvalidArgument());
  EXPECT_TRUE(ClaimToken::Parse("xyz").status().IsInvalidArgument());
  EXPECT_TRUE(ClaimToken::Parse(std::string(32, 'g')).status().IsInvalidArgument());
  EXPECT_TRUE(store_->List(kEmail, JobState::kReady, "zz", 10).status().IsInvalidArgument());
  EXPECT_EQ(CountsOf(kEmail), C(0, 1, 0, 0));
  ExpectHealthy();
}

TEST_P(Conformance, ListingPagesThroughEveryJob) {
  std::vector<JobSpec> specs;
  for (int i = 0; i < 25; ++i) specs.push_back(Spec("email", std::to_string(i)));
  PushAll(specs);
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = store_->List(kEmail, JobState::kReady, cursor, 10);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (auto& j : page->jobs) {
      EXPECT_EQ(j.state, JobState::kReady);
      seen.push_back(j.params);
    }
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.front(), "0");
  EXPECT_EQ(seen.back(), "24");
  auto info = store_->Inspect(kEmail, ClaimN(kEmail, 1)[0].claim.id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::kClaimed);
  EXPECT_EQ(info->params, "0");
}

TEST_P(DurableConformance, ThousandTypesStayCheap) {
  std::vector<JobSpec> specs;
  for (int i = 0; i < 1000; ++i) specs.push_back(Spec("type" + std::to_string(i), "x"));
  PushAll(specs);
  EXPECT_EQ(store_->Types()->size(), 1000u);
  EXPECT_EQ(Ready().size(), 1000u);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Ready().size(), 1000u);
  EXPECT_EQ(CountsOf({"", "type999"}), C(1, 0, 0, 0));
}

}  // namespace
}  // namespace jobstore::testing
