// Options for opening a Store, whatever its medium. What only one medium has (RocksDB's caches
// and write buffers) is in that medium's header (rocksdb_store.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "jobstore/clock.h"
#include "jobstore/observer.h"

namespace jobstore {

// What an acknowledged push survives (docs/DESIGN.md §5) on media that can choose: RocksDB (fsync of
// the WAL), SQLite (synchronous=FULL) and PostgreSQL (synchronous_commit). Claims, acks,
// releases and maintenance are never synced: losing one to a power cut only makes a job run
// again. Store::capabilities() says what the opened medium really guarantees.
enum class Durability {
  kProcessCrash,  // written before push returns, not fsynced: survives kill -9
  kPowerLoss,     // fsynced before push returns: survives an OS crash or power cut
};

struct Options {
  // Create the store if it does not exist (a RocksDB directory absent or empty, a SQL schema
  // not yet created).
  bool create_if_missing = true;
  Durability durability = Durability::kPowerLoss;
  // Refuse every write (push, claim, ack, release, touch, clear, maintain, settings) with
  // Status::ReadOnly. Can also be switched at runtime with Store::SetReadOnly.
  bool read_only = false;
  // Time source for deadlines, delays and retention. Null means the system clock. Remote media
  // (Redis, SQL) take "now" from this clock too, never from the server's. A served store
  // (unix:, tcp:) is the exception: it is one store, so its owner's clock is the only one.
  std::shared_ptr<Clock> clock;

  // Largest params blob a push accepts.
  size_t max_params_bytes = 1u << 20;

  // > 0: a background thread runs Maintain() every this many milliseconds (real time,
  // whatever the clock says) and stops when the store closes.
  int64_t maintenance_interval_ms = 0;
  // Upper bound of each category's work (promote, reclaim, prune, root expiry) per queue in
  // one Maintain() pass.
  size_t maintenance_batch = 1000;

  // Told what the store does (observer.h), e.g. a Metrics for Prometheus. Null: nothing is
  // told, and the hot paths pay one null check. A routed store's backends opened by OpenConfig
  // share it.
  std::shared_ptr<StoreObserver> observer;

  // --- Sharing a store between processes (docs/DESIGN.md §11, serve.h) ---
  // Serve the store to other processes while it is open: Store::Open of a directory then
  // listens on DIR/jobstore.sock (mode 0600; peers must run as this user or as root), and
  // Store::Open of the same directory in another process connects to it instead of failing
  // with Busy. Ignored for other addresses (a served store, Redis and SQL are shared already).
  bool serve = false;
  // For tcp: addresses: the token the server requires (jobstore serve --token-file). A secret:
  // no message or log shows it.
  std::string token;
  // For tcp: addresses: connect over TLS, trusting the PEM certificates in this file (for
  // example the server's own self-signed one) besides the system's. Empty: no TLS.
  std::string tls_ca_file;
  // For redis addresses that name no password: the password to AUTH with (jobstore
  // --redis-password-file). A secret: no message or log shows it.
  std::string redis_password;
};

}  // namespace jobstore
