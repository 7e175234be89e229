// The job record, as the Redis medium stores it in a queue's `data` hash (job id -> record).
//
// One string per job, written by C++ at push and read by both C++ and the Lua scripts, so the
// format is plain fixed-offset big-endian fields (Lua's struct library reads them):
//
//   offset size  field
//   0      1     format (1)
//   1      1     flags (kFlag*)
//   2      4     attempts                       } the mutable head: a claim, settle or touch
//   6      8     claim nonce (0: not claimed)   } rewrites these 30 bytes and keeps the rest
//   14     8     claim deadline, ms (int64)     }
//   22     8     claimed at, ms (last claim)    }
//   30     8     enqueued at, ms
//   38     4     priority (int32)
//   42     8     release at, ms (0: none)
//   50     32    dedup hash                      only with kFlagDedup
//   ..     1+n+8 root signature length, bytes, root timestamp   only with kFlagRoot
//   ..     rest  params
//
// The scripts check the same structure (scripts.cc, `bad()`): a record that fails it is
// corrupt, reported by Check and moved to abandoned by the claim that meets it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "jobstore/backend.h"
#include "jobstore/status.h"

namespace jobstore::redis {

inline constexpr uint8_t kRecordFormat = 1;
inline constexpr size_t kHeadBytes = 30;
inline constexpr size_t kFixedBytes = 50;

inline constexpr uint8_t kFlagDedup = 1;           // pushed with dedup (the hash follows)
inline constexpr uint8_t kFlagOwnsDedup = 2;       // holds its queue's dedup entry (queued,
                                                   // never claimed)
inline constexpr uint8_t kFlagRoot = 4;            // has a root signature and timestamp
inline constexpr uint8_t kFlagError = 8;           // has an entry in the queue's `errors` hash
inline constexpr uint8_t kFlagDelayedAtPush = 16;  // entered delayed at push
inline constexpr uint8_t kFlagRootIsSelf = 32;     // registered its root signature at push

struct Record {
  uint8_t flags = 0;
  uint32_t attempts = 0;
  uint64_t nonce = 0;
  int64_t deadline_ms = 0;
  int64_t claimed_at_ms = 0;
  int64_t enqueued_at_ms = 0;
  int32_t priority = 0;
  int64_t release_at_ms = 0;
  std::string dedup_hash;
  std::string root_signature;
  int64_t root_timestamp_ms = 0;
  std::string params;
};

// The record of a job being pushed at `now_ms`.
std::string EncodeNew(const NewJob& job, int64_t now_ms);

// Decodes a stored record; Corruption saying what is wrong when it does not decode.
Result<Record> Decode(std::string_view bytes);

// The claim nonce in a record's head (bytes 6..13), readable even when the rest of the record
// does not decode; 0 when the record is shorter than its head.
uint64_t HeadNonce(std::string_view bytes);

// Eight big-endian bytes, as the records and the scripts hold a nonce or a deadline.
std::string Be64(uint64_t v);
// The value of eight big-endian bytes; false when `bytes` is not eight bytes long.
bool FromBe64(std::string_view bytes, uint64_t* v);

}  // namespace jobstore::redis
