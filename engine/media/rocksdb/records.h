// Encoding of stored values. Every value is `crc32 (4 bytes LE) + packed Cap'n Proto`: the
// checksum catches flipped bits that would otherwise decode as a plausible record, and the
// packed form reads from RocksDB's unaligned buffers (docs/DESIGN.md §3 rule 5).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "jobstore/status.h"
#include "jobstore/types.h"

namespace jobstore {

struct JobRecord {
  std::string params;
  int64_t enqueued_at_ms = 0;
  int32_t priority = 0;
  int64_t release_at_ms = 0;
  bool dedup = false;
  std::string dedup_hash;
  std::string root_signature;
  int64_t root_timestamp_ms = 0;
  bool root_is_self = false;
};

// Value of a state key (R, C, D, A).
struct StateEntry {
  uint32_t attempts = 0;
  int32_t priority = 0;
  uint32_t order_rank = 0;
  uint64_t order_seq = 0;
  bool owns_dedup = false;
  uint64_t claim_nonce = 0;
  int64_t claimed_at_ms = 0;
  std::string last_error;
  int64_t abandoned_at_ms = 0;
  int64_t last_error_at_ms = 0;
};

std::string EncodeJobRecord(const JobRecord& r);
Status DecodeJobRecord(std::string_view value, JobRecord* out);

std::string EncodeStateEntry(const StateEntry& e);
Status DecodeStateEntry(std::string_view value, StateEntry* out);

std::string EncodeTypeSettings(const TypeSettings& s);
Status DecodeTypeSettings(std::string_view value, TypeSettings* out);

// Persisted per-queue counters, merged by addition. A stored value (what a read returns: the
// result of a merge) is 4 x int64 little-endian, 32 bytes. A merge operand (one write's change)
// is that, or, since schema 2, the short form: kShortCounters, then the four fields as zigzag
// varints, 5 bytes for a claim's ready -1 / claimed +1 instead of 32. Every transition writes
// one operand, and the 32-byte form was a third of the bytes a drain wrote per job.
struct CounterDelta {
  int64_t ready = 0, claimed = 0, delayed = 0, abandoned = 0;
  bool empty() const { return !ready && !claimed && !delayed && !abandoned; }
  CounterDelta& operator+=(const CounterDelta& o) {
    ready += o.ready; claimed += o.claimed; delayed += o.delayed; abandoned += o.abandoned;
    return *this;
  }
};
inline constexpr char kShortCounters = 'v';
// The stored form.
std::string EncodeCounters(const CounterDelta& d);
// The merge operand form: the short one, or the stored one in the rare case it is not
// shorter (so that a 32-byte value is always the stored form).
std::string EncodeCounterDelta(const CounterDelta& d);
// Reads either form; Corruption, naming the problem, for anything else.
Status DecodeCounters(std::string_view value, CounterDelta* out);

// Since schema 3 the persisted counters hold ready + claimed in the ready field and leave the
// claimed field as it was (0 in a store made since): a claim moves a job from ready to claimed
// and so writes no operand, and an ack writes only ready -1. Open counts the queue's claimed
// entries instead. Every memtable entry costs a drain the same whatever its kind, and a claim
// wrote three (its ready key's delete, its claimed key, the operand): a one-at-a-time drain
// spent 11-16% less CPU a job without the claim's (bench/RESULTS.md, ninth session).
inline CounterDelta PersistedDelta(const CounterDelta& d) {
  return {.ready = d.ready + d.claimed, .claimed = 0, .delayed = d.delayed,
          .abandoned = d.abandoned};
}
// The counts from what is persisted and the claimed entries counted; right for a value of any
// schema, since the ready and claimed fields are only ever read as their sum.
inline CounterDelta CountsFromPersisted(const CounterDelta& persisted, int64_t claimed_entries) {
  return {.ready = persisted.ready + persisted.claimed - claimed_entries,
          .claimed = claimed_entries, .delayed = persisted.delayed,
          .abandoned = persisted.abandoned};
}

}  // namespace jobstore
