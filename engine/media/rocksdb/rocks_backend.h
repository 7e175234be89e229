// The RocksDB medium: a Backend (jobstore/backend.h) on one RocksDB directory. Private to the
// medium; the contract is jobstore/store.h, its public extras jobstore/rocksdb_store.h.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "jobstore/backend.h"
#include "jobstore/options.h"
#include "jobstore/rocksdb_store.h"
#include "live_claims.h"
#include "ready_cursor.h"
#include "ready_index.h"
#include "records.h"

namespace jobstore {

// One job type: its column family and settings.
struct TypeState {
  std::string name;
  rocksdb::ColumnFamilyHandle* cf = nullptr;
  mutable std::mutex settings_mu;  // guards `settings`; never held across a write
  std::mutex settings_write_mu;     // serialises SetTypeSettings so disk and memory agree
  TypeSettings settings;
  TypeSettings Settings() const {
    std::lock_guard<std::mutex> l(settings_mu);
    return settings;
  }
};

// One queue (domain, type): its in-memory cursors and counters.
struct QueueState {
  QueueState(TypeState* t, uint32_t domain_id, std::string domain_name);

  TypeState* const type;
  const uint32_t domain_id;
  const std::string domain;
  QueueRef ref() const { return {domain, type->name}; }

  // Guards the cursors and sets below. Never held across a RocksDB write.
  std::mutex mu;
  ReadyCursor ready_cursor;
  // Lower bounds of the time-ordered sets, so maintenance seeks past what it already removed.
  std::string delayed_floor, claimed_floor, abandoned_floor, root_cursor;
  // Dedup hashes whose check-and-insert is in flight; a second pusher of the same hash waits.
  std::set<std::string> dedup_pending;
  std::condition_variable dedup_cv;
  // Claimed jobs being acked, released, touched or reclaimed: one operation at a time per job.
  std::unordered_set<JobId> busy;
  std::condition_variable busy_cv;
  // Tokens of the claims handed out, for blind acks (see live_claims.h).
  LiveClaims live_claims;

  // Serialises maintenance and repush of this queue (they move keys nobody else moves).
  std::mutex maintenance_mu;

  // Exact counts, applied after each committed write. The same deltas are merged into the
  // persisted `N` key in that write.
  std::atomic<int64_t> ready{0}, claimed{0}, delayed{0}, abandoned{0};
  void Apply(const CounterDelta& d);
  QueueCounts Counts() const;

  int index_pos = -1;  // position in the ReadyIndex; guarded by its mutex
  std::atomic<bool> indexed{false};  // index_pos >= 0, readable without that mutex
};

class RocksBackend final : public Backend {
 public:
  ~RocksBackend() override;

  // Opens the store in `path` (a secondary view when `secondary_dir` is given).
  static Result<std::unique_ptr<RocksBackend>> Open(const std::string& path, const Options& options,
                                                    const RocksDbOptions& rocksdb,
                                                    const std::string* secondary_dir);

  Capabilities capabilities() const override;
  Status Writable() const override;

  Result<PushResult> Push(const std::vector<NewJob>& jobs, int64_t now_ms) override;
  Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs, int64_t now_ms,
                                        int64_t deadline_ms) override;
  Result<std::vector<Status>> Ack(const std::vector<jobstore::Claim>& claims) override;
  Result<AckedThenClaimed> AckThenClaim(const std::vector<jobstore::Claim>& done,
                                        const QueueRef& queue, size_t max_jobs, int64_t now_ms,
                                        int64_t deadline_ms) override;
  Status Settle(const jobstore::Claim& claim, int64_t now_ms, const DecideFn& decide) override;
  Result<ClaimToken> Touch(const jobstore::Claim& claim, int64_t deadline_ms) override;
  Result<uint64_t> RepushAbandoned(const QueueRef& queue) override;
  Status RetryJob(const QueueRef& queue, JobId id) override;
  Status DeleteJob(const QueueRef& queue, JobId id) override;
  Status Clear(const QueueRef& queue) override;
  Status Maintain(const QueueRef& queue, const MaintenancePlan& plan,
                  MaintenanceReport* report) override;

