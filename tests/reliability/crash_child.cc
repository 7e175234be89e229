// The crash harness's child: opens a store, runs the random workload and reports every
// operation (workload.h) on file descriptor 3, one write() per line, until it is SIGKILLed
// or has done its operations.
//
//   jobstore_crash_child DIR SEED CLOCK_START_MS OPS power|process
//
// Exit codes: 0 done, 2 an operation failed (reported as an "F" line), 3 bad usage or the
// store did not open.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "jobstore/store.h"
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
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s DIR SEED CLOCK_START_MS OPS power|process\n", argv[0]);
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
  auto store = jobstore::Store::Open(dir, options);
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
