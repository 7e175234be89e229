// Store: the queue contract. One interface whatever the storage medium: RocksDB (embedded, the
// default), memory, a served store, Redis, SQL, or a config that routes each type to one of them.
//
//   auto store = jobstore::Store::Open("/var/lib/app/jobs");
//   if (!store.ok()) { ... store.status().ToString() ... }
//   (*store)->Push({{.type = "email", .params = "{...}"}});
//   auto jobs = (*store)->Claim({"", "email"}, 16);
//   for (auto& job : *jobs) { run(job.params); (void)(*store)->Ack(job.claim); }
//
// Delivery is at-least-once: an accepted job is never lost; one whose claim expires runs again.
// Every method is thread-safe and returns a Status or a Result: a remote medium can fail
// anywhere (Unavailable, DeadlineExceeded), and every failure says what went wrong.
//
// The policy (validation, limits, the retry-or-abandon decision, root-job rules, read-only) is
// applied once, above the media (backend.h): every medium behaves the same, which one
// conformance suite proves.
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

class Backend;

class Store {
 public:
  // Opens the store at `address`:
  //   a path (DIR, ./DIR, /abs/DIR)  RocksDB, embedded (the default medium)
  //   memory: or memory:NAME         in this process's memory only; NAME is a label for tools
  //   unix:PATH, tcp:HOST:PORT       a served store (`jobstore serve`)
  //   redis://HOST:PORT/DB?prefix=P, redis+unix:PATH?db=N&prefix=P   Redis
  //   sqlite:PATH, postgresql://...  SQL
  // NotSupported names a scheme this build does not serve; InvalidArgument a malformed
  // address. A RocksDB path fails, touching nothing, when the directory holds something that is
  // not a store (InvalidArgument), a store of a newer schema (NotSupported), or a store that
  // another process has open (Busy, with the holder's pid).
  static Result<std::unique_ptr<Store>> Open(const std::string& address,
                                             const Options& options = {});

  // A Store that applies the contract's policy over `backend` (a medium of your own).
  static std::unique_ptr<Store> Over(std::unique_ptr<Backend> backend, const Options& options);

  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Jobs -------------------------------------------------------------------------------

  // Pushes a batch of jobs of any types and domains. Atomic as capabilities().push_atomicity
  // says: all are accepted or none (on a routed store, within each medium, and the error names
  // the jobs that were accepted). Types and domains are created on first use. Dedup specs
  // identical to a queued job (or to an earlier spec in the batch, which is kept) are dropped
  // and reported. Returns the ids. An empty batch is a no-op (but still fails when read-only).
  virtual Result<PushResult> Push(const std::vector<JobSpec>& jobs) = 0;

  // Puts jobs back as a backup holds them (List and Inspect describe them; `jobstore import`
  // reads an export): each enters the state it had, with its id, attempts, priority, enqueue
  // and release times, last error, abandon time, root fields and dedup flag. A claimed job
  // enters ready with its attempts (its lease died with the old store); id 0 gets a new id.
  // A job whose id its queue already holds is not restored: it is reported as a duplicate
  // with that id, so restoring one backup twice adds nothing. Ids restored beyond the store's
  // counter move it past them, so later pushes never take one. A job with a root signature
  // registers its root timestamp (newest wins). A queued dedup job takes its hash when no
  // queued job of its queue holds it; otherwise it is restored without it (a restore never
  // drops a job). Atomic as Push. A corrupt job, a state or time out of range, or an id twice
  // in one queue is refused (InvalidArgument) and nothing is restored.
  virtual Result<PushResult> Restore(const std::vector<JobInfo>& jobs) = 0;

