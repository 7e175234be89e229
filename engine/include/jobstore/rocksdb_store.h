// The RocksDB medium (the default): what only it has. The queue contract is store.h;
// Store::Open(path) opens a RocksDB store with default RocksDbOptions.
//
//   jobstore::RocksDbOptions tuning;
//   tuning.block_cache_bytes = 256 << 20;
//   auto store = jobstore::RocksDb::Open("/var/lib/app/jobs", {}, tuning);
//   (void)jobstore::RocksDb::Checkpoint(**store, "/backup/jobs-2026-12-01");
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "jobstore/options.h"
#include "jobstore/status.h"
#include "jobstore/store.h"

namespace rocksdb {
class Env;
}

namespace jobstore {

// RocksDB tuning. Resources are shared by every job type's column family, so 1,000 types stay
// cheap: one block cache, and one write-buffer budget that a busy type may use up to its own
// cap while idle types hold almost nothing (a memtable grows in 64 KiB blocks).
struct RocksDbOptions {
  size_t block_cache_bytes = 64u << 20;
  // One type's memtable before it is flushed (RocksDB's default size): a drain of a backlog
  // that fits never flushes or compacts. The budget below bounds the sum over all types.
  size_t write_buffer_bytes_per_type = 64u << 20;
  size_t total_write_buffer_bytes = 256u << 20;
  // A new store's directory is 0750 instead of 0700: its group may read it (files are 0600
  // otherwise). An existing store keeps its directory's mode, which also decides this.
  bool group_may_read = false;
  // The RocksDB environment to run on; null means the default. Fault-injection tests pass an
  // Env over a FileSystemWrapper that can drop unsynced data or fail writes. Not owned.
  rocksdb::Env* env = nullptr;
};

class RocksDb {
 public:
  // Opens the store in directory `path`, creating it when options.create_if_missing and the
  // directory is absent or empty. Fails, touching nothing, when the directory holds something
  // that is not a store (InvalidArgument), a store of a newer schema (NotSupported), or a
  // store that another process has open (Busy, with the holder's pid).
  static Result<std::unique_ptr<Store>> Open(const std::string& path, const Options& options = {},
                                             const RocksDbOptions& rocksdb = {});

  // Opens a read-only view of a store that another process may hold for writing (a RocksDB
  // secondary instance; `scratch_dir` holds its private files). Counts, listings and checks
  // work; every write returns ReadOnly. Refresh() catches up with the writer.
  static Result<std::unique_ptr<Store>> OpenSecondary(const std::string& path,
                                                      const std::string& scratch_dir,
                                                      const Options& options = {},
                                                      const RocksDbOptions& rocksdb = {});

  // Writes a consistent copy of the live store to `dir` (which must not exist).
  // NotSupported when `store` is not a RocksDB store of this process.
  static Status Checkpoint(Store& store, const std::string& dir);

  // Catches a secondary view up with its writer (no-op on a primary), types the writer created
  // since included (the view reopens for them: no other call on the view may be in flight).
  // NotSupported when `store` is not a RocksDB store of this process.
  static Status Refresh(Store& store);
};

// The store's on-disk schema version; Open refuses a store with a larger one and upgrades one
// with a smaller one (2: short counter operands; 3: the claimed count is not persisted but
// counted at open).
inline constexpr uint32_t kSchemaVersion = 3;

}  // namespace jobstore
