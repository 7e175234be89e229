// Routing with Redis (MediaWiki's $wgJobTypeConf): a config puts one type on RocksDB and one
// on Redis; a push splits between them, ClaimAny and a runner take from both.
#include <atomic>
#include <set>

#include "jobstore/config.h"
#include "jobstore/registry.h"
#include "jobstore/runner.h"
#include "redis_fixture.h"

namespace jobstore::testing {
namespace {

class CountingRun final : public Job {
 public:
  CountingRun(std::atomic<int>* runs) : runs_(runs) {}
  Status Run(JobContext&) override {
    ++*runs_;
    return Status::OK();
  }

 private:
  std::atomic<int>* runs_;
};

class RedisRoutingTest : public RedisTest {
 protected:
  void SetUp() override {
    RedisTest::SetUp();
    auto config = StoreConfig::Parse(
        R"({"backends": {"disk": ")" + dir_.Sub("store") + R"(", "shared": ")" +
            server_->Address("routed") + R"("}, "types": {"default": "disk", "email": "shared"}})",
        dir_.Sub("jobs.json"));
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto store = OpenConfig(*config, options_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    RedisTest::TearDown();
  }
  std::unique_ptr<Store> store_;
};

TEST_F(RedisRoutingTest, OneTypeOnRedisOneOnRocksDbPushPopAndRunAcrossBoth) {
  PushAll(*store_, {Spec("email", "e1"), Spec("thumb", "t1"), Spec("email", "e2", "wiki2"),
                    Spec("thumb", "t2")});
  // Each type on its backend: Redis holds only the emails.
  auto direct = Open("routed");
  ASSERT_TRUE(direct);
  EXPECT_EQ(CountsOf(*direct, {"", "email"}), C(1, 0, 0, 0));
  EXPECT_EQ(CountsOf(*direct, {"wiki2", "email"}), C(1, 0, 0, 0));
  EXPECT_EQ(CountsOf(*direct, {"", "thumb"}), C(0, 0, 0, 0));
  std::map<std::string, std::string> backend_of;
  auto queues = store_->Queues();
  ASSERT_TRUE(queues.ok()) << queues.status().ToString();
  for (const QueueStats& q : *queues) backend_of[q.queue.type] = q.backend;
  EXPECT_EQ(backend_of["email"], "shared");
  EXPECT_EQ(backend_of["thumb"], "disk");
  EXPECT_EQ(store_->ReadyQueues()->size(), 3u);

  // ClaimAny takes from both media.
  std::set<std::string> got;
  for (int i = 0; i < 2; ++i) {
    auto jobs = store_->ClaimAny({}, 4);
    ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
    for (const ClaimedJob& j : *jobs) {
      got.insert(j.params);
      EXPECT_TRUE(store_->Release(j.claim).ok());
    }
  }
  EXPECT_GE(got.size(), 2u);

  // A runner drains both.
  std::atomic<int> runs{0};
  JobRegistry registry;
  for (const char* type : {"email", "thumb"}) {
    ASSERT_TRUE(registry
                    .Register(type,
                              [&](const ClaimedJob&) -> Result<std::unique_ptr<Job>> {
                                return std::unique_ptr<Job>(std::make_unique<CountingRun>(&runs));
                              })
                    .ok());
  }
  RunnerOptions ro;
  ro.threads = 2;
  RunReport report = Runner(store_.get(), &registry, ro).Run();
  EXPECT_EQ(report.reason, StopReason::kNoneReady) << report.status.ToString();
  EXPECT_EQ(runs.load(), 4);
  EXPECT_TRUE(store_->ReadyQueues()->empty());
  EXPECT_EQ(CountsOf(*direct, {"", "email"}), C(0, 0, 0, 0));
  ExpectHealthy(*direct);
  ExpectHealthy(*store_);
}

}  // namespace
}  // namespace jobstore::testing
