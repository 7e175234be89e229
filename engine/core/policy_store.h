// PolicyStore: the Store every medium is opened as. It applies the contract's policy once
// (validation, limits, settings, deadlines, dedup hashing and in-batch collapse, the
// retry-or-abandon decision, maintenance planning, read-only) and leaves storing to its
// Backend (backend.h).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "jobstore/backend.h"
#include "jobstore/store.h"

namespace jobstore {

class PolicyStore final : public Store {
 public:
  PolicyStore(std::unique_ptr<Backend> backend, const Options& options);
  ~PolicyStore() override;

  Result<PushResult> Push(const std::vector<JobSpec>& jobs) override;
  Result<PushResult> Restore(const std::vector<JobInfo>& jobs) override;
  Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs,
                                        std::optional<int64_t> ttl_ms) override;
  Result<std::vector<ClaimedJob>> ClaimAny(const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override;
  Status Ack(const jobstore::Claim& claim) override;
  Result<std::vector<Status>> AckMany(const std::vector<jobstore::Claim>& claims) override;
  Result<AckedThenClaimed> AckThenClaimAny(const std::vector<jobstore::Claim>& done,
                                           const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override;
  Result<Released> Release(const jobstore::Claim& claim, int64_t delay_ms,
                           const std::string& error) override;
  Result<ClaimToken> Touch(const jobstore::Claim& claim, std::optional<int64_t> ttl_ms) override;
  Status ForceRelease(const QueueRef& queue, JobId id) override;
  Result<uint64_t> RepushAbandoned(const QueueRef& queue) override;
  Status RetryJob(const QueueRef& queue, JobId id) override;
  Status DeleteJob(const QueueRef& queue, JobId id) override;
  Status Clear(const QueueRef& queue) override;
  Result<MaintenanceReport> Maintain() override;

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

  void SetReadOnly(bool read_only) override { read_only_.store(read_only); }
  bool IsReadOnly() const override;
  Capabilities capabilities() const override { return backend_->capabilities(); }
  const Options& options() const override { return options_; }
  Backend* backend() override { return backend_.get(); }

 private:
  Status CheckWritable() const;
  int64_t Now() const { return clock_->NowMs(); }
  // One Status per claim of an ack list (a job listed twice, an invalid queue).
  std::vector<Status> CheckAckList(const std::vector<jobstore::Claim>& claims,
                                   bool* all_fine) const;
  // The type's claim TTL when `ttl_ms` is not given.
  Result<int64_t> TtlFor(const std::string& type, std::optional<int64_t> ttl_ms);
  void MaintenanceLoop();
  // Tells the observer what a push or an ack did, queue by queue (runs of one queue in the
  // batch make one call each).
  void ObservePush(const std::vector<JobSpec>& jobs, const PushResult& result) const;
  void ObserveAcks(const std::vector<jobstore::Claim>& claims,
                   const std::vector<Status>& statuses) const;
  // What one queue's share of a maintenance pass did: `after` minus `before`.
  void ObserveMaintenance(const QueueRef& queue, const MaintenanceReport& before,
                          const MaintenanceReport& after) const;

  const Options options_;
  const std::shared_ptr<Clock> clock_;
  const std::unique_ptr<Backend> backend_;
  std::atomic<bool> read_only_{false};
  StoreObserver* const observer_;  // options_.observer, or null

  std::mutex maintain_mu_;  // one Maintain() pass at a time
  // Next root-registration sweep per queue (domain, type); guarded by maintain_mu_.
  std::map<std::pair<std::string, std::string>, int64_t> next_root_sweep_ms_;

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stopping_ = false;  // guarded by thread_mu_
  std::thread maintenance_thread_;
};

}  // namespace jobstore
