// What every command shares: the global options, opening the store, errors and exit codes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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
// InvalidArgument is bad input (exit 2); Busy names the process holding the store.
[[noreturn]] void FailStatus(const Status& status, const std::string& what);

class Context {
 public:
  Context();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Global options, filled by the parser.
  std::string store_flag;
  std::string config_flag;
  std::string token_file_flag;  // --token-file: the token of a tcp: store, or of `serve`
  std::string tls_ca_flag;      // --tls-ca: trust this certificate for a tcp: store's TLS
  std::string redis_password_file_flag;  // --redis-password-file: AUTH for redis addresses
  bool json = false;
  // Told what the store does (set before the store is opened, e.g. by --http).
  std::shared_ptr<StoreObserver> observer;
  // Writer() serves the store it opens (`jobstore run`): other processes then reach it through
  // this one (Options::serve).
  bool serve = false;

  // The store's address (a directory, memory:, unix:PATH, redis://..., ...): --store, else
  // $JOBSTORE_DIR, else ./jobstore-data. Shown without secrets.
  std::string StoreAddress() const;
  // The routing config: --config, else $JOBSTORE_CONFIG; empty when there is none. With a
  // config, the store is every backend it names, and --store must not be given too.
  std::string ConfigFile() const;
  // What the commands work on, for messages: "store 'ADDRESS'" or "config 'FILE'"; the label
  // alone is the address (without secrets) or the config file.
  std::string StoreName() const;
  std::string StoreLabel() const;
  bool routed() const { return !ConfigFile().empty(); }
  // The files of the store on this machine, as (backend name, path): the directory of a
  // RocksDB store, the file of a SQLite one, each such backend of a config (by its name).
  std::vector<std::pair<std::string, std::string>> DiskPaths() const;
  // Whether the store is a directory (RocksDB), not another address or a config.
  bool IsDirectoryStore() const;

  // The store opened for writing; fails at once (exit 1) when it does not exist or another
  // process holds it. Opened once per run.
  Store& Writer();
  // Opens the store for writing again, the way Writer() does, returning the error instead of
  // exiting: for a runner that reopens a store whose owner went away.
  Result<std::unique_ptr<Store>> OpenWriterAgain() const;
  // The token file: --token-file, else $JOBSTORE_TOKEN_FILE; empty when there is none.
  std::string TokenFile() const;
  // The token in TokenFile() without its trailing newline; empty when there is no file. Fails
  // the command (exit 2) when the file cannot be read or is empty. A secret: never printed.
  std::string Token() const;
  // --redis-password-file, else $JOBSTORE_REDIS_PASSWORD_FILE; empty when neither is given.
  std::string RedisPasswordFile() const;
  // Creates the store when absent (init); a new directory store lets its group read when
  // `group_may_read`. Returns true when it was created now.
  bool Create(bool group_may_read = false);
  // The store opened for reading. A RocksDB directory is read through a secondary view (it never
  // takes the store's lock, so it works while a worker holds the store) with a scratch directory
  // under the system temp dir, removed at exit; any other store is opened read-only.
  Store& Reader();

  // Now, in milliseconds since the epoch. $JOBSTORE_TEST_NOW_MS pins it (for tests and
  // reproducible docs); the store is then opened on the same fixed clock.
  int64_t NowMs() const { return clock_->NowMs(); }
  const std::shared_ptr<Clock>& clock() const { return clock_; }

 private:
  Options BaseOptions() const;
  // Opens the store (or the config's backends) with `options`; fails the command on error.
  std::unique_ptr<Store> OpenWith(const Options& options, const std::string& what);
  // A RocksDB directory that is absent or empty is not a store: say how to create one.
  void RequireExistingStore() const;

  std::shared_ptr<Clock> clock_;
  std::unique_ptr<Store> store_;
  std::string scratch_dir_;
};

}  // namespace jobstore::cli
