// The server going away: calls fail at once with Unavailable (never a hang), a server that
// stops answering is DeadlineExceeded, the store and a runner carry on once it is back, and a
// SIGKILL of redis-server under appendfsync always loses nothing that was acknowledged.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "jobstore/registry.h"
#include "jobstore/runner.h"
#include "redis_fixture.h"
#include "support/eventually.h"

namespace jobstore::testing {
namespace {

class RedisOutageTest : public RedisTest {
 protected:
  RedisConfig Config() const override { return {.appendonly = true, .appendfsync = "always"}; }

  // Calls until one succeeds: the pool backs off up to 1 s after failed connects.
  static bool Eventually(const std::function<bool()>& fn) {
    return jobstore::testing::Eventually(fn, std::chrono::seconds(30), std::chrono::milliseconds(10));
  }
};

TEST_F(RedisOutageTest, CallsFailAtOnceWhileTheServerIsDownAndWorkWhenItIsBack) {
  auto store = Open();
  ASSERT_TRUE(store);
  const QueueRef q{"", "t"};
  PushAll(*store, {Spec("t", "before")});
  server_->Stop();
  const auto t0 = std::chrono::steady_clock::now();
  auto pushed = store->Push({Spec("t", "during")});
  ASSERT_FALSE(pushed.ok());
  EXPECT_TRUE(pushed.status().IsUnavailable()) << pushed.status().ToString();
  EXPECT_NE(pushed.status().message().find("not applied"), std::string::npos)
      << pushed.status().ToString();
  auto claimed = store->Claim(q, 1);
  EXPECT_TRUE(claimed.status().IsUnavailable()) << claimed.status().ToString();
  EXPECT_TRUE(store->Counts(q).status().IsUnavailable());
  EXPECT_TRUE(store->WaitForReady(0, 10'000).IsUnavailable());
  // Failing fast: well under the 60 s call timeout of the test's address.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));

  ASSERT_TRUE(server_->Start()) << server_->error();
  ASSERT_TRUE(Eventually([&] { return store->Counts(q).ok(); }));
  EXPECT_EQ(CountsOf(*store, q), C(1, 0, 0, 0));
  auto jobs = ClaimN(*store, q, 5);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].params, "before");
  EXPECT_TRUE(store->Ack(jobs[0].claim).ok());
  ExpectHealthy(*store);
}

TEST_F(RedisOutageTest, AServerThatStopsAnsweringIsDeadlineExceededNotAHang) {
  auto store = OpenAt("redis+unix:" + server_->socket() + "?prefix=t&timeout_ms=200");
  ASSERT_TRUE(store);
  const QueueRef q{"", "t"};
  PushAll(*store, {Spec("t", "x")});
  ASSERT_EQ(kill(server_->pid(), SIGSTOP), 0);
  auto claimed = store->Claim(q, 1);
  ASSERT_EQ(kill(server_->pid(), SIGCONT), 0);
  ASSERT_FALSE(claimed.ok());
  EXPECT_TRUE(claimed.status().IsDeadlineExceeded()) << claimed.status().ToString();
  EXPECT_NE(claimed.status().message().find("may or may not have been applied"),
            std::string::npos);
  // A new connection, and the claim that may have happened is visible as such.
  ASSERT_TRUE(Eventually([&] { return store->Counts(q).ok(); }));
  const QueueCounts c = CountsOf(*store, q);
  EXPECT_EQ(c.ready + c.claimed, 1u);
  ExpectHealthy(*store);
}

// The kill tests run under appendfsync always and everysec: for a kill of the process (not of
// the machine) both keep what was acknowledged, since Redis writes the AOF before it answers
// (everysec only delays the fsync), as the README's table says.
class RedisKillTest : public RedisOutageTest, public ::testing::WithParamInterface<const char*> {
 protected:
  RedisConfig Config() const override { return {.appendonly = true, .appendfsync = GetParam()}; }
};

// A stream of pushes, claims and acks from several threads; redis-server is killed with
// SIGKILL mid-stream and restarted: every push that returned OK is there (or was acked), every
// ack that returned OK is gone, a call that failed may or may not have happened, and Check is
// clean.
TEST_P(RedisKillTest, SigkillOfTheServerLosesNothingAcknowledged) {
#ifdef JOBSTORE_SANITIZED
  constexpr int kRounds = 2, kOpsBeforeKill = 100;
#else
  constexpr int kRounds = 3, kOpsBeforeKill = 400;
#endif
  auto store = Open();
  ASSERT_TRUE(store);
  const std::vector<QueueRef> queues = {{"", "a"}, {"d", "b"}};
  std::map<std::string, JobId> pushed;  // params -> id, acknowledged pushes
  std::set<std::string> maybe_pushed;   // params of pushes that failed
  std::set<JobId> acked, maybe_acked;
  int batch_no = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::mutex mu;
    std::condition_variable cv;
    std::atomic<int> ops{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int p = 0; p < 2; ++p) {
      threads.emplace_back([&, p] {
        while (!stop.load()) {
          std::vector<JobSpec> batch;
          int n;
          {
            std::lock_guard<std::mutex> l(mu);
            n = batch_no++;
          }
          for (int i = 0; i < 10; ++i) {
            const QueueRef& q = queues[static_cast<size_t>(i + p) % queues.size()];
            batch.push_back(Spec(q.type, "b" + std::to_string(n) + ":" + std::to_string(i), q.domain));
          }
          auto r = store->Push(batch);
          std::lock_guard<std::mutex> l(mu);
          for (size_t i = 0; i < batch.size(); ++i) {
            if (r.ok()) {
              pushed[batch[i].params] = r->ids[i];
            } else {
              maybe_pushed.insert(batch[i].params);
            }
          }
          ++ops;
          cv.notify_all();
          if (!r.ok()) return;
        }
      });
    }
    for (int c = 0; c < 2; ++c) {
      threads.emplace_back([&, c] {
        size_t turn = static_cast<size_t>(c);
        while (!stop.load()) {
          auto jobs = store->Claim(queues[turn++ % queues.size()], 5);
          if (!jobs.ok()) return;
          std::vector<Claim> claims;
          for (const auto& j : *jobs) claims.push_back(j.claim);
          if (claims.empty()) continue;
          auto r = store->AckMany(claims);
          std::lock_guard<std::mutex> l(mu);
          for (size_t i = 0; i < claims.size(); ++i) {
            if (r.ok() && (*r)[i].ok()) {
              acked.insert(claims[i].id);
            } else {
              maybe_acked.insert(claims[i].id);
            }
          }
          ++ops;
          cv.notify_all();
          if (!r.ok()) return;
        }
      });
    }
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return ops.load() >= kOpsBeforeKill; });
    }
    server_->Kill();
    stop = true;
    for (auto& t : threads) t.join();
    ASSERT_TRUE(server_->Start()) << server_->error();
    ASSERT_TRUE(Eventually([&] { return store->Counts(queues[0]).ok(); }));

    // What the store holds now, by params.
    std::map<std::string, JobId> present;
    for (const QueueRef& q : queues) {
      for (JobState state : {JobState::kReady, JobState::kClaimed}) {
        std::string cursor;
        do {
          auto page = store->List(q, state, cursor, 1000);
          ASSERT_TRUE(page.ok()) << page.status().ToString();
          for (const JobInfo& j : page->jobs) present[j.params] = j.id;
          cursor = page->next_cursor;
        } while (!cursor.empty());
      }
    }
    for (const auto& [params, id] : pushed) {
      if (acked.count(id)) {
        EXPECT_EQ(present.count(params), 0u) << "acked job " << id << " came back";
      } else if (!maybe_acked.count(id)) {
        EXPECT_EQ(present.count(params), 1u) << "acknowledged push of job " << id << " was lost";
      }
    }
    for (const auto& [params, id] : present) {
      EXPECT_TRUE(pushed.count(params) || maybe_pushed.count(params)) << "job " << params
                                                                      << " came from nowhere";
    }
    ExpectHealthy(*store);
    // Claims cut off by the kill expire and run again: put them back for the next round.
    clock_->Advance(2 * 3600 * 1000);
    ASSERT_TRUE(store->Maintain().ok());
  }
  EXPECT_GT(pushed.size(), 0u);
  EXPECT_GT(acked.size(), 0u);
}

