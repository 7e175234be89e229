// Store: a durable job queue on one RocksDB directory.
//
//   auto store = jobstore::Store::Open(jobstore::Options{}, "/var/lib/app/jobs");
//   if (!store.ok()) { ... store.status().ToString() ... }
//   (*store)->Push({{.type = "email", .params = "{...}"}});
//   auto jobs = (*store)->Claim({"", "email"}, 16);
//   for (auto& job : *jobs) { run(job.params); (*store)->Ack(job.claim); }
//
// Delivery is at-least-once: an accepted job is never lost; one whose claim expires runs
// again. Every method is thread-safe. One process at a time owns a store for writing; others
// can inspect it through OpenSecondary.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jobstore/options.h"
#include "jobstore/status.h"
#include "jobstore/types.h"

namespace jobstore {

// Which ready queues PickReadyQueue may choose from.
struct ReadyFilter {
  std::optional<std::string> domain;     // only this domain
  std::vector<std::string> types;        // only these types (empty = any)
  std::vector<std::string> exclude;      // never these types
};

struct QueueStats {
  QueueRef queue;
  QueueCounts counts;
};

class Store {
 public:
  // Opens the store in `path`, creating it when options.create_if_missing and the directory
  // is absent or empty. Fails, touching nothing, when the directory holds something that is
  // not a store (InvalidArgument), a store of a newer schema (NotSupported), or a store that
  // another process has open (Busy, naming its pid).
  static Result<std::unique_ptr<Store>> Open(const Options& options, const std::string& path);

  // Opens a read-only view of a store that another process may hold for writing (a RocksDB
  // secondary instance; `scratch_dir` holds its private files). Counts, listings and checks
  // work; every write returns ReadOnly. Refresh() catches up with the writer.
  static Result<std::unique_ptr<Store>> OpenSecondary(const Options& options,
                                                      const std::string& path,
                                                      const std::string& scratch_dir);

  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Jobs -------------------------------------------------------------------------------

  // Pushes a batch of jobs of any types and domains, atomically: all are accepted or none.
  // Types and domains are created on first use. Dedup specs identical to a queued job (or to
  // an earlier spec in the batch, which is kept) are dropped and reported. Returns the ids.
  // Under Durability::kPowerLoss the batch is fsynced before this returns. An empty batch is
  // a no-op (but still fails on a read-only store).
  virtual Result<PushResult> Push(const std::vector<JobSpec>& jobs) = 0;

  // Claims up to `max_jobs` ready jobs of one queue, in the type's order. Each moves to the
  // claimed set with attempts + 1 and a fresh token, leased for `ttl_ms` (default: the type's
  // claim TTL; 0 = never expires). Returns an empty vector when nothing is ready. No two
  // callers ever receive the same claim. A job whose record is corrupt is moved to abandoned
  // with the error, never returned.
  virtual Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs,
                                                std::optional<int64_t> ttl_ms = {}) = 0;

  // Removes a claimed job. StaleToken when the claim was reclaimed (the job is still in the
  // store, maybe claimed by someone else); NotFound when the job is gone. Either changes nothing.
  virtual Status Ack(const jobstore::Claim& claim) = 0;
  // Acks many claims in one write. Returns one Status per claim; the valid ones are acked.
  virtual std::vector<Status> AckMany(const std::vector<jobstore::Claim>& claims) = 0;

  // Gives a claimed job back before its TTL. With an empty `error` it returns to ready (or to
  // delayed when delay_ms > 0) whatever its attempts. With an error (a failed run) the error
  // is recorded and the job is retried the same way only if its type allows retries and
  // attempts < max_tries; otherwise it is abandoned.
  virtual Status Release(const jobstore::Claim& claim, int64_t delay_ms = 0,
                         const std::string& error = "") = 0;

  // Extends a lease to now + ttl_ms (default: the type's claim TTL). Returns the new token,
  // which replaces the old one.
  virtual Result<ClaimToken> Touch(const jobstore::Claim& claim,
                                   std::optional<int64_t> ttl_ms = {}) = 0;

  // Moves every abandoned job of the queue back to ready with attempts reset, atomically.
  // Returns how many moved.
  virtual Result<uint64_t> RepushAbandoned(const QueueRef& queue) = 0;

  // Removes every job of the queue in every state.
  virtual Status Clear(const QueueRef& queue) = 0;

  // One maintenance pass over every queue (DESIGN.md §7): promote due delayed jobs, reclaim
  // expired claims, prune abandoned jobs past retention, expire root-job registrations.
  // Bounded work per queue and category; report.more says another pass has work.
  virtual Result<MaintenanceReport> Maintain() = 0;

  // --- Inspection -------------------------------------------------------------------------

  // Exact counts of one queue (zeros for a queue never used).
  virtual Result<QueueCounts> Counts(const QueueRef& queue) = 0;
  // Every queue that has ever held a job, with its counts, sorted by (domain, type).
  virtual std::vector<QueueStats> Queues() = 0;
  // Jobs of one queue in one state, in that state's order, `limit` at a time.
  virtual Result<ListPage> List(const QueueRef& queue, JobState state,
                                const std::string& cursor, size_t limit) = 0;
  // One job by id, in whatever state it is. NotFound when it is not in the store.
  virtual Result<JobInfo> Inspect(const QueueRef& queue, JobId id) = 0;
  // Verifies every invariant against the keys really stored: each job in exactly one state,
  // counts equal to the keys, ready index equal to the queues with ready jobs, records decode.
  // Returns the violations (empty = healthy).
  virtual Result<std::vector<std::string>> Check() = 0;

  // --- The ready index (MediaWiki's aggregator, exact) --------------------------------------

  // Every queue with at least one ready job, sorted.
  virtual std::vector<QueueRef> ReadyQueues() = 0;
  // A ready queue chosen uniformly at random among those the filter allows; nullopt if none.
  virtual std::optional<QueueRef> PickReadyQueue(const ReadyFilter& filter = {}) = 0;
  // A number that changes whenever a queue gains ready jobs. WaitForReady(epoch, ms) returns
  // once it differs from `epoch`, after `max_wait_ms` of real time, or when the store closes.
  virtual uint64_t ReadyEpoch() = 0;
  virtual void WaitForReady(uint64_t epoch, int64_t max_wait_ms) = 0;

  // --- Types and the store ----------------------------------------------------------------

  // Settings of a type (defaults for a type never configured).
  virtual Result<TypeSettings> GetTypeSettings(const std::string& type) = 0;
  // Persists a type's settings, creating the type if needed. Applies to later operations.
  virtual Status SetTypeSettings(const std::string& type, const TypeSettings& settings) = 0;
  // Every type the store knows, sorted.
  virtual std::vector<std::string> Types() = 0;

  // Switches read-only mode at runtime.
  virtual void SetReadOnly(bool read_only) = 0;
  virtual bool IsReadOnly() const = 0;

  // Catches a secondary view up with its writer (no-op on a primary).
  virtual Status Refresh() = 0;
  // Writes a consistent copy of the live store to `dir` (which must not exist).
  virtual Status Checkpoint(const std::string& dir) = 0;

  virtual const Options& options() const = 0;

 protected:
  Store() = default;
};

// The store's on-disk schema version; Open refuses a store with a larger one.
inline constexpr uint32_t kSchemaVersion = 1;

}  // namespace jobstore
