// Routing by type (MediaWiki's $wgJobTypeConf): a config puts two types on two media; pushes land
// on their type's medium, pops and ClaimAny take from both, the runner drains both, and a push
// that one medium refuses says exactly which jobs were accepted.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "jobstore/config.h"
#include "jobstore/job.h"
#include "jobstore/registry.h"
#include "jobstore/rocksdb_store.h"
#include "jobstore/runner.h"
#include "support/temp_dir.h"

namespace jobstore::testing {
namespace {

class RoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.clock = clock_;
    options_.durability = Durability::kProcessCrash;
    auto config = StoreConfig::Parse(
        R"({"backends": {"disk": "./store", "ram": "memory:"},
            "types": {"default": "disk", "purge": "ram"}})",
        dir_.Sub("jobs.json"));
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    config_ = *config;
    auto store = OpenConfig(config_, options_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  std::map<std::string, QueueStats> ByType() {
    std::map<std::string, QueueStats> out;
    auto queues = store_->Queues();
    EXPECT_TRUE(queues.ok()) << queues.status().ToString();
    for (const QueueStats& q : *queues) out[q.queue.type] = q;
    return out;
  }

  TempDir dir_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  Options options_;
  StoreConfig config_;
  std::unique_ptr<Store> store_;
};

TEST_F(RoutingTest, EachTypeLivesOnItsBackend) {
  auto pushed = store_->Push({JobSpec{.type = "email", .params = "e1"},
                              JobSpec{.type = "purge", .params = "p1"},
                              JobSpec{.type = "email", .params = "e2"},
                              JobSpec{.type = "purge", .domain = "wiki2", .params = "p2"}});
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  EXPECT_EQ(pushed->pushed, 4u);
  auto by_type = ByType();
  ASSERT_EQ(by_type.size(), 2u);
  EXPECT_EQ(by_type["email"].backend, "disk");
  EXPECT_EQ(by_type["email"].counts.ready, 2u);
  EXPECT_EQ(by_type["purge"].backend, "ram");
  auto purge = store_->Counts({"", "purge"});
  ASSERT_TRUE(purge.ok());
  EXPECT_EQ(purge->ready, 1u);
  // The disk backend really holds its jobs: after the routed store closes, its directory opens
  // on its own with the two email jobs and nothing of purge.
  store_.reset();
  auto disk = RocksDb::Open(dir_.Sub("store"), options_);
  ASSERT_TRUE(disk.ok()) << disk.status().ToString();
  EXPECT_EQ((*disk)->Counts({"", "email"})->ready, 2u);
  EXPECT_EQ(*(*disk)->Types(), (std::vector<std::string>{"email"}));
}

TEST_F(RoutingTest, PopsTakeFromEveryBackend) {
  ASSERT_TRUE(store_->Push({JobSpec{.type = "email", .params = "e"},
                            JobSpec{.type = "purge", .params = "p"}})
                  .ok());
  auto ready = store_->ReadyQueues();
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(*ready, (std::vector<QueueRef>{{"", "email"}, {"", "purge"}}));
  std::set<std::string> picked;
  for (int i = 0; i < 200 && picked.size() < 2; ++i) {
    auto q = store_->PickReadyQueue();
    ASSERT_TRUE(q.ok() && q->has_value());
    picked.insert((*q)->type);
  }
  EXPECT_EQ(picked, (std::set<std::string>{"email", "purge"}));
  auto only_purge = store_->PickReadyQueue({.types = {"purge"}});
  ASSERT_TRUE(only_purge.ok() && only_purge->has_value());
  EXPECT_EQ((*only_purge)->type, "purge");
  auto got = store_->ClaimAny({}, 10);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  std::set<std::string> params;
  for (const ClaimedJob& j : *got) params.insert(j.params);
  EXPECT_EQ(params, (std::set<std::string>{"e", "p"}));
  auto acked = store_->AckMany({(*got)[0].claim, (*got)[1].claim});
  ASSERT_TRUE(acked.ok());
  for (const Status& s : *acked) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(store_->ReadyQueues()->empty());
  auto check = store_->Check();
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->empty());
}

