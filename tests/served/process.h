// A child process a test starts and keeps running (a server, a worker), with its stdout and
// stderr in files: a busy child never blocks on a full pipe, and the test reads what it wrote.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace jobstore::testing {

class Process {
 public:
  // Starts `path` with `args` (after the program name), `env` added to (or, with an empty
  // value, removed from) this process's environment, in `cwd` (empty: ours). Output goes to
  // `log_prefix`.out and .err.
  Process(const std::string& path, const std::vector<std::string>& args,
          const std::string& log_prefix, const std::map<std::string, std::string>& env = {},
          const std::string& cwd = "");
  // SIGKILLs it if it still runs.
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !exited_; }
  // Waits until its stdout has a line containing `needle` (true), or it exited or `limit`
  // passed (false).
  bool WaitForOutput(const std::string& needle,
                     std::chrono::milliseconds limit = std::chrono::seconds(60));
  void Signal(int sig);
  // Waits for it to exit; returns the wait status (also afterwards).
  int Wait();
  std::string Out() const;
  std::string Err() const;

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::string out_, err_;
};

// Exit code 0?
bool ExitedOk(int wait_status);
// The whole of a file ("" when it cannot be read).
std::string ReadFile(const std::string& path);
// The pid holding the RocksDB lock of store `dir` (0: none).
pid_t LockHolder(const std::string& dir);

}  // namespace jobstore::testing
