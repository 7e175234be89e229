// The crash harness's child: opens a store, runs the random workload and reports every
// operation (workload.h) on file descriptor 3, one write() per line, until it is SIGKILLed
// or has done its operations.
//
//   jobstore_crash_child DIR SEED CLOCK_START_MS OPS power|process [served CLOCK_FILE]
//
// With "served", the child is a client of the store DIR's owner (jobstore_served_owner, a
// process of its own that the harness SIGKILLs): it connects to DIR/jobstore.sock and keeps
// the owner's clock (CLOCK_FILE) in step with its own before every call.
//
// Exit codes: 0 done, 2 an operation failed (reported as an "F" line), 3 bad usage or the
// store did not open.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "jobstore/serve.h"
#include "jobstore/store.h"
#include "support/shared_clock.h"
#include "reliability/workload.h"

namespace {

void WriteLine(const std::string& line) {
  std::string buf = line + "\n";
  const char* p = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    ssize_t n = write(3, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(4);  // the parent is gone
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool served = argc == 8 && std::string(argv[6]) == "served";
  if (argc != 6 && !served) {
    std::fprintf(stderr, "usage: %s DIR SEED CLOCK_START_MS OPS power|process [served CLOCK_FILE]\n",
                 argv[0]);
    return 3;
  }
  std::string dir = argv[1];
  uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  int64_t start_ms = std::strtoll(argv[3], nullptr, 10);
  size_t ops = std::strtoull(argv[4], nullptr, 10);
  std::string durability = argv[5];

  auto clock = std::make_shared<jobstore::ManualClock>(start_ms);
  jobstore::Options options;
  options.clock = clock;
  options.durability = durability == "power" ? jobstore::Durability::kPowerLoss
                                             : jobstore::Durability::kProcessCrash;
  jobstore::Result<std::unique_ptr<jobstore::Store>> store =
      jobstore::Status::Internal("not opened");
  if (served) {
    auto page = jobstore::testing::SharedClockPage::Map(argv[7]);
    if (!page) {
      std::fprintf(stderr, "crash child: cannot map %s\n", argv[7]);
      return 3;
    }
    page->Set(start_ms);
    auto remote = jobstore::Store::Open("unix:" + jobstore::ServedSocketPath(dir), options);
    if (remote.ok()) {
      store = std::unique_ptr<jobstore::Store>(std::make_unique<jobstore::testing::ClockSyncStore>(
          std::move(remote).value(), clock, page));
    } else {
      store = remote.status();
    }
  } else {
    store = jobstore::Store::Open(dir, options);
  }
  if (!store.ok()) {
    std::fprintf(stderr, "crash child: open %s: %s\n", dir.c_str(),
                 store.status().ToString().c_str());
    return 3;
  }
  jobstore::testing::Workload workload(**store, *clock, seed, WriteLine);
  jobstore::Status s = workload.Configure();
  if (s.ok()) s = workload.Run(ops);
  if (!s.ok()) {
    std::fprintf(stderr, "crash child: %s\n", s.ToString().c_str());
    return 2;
  }
  store->reset();  // a clean close
  WriteLine("# done");
  return 0;
}
