// The binary key layout (docs/DESIGN.md §3). Integers are fixed-width big-endian so that bytewise
// order is numeric order. Inside a type's column family every key but `S` starts with a
// one-byte tag and the 4-byte domain id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "jobstore/types.h"

namespace jobstore::keys {

// Tags inside a type's column family.
inline constexpr char kJob = 'J';        // J dom id            -> JobRecord
inline constexpr char kReady = 'R';      // R dom rank seq id   -> StateEntry
inline constexpr char kClaimed = 'C';    // C dom deadline id   -> StateEntry
inline constexpr char kDelayed = 'D';    // D dom release id    -> StateEntry
inline constexpr char kAbandoned = 'A';  // A dom abandoned id  -> StateEntry
inline constexpr char kDedup = 'U';      // U dom sha256        -> id
inline constexpr char kRoot = 'O';       // O dom signature     -> be64 newest root ts (merge max)
inline constexpr char kCounts = 'N';     // N dom               -> 4 x int64 LE (merge add; records.h)
inline constexpr char kSettings = 'S';   // S                   -> TypeSettings
inline constexpr char kCursor = 'P';     // P dom               -> R key claims resume from; written
                                         //                        at a clean close, deleted at open

// Keys in the default column family.
inline constexpr char kVersion = 'V';    // V           -> be32 schema version
inline constexpr char kHighWater = 'H';  // H           -> be64 largest job id ever committed (merge max)
inline constexpr char kDomain = 'M';     // M name      -> be32 domain id

inline constexpr size_t kJobKeySize = 1 + 4 + 8;
inline constexpr size_t kReadyKeySize = 1 + 4 + 4 + 8 + 8;
inline constexpr size_t kTimedKeySize = 1 + 4 + 8 + 8;  // C, D, A

void PutBE32(std::string* out, uint32_t v);
void PutBE64(std::string* out, uint64_t v);
uint32_t GetBE32(const char* p);
// An 8-byte big-endian value, as stored for ids and timestamps merged by maximum.
inline std::string BE64(uint64_t v) {
  std::string s;
  PutBE64(&s, v);
  return s;
}
uint64_t GetBE64(const char* p);

// A time as an unsigned key component: negative times clamp to 0.
inline uint64_t TimeKey(int64_t ms) { return ms < 0 ? 0 : static_cast<uint64_t>(ms); }

// The 5-byte prefix of one tag in one domain.
std::string Prefix(char tag, uint32_t domain);
// The first key after every key starting with `prefix`.
std::string PrefixEnd(std::string prefix);
// The smallest key greater than `key`.
inline std::string Successor(std::string key) { key.push_back('\0'); return key; }

std::string JobKey(uint32_t domain, JobId id);
std::string ReadyKey(uint32_t domain, uint32_t rank, uint64_t seq, JobId id);
// C, D and A keys: tag, domain, time, id.
std::string TimedKey(char tag, uint32_t domain, int64_t time_ms, JobId id);
std::string DedupKey(uint32_t domain, std::string_view hash);
std::string RootKey(uint32_t domain, std::string_view signature);
std::string CountsKey(uint32_t domain);
std::string CursorKey(uint32_t domain);
std::string SettingsKey();
std::string DomainKey(std::string_view name);

// The job id at the end of a J, R, C, D or A key.
inline JobId IdOf(std::string_view key) { return GetBE64(key.data() + key.size() - 8); }
// The domain of any tagged key in a type's column family.
inline uint32_t DomainOf(std::string_view key) { return GetBE32(key.data() + 1); }
// The time of a C, D or A key.
inline int64_t TimeOf(std::string_view key) { return static_cast<int64_t>(GetBE64(key.data() + 5)); }

// Ready-order rank: higher priority sorts first under `priority`; otherwise every job ranks 0.
uint32_t RankFor(Order order, int32_t priority);

// Column family name of a job type.
std::string TypeFamilyName(std::string_view type);
// The type of a column family, or empty if the family is not a type's.
std::string TypeOfFamily(std::string_view family);

std::string Hex(std::string_view bytes);
bool Unhex(std::string_view hex, std::string* out);

}  // namespace jobstore::keys
