// JobRegistry: names, duplicates, and building jobs from claimed records; JobContext.

#include <gtest/gtest.h>

#include <stdexcept>

#include "jobstore/registry.h"

namespace jobstore {
namespace {

class EchoJob final : public Job {
 public:
  explicit EchoJob(const ClaimedJob& job) : params_(job.params) {}
  Status Run(JobContext&) override { return Status::IOError(params_); }

 private:
  std::string params_;
};

ClaimedJob Claimed(const std::string& type, const std::string& params = "") {
  ClaimedJob job;
  job.claim.queue = {"", type};
  job.claim.id = 7;
  job.params = params;
  return job;
}

TEST(JobsRegistry, RegistersAndBuildsWithParams) {
  JobRegistry registry;
  ASSERT_TRUE(registry.Register<EchoJob>("echo").ok());
  EXPECT_TRUE(registry.Contains("echo"));
  EXPECT_FALSE(registry.Contains("other"));
  auto job = registry.Create(Claimed("echo", "hello"));
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  JobContext ctx(nullptr, {});
  EXPECT_EQ((*job)->Run(ctx).message(), "hello");
  EXPECT_TRUE((*job)->allow_retries());
  EXPECT_EQ((*job)->work_item_count(), 1u);
}

TEST(JobsRegistry, RejectsBadNamesDuplicatesAndEmptyFactories) {
  JobRegistry registry;
  EXPECT_TRUE(registry.Register<EchoJob>("").IsInvalidArgument());
  EXPECT_TRUE(registry.Register<EchoJob>("has space").IsInvalidArgument());
  EXPECT_TRUE(registry.Register<EchoJob>(std::string(kMaxTypeNameBytes + 1, 'a')).IsInvalidArgument());
  EXPECT_TRUE(registry.Register<EchoJob>(std::string(kMaxTypeNameBytes, 'a')).ok());
  ASSERT_TRUE(registry.Register<EchoJob>("a.b-c_d").ok());
  Status dup = registry.Register<EchoJob>("a.b-c_d");
  EXPECT_TRUE(dup.IsInvalidArgument());
  EXPECT_NE(dup.message().find("already registered"), std::string::npos);
  EXPECT_TRUE(registry.Register("f", JobFactory()).IsInvalidArgument());
  EXPECT_EQ(registry.Types(), (std::vector<std::string>{"a.b-c_d", std::string(kMaxTypeNameBytes, 'a')}));
}

TEST(JobsRegistry, CreateReportsMissingTypesAndBadFactories) {
  JobRegistry registry;
  EXPECT_TRUE(registry.Create(Claimed("nope")).status().IsNotFound());
  ASSERT_TRUE(registry
                  .Register("null-result",
                            [](const ClaimedJob&) -> Result<std::unique_ptr<Job>> {
                              return std::unique_ptr<Job>();
                            })
                  .ok());
  ASSERT_TRUE(registry
                  .Register("throws",
                            [](const ClaimedJob&) -> Result<std::unique_ptr<Job>> {
                              throw std::runtime_error("bad params");
                            })
                  .ok());
  ASSERT_TRUE(registry
                  .Register("refuses",
                            [](const ClaimedJob&) -> Result<std::unique_ptr<Job>> {
                              return Status::InvalidArgument("params are not JSON");
                            })
                  .ok());
  EXPECT_TRUE(registry.Create(Claimed("null-result")).status().IsInvalidArgument());
  Status thrown = registry.Create(Claimed("throws")).status();
  EXPECT_TRUE(thrown.IsInvalidArgument());
  EXPECT_EQ(thrown.message(), "factory of job type 'throws' threw: bad params");
  EXPECT_EQ(registry.Create(Claimed("refuses")).status().message(), "params are not JSON");
}

TEST(JobsContext, WaitForStopReturnsOnTimeoutOrStop) {
  std::stop_source stop;
  JobContext ctx(nullptr, stop.get_token());
  EXPECT_FALSE(ctx.stop_requested());
  EXPECT_FALSE(ctx.WaitForStop(0));  // times out at once
  stop.request_stop();
  EXPECT_TRUE(ctx.stop_requested());
  EXPECT_TRUE(ctx.WaitForStop(-1));  // no limit, but the stop is already requested
  JobContext never(nullptr, {});     // a default token can never stop
  EXPECT_FALSE(never.WaitForStop(0));
}

}  // namespace
}  // namespace jobstore
