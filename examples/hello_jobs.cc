// A complete jobstore program: define a job type, push jobs, run them.
//
//   hello_jobs <store dir>
//
// Built with the project and run as a CTest, so this example (quoted in the README) cannot
// rot. Exits 0 when every job ran.

#include <cstdio>
#include <memory>
#include <string>

#include "jobstore/job.h"
#include "jobstore/registry.h"
#include "jobstore/runner.h"
#include "jobstore/store.h"

// 1. A job type: its params arrive with the claimed job, its work goes in Run().
class GreetJob : public jobstore::Job {
 public:
  explicit GreetJob(const jobstore::ClaimedJob& job) : name_(job.params) {}

  jobstore::Status Run(jobstore::JobContext&) override {
    if (name_.empty()) return jobstore::Status::InvalidArgument("nobody to greet");
    std::printf("hello, %s\n", name_.c_str());
    return jobstore::Status::OK();  // OK: the runner acks the job
  }

 private:
  std::string name_;
};

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <store dir>\n", argv[0]);
    return 2;
  }
  auto store = jobstore::Store::Open(argv[1], jobstore::Options{});
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }

  // 2. Push jobs: durable once Push returns.
  auto pushed = (*store)->Push({{.type = "greet", .params = "Ada"},
                                {.type = "greet", .params = "Grace"}});
  if (!pushed.ok()) {
    std::fprintf(stderr, "push: %s\n", pushed.status().ToString().c_str());
    return 1;
  }

  // 3. Run them: register the type, then let a runner claim, run and ack until none is ready.
  jobstore::JobRegistry registry;
  if (jobstore::Status s = registry.Register<GreetJob>("greet"); !s.ok()) {
    std::fprintf(stderr, "register: %s\n", s.ToString().c_str());
    return 1;
  }
  jobstore::RunnerOptions options;
  options.threads = 2;
  jobstore::RunReport report = jobstore::Runner(store->get(), &registry, options).Run();

  std::printf("stopped: %s, %llu ok, %llu failed\n", jobstore::StopReasonName(report.reason),
              static_cast<unsigned long long>(report.succeeded),
              static_cast<unsigned long long>(report.failed));
  return report.reason == jobstore::StopReason::kNoneReady && report.succeeded == 2 ? 0 : 1;
}
