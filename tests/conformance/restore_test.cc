// Store::Restore, the primitive behind `jobstore import`: jobs come back in their state with
// their ids and every field, a second restore of the same jobs adds nothing, and restored jobs
// behave as the originals did (attempts count on, dedup and root rules hold, ids are not
// taken again by later pushes).
#include <algorithm>

#include "conformance/conformance.h"
#include "jobstore/validation.h"

namespace jobstore::testing {
namespace {

const QueueRef kQ{"", "email"};
const QueueRef kWiki{"wiki2", "email"};

// Every job of every queue of `store`, in (queue, state, order) order: what an export holds.
std::vector<JobInfo> Everything(Store& store) {
  std::vector<JobInfo> out;
  auto queues = store.Queues();
  EXPECT_TRUE(queues.ok()) << queues.status().ToString();
  if (!queues.ok()) return out;
  for (const QueueStats& q : *queues) {
    for (JobState st : {JobState::kReady, JobState::kClaimed, JobState::kDelayed,
                        JobState::kAbandoned}) {
      auto page = store.List(q.queue, st, "", 1000);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (page.ok()) out.insert(out.end(), page->jobs.begin(), page->jobs.end());
    }
  }
  return out;
}

// What a restore keeps of a job: everything but its claim (a claimed job comes back ready).
JobInfo Restored(JobInfo j) {
  if (j.state == JobState::kClaimed) {
    j.state = JobState::kReady;
    j.claimed_at_ms = 0;
  }
  if (j.state == JobState::kReady) j.claimed_at_ms = 0;
  j.deadline_ms = 0;
  j.claim_token = {};
  return j;
}

void ExpectSameJob(const JobInfo& want, const JobInfo& got) {
  SCOPED_TRACE("job " + std::to_string(want.id) + " of '" + want.queue.type + "'");
  EXPECT_EQ(got.queue, want.queue);
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(JobStateName(got.state), std::string(JobStateName(want.state)));
  EXPECT_EQ(got.params, want.params);
  EXPECT_EQ(got.attempts, want.attempts);
  EXPECT_EQ(got.priority, want.priority);
  EXPECT_EQ(got.enqueued_at_ms, want.enqueued_at_ms);
  if (want.state == JobState::kDelayed) {
    EXPECT_EQ(got.release_at_ms, want.release_at_ms);
  }
  if (want.state == JobState::kAbandoned) {
    EXPECT_EQ(got.claimed_at_ms, want.claimed_at_ms);
    EXPECT_EQ(got.abandoned_at_ms, want.abandoned_at_ms);
  }
  EXPECT_EQ(got.last_error, want.last_error);
  EXPECT_EQ(got.root_signature, want.root_signature);
  EXPECT_EQ(got.root_timestamp_ms, want.root_timestamp_ms);
  EXPECT_EQ(got.dedup, want.dedup);
}

class RestoreTest : public Conformance {
 protected:
  // A second, empty store of the same medium, on the same clock.
  std::unique_ptr<Store> FreshStore() {
    other_ = GetParam().make(other_dir_.path());
    auto s = other_->Open(options_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // Jobs in every state, two domains, with attempts, errors, dedup and root fields.
  void Populate() {
    TypeSettings ts;
    ts.max_tries = 2;
    ts.claim_ttl_ms = 1000;
    ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
    ASSERT_TRUE(store_->Push({{.type = "email", .params = "doomed", .priority = 3}}).ok());
    for (int i = 0; i < 2; ++i) {  // two failed runs: abandoned with the last error
      auto c = ClaimN(kQ, 1);
      ASSERT_EQ(c.size(), 1u);
      clock_->Advance(5);
      ASSERT_TRUE(store_->Release(c[0].claim, 0, "smtp down " + std::to_string(i)).ok());
    }
    clock_->Advance(100);
    ASSERT_TRUE(store_->Push({{.type = "email", .params = "failed once"}}).ok());
    auto once = ClaimN(kQ, 1);
    ASSERT_EQ(once.size(), 1u);
    ASSERT_TRUE(store_->Release(once[0].claim, 0, "timeout").ok());  // ready, attempts 1
    clock_->Advance(100);
    ASSERT_TRUE(store_->Push({{.type = "email", .params = std::string("bin\0ary", 7), .dedup = true},
                              {.type = "email", .params = "later",
                               .release_at_ms = clock_->NowMs() + 60'000},
                              {.type = "email", .domain = "wiki2", .params = "held"},
                              {.type = "email", .domain = "wiki2", .params = "root",
                               .root_signature = "page:7", .root_timestamp_ms = 70,
                               .root_is_self = true}})
                    .ok());
    auto held = ClaimN(kWiki, 1);  // claimed: comes back ready
    ASSERT_EQ(held.size(), 1u);
    ASSERT_EQ(held[0].params, "held");
    clock_->Advance(100);
  }

  TempDir other_dir_;
  std::unique_ptr<MediumInstance> other_;
};

TEST_P(RestoreTest, EveryJobComesBackInItsStateWithEveryField) {
  Populate();
  const std::vector<JobInfo> before = Everything(*store_);
  ASSERT_EQ(before.size(), 6u);
  auto copy = FreshStore();
  ASSERT_TRUE(copy);
  ASSERT_TRUE(copy->SetTypeSettings("email", store_->GetTypeSettings("email").value()).ok());
  auto r = copy->Restore(before);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pushed, 6u);
  EXPECT_EQ(r->duplicates, 0u);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(r->ids[i], before[i].id);

  std::vector<JobInfo> after = Everything(*copy);
  ASSERT_EQ(after.size(), before.size());
  auto by_id = [](const JobInfo& a, const JobInfo& b) {
    return std::tie(a.queue.domain, a.id) < std::tie(b.queue.domain, b.id);
  };
  std::vector<JobInfo> want;
  for (const JobInfo& j : before) want.push_back(Restored(j));
  std::sort(want.begin(), want.end(), by_id);
  std::sort(after.begin(), after.end(), by_id);
  for (size_t i = 0; i < want.size(); ++i) ExpectSameJob(want[i], after[i]);
  EXPECT_EQ(copy->Counts(kQ).value(), C(2, 0, 1, 1));
  EXPECT_EQ(copy->Counts(kWiki).value(), C(2, 0, 0, 0));
  auto problems = copy->Check();
  ASSERT_TRUE(problems.ok());
  EXPECT_TRUE(problems->empty()) << (*problems)[0];

  // The same backup again adds nothing: every id is already there.
  auto again = copy->Restore(before);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->pushed, 0u);
  EXPECT_EQ(again->duplicates, 6u);
  EXPECT_EQ(again->duplicate, std::vector<bool>(6, true));
  EXPECT_EQ(copy->Counts(kQ).value(), C(2, 0, 1, 1));
  EXPECT_EQ(copy->Counts(kWiki).value(), C(2, 0, 0, 0));
}

TEST_P(RestoreTest, RestoredJobsBehaveAsTheOriginals) {
  Populate();
  const std::vector<JobInfo> before = Everything(*store_);
  JobId highest = 0;
  for (const JobInfo& j : before) highest = std::max(highest, j.id);
  auto copy = FreshStore();
  ASSERT_TRUE(copy);
  TypeSettings ts;
  ts.max_tries = 2;
  ts.claim_ttl_ms = 1000;
  ASSERT_TRUE(copy->SetTypeSettings("email", ts).ok());
  ASSERT_TRUE(copy->Restore(before).ok());

  // Later pushes never take a restored id.
  auto pushed = copy->Push({{.type = "email", .params = "new"}});
  ASSERT_TRUE(pushed.ok());
  EXPECT_GT(pushed->ids[0], highest);
  // The restored dedup job holds its hash: an identical push is its duplicate.
  auto dup = copy->Push({{.type = "email", .params = std::string("bin\0ary", 7), .dedup = true}});
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->duplicate[0]);
  // The job that had failed once counts on from its attempts: this claim is its second.
  auto claimed = copy->Claim(kQ, 10, 0);  // leases that outlive the clock's jumps below
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 3u);
  for (const ClaimedJob& c : *claimed) {
    if (c.params == "failed once") {
      EXPECT_EQ(c.attempts, 2u);
      auto rel = copy->Release(c.claim, 0, "again");
      ASSERT_TRUE(rel.ok());
      EXPECT_EQ(JobStateName(rel->state), std::string("abandoned"));  // 2 of 2 tries used
    }
  }
  // A newer root job supersedes the restored one's registration.
  ASSERT_TRUE(copy->Push({{.type = "email", .domain = "wiki2", .params = "root2",
                           .root_signature = "page:7", .root_timestamp_ms = 80,
                           .root_is_self = true}})
                  .ok());
  auto wiki = copy->Claim(kWiki, 10);
  ASSERT_TRUE(wiki.ok());
  ASSERT_EQ(wiki->size(), 3u);
  for (const ClaimedJob& c : *wiki) {
    EXPECT_EQ(c.superseded, c.params == "root") << c.params;
    if (c.params == "held") {
      EXPECT_EQ(c.attempts, 2u);  // its lost claim counted
    }
  }
  // The restored abandoned job retries as any abandoned job does.
  auto abandoned = copy->List(kQ, JobState::kAbandoned, "", 10);
  ASSERT_TRUE(abandoned.ok());
  ASSERT_EQ(abandoned->jobs.size(), 2u);
  for (const JobInfo& j : abandoned->jobs) ExpectOk(copy->RetryJob(kQ, j.id));
  // The delayed one becomes ready when its time comes.
  clock_->Advance(60'000);
  ASSERT_TRUE(copy->Maintain().ok());
  EXPECT_EQ(copy->Counts(kQ).value(), C(3, 2, 0, 0));
  auto problems = copy->Check();
  ASSERT_TRUE(problems.ok());
  EXPECT_TRUE(problems->empty()) << (*problems)[0];
}

TEST_P(RestoreTest, JobsRestoredBehindMaintenanceAreStillRepushedAndPruned) {
  // Abandon a job and let maintenance prune it, so maintenance has moved past the abandoned
  // set's start.
  TypeSettings ts;
  ts.max_tries = 1;
  ts.retention_ms = 10;
  ASSERT_TRUE(store_->SetTypeSettings("email", ts).ok());
  Push1("email", "first");
  auto c = ClaimN(kQ, 1);
  ASSERT_EQ(c.size(), 1u);
  ASSERT_TRUE(store_->Release(c[0].claim, 0, "boom").ok());
  clock_->Advance(11);
  ASSERT_EQ(MaintainOnce().pruned, 1u);
  // Abandoned long before that: still found by a repush and by the next prune.
  JobInfo old;
  old.queue = kQ;
  old.state = JobState::kAbandoned;
  old.params = "old";
  old.attempts = 1;
  old.enqueued_at_ms = 1000;
  old.abandoned_at_ms = 2000;
  ASSERT_TRUE(store_->Restore({old}).ok());
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 1));
  EXPECT_EQ(store_->RepushAbandoned(kQ).value(), 1u);
  EXPECT_EQ(CountsOf(kQ), C(1, 0, 0, 0));
  old.params = "older";
  ASSERT_TRUE(store_->Restore({old}).ok());
  EXPECT_EQ(MaintainOnce().pruned, 1u);  // abandoned at 2000: long past its retention
  EXPECT_EQ(CountsOf(kQ), C(1, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(RestoreTest, IdZeroTakesANewIdAndAHeldHashIsNotDropped) {
  const JobId queued = Push1("email", "x");
  ASSERT_TRUE(store_->Push({{.type = "email", .params = "same", .dedup = true}}).ok());
  JobInfo a;
  a.queue = kQ;
  a.params = "same";
  a.dedup = true;
  a.enqueued_at_ms = 5;
  JobInfo b = a;
  b.params = "other";
  auto r = store_->Restore({a, b});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pushed, 2u);
  EXPECT_GT(r->ids[0], queued);
  EXPECT_NE(r->ids[0], r->ids[1]);
  // Both are queued; the hash stays with the job that held it, so a push is its duplicate.
  EXPECT_EQ(CountsOf(kQ), C(4, 0, 0, 0));
  auto dup = store_->Push({{.type = "email", .params = "same", .dedup = true}});
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->duplicate[0]);
  EXPECT_NE(dup->ids[0], r->ids[0]);
  auto info = store_->Inspect(kQ, r->ids[0]);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->enqueued_at_ms, 5);
  ExpectHealthy();
}

