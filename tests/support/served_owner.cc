// A served store's owner for tests that need it in a process of its own (to SIGKILL it, or to
// run the conformance suite across processes): opens the RocksDB store DIR on a clock shared
// through CLOCK_FILE (shared_clock.h) and serves it on DIR/jobstore.sock.
//
//   jobstore_served_owner DIR CLOCK_FILE [durability=power|process] [read_only=1]
//                         [maintenance_interval_ms=N] [maintenance_batch=N] [max_params_bytes=N]
//
// Prints "ready ADDRESS" on stdout once it serves. Stops cleanly (calls in flight finish, the
// store closes) on SIGTERM or SIGINT, or when its stdin ends (the test that started it is
// gone). Exit codes: 0 stopped, 3 bad usage or the store did not open or serve.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "jobstore/rocksdb_store.h"
#include "jobstore/serve.h"
#include "support/shared_clock.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DIR CLOCK_FILE [key=value...]\n", argv[0]);
    return 3;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  const std::string dir = argv[1];
  auto page = jobstore::testing::SharedClockPage::Map(argv[2]);
  if (!page) {
    std::fprintf(stderr, "served owner: cannot map %s\n", argv[2]);
    return 3;
  }
  jobstore::Options options;
  options.clock = std::make_shared<jobstore::testing::PageClock>(page);
  options.durability = jobstore::Durability::kProcessCrash;
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string key = arg.substr(0, eq), value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (key == "durability") {
      options.durability = value == "power" ? jobstore::Durability::kPowerLoss
                                            : jobstore::Durability::kProcessCrash;
    } else if (key == "read_only") {
      options.read_only = value == "1";
    } else if (key == "maintenance_interval_ms") {
      options.maintenance_interval_ms = std::strtoll(value.c_str(), nullptr, 10);
    } else if (key == "maintenance_batch") {
      options.maintenance_batch = std::strtoull(value.c_str(), nullptr, 10);
    } else if (key == "max_params_bytes") {
      options.max_params_bytes = std::strtoull(value.c_str(), nullptr, 10);
    } else {
      std::fprintf(stderr, "served owner: unknown option %s\n", arg.c_str());
      return 3;
    }
  }
  auto store = jobstore::RocksDb::Open(dir, options);
  if (!store.ok()) {
    std::fprintf(stderr, "served owner: open %s: %s\n", dir.c_str(), store.status().ToString().c_str());
    return 3;
  }
  jobstore::ServeOptions serve;
  serve.listen = {"unix:" + jobstore::ServedSocketPath(dir)};
  auto server = jobstore::StoreServer::Start(store->get(), serve);
  if (!server.ok()) {
    std::fprintf(stderr, "served owner: %s\n", server.status().ToString().c_str());
    return 3;
  }
  std::printf("ready %s\n", (*server)->addresses().at(0).c_str());
  std::fflush(stdout);
  // The test's end of stdin closes when the test is gone: stop then too.
  std::thread([] {
    char c;
    while (read(0, &c, 1) > 0) {
    }
    kill(getpid(), SIGTERM);
  }).detach();
  int sig = 0;
  while (sigwait(&stop, &sig) != 0) {
  }
  (*server)->Stop();
  server->reset();
  store->reset();
  return 0;
}
