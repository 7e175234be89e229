// ForwardingStore: a Store that passes every call to another one. Derive from it to change a
// few calls and keep the rest (a served store's owner view, test doubles).
#pragma once

#include <memory>
#include <utility>

#include "jobstore/store.h"

namespace jobstore::internal {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  Result<PushResult> Push(const std::vector<JobSpec>& jobs) override { return Target().Push(jobs); }
  Result<PushResult> Restore(const std::vector<JobInfo>& jobs) override {
    return Target().Restore(jobs);
  }
  Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs,
                                        std::optional<int64_t> ttl_ms) override {
    return Target().Claim(queue, max_jobs, ttl_ms);
  }
  Result<std::vector<ClaimedJob>> ClaimAny(const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    return Target().ClaimAny(filter, max_jobs, ttl_ms, wait_ms);
  }
  Status Ack(const jobstore::Claim& claim) override { return Target().Ack(claim); }
  Result<std::vector<Status>> AckMany(const std::vector<jobstore::Claim>& claims) override {
    return Target().AckMany(claims);
  }
  Result<AckedThenClaimed> AckThenClaimAny(const std::vector<jobstore::Claim>& done,
                                           const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    return Target().AckThenClaimAny(done, filter, max_jobs, ttl_ms, wait_ms);
  }
  Result<Released> Release(const jobstore::Claim& claim, int64_t delay_ms,
                           const std::string& error) override {
    return Target().Release(claim, delay_ms, error);
  }
  Result<ClaimToken> Touch(const jobstore::Claim& claim, std::optional<int64_t> ttl_ms) override {
    return Target().Touch(claim, ttl_ms);
  }
  Status ForceRelease(const QueueRef& queue, JobId id) override {
    return Target().ForceRelease(queue, id);
  }
  Result<uint64_t> RepushAbandoned(const QueueRef& queue) override {
    return Target().RepushAbandoned(queue);
  }
  Status RetryJob(const QueueRef& queue, JobId id) override { return Target().RetryJob(queue, id); }
  Status DeleteJob(const QueueRef& queue, JobId id) override { return Target().DeleteJob(queue, id); }
  Status Clear(const QueueRef& queue) override { return Target().Clear(queue); }
  Result<MaintenanceReport> Maintain() override { return Target().Maintain(); }
  Result<QueueCounts> Counts(const QueueRef& queue) override { return Target().Counts(queue); }
  Result<std::vector<QueueStats>> Queues() override { return Target().Queues(); }
  Result<ListPage> List(const QueueRef& queue, JobState state, const std::string& cursor,
                        size_t limit) override {
    return Target().List(queue, state, cursor, limit);
  }
  Result<JobInfo> Inspect(const QueueRef& queue, JobId id) override {
    return Target().Inspect(queue, id);
  }
  Result<std::vector<std::string>> Check() override { return Target().Check(); }
  Result<std::vector<QueueRef>> ReadyQueues() override { return Target().ReadyQueues(); }
  Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter) override {
    return Target().PickReadyQueue(filter);
  }
  Result<uint64_t> ReadyEpoch() override { return Target().ReadyEpoch(); }
  Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) override {
    return Target().WaitForReady(epoch, max_wait_ms);
  }
  Result<TypeSettings> GetTypeSettings(const std::string& type) override {
    return Target().GetTypeSettings(type);
  }
  Status SetTypeSettings(const std::string& type, const TypeSettings& settings) override {
    return Target().SetTypeSettings(type, settings);
  }
  Result<std::vector<std::string>> Types() override { return Target().Types(); }
  void SetReadOnly(bool read_only) override { Target().SetReadOnly(read_only); }
  bool IsReadOnly() const override { return inner_->IsReadOnly(); }
  Capabilities capabilities() const override { return inner_->capabilities(); }
  const Options& options() const override { return inner_->options(); }
  Backend* backend() override { return inner_->backend(); }

 protected:
  // The store a call goes to, asked once per call: the one given, unless a derived class does
  // something first (a test syncs a shared clock) or picks another.
  virtual Store& Target() { return *inner_; }
  Store& inner() { return *inner_; }
  // Closes the store it was given (destroys it) before the derived class is gone.
  void CloseInner() { inner_.reset(); }

 private:
  std::unique_ptr<Store> inner_;
};

}  // namespace jobstore::internal