TEST_P(RestoreTest, ABadJobRefusesTheWholeBatch) {
  JobInfo good;
  good.queue = kQ;
  good.id = 7;
  good.params = "ok";
  JobInfo corrupt = good;
  corrupt.id = 8;
  corrupt.corrupt = true;
  JobInfo twice = good;
  JobInfo tries = good;
  tries.id = 9;
  tries.attempts = kMaxRestoredAttempts + 1;
  JobInfo time = good;
  time.id = 10;
  time.enqueued_at_ms = -1;
  JobInfo name = good;
  name.id = 11;
  name.queue.type = "bad type";
  for (const auto& [job, says] :
       {std::pair{corrupt, "marked corrupt"}, std::pair{twice, "in the batch twice"},
        std::pair{tries, "attempts 1000001 is over the limit"},
        std::pair{time, "enqueued_at_ms -1 is out of range"}, std::pair{name, "bad type"}}) {
    auto r = store_->Restore({good, job});
    ASSERT_FALSE(r.ok()) << says;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().ToString();
    EXPECT_NE(r.status().message().find("nothing was restored"), std::string::npos);
  }
  EXPECT_EQ(CountsOf(kQ), C(0, 0, 0, 0));
  store_->SetReadOnly(true);
  EXPECT_TRUE(store_->Restore({good}).status().IsReadOnly());
  store_->SetReadOnly(false);
  auto r = store_->Restore({good});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ids, std::vector<JobId>{7});
}

TEST_P(DurableConformance, RestoredIdsStayTakenAfterAReopen) {
  JobInfo j;
  j.queue = kQ;
  j.id = 1000;
  j.params = "restored";
  auto r = store_->Restore({j});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_NO_FATAL_FAILURE(Reopen());
  const JobId next = Push1("email", "after");
  EXPECT_GT(next, 1000u);
  EXPECT_EQ(CountsOf(kQ), C(2, 0, 0, 0));
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Media, RestoreTest, ::testing::ValuesIn(RegisteredMedia()), MediumName);

}  // namespace jobstore::testing
