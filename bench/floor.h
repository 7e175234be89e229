// The floor: the minimal queue on bare RocksDB that jobstore is measured against.
//   push  = Put J<id> (payload) + Put R<id> (attempts), B jobs per WriteBatch; synced under
//           power-loss, like jobstore's pushes
//   claim = under a mutex, seek a fresh iterator (lower/upper bounds set) from the remembered
//           cursor to the first R key and advance the cursor; then, outside the mutex, one
//           WriteBatch Delete R<id> + Put C<id> (never synced), and Get J<id> (the payload)
//   ack   = one WriteBatch Delete C<id> + Delete J<id> (never synced)
// RocksDB's default options (`rocksdb::Options` with create_if_missing, and the log level at
// WARN: Debian's build logs at DEBUG, which no queue should pay for). `tuned` gives it the
// memtable size and block cache of one jobstore type (RocksDbOptions' defaults), `hint` the
// memtable insert hint jobstore uses: variants to learn from, never the target.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "jobstore/options.h"
#include "jobstore/status.h"

namespace rocksdb {
class DB;
}

namespace jobstore::bench {

// What the workload driver runs as a floor: the minimal queue operations on one medium.
// Thread-safe: the drain's workers call Claim and Ack concurrently.
class Floor {
 public:
  virtual ~Floor() = default;
  // Pushes the payloads as new jobs in one write; appends their ids to `ids` when given.
  virtual Status Push(const std::vector<std::string>& payloads,
                      std::vector<uint64_t>* ids = nullptr) = 0;
  // Claims the next ready job. *found = false when none is ready.
  virtual Status Claim(uint64_t* id, std::string* payload, bool* found) = 0;
  virtual Status Ack(uint64_t id) = 0;
};

class FloorQueue final : public Floor {
 public:
  struct Variant {
    bool tuned = false;  // jobstore's per-type write buffer and block cache sizes
    bool hint = false;   // a per-tag memtable insert hint (engine/media/rocksdb/memtable_hint.h)
  };
  static Status Open(const std::string& path, Durability d, Variant variant,
                     std::unique_ptr<FloorQueue>* out);
  ~FloorQueue() override;

  Status Push(const std::vector<std::string>& payloads,
              std::vector<uint64_t>* ids = nullptr) override;
  Status Claim(uint64_t* id, std::string* payload, bool* found) override;
  Status Ack(uint64_t id) override;

 private:
  FloorQueue() = default;
  rocksdb::DB* db_ = nullptr;
  bool sync_push_ = false;
  uint64_t next_id_ = 0;
  std::mutex mu_;
  std::string cursor_;
};

}  // namespace jobstore::bench
