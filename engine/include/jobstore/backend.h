// Backend: what a storage medium implements so that the queue contract (store.h) runs on it.
//
// The Store that Store::Open returns applies the policy once, above every medium (MediaWiki's
// `final public` batchPush/pop/ack over `abstract protected` doBatchPush/doPop/doAck): it
// validates input and limits, reads the type's settings, computes deadlines and dedup hashes,
// and decides what becomes of a failed or expired job. A backend only stores: it performs
// each transition atomically in its medium, and does there only what must be atomic there
// (the dedup check and insert, root-job supersession at claim, the token check of ack,
// release and touch, and the retry-or-abandon decision, which it asks of the policy through a
// DecideFn while it holds the job).
//
// Every argument a backend receives has been validated (names, sizes, ranges, batch bounds),
// and every time comes from the caller's clock (`now_ms`): a backend never reads a clock, so
// tests run media on a manual clock. Every method is thread-safe. The conformance suite
// (tests/conformance) is the executable form of this contract: a new medium passes it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "jobstore/status.h"
#include "jobstore/types.h"

namespace jobstore {

// What Store::Restore brings back of a job beyond its spec, validated by the policy layer.
struct RestoredState {
  JobId id = 0;                        // 0: a new id, as a push
  JobState state = JobState::kReady;   // kReady, kDelayed or kAbandoned (never kClaimed)
  uint32_t attempts = 0;
  int64_t enqueued_at_ms = 0;
  int64_t claimed_at_ms = 0;           // kAbandoned: its last claim
  int64_t abandoned_at_ms = 0;         // kAbandoned
  std::string last_error;
};

// One job of a push, checked and prepared by the policy layer.
struct NewJob {
  const JobSpec* spec = nullptr;  // validated; spec->type and spec->domain name the queue
  std::string dedup_hash;         // spec->dedup: SHA-256 of type and params (32 bytes)
  bool delayed = false;           // spec->release_at_ms > now: enters delayed, else ready
  // Set by a restore: the job enters restore->state (`delayed` agrees with it) with its id,
  // attempts, times and last error.
  const RestoredState* restore = nullptr;
};

// Where a claimed job goes when it leaves its claim other than by an ack.
struct Disposition {
  enum class To { kReady, kDelayed, kAbandoned };
  To to = To::kReady;
  int64_t release_at_ms = 0;  // kDelayed: when it becomes ready
  // Recorded as the job's last error (empty: keep the job's last error). For kAbandoned, why.
  std::string error;
};

// The policy's decision for a claimed job that has made `attempts` claims so far. Called by the
// backend while it holds the job (its token verified, nothing else can move it), so the
// decision and the move are one atomic step. Pure: never blocks, never touches a store.
using DecideFn = std::function<Disposition(uint32_t attempts)>;

// One queue's share of a maintenance pass, as the policy planned it from the type's settings.
struct MaintenancePlan {
  int64_t now_ms = 0;
  size_t limit = 1000;  // at most this many jobs per category
  bool promote = true;  // delayed jobs with release time <= now become ready (in release order)
  // Claims with deadline < now are expired: `on_expired` decides each (ready or abandoned).
  bool reclaim = true;
  DecideFn on_expired;
  // Abandoned jobs with abandoned-at < prune_before_ms are deleted (INT64_MIN: none).
  int64_t prune_before_ms = INT64_MIN;
  // Root-job registrations whose newest timestamp < roots_before_ms are deleted (INT64_MIN:
  // none); a backend may walk them round-robin, `limit` per pass.
  int64_t roots_before_ms = INT64_MIN;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // What this medium guarantees (types.h).
  virtual Capabilities capabilities() const = 0;
  // ReadOnly, saying why, when the medium itself cannot write (e.g. a RocksDB secondary view);
  // the policy then refuses every write with it.
  virtual Status Writable() const { return Status::OK(); }

  // --- transitions ------------------------------------------------------------------------

  // Adds `jobs` (no two with the same queue and dedup hash: the policy collapsed those) in one
  // atomic step: each gets a new id, never reused, and enters delayed or ready; a dedup job
  // whose hash a queued (ready or delayed) job of its queue holds is dropped instead, reported
  // with that job's id; a root_is_self job registers (signature -> newest timestamp). Types and
  // domains are created on first use. `now_ms` is the enqueue time. Durable as the medium was
  // opened (Options::durability) before this returns. Returns ids and duplicate flags parallel
  // to `jobs`.
  //
  // A batch is a push or a restore (Store::Restore), never both: either no job has `restore`
  // set or every job has. A restored job keeps restore->id when it is not 0 and moves the id counter
  // past it; when its queue already holds that id it is not written and is reported as a
  // duplicate with that id. It is written in restore->state with its attempts, enqueue time,
  // last error and (abandoned) claim and abandon times. A queued dedup job takes its hash only
  // when no queued job holds it (else it is written without owning it, never dropped); an
  // abandoned one never holds it. The batch may hold restored jobs with the same hash.
  virtual Result<PushResult> Push(const std::vector<NewJob>& jobs, int64_t now_ms) = 0;