  Result<QueueCounts> Counts(const QueueRef& queue) override;
  Result<std::vector<QueueStats>> Queues() override;
  Result<ListPage> List(const QueueRef& queue, JobState state, const std::string& cursor,
                        size_t limit) override;
  Result<JobInfo> Inspect(const QueueRef& queue, JobId id) override;
  Result<std::vector<std::string>> Check() override;

  Result<std::vector<QueueRef>> ReadyQueues() override { return ready_index_.List(); }
  Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter) override {
    return ready_index_.Pick(filter);
  }
  Result<uint64_t> ReadyEpoch() override { return ready_index_.Epoch(); }
  Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) override {
    ready_index_.Wait(epoch, max_wait_ms);
    return Status::OK();
  }

  Result<TypeSettings> GetTypeSettings(const std::string& type) override;
  Status SetTypeSettings(const std::string& type, const TypeSettings& settings) override;
  Result<std::vector<std::string>> Types() override;

  // RocksDB's own (jobstore/rocksdb_store.h).
  Status Refresh();
  Status Checkpoint(const std::string& dir);

 private:
  RocksBackend(const Options& options, const RocksDbOptions& rocksdb, std::string path);

  // One atomic write of one queue that moves jobs between states, with the bookkeeping such
  // writes share: counters merged in the same batch and applied once it commits, new ready
  // keys claimable only once committed (ReadyCursor), the floors of the timed sets lowered.
  class Transition {
   public:
    Transition(RocksBackend* backend, QueueState* q) : b_(backend), q_(q) {}
    rocksdb::WriteBatch* batch() { return &batch_; }
    // Removes the job's key in `state` (write-once keys: SingleDelete).
    void Leave(JobState state, const std::string& key);
    // Adds the job to ready at the place its entry's rank and sequence give it.
    void EnterReady(JobId id, const StateEntry& e);
    void EnterDelayed(JobId id, const StateEntry& e, int64_t release_at_ms);
    void EnterClaimed(JobId id, const StateEntry& e, int64_t deadline_ms);
    // Adds it to abandoned at `now`, which becomes its abandoned-at.
    void EnterAbandoned(JobId id, StateEntry e, int64_t now);
    // Where `to` says; its error, if any, becomes the job's last error (at `now`).
    void Enter(const Disposition& to, JobId id, StateEntry e, int64_t now);
    const CounterDelta& delta() const { return delta_; }
    // Writes the batch; once it committed, applies the counters and makes the moves visible.
    Status Commit(bool sync);

   private:
    RocksBackend* const b_;
    QueueState* const q_;
    rocksdb::WriteBatch batch_;
    CounterDelta delta_;
    std::vector<std::pair<std::string, std::string>> ready_;
    std::string lowest_delayed_, lowest_claimed_;
  };

  // --- open (rocks_open.cc)
  Status OpenDb(const std::string* secondary_dir);
  // Closes the database and forgets every type, domain and queue (a secondary view reopening).
  void CloseDb();
  Status LoadState();
  Result<int64_t> CountClaimed(rocksdb::ColumnFamilyHandle* cf, uint32_t domain);
  // Brings an older store's schema up to kSchemaVersion (a primary only, before any write).
  Status UpgradeSchema();
  // Claim cursors across a clean close (rocks_open.cc): saved by the destructor, taken and
  // deleted by Open.
  Status ResumeCursors();
  void SaveCursors();
  rocksdb::ColumnFamilyOptions TypeFamilyOptions() const;

  // --- shared plumbing (rocks_backend.cc)
  // The type, created (column family + default settings) when `create`.
  Result<TypeState*> GetType(const std::string& type, bool create);
  // Creates every type of `types` that does not exist yet, in one column-family creation.
  Status EnsureTypes(const std::vector<std::string>& types);
  // The domain's id, registered (a synced write) when `create`.
  Result<uint32_t> GetDomain(const std::string& domain, bool create);
  // Registers every domain of `domains` that does not exist yet, in one synced write.
  Status EnsureDomains(const std::vector<std::string>& domains);
  // Passes the names of `wanted` (validated by the policy) that `registry` (types_ or
  // domain_ids_) lacks, sorted and unique, to `create`, under create_mu_ so that each is
  // created once.
  template <typename Registry>
  Status RegisterMissing(const std::vector<std::string>& wanted, const Registry& registry,
                         Status (RocksBackend::*create)(const std::vector<std::string>&));
  // Under create_mu_: a column family and default settings per type, in one creation.
  Status CreateTypes(const std::vector<std::string>& missing);
  // Under create_mu_: ids for the domains, in one synced write.
  Status CreateDomains(const std::vector<std::string>& missing);
  // The queue, or null when it has never been used and !create.
  Result<QueueState*> GetQueue(const QueueRef& ref, bool create);
  QueueState* FindOrAddQueue(TypeState* type, uint32_t domain_id, const std::string& domain);
  std::vector<QueueState*> AllQueues() const;
  Status Write(rocksdb::WriteBatch* batch, bool sync);
  // Adds the merge of `delta` into the queue's persisted counters, in their persisted form
  // (records.h: ready and claimed as one sum); nothing when that leaves no change.
  void MergeCounters(rocksdb::WriteBatch* batch, QueueState* q, const CounterDelta& delta);
  // After a committed write: apply counter deltas in memory and refresh the ready index.
  void ApplyCounters(QueueState* q, const CounterDelta& delta);
  Status Get(rocksdb::ColumnFamilyHandle* cf, const std::string& key, std::string* value);
  // A fresh, bounded iterator over [lower, upper).
  std::unique_ptr<rocksdb::Iterator> Scan(rocksdb::ColumnFamilyHandle* cf,
                                          const rocksdb::Slice* lower,
                                          const rocksdb::Slice* upper);
  uint64_t NextSeq() { return next_id_.fetch_add(1); }
  // The ready entry of an abandoned job sent back (repush, retry): attempts reset, its
  // priority kept, queued behind the jobs already ready.
  StateEntry Requeued(const StateEntry& abandoned) {
    StateEntry r;
    r.priority = abandoned.priority;
    r.order_rank = abandoned.order_rank;
    r.order_seq = NextSeq();
    return r;
  }
  uint64_t NewNonce();

  // Ready-key helpers shared by push, release, reclaim, promote and repush.
  std::string ReadyKeyFor(QueueState* q, const StateEntry& e, JobId id) const;
  // Registers the ready keys a write is about to add as pending on the queue's cursor (one lock
  // for the lot); FinishReadyInserts makes them claimable once the write returned.
  void BeginReadyInserts(QueueState* q,
                         const std::vector<std::pair<std::string, std::string>>& inserts);
  void FinishReadyInserts(QueueState* q,
                          const std::vector<std::pair<std::string, std::string>>& inserts,
                          bool committed);

  // A job found corrupt may hold its queue's dedup entry, and its hash may be unreadable: find
  // the entries pointing at it by scanning the queue's dedup index (corruption only, never the
  // hot path) and delete them in `batch`.
  Status DropDedupEntriesOf(QueueState* q, JobId id, rocksdb::WriteBatch* batch);

  // Claim and ack, each prepared into a batch and finished once it is written, so that
  // AckThenClaim writes both in one (claim_ops.cc).
  struct ClaimStep;
  struct AckStep;
  // Takes up to `max_jobs` ready keys of step->q and adds their claim to `batch`. On an error
  // nothing it added may be written; FinishClaim must follow either way.
  Status PrepareClaim(const QueueRef& ref, size_t max_jobs, int64_t now_ms, int64_t deadline_ms,
                      rocksdb::WriteBatch* batch, ClaimStep* step);
  // After the write (`written`), or without one when !prepared: the taken keys leave the
  // cursor or go back to it, the counters and the claimed floor follow a committed claim.
  void FinishClaim(ClaimStep* step, bool prepared, const Status& written);
  void GroupAcks(const std::vector<jobstore::Claim>& claims, AckStep* step,
                 std::vector<Status>* result);
  // Holds the jobs busy and adds the removal of each current claim to `batch`; a claim that is
  // not current gets its Status in `result`. FinishAck must follow.
  void PrepareAck(const std::vector<jobstore::Claim>& claims, rocksdb::WriteBatch* batch,
                  AckStep* step, std::vector<Status>* result);
  void FinishAck(AckStep* step, const Status& written, std::vector<Status>* result);

  // Claimed-job fencing (claim_ops.cc).
  // The queue a claim names; NotFound when the store never had it.
  Result<QueueState*> QueueOfClaim(const QueueRef& ref);
  void AcquireBusy(QueueState* q, const std::vector<JobId>& ids);
  bool TryAcquireBusy(QueueState* q, JobId id);
  void ReleaseBusy(QueueState* q, const std::vector<JobId>& ids);
  // Reads and verifies the claimed entry a claim names. StaleToken/NotFound as Ack documents.
  Status LoadClaim(QueueState* q, const jobstore::Claim& claim, std::string* key,
                   StateEntry* entry);
  // The shared frame of Settle and Touch: holding the job's busy mark, runs `change` on the
  // verified claimed entry. Returns the first failure.
  using ClaimChange = std::function<Status(QueueState* q, const std::string& ckey,
                                           const StateEntry& entry)>;
  Status ChangeClaim(const jobstore::Claim& claim, const ClaimChange& change);

  // Raises next_id_ above the highest job id stored in queue (cf, domain_id) (rocks_open.cc).
  Status RaiseNextIdAbove(rocksdb::ColumnFamilyHandle* cf, uint32_t domain_id);

  // Maintenance (maintain.cc).
  Status PromoteDue(QueueState* q, const MaintenancePlan& plan, MaintenanceReport* report);
  Status ReclaimExpired(QueueState* q, const MaintenancePlan& plan, MaintenanceReport* report);
  Status PruneAbandoned(QueueState* q, const MaintenancePlan& plan, MaintenanceReport* report);
  Status ExpireRoots(QueueState* q, const MaintenancePlan& plan, MaintenanceReport* report);
  // Finds the state key of job `id` (a tool's path: state keys are ordered by time or rank,
  // not id, so this scans them). NotFound when the job has no state.
  Status FindState(QueueState* q, JobId id, JobState* state, std::string* key,
                   std::string* value);

  // Inspection helpers (inspect.cc).
  Result<JobInfo> Describe(QueueState* q, JobState state, std::string_view key,
                           std::string_view value);

  const Options options_;
  const RocksDbOptions rocksdb_;
  const std::string path_;
  bool secondary_ = false;
  uint32_t stored_schema_ = 0;  // the version record's, as LoadState read it
  uint32_t marker_schema_ = 0;  // the marker file's, as OpenDb read it
  std::string secondary_dir_;  // a secondary view's private files
  bool group_may_read_ = false;  // the store's directory is 0750 and its files 0640
  // The Env that makes every new file of the store private (private_files.h); outlives db_.
  std::unique_ptr<rocksdb::Env> private_env_;

  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffer_manager_;

  // Registry of types, domains and queues. Lookups take it shared; creation exclusive.
  mutable std::shared_mutex registry_mu_;
  std::map<std::string, std::unique_ptr<TypeState>> types_;
  std::map<std::string, uint32_t> domain_ids_;
  std::vector<std::string> domain_names_;  // by id
  std::map<std::pair<std::string, uint32_t>, std::unique_ptr<QueueState>> queues_;
  std::mutex create_mu_;  // serialises creating types and domains and setting type settings

  // Clear() takes it exclusively; every other writer holds it shared across its write and the
  // in-memory update that follows, so a clear never interleaves with them. Shared holders never
  // wait for each other; one store-wide gate (not one per queue) keeps a push that spans many
  // queues to a single lock.
  std::shared_mutex gate_;

  std::atomic<uint64_t> next_id_{1};
  ReadyIndex ready_index_;
};

}  // namespace jobstore
