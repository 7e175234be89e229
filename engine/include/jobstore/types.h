// The values that cross the Store API: job specs, claims, counts, settings, listings, and the
// capabilities a storage medium declares.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jobstore/status.h"

namespace jobstore {

using JobId = uint64_t;

// A queue is one (domain, type) pair. The domain is a tenant inside the store; "" is the
// default domain.
struct QueueRef {
  std::string domain;
  std::string type;
  bool operator==(const QueueRef&) const = default;
};

// Limits on names, checked by every entry point.
inline constexpr size_t kMaxTypeNameBytes = 64;    // [A-Za-z0-9_.-], not empty
inline constexpr size_t kMaxDomainNameBytes = 64;  // [A-Za-z0-9_.:-], may be empty
inline constexpr size_t kMaxRootSignatureBytes = 128;
inline constexpr int32_t kMinPriority = -1'000'000;
inline constexpr int32_t kMaxPriority = 1'000'000;
// Bounds of one call, the same on every medium and on the wire.
inline constexpr size_t kMaxPushBatch = 100'000;   // jobs in one Push
inline constexpr size_t kMaxClaimBatch = 10'000;   // jobs in one Claim / ClaimAny / AckMany
inline constexpr size_t kMaxListLimit = 100'000;   // jobs in one List page
inline constexpr size_t kMaxErrorBytes = 4096;     // a recorded error is cut to this

// A job to push.
struct JobSpec {
  std::string type;
  std::string domain;
  std::string params;         // opaque bytes (the CLI stores canonical JSON)
  int32_t priority = 0;       // higher runs first when the type's order is `priority`
  int64_t release_at_ms = 0;  // > now: the job is delayed until then
  bool dedup = false;         // drop it if an identical job is queued (ready or delayed)
  // Root-job supersession: a job whose root timestamp is older than the newest one registered
  // for its signature is returned by Claim as superseded and should be acked unrun.
  std::string root_signature;
  int64_t root_timestamp_ms = 0;
  bool root_is_self = false;  // pushing this job registers (signature, timestamp)
};

struct PushResult {
  // One entry per pushed spec, in order. For a spec dropped as a duplicate, the id of the
  // queued job it duplicates (possibly a spec earlier in the same batch).
  std::vector<JobId> ids;
  // Parallel to ids: true when the spec was dropped as a duplicate.
  std::vector<bool> duplicate;
  size_t pushed = 0;
  size_t duplicates = 0;
};

// A claim's fence. Every claim gets a new one, and a touch that moves the deadline replaces it;
// ack, release and touch must present the current one.
struct ClaimToken {
  int64_t deadline_ms = 0;  // INT64_MAX when the claim never expires
  uint64_t nonce = 0;
  bool operator==(const ClaimToken&) const = default;
  // 32 lowercase hex digits.
  std::string ToString() const;
  static Result<ClaimToken> Parse(const std::string& text);
};

// What ack, release and touch take: which job, and the token proving the claim is current.
struct Claim {
  QueueRef queue;
  JobId id = 0;
  ClaimToken token;
};

// A job handed out by Claim.
struct ClaimedJob {
  Claim claim;
  std::string params;
  uint32_t attempts = 0;  // including this claim
  int32_t priority = 0;
  int64_t enqueued_at_ms = 0;
  std::string root_signature;
  int64_t root_timestamp_ms = 0;
  // A newer root job with the same signature was registered: ack it without running it.
  bool superseded = false;
};

struct QueueCounts {
  uint64_t ready = 0;
  uint64_t claimed = 0;
  uint64_t delayed = 0;
  uint64_t abandoned = 0;
  uint64_t total() const { return ready + claimed + delayed + abandoned; }
  bool operator==(const QueueCounts&) const = default;
};

enum class Order { kFifo, kRandom, kPriority };
const char* OrderName(Order order);
Result<Order> ParseOrder(const std::string& name);

// Per-type settings, persisted in the store.
struct TypeSettings {
  Order order = Order::kFifo;
  int64_t claim_ttl_ms = 3600 * 1000;  // 0 = a claim never expires
  uint32_t max_tries = 3;              // claims a job gets before it is abandoned
  bool retries_allowed = true;         // a failed job is retried (else abandoned at once)
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;     // abandoned jobs are pruned after this
  int64_t root_job_ttl_ms = 28LL * 24 * 3600 * 1000;  // root-job registrations expire after this
  bool operator==(const TypeSettings&) const = default;
};

enum class JobState { kReady, kClaimed, kDelayed, kAbandoned };
const char* JobStateName(JobState state);
Result<JobState> ParseJobState(const std::string& name);

// One job as a listing shows it.
struct JobInfo {
  QueueRef queue;
  JobId id = 0;
  JobState state = JobState::kReady;
  std::string params;
  uint32_t attempts = 0;
  int32_t priority = 0;
  int64_t enqueued_at_ms = 0;
  int64_t release_at_ms = 0;     // delayed: when it becomes ready
  int64_t deadline_ms = 0;       // claimed: when the claim expires
  int64_t claimed_at_ms = 0;     // claimed, abandoned: last claim
  // Claimed: the current claim's token, for an operator's tools (Store::ForceRelease); never
  // shown. {0, 0} when the medium does not report it.
  ClaimToken claim_token;
  int64_t abandoned_at_ms = 0;   // abandoned
  std::string last_error;        // abandoned, or released with an error
  std::string root_signature;
  int64_t root_timestamp_ms = 0;
  bool dedup = false;
  bool corrupt = false;          // the record failed to decode; params are empty
};

// Which ready queues a pick (PickReadyQueue, ClaimAny) may choose from.
struct ReadyFilter {
  std::optional<std::string> domain;  // only this domain (nullopt: any)
  std::vector<std::string> types;     // only these types (empty: any)
  std::vector<std::string> exclude;   // never these types
};

// What Store::AckThenClaimAny did: each ack's outcome, in the order given (as AckMany), then
// the claim's (as ClaimAny). The claim runs whatever the acks' outcomes were.
struct AckedThenClaimed {
  std::vector<Status> acked;
  Result<std::vector<ClaimedJob>> claimed = std::vector<ClaimedJob>{};
};

struct QueueStats {
  QueueRef queue;
  QueueCounts counts;
  // The name of the backend that holds the queue when the store routes types to several
  // media (a config); empty otherwise.
  std::string backend;
};

struct ListPage {
  std::vector<JobInfo> jobs;
  // Pass to the next List call to continue; empty when the listing is complete.
  std::string next_cursor;
};

// What Release did with a claimed job.
struct Released {
  JobState state = JobState::kReady;  // kReady, kDelayed or kAbandoned
  int64_t release_at_ms = 0;          // kDelayed: when it becomes ready
  // kAbandoned: why, e.g. "attempts used up (3 of 3)" or "retries are off for type 'email'".
  std::string reason;
};

// What one Maintain() pass did.
struct MaintenanceReport {
  uint64_t promoted = 0;     // delayed -> ready
  uint64_t reclaimed = 0;    // expired claim -> ready
  uint64_t abandoned = 0;    // expired claim, attempts used up -> abandoned
  uint64_t pruned = 0;       // abandoned past retention -> deleted
  uint64_t roots_expired = 0;
  bool more = false;         // a category hit its per-pass bound; run again
};

}  // namespace jobstore

