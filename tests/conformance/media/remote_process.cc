// The conformance suite on the served store across processes: the owner is a process of its
// own (jobstore_served_owner) holding a RocksDB store in the test's scratch directory, and the
// store under test is a client in this process. The suite's manual clock lives here, so the
// owner reads it from a shared page, brought up to date before every call (shared_clock.h). A
// reopen stops the owner cleanly and starts a new one on the same directory: persistent.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conformance/conformance.h"
#include "jobstore/serve.h"
#include "support/shared_clock.h"

#ifndef JOBSTORE_SERVED_OWNER
#error "JOBSTORE_SERVED_OWNER must name the served owner executable"
#endif

extern char** environ;

namespace jobstore::testing {
namespace {

class OwnerProcessInstance : public MediumInstance {
 public:
  explicit OwnerProcessInstance(std::string dir)
      : dir_(std::move(dir)), page_(SharedClockPage::Map(dir_ + "/clock")) {}
  ~OwnerProcessInstance() override { Stop(); }

  Result<std::unique_ptr<Store>> Open(const Options& options) override {
    Stop();
    if (!page_) return Status::IOError("cannot map the shared clock page");
    if (options.clock) page_->Set(options.clock->NowMs());
    std::vector<std::string> args = {
        JOBSTORE_SERVED_OWNER, dir_ + "/store", dir_ + "/clock",
        options.durability == Durability::kPowerLoss ? "durability=power" : "durability=process",
        "read_only=" + std::string(options.read_only ? "1" : "0"),
        "maintenance_interval_ms=" + std::to_string(options.maintenance_interval_ms),
        "maintenance_batch=" + std::to_string(options.maintenance_batch),
        "max_params_bytes=" + std::to_string(options.max_params_bytes)};
    Status started = Spawn(args);
    if (!started.ok()) return started;
    auto client = Store::Open("unix:" + ServedSocketPath(dir_ + "/store"), options);
    if (!client.ok()) return client.status();
    return std::unique_ptr<Store>(std::make_unique<ClockSyncStore>(
        std::move(client).value(), options.clock ? options.clock : SystemClock(), page_));
  }

 private:
  Status Spawn(const std::vector<std::string>& args) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
      return Status::IOError("pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::vector<std::string> a = args;
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, JOBSTORE_SERVED_OWNER, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    if (rc != 0) {
      close(out[0]);
      pid_ = -1;
      return Status::IOError("cannot start the served owner");
    }
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    if (line.rfind("ready ", 0) != 0) return Status::IOError("the served owner did not start");
    return Status::OK();
  }

  // A clean stop: its stdin ends, it finishes its calls and closes the store.
  void Stop() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
    if (pid_ > 0) {
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    pid_ = -1;
  }

  const std::string dir_;
  std::shared_ptr<SharedClockPage> page_;
  pid_t pid_ = -1;
  int stdin_ = -1;
};

const RegisterMedium kRemoteProcess({
    .name = "RemoteProcess",
    .persistent = true,
    .make = [](const std::string& scratch) -> std::unique_ptr<MediumInstance> {
      return std::make_unique<OwnerProcessInstance>(scratch);
    },
    .load = 0.34,
    // The owner's policy decides and is observed; a client sees only what its calls return.
    .policy_here = false,
});

}  // namespace
}  // namespace jobstore::testing
