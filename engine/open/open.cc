// Store::Open: the address names the medium.
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "jobstore/address.h"
#include "jobstore/rocksdb_store.h"
#include "jobstore/serve.h"
#include "jobstore/store.h"
#include "memory_backend.h"
#include "redis_open.h"
#include "sql_store.h"
#include "remote.h"

namespace jobstore {
namespace {

// How long Open keeps trying a directory whose holder does not answer on its socket yet: the
// holder may be starting to serve (it opens the store, then listens), closing (it stopped
// serving, RocksDB still flushes), or a short-lived command that does not serve (a push).
// Long enough for all three, short enough that a holder that will never serve is reported
// promptly.
constexpr auto kHeldStoreWait = std::chrono::milliseconds(3000);

bool Alive(int64_t pid) { return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// A directory: open it (and serve it, with Options::serve), or connect to the process that
// holds it and serves it.
Result<std::unique_ptr<Store>> OpenDirectory(const std::string& dir, const Options& options) {
  const auto give_up = std::chrono::steady_clock::now() + kHeldStoreWait;
  auto pause = std::chrono::milliseconds(2);
  for (;;) {
    auto opened = RocksDb::Open(dir, options);
    if (opened.ok()) {
      if (!options.serve) return opened;
      return remote::ServeWhileOpen(std::move(opened).value(), dir);
    }
    if (!opened.status().IsBusy()) return opened.status();
    const int64_t holder = opened.status().holder_pid();
    const std::string socket = ServedSocketPath(dir);
    auto address = Address::Parse("unix:" + socket);
    if (!address.ok()) return address.status();
    auto connected = remote::Connect(*address, options);
    if (connected.ok()) return connected;
    // Anything but "nobody answers" (a peer check, another protocol version) will not change
    // by waiting.
    if (!connected.status().IsUnavailable()) {
      return connected.status().Prefixed("store '" + dir + "' is held by " +
                                         (holder ? "process " + std::to_string(holder)
                                                 : std::string("another process")) +
                                         ", which serves it, but");
    }
    if (std::chrono::steady_clock::now() >= give_up) {
      const std::string who =
          holder ? "process " + std::to_string(holder) : std::string("another process");
      return Status::Busy(
          "store '" + dir + "' is in use by " + who + ", which does not serve it (" +
              connected.status().message() + "); stop " + who +
              ", or have the store served: 'jobstore serve --store " + dir +
              "' and 'jobstore run' serve it, a program opens it with Options::serve",
          holder);
    }
    // A holder that died released the lock: try again at once.
    if (holder == 0 || Alive(holder)) {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(100));
    }
  }
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& address, const Options& options) {
  auto a = Address::Parse(address);
  if (!a.ok()) return a.status();
  switch (a->scheme) {
    case Address::Scheme::kRocksDb: return OpenDirectory(a->rest, options);
    case Address::Scheme::kMemory: return Store::Over(NewMemoryBackend(a->rest), options);
    case Address::Scheme::kUnix:
    case Address::Scheme::kTcp: return remote::Connect(*a, options);
    case Address::Scheme::kRedis:
    case Address::Scheme::kRedisUnix: return OpenRedisStore(*a, options);
    case Address::Scheme::kSqlite: return sql::OpenSqlite(a->rest, options);
    case Address::Scheme::kPostgres: return sql::OpenPostgres(a->rest, options);
  }
  return Status::Internal("unhandled address scheme");
}

}  // namespace jobstore
