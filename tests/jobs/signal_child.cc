// The child process of signal_test.cc: opens the store, runs a Runner with signal handling
// on two threads, and writes what it did to a report file.
//
//   jobs_signal_child <store dir> <report file> <started fd>
//
// Each "block" job writes one byte to <started fd> and then waits for the runner's stop
// request; the parent sends the signal only after it has read a byte per thread, so the
// signal always finds every thread with a job in hand. Exit status 0 when the run ended
// with "signal".

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "jobstore/registry.h"
#include "jobstore/runner.h"
#include "jobstore/store.h"

namespace {

class BlockJob final : public jobstore::Job {
 public:
  BlockJob(const jobstore::ClaimedJob&, int started_fd) : started_fd_(started_fd) {}
  jobstore::Status Run(jobstore::JobContext& ctx) override {
    const char byte = 'S';
    if (write(started_fd_, &byte, 1) != 1) return jobstore::Status::IOError("started pipe");
    ctx.WaitForStop(-1);  // a job in hand when the signal comes
    return jobstore::Status::OK();
  }

 private:
  int started_fd_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <store dir> <report file> <started fd>\n", argv[0]);
    return 2;
  }
  const int started_fd = std::atoi(argv[3]);
  // Block SIGINT/SIGTERM before any thread exists, so every thread (RocksDB's included)
  // inherits the mask and only the runner's signal thread, which unblocks them, takes them.
  // Without this, under ThreadSanitizer, a signal landing on a RocksDB thread idle in an
  // uninstrumented wait is deferred forever and the run never stops.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  jobstore::Options options;
  options.create_if_missing = false;
  auto store = jobstore::Store::Open(argv[1], options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 2;
  }
  jobstore::JobRegistry registry;
  jobstore::Status registered =
      registry.Register("block", [started_fd](const jobstore::ClaimedJob& job)
                                     -> jobstore::Result<std::unique_ptr<jobstore::Job>> {
        return std::unique_ptr<jobstore::Job>(std::make_unique<BlockJob>(job, started_fd));
      });
  if (!registered.ok()) {
    std::fprintf(stderr, "register: %s\n", registered.ToString().c_str());
    return 2;
  }
  jobstore::RunnerOptions run_options;
  run_options.threads = 2;
  run_options.handle_signals = true;
  jobstore::RunReport report = jobstore::Runner(store->get(), &registry, run_options).Run();

  std::ofstream out(argv[2]);
  out << jobstore::StopReasonName(report.reason) << "\n";
  for (const jobstore::JobResult& r : report.results) {
    out << r.id << " " << (r.ok ? "ok" : "failed:" + r.error) << "\n";
  }
  out.close();
  return report.reason == jobstore::StopReason::kSignal ? 0 : 1;
}
