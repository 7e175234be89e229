// Shared by the jobs tests: a fresh store on a manual clock, a registry, and a job type whose
// behaviour each test supplies as a lambda.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <ostream>
#include <memory>
#include <string>
#include <vector>

#include "jobstore/clock.h"
#include "jobstore/job.h"
#include "jobstore/registry.h"
#include "jobstore/runner.h"
#include "jobstore/store.h"
#include "support/temp_dir.h"

namespace jobstore {
// Readable counts in assertion failures.
inline void PrintTo(const QueueCounts& c, std::ostream* os) {
  *os << "{ready " << c.ready << ", claimed " << c.claimed << ", delayed " << c.delayed
      << ", abandoned " << c.abandoned << "}";
}
}  // namespace jobstore

namespace jobstore::testing {

// A job whose Run() is a test's lambda.
class FnJob final : public Job {
 public:
  using Body = std::function<Status(const ClaimedJob&, JobContext&)>;
  FnJob(Body body, ClaimedJob job, bool allow_retries, uint32_t work_items)
      : body_(std::move(body)), job_(std::move(job)), allow_retries_(allow_retries),
        work_items_(work_items) {}
  Status Run(JobContext& ctx) override { return body_(job_, ctx); }
  bool allow_retries() const override { return allow_retries_; }
  uint32_t work_item_count() const override { return work_items_; }

 private:
  Body body_;
  ClaimedJob job_;
  bool allow_retries_;
  uint32_t work_items_;
};

class JobsFixture : public ::testing::Test {
 protected:
  void SetUp() override { OpenStore(); }

  // (Re)opens the store in the fixture's directory on the manual clock.
  void OpenStore() {
    store_.reset();
    Options options;
    options.durability = Durability::kProcessCrash;  // the tests do not pull the plug
    options.clock = clock_;
    auto opened = Store::Open(dir_.Sub("store"), options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened.value());
  }

  // Registers `type` as an FnJob running `body`.
  void RegisterFn(const std::string& type, FnJob::Body body, bool allow_retries = true,
                  uint32_t work_items = 1) {
    Status s = registry_.Register(type, [=](const ClaimedJob& job) -> Result<std::unique_ptr<Job>> {
      return std::unique_ptr<Job>(std::make_unique<FnJob>(body, job, allow_retries, work_items));
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Registers `type` as a job that succeeds and counts its runs in `runs` (when given).
  void RegisterOk(const std::string& type, std::atomic<int>* runs = nullptr) {
    RegisterFn(type, [runs](const ClaimedJob&, JobContext&) {
      if (runs) ++*runs;
      return Status::OK();
    });
  }

  // Pushes `n` jobs of `type` with `params`; returns their ids.
  std::vector<JobId> Push(const std::string& type, int n, const std::string& params = "",
                          const std::string& domain = "") {
    std::vector<JobSpec> specs(n, JobSpec{.type = type, .domain = domain, .params = params});
    auto pushed = store_->Push(specs);
    EXPECT_TRUE(pushed.ok()) << pushed.status().ToString();
    return pushed.ok() ? pushed->ids : std::vector<JobId>{};
  }

  QueueCounts Counts(const std::string& type, const std::string& domain = "") {
    auto counts = store_->Counts({domain, type});
    EXPECT_TRUE(counts.ok()) << counts.status().ToString();
    return counts.ok() ? *counts : QueueCounts{};
  }

  static QueueCounts Ready(uint64_t n) { return {.ready = n}; }

  RunReport RunJobs(RunnerOptions options = {}) {
    return Runner(store_.get(), &registry_, std::move(options)).Run();
  }

  TempDir dir_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  std::unique_ptr<Store> store_;
  JobRegistry registry_;
};

}  // namespace jobstore::testing