TEST_F(RoutingTest, AWaitingClaimWakesForAPushToEitherBackend) {
  for (const std::string type : {"email", "purge"}) {
    std::thread pusher([&] { ASSERT_TRUE(store_->Push({JobSpec{.type = type}}).ok()); });
    auto got = store_->ClaimAny({}, 1, std::nullopt, 120'000);
    pusher.join();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ((*got)[0].claim.queue.type, type);
  }
}

class CountingJob : public Job {
 public:
  explicit CountingJob(std::atomic<int>* runs) : runs_(runs) {}
  Status Run(JobContext&) override {
    ++*runs_;
    return Status::OK();
  }

 private:
  std::atomic<int>* runs_;
};

TEST_F(RoutingTest, TheRunnerDrainsBothBackends) {
  std::vector<JobSpec> specs;
  for (int i = 0; i < 50; ++i) {
    specs.push_back(JobSpec{.type = i % 2 ? "email" : "purge", .params = std::to_string(i)});
  }
  ASSERT_TRUE(store_->Push(specs).ok());
  std::atomic<int> email{0}, purge{0};
  JobRegistry registry;
  ASSERT_TRUE(registry.Register("email", [&](const ClaimedJob&) -> Result<std::unique_ptr<Job>> {
    return std::unique_ptr<Job>(std::make_unique<CountingJob>(&email));
  }).ok());
  ASSERT_TRUE(registry.Register("purge", [&](const ClaimedJob&) -> Result<std::unique_ptr<Job>> {
    return std::unique_ptr<Job>(std::make_unique<CountingJob>(&purge));
  }).ok());
  RunnerOptions options;
  options.threads = 3;
  RunReport report = Runner(store_.get(), &registry, options).Run();
  EXPECT_EQ(report.reason, StopReason::kNoneReady) << report.status.ToString();
  EXPECT_EQ(report.succeeded, 50u);
  EXPECT_EQ(email.load(), 25);
  EXPECT_EQ(purge.load(), 25);
  for (const auto& [type, q] : ByType()) EXPECT_EQ(q.counts.total(), 0u) << type;
}

TEST_F(RoutingTest, APushOneBackendRefusesSaysWhichJobsAreIn) {
  auto ram = Store::Open("memory:");
  auto disk = RocksDb::Open(dir_.Sub("other"), options_);
  ASSERT_TRUE(ram.ok() && disk.ok());
  (*ram)->SetReadOnly(true);
  std::map<std::string, std::unique_ptr<Store>> stores;
  stores["disk"] = std::move(disk).value();
  stores["ram"] = std::move(ram).value();
  auto routed = RouteTypes(std::move(stores), {{"default", "disk"}, {"purge", "ram"}}, options_);
  ASSERT_TRUE(routed.ok()) << routed.status().ToString();
  Store& store = **routed;
  auto pushed = store.Push({JobSpec{.type = "email", .params = "in"},
                            JobSpec{.type = "purge", .params = "out"},
                            JobSpec{.type = "email", .params = "in too"}});
  ASSERT_FALSE(pushed.ok());
  const Status& s = pushed.status();
  EXPECT_TRUE(s.IsReadOnly()) << s.ToString();
  EXPECT_NE(s.message().find("not pushed: jobs 1 of the batch (backend 'ram'"), std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("pushed: jobs 0, 2 of the batch (backend 'disk'"), std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("ids 1, 2"), std::string::npos) << s.ToString();
  // Exactly what the message says is in the stores.
  EXPECT_EQ(store.Counts({"", "email"})->ready, 2u);
  EXPECT_EQ(store.Counts({"", "purge"})->ready, 0u);
  EXPECT_FALSE(store.IsReadOnly());  // one backend still takes writes
  EXPECT_EQ(store.capabilities().push_atomicity, Capabilities::PushAtomicity::kPerBackend);
  EXPECT_EQ(store.capabilities().push_durability, Capabilities::Durability::kNothing);
}

TEST_F(RoutingTest, ARestoreSendsEachJobToItsTypesBackendWithItsState) {
  JobInfo email{.queue = {"", "email"}, .id = 40, .params = "e", .attempts = 2};
  JobInfo purge{.queue = {"wiki2", "purge"}, .id = 7, .state = JobState::kAbandoned,
                .params = "p", .attempts = 3, .abandoned_at_ms = 5, .last_error = "gone"};
  auto r = store_->Restore({email, purge});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ids, (std::vector<JobId>{40, 7}));
  auto by_type = ByType();
  EXPECT_EQ(by_type["email"].backend, "disk");
  EXPECT_EQ(by_type["email"].counts.ready, 1u);
  EXPECT_EQ(by_type["purge"].backend, "ram");
  EXPECT_EQ(by_type["purge"].counts.abandoned, 1u);
  auto info = store_->Inspect({"wiki2", "purge"}, 7);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->attempts, 3u);
  EXPECT_EQ(info->last_error, "gone");
  // Again: both backends report the jobs as there already.
  auto again = store_->Restore({email, purge});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->duplicates, 2u);
  EXPECT_EQ(store_->Counts({"", "email"})->ready, 1u);
}

TEST_F(RoutingTest, ABadBatchIsRefusedBeforeAnyBackendHasIt) {
  auto pushed = store_->Push({JobSpec{.type = "email"}, JobSpec{.type = "bad type"}});
  ASSERT_FALSE(pushed.ok());
  EXPECT_TRUE(pushed.status().IsInvalidArgument());
  EXPECT_NE(pushed.status().message().find("nothing was pushed"), std::string::npos);
  EXPECT_EQ(store_->Counts({"", "email"})->ready, 0u);
}

TEST(RouteTypesTest, ATypeRoutedToAMissingBackendIsRefused) {
  std::map<std::string, std::unique_ptr<Store>> stores;
  stores["a"] = std::move(Store::Open("memory:")).value();
  auto r = RouteTypes(std::move(stores), {{"default", "a"}, {"email", "b"}});
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  std::map<std::string, std::unique_ptr<Store>> more;
  more["a"] = std::move(Store::Open("memory:")).value();
  EXPECT_TRUE(RouteTypes(std::move(more), {{"email", "a"}}).status().IsInvalidArgument());
}

}  // namespace
}  // namespace jobstore::testing
