// Pushes, claims and acks one job on the store named by argv[1], and runs one job through a
// Runner: the public headers and the library are all a program needs.
#include <cstdio>

#include "jobstore/job.h"
#include "jobstore/registry.h"
#include "jobstore/runner.h"
#include "jobstore/store.h"

using namespace jobstore;

class Hello final : public Job {
 public:
  Status Run(JobContext&) override { return Status::OK(); }
};

int main(int argc, char** argv) {
  if (argc != 2) return std::fprintf(stderr, "usage: consumer STORE\n"), 2;
  auto store = Store::Open(argv[1]);
  if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
  auto pushed = (*store)->Push({{.type = "hello", .params = "{}"}, {.type = "hello", .params = "{}"}});
  if (!pushed.ok()) return std::fprintf(stderr, "%s\n", pushed.status().ToString().c_str()), 1;
  auto claimed = (*store)->Claim({"", "hello"}, 1);
  if (!claimed.ok() || claimed->size() != 1) return std::fprintf(stderr, "claim failed\n"), 1;
  if (Status s = (*store)->Ack(claimed->front().claim); !s.ok()) {
    return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  }
  JobRegistry registry;
  Status registered = registry.Register("hello", [](const ClaimedJob&) -> Result<std::unique_ptr<Job>> {
    return std::unique_ptr<Job>(std::make_unique<Hello>());
  });
  if (!registered.ok()) return std::fprintf(stderr, "%s\n", registered.ToString().c_str()), 1;
  RunReport report = Runner(store->get(), &registry, {}).Run();
  auto counts = (*store)->Counts({"", "hello"});
  if (!counts.ok()) return std::fprintf(stderr, "%s\n", counts.status().ToString().c_str()), 1;
  std::printf("consumer: pushed %zu, ran %llu, %llu left\n", pushed->ids.size(),
              static_cast<unsigned long long>(report.succeeded),
              static_cast<unsigned long long>(counts->ready + counts->claimed));
  return report.succeeded == 1 && counts->ready + counts->claimed == 0 ? 0 : 1;
}
