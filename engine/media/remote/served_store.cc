// ServeWhileOpen (remote.h): a directory's store, served on its socket for as long as the
// program keeps it open (Options::serve). The program uses it as it would the store itself;
// every call goes straight to the store, never through the server.
#include "jobstore/serve.h"
#include "remote.h"

namespace jobstore::remote {
namespace {

class ServedStore final : public Store {
 public:
  ServedStore(std::unique_ptr<Store> store, std::unique_ptr<StoreServer> server)
      : store_(std::move(store)), server_(std::move(server)) {}
  // Serving stops first (the calls in flight finish), then the store closes.
  ~ServedStore() override {
    server_.reset();
    store_.reset();
  }

  Result<PushResult> Push(const std::vector<JobSpec>& jobs) override { return store_->Push(jobs); }
  Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs,
                                        std::optional<int64_t> ttl_ms) override {
    return store_->Claim(queue, max_jobs, ttl_ms);
  }
  Result<std::vector<ClaimedJob>> ClaimAny(const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    return store_->ClaimAny(filter, max_jobs, ttl_ms, wait_ms);
  }
  Status Ack(const jobstore::Claim& claim) override { return store_->Ack(claim); }
  Result<std::vector<Status>> AckMany(const std::vector<jobstore::Claim>& claims) override {
    return store_->AckMany(claims);
  }
  Status Release(const jobstore::Claim& claim, int64_t delay_ms, const std::string& error) override {
    return store_->Release(claim, delay_ms, error);
  }
  Result<ClaimToken> Touch(const jobstore::Claim& claim, std::optional<int64_t> ttl_ms) override {
    return store_->Touch(claim, ttl_ms);
  }
  Result<uint64_t> RepushAbandoned(const QueueRef& queue) override {
    return store_->RepushAbandoned(queue);
  }
  Status RetryJob(const QueueRef& queue, JobId id) override { return store_->RetryJob(queue, id); }
  Status DeleteJob(const QueueRef& queue, JobId id) override { return store_->DeleteJob(queue, id); }
  Status Clear(const QueueRef& queue) override { return store_->Clear(queue); }
  Result<MaintenanceReport> Maintain() override { return store_->Maintain(); }
  Result<QueueCounts> Counts(const QueueRef& queue) override { return store_->Counts(queue); }
  Result<std::vector<QueueStats>> Queues() override { return store_->Queues(); }
  Result<ListPage> List(const QueueRef& queue, JobState state, const std::string& cursor,
                        size_t limit) override {
    return store_->List(queue, state, cursor, limit);
  }
  Result<JobInfo> Inspect(const QueueRef& queue, JobId id) override {
    return store_->Inspect(queue, id);
  }
  Result<std::vector<std::string>> Check() override { return store_->Check(); }
  Result<std::vector<QueueRef>> ReadyQueues() override { return store_->ReadyQueues(); }
  Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter) override {
    return store_->PickReadyQueue(filter);
  }
  Result<uint64_t> ReadyEpoch() override { return store_->ReadyEpoch(); }
  Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) override {
    return store_->WaitForReady(epoch, max_wait_ms);
  }
  Result<TypeSettings> GetTypeSettings(const std::string& type) override {
    return store_->GetTypeSettings(type);
  }
  Status SetTypeSettings(const std::string& type, const TypeSettings& settings) override {
    return store_->SetTypeSettings(type, settings);
  }
  Result<std::vector<std::string>> Types() override { return store_->Types(); }
  void SetReadOnly(bool read_only) override { store_->SetReadOnly(read_only); }
  bool IsReadOnly() const override { return store_->IsReadOnly(); }
  Capabilities capabilities() const override {
    Capabilities caps = store_->capabilities();
    caps.shared = true;
    return caps;
  }
  const Options& options() const override { return store_->options(); }
  // The store's own medium, so that RocksDb::Checkpoint and the like work on it.
  Backend* backend() override { return store_->backend(); }

 private:
  std::unique_ptr<Store> store_;
  std::unique_ptr<StoreServer> server_;
};

}  // namespace

Result<std::unique_ptr<Store>> ServeWhileOpen(std::unique_ptr<Store> store, const std::string& dir) {
  ServeOptions serve;
  serve.listen = {"unix:" + ServedSocketPath(dir)};
  auto server = StoreServer::Start(store.get(), serve);
  if (!server.ok()) {
    return server.status().Prefixed("cannot serve store '" + dir + "' to other processes");
  }
  return std::unique_ptr<Store>(new ServedStore(std::move(store), std::move(*server)));
}

}  // namespace jobstore::remote
