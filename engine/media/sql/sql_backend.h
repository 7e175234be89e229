// The SQL medium (MediaWiki's JobQueueDB): a Backend (jobstore/backend.h) over SQLite or
// PostgreSQL, written once for both over SqlConnection (sql_connection.h), on the schema of
// sql_schema.h. Every transition is one transaction that also changes the queue's counts;
// "now" always comes from the caller.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <vector>

#include "jobstore/backend.h"
#include "jobstore/options.h"
#include "sql_job_row.h"
#include "sql_pool.h"

namespace jobstore::sql {

class SqlBackend final : public Backend {
 public:
  // Opens the store in `db` (creating or migrating its schema), with at most `pool_size`
  // connections at once.
  static Result<std::unique_ptr<SqlBackend>> Open(std::unique_ptr<SqlDatabase> db,
                                                  const Options& options, size_t pool_size);
  ~SqlBackend() override;

  Capabilities capabilities() const override { return capabilities_; }

  Result<PushResult> Push(const std::vector<NewJob>& jobs, int64_t now_ms) override;
  Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs, int64_t now_ms,
                                        int64_t deadline_ms) override;
  Result<std::vector<Status>> Ack(const std::vector<jobstore::Claim>& claims) override;
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

  Result<std::vector<QueueRef>> ReadyQueues() override;
  Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter) override;
  Result<uint64_t> ReadyEpoch() override;
  Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) override;

  Result<TypeSettings> GetTypeSettings(const std::string& type) override;
  Status SetTypeSettings(const std::string& type, const TypeSettings& settings) override;
  Result<std::vector<std::string>> Types() override;

 private:
  SqlBackend(std::unique_ptr<SqlDatabase> db, const Options& options, size_t pool_size);

  // Count changes of one transaction, per queue id.
  struct Delta {
    int64_t n[4] = {0, 0, 0, 0};  // by StateCode
    bool zero() const { return !n[0] && !n[1] && !n[2] && !n[3]; }
  };

  // One transaction: the connection, and the bookkeeping every transition shares (counts
  // changed in the same transaction, the ready notice, the ready epoch after commit).
  class Tx {
   public:
    explicit Tx(SqlConnection& c) : c_(c) {}
    SqlConnection& c() { return c_; }
    const SqlDialect& d() const { return c_.dialect(); }
    // `n` jobs of queue `q` moved from state `from` to state `to` (nullopt: none / gone).
    void Move(int64_t q, std::optional<JobState> from, std::optional<JobState> to, int64_t n = 1);
    bool readied() const { return readied_; }
    // The counter upserts and the ready notice, in ascending queue order (so two transactions
    // never lock the same counter rows in opposite orders), for Commit(trailing).
    std::string Trailing() const;

   private:
    SqlConnection& c_;
    std::map<int64_t, Delta> deltas_;
    bool readied_ = false;
  };

  // Runs `body` in a transaction of `kind` and commits it, retrying the whole transaction
  // when the database asks (deadlock, serialization failure) and when the connection turns
  // out to be dead before anything was sent. `body` must start from scratch on each run.
  Status InTx(TxKind kind, const std::function<Status(Tx&)>& body);
  // Runs one statement without a transaction (a read, or a write that changes no counts).
  Result<SqlRows> Once(std::string_view sql, std::span<const SqlParam> params);

  // The queue's id: 0 when it does not exist (create = false), or created with its type.
  Result<int64_t> QueueId(const QueueRef& queue, bool create);
  Result<int64_t> QueueIdOfClaim(const QueueRef& queue);
  // `n` fresh ids, never reused.
  Result<std::vector<int64_t>> AllocIds(Tx& tx, size_t n);
  // Push's path for restored jobs (backend.h): ids kept, every field as the backup has it.
  Status RestoreIn(Tx& tx, const std::vector<NewJob>& jobs, const std::vector<int64_t>& qids,
                   const std::vector<int64_t>& ranks, PushResult* result);
  Result<TypeSettings> SettingsOf(SqlConnection& c, const std::string& type);

  // Loads the claimed job `claim` names when its token is current (NotFound / StaleToken).
  Status LoadClaim(Tx& tx, const jobstore::Claim& claim, int64_t q, JobRow* row);
  // Why a claim's job is not held by it: NotFound when it is gone, else StaleToken.
  Status NotHeld(SqlConnection& c, const jobstore::Claim& claim, int64_t q);
  // Where a Disposition sends claimed jobs: each (id, disposition) of queue q.
  Status Place(Tx& tx, int64_t q, const std::vector<std::pair<int64_t, Disposition>>& moves,
               int64_t now);
  // Jobs `ids` of queue q from state `from` to ready behind every ready job (fresh seq), with
  // attempts reset when `reset_attempts`.
  Status Requeue(Tx& tx, int64_t q, const std::vector<int64_t>& ids, JobState from,
                 bool reset_attempts);
  // `columns` of the jobs of queue q in a timed `state` with at_ms < `before`, ordered by
  // (at_ms, id), at most `limit`, locked (skipping rows others hold) where the database locks.
  Result<SqlRows> Timed(Tx& tx, int64_t q, JobState state, int64_t before, size_t limit,
                        const char* columns);
  Result<std::vector<int64_t>> TimedIds(Tx& tx, int64_t q, JobState state, int64_t before,
                                        size_t limit);
  Status MoveToAbandonedCorrupt(Tx& tx, int64_t q, int64_t id, const std::string& why,
                                int64_t now);
  // Registers a root job's timestamp for its signature (the newest wins): at push, restore
  // and claim.
  Status RegisterRoot(Tx& tx, int64_t q, const std::string& signature, int64_t timestamp_ms);

  void Bump();

  Options options_;
  Capabilities capabilities_;
  std::unique_ptr<SqlPool> pool_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::mutex rng_mu_;
  uint64_t Random();

  // (domain, type) -> queue id; ids never change once made.
  std::shared_mutex queues_mu_;
  std::map<std::pair<std::string, std::string>, int64_t> queue_ids_;

  // The ready epoch: bumped by this process's commits that ready jobs and by the watcher when
  // other connections commit.
  std::mutex epoch_mu_;
  std::condition_variable epoch_cv_;
  std::atomic<uint64_t> epoch_{1};
  bool closing_ = false;  // guarded by epoch_mu_
  std::mutex watch_mu_;   // one thread waits on the watcher at a time
  std::unique_ptr<ChangeWatcher> watcher_;  // guarded by watch_mu_
};

}  // namespace jobstore::sql
