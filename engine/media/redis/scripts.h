// The Lua functions of the Redis medium: every operation on the store is one function call
// (FCALL, or FCALL_RO for the reads), so it is atomic; "now" always comes in from the caller.
// The functions form one library (Redis 7 functions), loaded when the server says it lacks it
// ("Function not found") and then kept by the server, in its AOF and RDB and on its replicas.
//
// Key layout (P = the address's prefix; every key carries the hash tag {P}, so a whole store
// is one Redis Cluster slot; a queue's id is "DOMAIN/TYPE"):
//
//   {P}:meta                hash    format version, store id (names the epoch channel)
//   {P}:ids                 string  the last job id handed out (INCRBY), ids are never reused
//   {P}:types               hash    type -> its settings ("order=fifo claim_ttl_ms=...")
//   {P}:queues              set     every queue id that has held a job
//   {P}:ready               set     the queues with ready jobs: the aggregator, exact
//   {P}:epoch               string  bumped whenever a queue gains ready jobs; also PUBLISHed
//                                   on channel {P}:epoch:STOREID to wake WaitForReady
//   {P}:aside               hash    keys and members moved aside because they held what jobstore
//                                   did not write there -> why (Check reports each)
//   {P}:q:QUEUE:rl          list    ready jobs, fifo order (RPUSH at the back, LPOP at the head)
//   {P}:q:QUEUE:rz          zset    ready jobs, priority order (score -priority) or random
//                                   (score random); members are ids zero-padded to 16 digits so
//                                   that equal scores run in id order
//   {P}:q:QUEUE:cl          zset    claimed jobs, score = lease deadline (ms)
//   {P}:q:QUEUE:dl          zset    delayed jobs, score = release time (ms)
//   {P}:q:QUEUE:ab          zset    abandoned jobs, score = when (ms)
//   {P}:q:QUEUE:da          hash    id -> job record (record.h)
//   {P}:q:QUEUE:er          hash    id -> last error
//   {P}:q:QUEUE:dd          hash    dedup hash -> id of the queued job holding it
//   {P}:q:QUEUE:rt          hash    root-job signature -> newest timestamp
//   {P}:q:QUEUE:rtc         string  where the root-registration sweep resumes (HSCAN cursor)
#pragma once

#include <string>
#include <vector>

namespace jobstore::redis {

enum class ScriptId {
  kPush,
  kClaim,
  kAck,
  kPeek,      // settle, step 1: the attempts of a current claim
  kMove,      // settle step 2 and reclaim: move claimed jobs, fenced by their tokens
  kTouch,
  kRepush,
  kRetry,
  kDelete,
  kClear,
  kMaintain,  // promote, prune, sweep roots, and list the expired claims to decide
  kCounts,
  kQueues,
  kList,
  kInspect,
  kCheck,
  kPick,
  kRestore,
};

struct Function {
  std::string name;  // "jobstore_<hash>_claim"
  bool read_only = false;
};

struct Library {
  std::string name;    // "jobstore_<first 16 hex digits of the SHA-1 of its code>"
  std::string source;  // for FUNCTION LOAD
  std::vector<Function> functions;  // indexed by ScriptId

  const Function& Of(ScriptId id) const { return functions[static_cast<size_t>(id)]; }
};

// The library (built once).
const Library& GetLibrary();

}  // namespace jobstore::redis
