// What every command shares: the global options, opening the store, errors and exit codes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "jobstore/clock.h"
#include "jobstore/status.h"
#include "jobstore/store.h"

namespace jobstore::cli {

// Exit status of the tool (the contract of issue 6).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the store or the system failed, a check found problems
inline constexpr int kExitUsage = 2;    // bad usage or bad input

// Thrown by commands; main() prints "jobstore: <message>" on stderr and exits with `code`.
struct CliError {
  int code;
  std::string message;
};
[[noreturn]] void UsageError(std::string message);
[[noreturn]] void Failure(std::string message);
// Turns a failed Status into a CliError. `what` names the operation ("ack job 5").
// InvalidArgument is bad input (exit 2); Busy becomes "store in use by process N".
[[noreturn]] void FailStatus(const Status& status, const std::string& what);

// "store in use by process N: ..." from a Busy status (the pid is the first number in it).
std::string BusyMessage(const Status& status);

class Context {
 public:
  Context();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Global options, filled by the parser.
  std::string store_flag;
  bool json = false;

  // --store, else $JOBSTORE_DIR, else ./jobstore-data.
  std::string StoreDir() const;

  // The store opened for writing; fails at once (exit 1) when it does not exist or another
  // process holds it. Opened once per run.
  Store& Writer();
  // Creates the store when absent (init). Returns true when it was created now.
  bool Create();
  // The store opened for reading: the primary (read-only) when free, else a secondary view
  // with a scratch directory under the system temp dir, removed at exit.
  Store& Reader();

  // Whether Reader() opened a secondary view, and its private scratch directory (a place for
  // other temporary files too; removed at exit).
  bool IsSecondary() const { return !scratch_dir_.empty(); }
  const std::string& scratch_dir() const { return scratch_dir_; }

  // Now, in milliseconds since the epoch. $JOBSTORE_TEST_NOW_MS pins it (for tests and
  // reproducible docs); the store is then opened on the same fixed clock.
  int64_t NowMs() const { return clock_->NowMs(); }

 private:
  Options BaseOptions() const;
  void RequireExistingStore() const;

  std::shared_ptr<Clock> clock_;
  std::unique_ptr<Store> store_;
  std::string scratch_dir_;
};

}  // namespace jobstore::cli
