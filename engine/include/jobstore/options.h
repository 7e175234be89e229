// Options for opening a Store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "jobstore/clock.h"

namespace rocksdb {
class Env;
}

namespace jobstore {

// What an acknowledged push survives (DESIGN.md §5). Claims, acks, releases and maintenance
// are never synced: losing one to a power cut only makes a job run again.
enum class Durability {
  kProcessCrash,  // the WAL is written before push returns, not fsynced: survives kill -9
  kPowerLoss,     // push fsyncs the WAL before returning: survives an OS crash or power cut
};

struct Options {
  // Create the store if the directory does not exist or is empty.
  bool create_if_missing = true;
  Durability durability = Durability::kPowerLoss;
  // Refuse every write (push, claim, ack, release, touch, clear, maintain) with
  // Status::ReadOnly. Can also be switched at runtime with Store::SetReadOnly.
  bool read_only = false;
  // Time source for deadlines, delays and retention. Null means the system clock.
  std::shared_ptr<Clock> clock;

  // Resources shared by every job type's column family, so 1,000 types stay cheap.
  size_t block_cache_bytes = 64u << 20;
  size_t write_buffer_bytes_per_type = 4u << 20;
  size_t total_write_buffer_bytes = 256u << 20;

  // Largest params blob a push accepts.
  size_t max_params_bytes = 1u << 20;

  // > 0: a background thread runs Maintain() every this many milliseconds (real time,
  // whatever the clock says) and stops when the store closes.
  int64_t maintenance_interval_ms = 0;
  // Upper bound of each category's work (promote, reclaim, prune, root expiry) per queue in
  // one Maintain() pass.
  size_t maintenance_batch = 1000;

  // The RocksDB environment to run on; null means the default. Fault-injection tests pass an
  // Env over a FileSystemWrapper that can drop unsynced data or fail writes. Not owned.
  rocksdb::Env* env = nullptr;
};

}  // namespace jobstore