namespace jobstore {

// How strong each guarantee of the contract is on one storage medium. Every medium supports
// every operation of the contract; these say how far each guarantee reaches, so a program can
// refuse a medium too weak for it (Store::capabilities()).
struct Capabilities {
  // "rocksdb", "memory", "remote", "redis", "sqlite", "postgresql", or "routed" (a config
  // mapping types to several media).
  std::string medium;

  enum class PushAtomicity {
    kWholeBatch,  // a push of any types and domains commits whole or not at all
    kPerBackend,  // routed: whole within each medium; a failure names what was accepted
    kPerQueue,    // whole within each queue (e.g. Redis Cluster: one queue, one slot)
  };
  PushAtomicity push_atomicity = PushAtomicity::kWholeBatch;

  // Counts change in the same atomic step as the jobs: never stale, never approximate.
  bool exact_counts = true;
  // The ready index (ReadyQueues, PickReadyQueue) changes in the same atomic step as the jobs.
  bool exact_ready_index = true;

  // What an acknowledged push survives.
  enum class Durability {
    kNothing,       // kept in this process's memory only: lost when it exits
    kProcessCrash,  // survives kill -9 of any process, not an OS crash or power cut
    kPowerLoss,     // survives an OS crash or power cut (fsynced before the push returns)
    kServerConfig,  // as the server is configured (e.g. Redis appendfsync); see `note`
  };
  Durability push_durability = Durability::kPowerLoss;

  // Several processes (or machines) can use the same store at once.
  bool shared = false;

  // One line for people, e.g. "RocksDB at /var/lib/jobs, WAL fsynced on push".
  std::string note;
};

const char* PushAtomicityName(Capabilities::PushAtomicity atomicity);
const char* DurabilityName(Capabilities::Durability durability);

}  // namespace jobstore