  // Takes up to `max_jobs` (>= 1) ready jobs of `queue` in its type's order, atomically: each
  // moves to claimed with attempts + 1, a fresh token {deadline_ms, random nonce}, claimed-at
  // `now_ms`, and gives up its dedup entry. A job with a root signature is `superseded` when
  // a newer timestamp is registered for it, and registers its own when it is newer. A job whose
  // record does not decode is moved to abandoned with the error, never returned. An unknown
  // queue has nothing ready.
  virtual Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs,
                                                int64_t now_ms, int64_t deadline_ms) = 0;

  // Removes the claimed jobs whose token is current; one Status per claim (StaleToken: the job
  // is there under another claim or state; NotFound: the job is gone). The ids are distinct.
  virtual Result<std::vector<Status>> Ack(const std::vector<jobstore::Claim>& claims) = 0;

  // Ack(done), then Claim(queue, max_jobs, now_ms, deadline_ms): what a worker does between
  // two jobs. A medium that can writes both in one atomic step (RocksDB: one write instead of
  // two); the default makes the two calls. The outer Result fails only when the acks could not
  // be tried; otherwise `acked` is Ack's answer and `claimed` Claim's. `done` may be empty.
  virtual Result<AckedThenClaimed> AckThenClaim(const std::vector<jobstore::Claim>& done,
                                                const QueueRef& queue, size_t max_jobs,
                                                int64_t now_ms, int64_t deadline_ms) {
    AckedThenClaimed out;
    if (!done.empty()) {
      auto acked = Ack(done);
      if (!acked.ok()) return acked.status();
      out.acked = std::move(acked).value();
    }
    out.claimed = Claim(queue, max_jobs, now_ms, deadline_ms);
    return out;
  }

  // Moves a claimed job whose token is current to where decide(attempts) says, in one atomic
  // step; the old token becomes stale. StaleToken / NotFound as Ack.
  virtual Status Settle(const jobstore::Claim& claim, int64_t now_ms, const DecideFn& decide) = 0;

  // Moves a current claim's deadline to `deadline_ms`; returns the new token (the old one
  // becomes stale unless the deadline did not change). StaleToken / NotFound as Ack.
  virtual Result<ClaimToken> Touch(const jobstore::Claim& claim, int64_t deadline_ms) = 0;

  // Every abandoned job of the queue back to ready with attempts reset, behind the jobs
  // already ready, atomically. Returns how many.
  virtual Result<uint64_t> RepushAbandoned(const QueueRef& queue) = 0;
  // One abandoned job back to ready with attempts reset. NotFound when it is not in the queue;
  // InvalidArgument naming its state when it is not abandoned.
  virtual Status RetryJob(const QueueRef& queue, JobId id) = 0;
  // Removes one job in whatever state (its dedup entry too). NotFound when it is not there.
  virtual Status DeleteJob(const QueueRef& queue, JobId id) = 0;
  // Removes every job of the queue in every state, with its dedup entries.
  virtual Status Clear(const QueueRef& queue) = 0;

  // Carries out `plan` on one queue and adds what it did to `report` (report->more when a
  // category stopped at plan.limit or left work for later).
  virtual Status Maintain(const QueueRef& queue, const MaintenancePlan& plan,
                          MaintenanceReport* report) = 0;

  // --- reads ------------------------------------------------------------------------------

  virtual Result<QueueCounts> Counts(const QueueRef& queue) = 0;
  // Every queue that has ever held a job, sorted by (domain, type).
  virtual Result<std::vector<QueueStats>> Queues() = 0;
  // `limit` is 1..100,000; `cursor` is "" or a next_cursor this backend returned.
  virtual Result<ListPage> List(const QueueRef& queue, JobState state, const std::string& cursor,
                                size_t limit) = 0;
  virtual Result<JobInfo> Inspect(const QueueRef& queue, JobId id) = 0;
  virtual Result<std::vector<std::string>> Check() = 0;

  virtual Result<std::vector<QueueRef>> ReadyQueues() = 0;
  virtual Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter) = 0;
  virtual Result<uint64_t> ReadyEpoch() = 0;
  virtual Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) = 0;

  // --- types ------------------------------------------------------------------------------

  // Defaults for a type never configured.
  virtual Result<TypeSettings> GetTypeSettings(const std::string& type) = 0;
  // Validated settings; creates the type if needed.
  virtual Status SetTypeSettings(const std::string& type, const TypeSettings& settings) = 0;
  virtual Result<std::vector<std::string>> Types() = 0;
};

}  // namespace jobstore