class CountingJob final : public Job {
 public:
  CountingJob(const ClaimedJob& job, std::function<void(const ClaimedJob&)> on_run)
      : job_(job), on_run_(std::move(on_run)) {}
  Status Run(JobContext&) override {
    on_run_(job_);
    return Status::OK();
  }

 private:
  ClaimedJob job_;
  std::function<void(const ClaimedJob&)> on_run_;
};

INSTANTIATE_TEST_SUITE_P(Appendfsync, RedisKillTest, ::testing::Values("always", "everysec"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

TEST_F(RedisOutageTest, ARunnerRidesOutARestartOfTheServer) {
#ifdef JOBSTORE_SANITIZED
  constexpr int kJobs = 200;
#else
  constexpr int kJobs = 1000;
#endif
  auto store = Open();
  ASSERT_TRUE(store);
  std::vector<JobSpec> specs;
  for (int i = 0; i < kJobs; ++i) specs.push_back(Spec("work", std::to_string(i)));
  PushAll(*store, specs);

  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> ran;
  bool outage_seen = false;
  JobRegistry registry;
  ASSERT_TRUE(registry
                  .Register("work",
                            [&](const ClaimedJob& job) -> Result<std::unique_ptr<Job>> {
                              return std::unique_ptr<Job>(std::make_unique<CountingJob>(
                                  job, [&](const ClaimedJob& j) {
                                    std::lock_guard<std::mutex> l(mu);
                                    ran.insert(j.params);
                                    cv.notify_all();
                                  }));
                            })
                  .ok());
  RunnerOptions ro;
  ro.threads = 3;
  ro.wait_slice_ms = 10;
  ro.maintain = false;
  Runner runner(store.get(), &registry, ro);
  RunReport report;
  std::thread run([&] { report = runner.Run(); });
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return ran.size() >= kJobs / 4; });
  }
  server_->Stop();
  {
    // While it is down, the runner's calls fail; it waits instead of ending the run.
    auto r = store->Counts({"", "work"});
    std::lock_guard<std::mutex> l(mu);
    outage_seen = r.status().IsUnavailable();
  }
  ASSERT_TRUE(server_->Start()) << server_->error();
  run.join();
  EXPECT_TRUE(outage_seen);
  EXPECT_EQ(report.reason, StopReason::kNoneReady) << report.status.ToString();
  // Every job ran, except those whose claim the server applied but could not answer before it
  // went down: they stay claimed, and run again when their lease expires.
  const QueueCounts c = CountsOf(*store, {"", "work"});
  EXPECT_EQ(ran.size() + c.claimed, static_cast<size_t>(kJobs));
  EXPECT_LE(c.claimed, 16u);
  EXPECT_EQ(c.ready + c.delayed + c.abandoned, 0u);
  ExpectHealthy(*store);
}

}  // namespace
}  // namespace jobstore::testing