  // Claims up to `max_jobs` (at most 10,000) ready jobs of one queue, in the type's order. Each
  // moves to the claimed set with attempts + 1 and a fresh token, leased for `ttl_ms` (default:
  // the type's claim TTL; 0 = never expires). Returns an empty vector when nothing is ready. No
  // two callers ever receive the same claim. A job whose record is corrupt is moved to
  // abandoned with the error, never returned.
  virtual Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs,
                                                std::optional<int64_t> ttl_ms = {}) = 0;

  // Claims up to `max_jobs` ready jobs from the ready queues `filter` allows, in one call: a
  // queue is picked uniformly at random among them (PickReadyQueue) and claimed from as Claim
  // does; if it runs out before `max_jobs`, another is picked. When none is ready, waits up to
  // `wait_ms` of real time for one (0: returns at once). Returns an empty vector when nothing
  // was ready in time.
  virtual Result<std::vector<ClaimedJob>> ClaimAny(const ReadyFilter& filter, size_t max_jobs,
                                                   std::optional<int64_t> ttl_ms = {},
                                                   int64_t wait_ms = 0) = 0;

  // Removes a claimed job. StaleToken when the claim was reclaimed (the job is still in the
  // store, maybe claimed by someone else); NotFound when the job is gone. Either changes nothing.
  virtual Status Ack(const jobstore::Claim& claim) = 0;
  // Acks many claims in one write. The outer Result fails only when nothing could be tried
  // (read-only, medium unreachable); otherwise one Status per claim, and the valid ones are
  // acked. A job listed twice gets InvalidArgument for the second listing.
  virtual Result<std::vector<Status>> AckMany(const std::vector<jobstore::Claim>& claims) = 0;

  // A worker's loop in one call: acks `done` as AckMany does, then claims as ClaimAny does
  // (the acks are applied before the claim waits). On a served store that is one round trip
  // instead of two, which is most of a one-at-a-time worker's cost; on RocksDB the acks and a
  // claim from one queue are one write; on the other media it is AckMany then ClaimAny. The
  // outer Result fails only when nothing was done: the acks could not be tried (read-only,
  // medium unreachable; nothing was claimed either), or `done` was empty and the claim failed.
  // Otherwise `acked` holds one Status per claim and `claimed` the claim's Result.
  virtual Result<AckedThenClaimed> AckThenClaimAny(const std::vector<jobstore::Claim>& done,
                                                   const ReadyFilter& filter, size_t max_jobs,
                                                   std::optional<int64_t> ttl_ms = {},
                                                   int64_t wait_ms = 0);

  // Gives a claimed job back before its TTL. With an empty `error` it returns to ready (or to
  // delayed when delay_ms > 0) whatever its attempts. With an error (a failed run) the error
  // is recorded and the job is retried the same way only if its type allows retries and
  // attempts < max_tries; otherwise it is abandoned. Returns where the job went, and why when
  // it was abandoned. StaleToken / NotFound as Ack.
  virtual Result<Released> Release(const jobstore::Claim& claim, int64_t delay_ms = 0,
                                   const std::string& error = "") = 0;

  // Extends a lease to now + ttl_ms (default: the type's claim TTL). Returns the new token,
  // which replaces the old one.
  virtual Result<ClaimToken> Touch(const jobstore::Claim& claim,
                                   std::optional<int64_t> ttl_ms = {}) = 0;

  // An operator's release of a claimed job without its token (its worker died holding a long
  // lease): the job returns to ready with its attempts, and the old token becomes stale.
  // NotFound when the job is not in the queue; InvalidArgument, naming its state, when it is
  // not claimed.
  virtual Status ForceRelease(const QueueRef& queue, JobId id) = 0;

  // Moves every abandoned job of the queue back to ready with attempts reset, atomically.
  // Returns how many moved.
  virtual Result<uint64_t> RepushAbandoned(const QueueRef& queue) = 0;
  // Moves one abandoned job back to ready with attempts reset. NotFound when the job is not in
  // the queue; InvalidArgument, naming its state, when it is not abandoned.
  virtual Status RetryJob(const QueueRef& queue, JobId id) = 0;
  // Removes one job in whatever state it is. A claimed job's token becomes stale (an ack then
  // gets NotFound). NotFound when the job is not in the queue.
  virtual Status DeleteJob(const QueueRef& queue, JobId id) = 0;

  // Removes every job of the queue in every state.
  virtual Status Clear(const QueueRef& queue) = 0;

  // One maintenance pass over every queue (docs/DESIGN.md §7): promote due delayed jobs, reclaim
  // expired claims, prune abandoned jobs past retention, expire root-job registrations.
  // Bounded work per queue and category; report.more says another pass has work.
  virtual Result<MaintenanceReport> Maintain() = 0;

  // --- Inspection -------------------------------------------------------------------------

  // Exact counts of one queue (zeros for a queue never used).
  virtual Result<QueueCounts> Counts(const QueueRef& queue) = 0;
  // Every queue that has ever held a job, with its counts, sorted by (domain, type).
  virtual Result<std::vector<QueueStats>> Queues() = 0;
  // Jobs of one queue in one state, in that state's order, `limit` (1..100,000) at a time.
  virtual Result<ListPage> List(const QueueRef& queue, JobState state,
                                const std::string& cursor, size_t limit) = 0;
  // One job by id, in whatever state it is. NotFound when it is not in the queue.
  virtual Result<JobInfo> Inspect(const QueueRef& queue, JobId id) = 0;
  // Verifies every invariant against what is really stored: each job in exactly one state,
  // counts equal to the jobs, ready index equal to the queues with ready jobs, records decode.
  // Returns the violations (empty = healthy).
  virtual Result<std::vector<std::string>> Check() = 0;

  // --- The ready index (MediaWiki's aggregator, exact) --------------------------------------

  // Every queue with at least one ready job, sorted by (domain, type).
  virtual Result<std::vector<QueueRef>> ReadyQueues() = 0;
  // A ready queue chosen uniformly at random among those the filter allows; nullopt if none.
  virtual Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter = {}) = 0;
  // A number that changes whenever a queue gains ready jobs. WaitForReady(epoch, ms) returns
  // once it differs from `epoch`, after `max_wait_ms` of real time, or when the store closes.
  virtual Result<uint64_t> ReadyEpoch() = 0;
  virtual Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) = 0;

  // --- Types and the store ----------------------------------------------------------------

  // Settings of a type (defaults for a type never configured).
  virtual Result<TypeSettings> GetTypeSettings(const std::string& type) = 0;
  // Persists a type's settings, creating the type if needed. Applies to later operations.
  virtual Status SetTypeSettings(const std::string& type, const TypeSettings& settings) = 0;
  // Every type the store knows, sorted.
  virtual Result<std::vector<std::string>> Types() = 0;

  // Switches read-only mode at runtime (a read-only medium, such as a RocksDB secondary view,
  // stays read-only).
  virtual void SetReadOnly(bool read_only) = 0;
  virtual bool IsReadOnly() const = 0;

  // What this medium guarantees (types.h).
  virtual Capabilities capabilities() const = 0;
  virtual const Options& options() const = 0;
  // The medium under the policy layer, for medium-specific operations (rocksdb_store.h); null
  // for a store that is not one medium (remote, routed).
  virtual Backend* backend() = 0;

 protected:
  Store() = default;
};

}  // namespace jobstore
