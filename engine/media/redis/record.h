// The job record, as the Redis medium stores it in its queue's `da` hash (field: the job id),
// written once at push and never rewritten: what changes (attempts, the claim token, when it
// was claimed, the last error) lives in sibling fields of the same hash (scripts.cc).
//
// Fixed-offset big-endian fields, so that the Lua functions read them with string.byte and
// struct.unpack:
//
//   offset size  field
//   0      1     format (1)
//   1      1     flags (kFlag*)
//   2      8     enqueued at, ms
//   10     4     priority (int32)
//   14     8     release at, ms (as pushed; 0: none)
//   22     32    dedup hash                      only with kFlagDedup
//   ..     1+n+8 root signature length, bytes, root timestamp   only with kFlagRoot
//   ..     rest  params
//
// The functions check the same structure (scripts.cc, `bad()`): a record that fails it is
// corrupt, reported by Check and moved to abandoned by the claim that meets it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "jobstore/backend.h"
#include "jobstore/status.h"

namespace jobstore::redis {

inline constexpr uint8_t kRecordFormat = 1;
inline constexpr size_t kFixedBytes = 22;

inline constexpr uint8_t kFlagDedup = 1;           // pushed with dedup (the hash follows)
inline constexpr uint8_t kFlagRoot = 4;            // has a root signature and timestamp
inline constexpr uint8_t kFlagDelayedAtPush = 16;  // entered delayed at push
inline constexpr uint8_t kFlagRootIsSelf = 32;     // registered its root signature at push

struct Record {
  uint8_t flags = 0;
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

// A claim token as the functions hold it: nonce then deadline, eight big-endian bytes each.
std::string TokenBytes(const ClaimToken& token);
// False when `bytes` is not 16 bytes long.
bool ParseToken(std::string_view bytes, ClaimToken* token);

}  // namespace jobstore::redis
