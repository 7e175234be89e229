// The SQL medium on SQLite and on PostgreSQL: what is particular to it (schema versions, the
// unique dedup index under concurrent pushers, SKIP LOCKED claims from several stores, bad
// rows) and the transitions the contract's suite also covers, so the medium is proven before
// that suite runs on it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "support/sql_media.h"

namespace jobstore::testing {
namespace {

class SqlTest : public Conformance {
 protected:
  SqlInstance& sql() { return *dynamic_cast<SqlInstance*>(instance_.get()); }
  bool postgres() const { return GetParam().name == "Postgres"; }

  // Another store over the same database (another process or machine, as far as the
  // database can tell).
  std::unique_ptr<Store> Second() {
    auto s = instance_->Open(options_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  const QueueRef q_{"", "email"};
};

TEST_P(SqlTest, CapabilitiesNameTheMedium) {
  const Capabilities c = store_->capabilities();
  EXPECT_EQ(c.medium, postgres() ? "postgresql" : "sqlite");
  EXPECT_TRUE(c.shared);
  EXPECT_TRUE(c.exact_counts);
  EXPECT_TRUE(c.exact_ready_index);
  EXPECT_EQ(c.push_atomicity, Capabilities::PushAtomicity::kWholeBatch);
  EXPECT_EQ(c.push_durability, postgres() ? Capabilities::Durability::kServerConfig
                                          : Capabilities::Durability::kProcessCrash);
}

TEST_P(SqlTest, PushClaimAckKeepExactCounts) {
  auto ids = PushAll({Spec("email", "a"), Spec("email", "b"), Spec("email", "c"),
                      Spec("sms", "d", "wiki2")});
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_EQ(CountsOf(q_), C(3, 0, 0, 0));
  EXPECT_EQ(Ready(), (std::vector<QueueRef>{{"", "email"}, {"wiki2", "sms"}}));
  auto claimed = ClaimN(q_, 2);
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].params, "a");  // fifo
  EXPECT_EQ(claimed[1].params, "b");
  EXPECT_EQ(claimed[0].attempts, 1u);
  EXPECT_EQ(CountsOf(q_), C(1, 2, 0, 0));
  ExpectOk(store_->Ack(claimed[0].claim));
  EXPECT_EQ(CountsOf(q_), C(1, 1, 0, 0));
  auto acked = store_->AckMany({claimed[1].claim, claimed[0].claim});
  ASSERT_TRUE(acked.ok());
  EXPECT_TRUE((*acked)[0].ok());
  EXPECT_TRUE((*acked)[1].IsNotFound()) << (*acked)[1].ToString();
  EXPECT_EQ(CountsOf(q_), C(1, 0, 0, 0));
  auto rest = ClaimN(q_, 10);
  ASSERT_EQ(rest.size(), 1u);
  ExpectOk(store_->Ack(rest[0].claim));
  EXPECT_EQ(Ready(), (std::vector<QueueRef>{{"wiki2", "sms"}}));
  auto queues = QueuesOf();
  ASSERT_EQ(queues.size(), 2u);
  EXPECT_EQ(queues[0].counts, C(0, 0, 0, 0));
  EXPECT_EQ(queues[1].counts, C(1, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(SqlTest, TokensFenceLateAcksReleasesAndTouches) {
  PushAll({Spec("email", "x")});
  auto first = ClaimN(q_, 1, 1000);
  ASSERT_EQ(first.size(), 1u);
  clock_->Advance(1001);
  EXPECT_EQ(MaintainOnce().reclaimed, 1u);
  EXPECT_TRUE(store_->Ack(first[0].claim).IsStaleToken());
  EXPECT_TRUE(store_->Release(first[0].claim).status().IsStaleToken());
  EXPECT_TRUE(store_->Touch(first[0].claim, 5000).status().IsStaleToken());
  auto second = ClaimN(q_, 1, 1000);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].claim.id, first[0].claim.id);
  EXPECT_EQ(second[0].attempts, 2u);
  EXPECT_NE(second[0].claim.token, first[0].claim.token);
  EXPECT_TRUE(store_->Ack(first[0].claim).IsStaleToken());
  // Touch moves the deadline: the new token is the current one, the old one stale.
  auto touched = store_->Touch(second[0].claim, 60'000);
  ASSERT_TRUE(touched.ok()) << touched.status().ToString();
  EXPECT_EQ(touched->deadline_ms, clock_->NowMs() + 60'000);
  EXPECT_TRUE(store_->Ack(second[0].claim).IsStaleToken());
  jobstore::Claim current = second[0].claim;
  current.token = *touched;
  clock_->Advance(30'000);
  EXPECT_EQ(MaintainOnce().reclaimed, 0u);  // the lease was extended
  ExpectOk(store_->Ack(current));
  EXPECT_TRUE(store_->Ack(current).IsNotFound());
  EXPECT_EQ(CountsOf(q_), C(0, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(SqlTest, ReleaseDelaysRetriesAndAbandonsWithTheError) {
  TypeSettings ts;
  ts.max_tries = 2;
  ExpectOk(store_->SetTypeSettings("email", ts));
  const JobId id = Push1("email", "p");
  auto c1 = ClaimN(q_, 1);
  ASSERT_EQ(c1.size(), 1u);
  ExpectOk(store_->Release(c1[0].claim, 5000, "smtp down").status());
  EXPECT_EQ(CountsOf(q_), C(0, 0, 1, 0));
  EXPECT_TRUE(Ready().empty());
  auto info = store_->Inspect(q_, id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::kDelayed);
  EXPECT_EQ(info->release_at_ms, clock_->NowMs() + 5000);
  EXPECT_EQ(info->last_error, "smtp down");
  clock_->Advance(4999);
  EXPECT_EQ(MaintainOnce().promoted, 0u);
  clock_->Advance(1);
  EXPECT_EQ(MaintainOnce().promoted, 1u);
  auto c2 = ClaimN(q_, 1);
  ASSERT_EQ(c2.size(), 1u);
  EXPECT_EQ(c2[0].attempts, 2u);
  ExpectOk(store_->Release(c2[0].claim, 0, "still down").status());
  EXPECT_EQ(CountsOf(q_), C(0, 0, 0, 1));
  info = store_->Inspect(q_, id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::kAbandoned);
  EXPECT_EQ(info->abandoned_at_ms, clock_->NowMs());
  EXPECT_EQ(info->last_error, "still down");
  EXPECT_TRUE(store_->RetryJob(q_, id + 1000).IsNotFound());
  auto moved = store_->RepushAbandoned(q_);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 1u);
  auto c3 = ClaimN(q_, 1);
  ASSERT_EQ(c3.size(), 1u);
  EXPECT_EQ(c3[0].attempts, 1u);  // attempts reset
  Status s = store_->RetryJob(q_, id);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("claimed"), std::string::npos) << s.message();
  ExpectOk(store_->DeleteJob(q_, id));
  EXPECT_TRUE(store_->Ack(c3[0].claim).IsNotFound());
  EXPECT_EQ(CountsOf(q_), C(0, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(SqlTest, PriorityAndRandomOrders) {
  TypeSettings ts;
  ts.order = Order::kPriority;
  ExpectOk(store_->SetTypeSettings("email", ts));
  std::vector<JobSpec> specs;
  for (int p : {1, 5, -3, 5, 0}) {
    JobSpec s = Spec("email", "p" + std::to_string(p));
    s.priority = p;
    specs.push_back(s);
  }
  auto ids = PushAll(specs);
  auto claimed = ClaimN(q_, 5);
  ASSERT_EQ(claimed.size(), 5u);
  std::vector<int32_t> order;
  for (auto& c : claimed) order.push_back(c.priority);
  EXPECT_EQ(order, (std::vector<int32_t>{5, 5, 1, 0, -3}));
  EXPECT_EQ(claimed[0].claim.id, ids[1]);  // equal priority: push order
  ts.order = Order::kRandom;
  ExpectOk(store_->SetTypeSettings("sms", ts));
  std::vector<JobSpec> many;
  for (int i = 0; i < 200; ++i) many.push_back(Spec("sms", std::to_string(i)));
  PushAll(many);
  std::set<std::string> seen;
  std::vector<int> got;
  for (auto& c : ClaimN({"", "sms"}, 200)) {
    seen.insert(c.params);
    got.push_back(std::stoi(c.params));
  }
  EXPECT_EQ(seen.size(), 200u);
  EXPECT_FALSE(std::is_sorted(got.begin(), got.end()));
}

TEST_P(SqlTest, DedupHoldsWhileQueuedAndCollapsesInBatch) {
  JobSpec d = Spec("email", "same");
  d.dedup = true;
  auto r = store_->Push({d, d});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->pushed, 1u);
  EXPECT_EQ(r->ids[0], r->ids[1]);
  auto again = store_->Push({d});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate[0]);
  EXPECT_EQ(again->ids[0], r->ids[0]);
  // A delayed copy holds it too; once the ready one is claimed, a new push is accepted.
  auto claimed = ClaimN(q_, 1);
  ASSERT_EQ(claimed.size(), 1u);
  JobSpec later = d;
  later.release_at_ms = clock_->NowMs() + 1000;
  auto third = store_->Push({later, d});
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->pushed, 1u);
  EXPECT_FALSE(third->duplicate[0]);
  EXPECT_TRUE(third->duplicate[1]);
  EXPECT_EQ(CountsOf(q_), C(0, 1, 1, 0));
  ExpectHealthy();
}

// Many pushers of the same dedup job at once (each its own store, as separate processes would
// be): the unique index lets exactly one in per round, every other one gets its id.
TEST_P(SqlTest, DedupUnderConcurrentPushers) {
  constexpr int kThreads = 4;
#ifdef JOBSTORE_SANITIZED
  constexpr int kRounds = 20;
#else
  constexpr int kRounds = 60;
#endif
  std::vector<std::unique_ptr<Store>> stores;
  for (int t = 0; t < kThreads; ++t) stores.push_back(Second());
  std::vector<std::vector<JobId>> ids(kThreads, std::vector<JobId>(kRounds));
  std::vector<std::vector<bool>> dup(kThreads, std::vector<bool>(kRounds));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        JobSpec s = Spec("email", "round " + std::to_string(round));
        s.dedup = true;
        auto r = stores[t]->Push({s});
        if (!r.ok()) {
          ++failures;
          continue;
        }
        ids[t][round] = r->ids[0];
        dup[t][round] = r->duplicate[0];
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  for (int round = 0; round < kRounds; ++round) {
    int pushed = 0;
    for (int t = 0; t < kThreads; ++t) {
      pushed += dup[t][round] ? 0 : 1;
      EXPECT_EQ(ids[t][round], ids[0][round]) << "round " << round;
    }
    EXPECT_EQ(pushed, 1) << "round " << round;
  }
  EXPECT_EQ(CountsOf(q_), C(kRounds, 0, 0, 0));
  ExpectHealthy();
}

// Claimers on several stores (PostgreSQL: SKIP LOCKED; SQLite: one writer at a time) never
// receive the same job, and together they take every job.
TEST_P(SqlTest, ConcurrentClaimersNeverShareAJob) {
#ifdef JOBSTORE_SANITIZED
  constexpr int kJobs = 600;
#else
  constexpr int kJobs = 3000;
#endif
  std::vector<JobSpec> specs;
  for (int i = 0; i < kJobs; ++i) specs.push_back(Spec("email", std::to_string(i)));
  PushAll(specs);
  std::vector<std::unique_ptr<Store>> stores;
  for (int t = 0; t < 3; ++t) stores.push_back(Second());
  std::mutex mu;
  std::vector<JobId> all;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      Store& s = *stores[t % 3];
      for (;;) {
        auto got = s.Claim(q_, 7);
        if (!got.ok()) {
          ++failures;
          return;
        }
        if (got->empty()) return;
        std::vector<jobstore::Claim> claims;
        for (auto& c : *got) claims.push_back(c.claim);
        auto acked = s.AckMany(claims);
        if (!acked.ok()) {
          ++failures;
          return;
        }
        for (auto& st : *acked) {
          if (!st.ok()) ++failures;
        }
        std::lock_guard<std::mutex> l(mu);
        for (auto& c : *got) all.push_back(c.claim.id);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<JobId> distinct(all.begin(), all.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(CountsOf(q_), C(0, 0, 0, 0));
  ExpectHealthy();
}

TEST_P(SqlTest, MaintenanceIsBoundedAndPrunesAndExpiresRoots) {
  options_.maintenance_batch = 2;
  Reopen();
  TypeSettings ts;
  ts.max_tries = 1;
  ts.retention_ms = 10'000;
  ts.root_job_ttl_ms = 50'000;
  ExpectOk(store_->SetTypeSettings("email", ts));
  std::vector<JobSpec> specs;
  for (int i = 0; i < 5; ++i) specs.push_back(Spec("email", std::to_string(i)));
  PushAll(specs);
  EXPECT_EQ(ClaimN(q_, 5, 100).size(), 5u);
  clock_->Advance(101);
  MaintenanceReport r = MaintainOnce();
  EXPECT_EQ(r.abandoned, 2u);
  EXPECT_TRUE(r.more);
  EXPECT_EQ(MaintainOnce().abandoned, 2u);
  r = MaintainOnce();
  EXPECT_EQ(r.abandoned, 1u);
  EXPECT_EQ(CountsOf(q_), C(0, 0, 0, 5));
  auto abandoned = ListAll(q_, JobState::kAbandoned);
  ASSERT_EQ(abandoned.size(), 5u);
  EXPECT_EQ(abandoned[0].last_error, "claim expired after 1 attempts");
  clock_->Advance(10'001);
  EXPECT_EQ(MaintainOnce().pruned, 2u);
  EXPECT_EQ(MaintainOnce().pruned, 2u);
  EXPECT_EQ(MaintainOnce().pruned, 1u);
  EXPECT_EQ(CountsOf(q_), C(0, 0, 0, 0));

  // Root jobs: the newer registration supersedes the older job at claim.
  JobSpec root = Spec("email", "root");
  root.root_signature = "sig";
  root.root_timestamp_ms = 2000;
  root.root_is_self = true;
  JobSpec old = Spec("email", "old");
  old.root_signature = "sig";
  old.root_timestamp_ms = 1000;
  PushAll({old, root});
  auto claimed = ClaimN(q_, 2);
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_TRUE(claimed[0].superseded);
  EXPECT_FALSE(claimed[1].superseded);
  for (auto& c : claimed) ExpectOk(store_->Ack(c.claim));
  clock_->Advance(60'000);  // past the root TTL, and past the once-a-minute sweep
  EXPECT_EQ(MaintainOnce().roots_expired, 1u);
  PushAll({old});
  claimed = ClaimN(q_, 1);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_FALSE(claimed[0].superseded);  // the registration expired
  ExpectHealthy();
}

TEST_P(SqlTest, ListPagesEveryStateInItsOrder) {
  std::vector<JobSpec> specs;
  for (int i = 0; i < 7; ++i) specs.push_back(Spec("email", std::to_string(i)));
  auto ids = PushAll(specs);
  std::vector<JobId> listed;
  std::string cursor;
  int pages = 0;
  do {
    auto page = store_->List(q_, JobState::kReady, cursor, 3);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (auto& j : page->jobs) listed.push_back(j.id);
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty());
  EXPECT_EQ(listed, ids);
  EXPECT_EQ(pages, 3);
  auto claimed = ClaimN(q_, 2, 500);
  ASSERT_EQ(claimed.size(), 2u);
  auto held = ListAll(q_, JobState::kClaimed);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].deadline_ms, clock_->NowMs() + 500);
  auto bad = store_->List(q_, JobState::kClaimed, "r1.2", 10);
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  ExpectOk(store_->Clear(q_));
  EXPECT_EQ(CountsOf(q_), C(0, 0, 0, 0));
  EXPECT_TRUE(store_->Ack(claimed[0].claim).IsNotFound());
  ExpectHealthy();
}

// A row that does not decode is reported by Check and moved aside by a claim, never handed
// out; the jobs around it are unaffected.
TEST_P(SqlTest, BadRowsAreReportedAndMovedAside) {
  auto ids = PushAll({Spec("email", "good1"), Spec("email", "bad"), Spec("email", "good2")});
  ExpectHealthy();
  const std::string id = std::to_string(ids[1]);
  ExpectOk(sql().Exec(postgres() ? "UPDATE jobstore_job SET priority = 5000000 WHERE id = " + id
                                 : "UPDATE jobstore_job SET params = 12345 WHERE id = " + id));
  auto report = store_->Check();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->size(), 1u);
  EXPECT_NE((*report)[0].find("job row " + id), std::string::npos) << (*report)[0];
  auto info = store_->Inspect(q_, ids[1]);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->corrupt);
  EXPECT_TRUE(info->params.empty());
  auto claimed = ClaimN(q_, 3);
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].params, "good1");
  EXPECT_EQ(claimed[1].params, "good2");
  EXPECT_EQ(CountsOf(q_), C(0, 2, 0, 1));
  auto aside = ListAll(q_, JobState::kAbandoned);
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_EQ(aside[0].id, ids[1]);
  EXPECT_TRUE(aside[0].corrupt);
  EXPECT_NE(aside[0].last_error.find("job row " + id), std::string::npos) << aside[0].last_error;
  // A state no jobstore writes: Check names it, nothing counts or claims it.
  ExpectOk(sql().Exec("UPDATE jobstore_job SET state = 9 WHERE id = " + std::to_string(ids[0])));
  report = store_->Check();
  ASSERT_TRUE(report.ok());
  EXPECT_GE(report->size(), 2u);
  // Bad settings are reported, and refused rather than trusted.
  ExpectOk(sql().Exec("UPDATE jobstore_type SET job_order = 7 WHERE name = 'email'"));
  EXPECT_TRUE(store_->GetTypeSettings("email").status().IsCorruption());
}

TEST_P(SqlTest, SchemaIsVersionedMigratedAndNewerRefused) {
  PushAll({Spec("email", "kept")});
  store_.reset();
  // An older store: version 1 had no jobstore_root_expiry index.
  ExpectOk(sql().Exec("DROP INDEX jobstore_root_expiry"));
  ExpectOk(sql().Exec("UPDATE jobstore_meta SET val = 1 WHERE name = 'schema_version'"));
  Reopen();
  EXPECT_EQ(CountsOf(q_), C(1, 0, 0, 0));
  // Migrated: the index is back (dropping it works only if it exists), the version is 2.
  store_.reset();
  ExpectOk(sql().Exec("DROP INDEX jobstore_root_expiry"));
  ExpectOk(sql().Exec("CREATE INDEX jobstore_root_expiry ON jobstore_root (queue_id, newest_ms)"));
  ExpectOk(sql().Exec("UPDATE jobstore_meta SET val = 99 WHERE name = 'schema_version'"));
  auto newer = instance_->Open(options_);
  ASSERT_FALSE(newer.ok());
  EXPECT_TRUE(newer.status().IsNotSupported()) << newer.status().ToString();
  EXPECT_NE(newer.status().message().find("version 99"), std::string::npos);
  ExpectOk(sql().Exec("UPDATE jobstore_meta SET val = 2 WHERE name = 'schema_version'"));
  Reopen();
  auto claimed = ClaimN(q_, 1);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].params, "kept");
}

TEST_P(SqlTest, NoSchemaAndCreateIfMissingOffIsNotFound) {
  store_.reset();
  ExpectOk(sql().Exec("DROP TABLE jobstore_meta"));
  Options o = options_;
  o.create_if_missing = false;
  auto r = instance_->Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
}

// WaitForReady wakes for a push made through another store (PostgreSQL: NOTIFY; SQLite: the
// ready_epoch counter its watcher reads), and returns when the wait is up.
TEST_P(SqlTest, WaitForReadySeesOtherStoresPushes) {
  auto other = Second();
  ASSERT_TRUE(other);
  auto epoch = store_->ReadyEpoch();
  ASSERT_TRUE(epoch.ok());
  ExpectOk(store_->WaitForReady(*epoch, 30));  // nothing happens: returns after the wait
  epoch = store_->ReadyEpoch();
  ASSERT_TRUE(epoch.ok());
  std::thread pusher([&] { EXPECT_TRUE(other->Push({Spec("email", "wake")}).ok()); });
  const auto start = std::chrono::steady_clock::now();
  Status s = store_->WaitForReady(*epoch, 20'000);
  const auto waited = std::chrono::steady_clock::now() - start;
  pusher.join();
  ExpectOk(s);
  EXPECT_LT(waited, std::chrono::seconds(10));
  auto now_epoch = store_->ReadyEpoch();
  ASSERT_TRUE(now_epoch.ok());
  EXPECT_NE(*now_epoch, *epoch);
  auto got = store_->ClaimAny({}, 1, std::nullopt, 0);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].params, "wake");
}

INSTANTIATE_TEST_SUITE_P(Sql, SqlTest, ::testing::Values(SqliteMedium(), PostgresMedium()),
                         MediumName);

}  // namespace
}  // namespace jobstore::testing
