// The routed store (MediaWiki's JobQueueGroup over $wgJobTypeConf): one Store over several,
// each job type on the backend the config names. It routes and merges; the policy is each
// backend's own PolicyStore (or the server's, for a served store), applied once there.
#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include "claim_any.h"
#include "jobstore/address.h"
#include "jobstore/config.h"
#include "jobstore/validation.h"

namespace jobstore {
namespace {

// How long one wait on one backend lasts while a wait covers several: a push to another
// backend is seen within this. Waits are a worker's idle time, so 25 ms costs nothing.
constexpr int64_t kWaitSliceMs = 25;

class RoutedStore final : public Store {
 public:
  struct Member {
    std::string name;
    std::string address;  // redacted
    std::unique_ptr<Store> store;
    bool is_default = false;
    std::set<std::string> explicit_types;  // types the config maps here by name
  };

  RoutedStore(StoreConfig config, std::vector<Member> members, const Options& options)
      : config_(std::move(config)), members_(std::move(members)), options_(options) {
    for (size_t i = 0; i < members_.size(); ++i) index_[members_[i].name] = i;
  }

  Result<PushResult> Push(const std::vector<JobSpec>& jobs) override {
    // Refuse a bad batch whole, before any backend has it.
    Status s = CheckBatch(jobs.size());
    for (size_t i = 0; s.ok() && i < jobs.size(); ++i) {
      s = ValidateSpec(jobs[i], options_.max_params_bytes);
      if (!s.ok()) {
        s = Status::InvalidArgument("job " + std::to_string(i) + " of the batch: " +
                                    s.message() + "; nothing was pushed");
      }
    }
    if (!s.ok()) return s;
    return Split(jobs, [](const JobSpec& j) -> const std::string& { return j.type; },
                 [](Store& store, const std::vector<JobSpec>& part) { return store.Push(part); });
  }

  Result<PushResult> Restore(const std::vector<JobInfo>& jobs) override {
    // Each backend's policy validates its part whole; a bad job refuses only its backend's part.
    Status s = CheckBatch(jobs.size());
    if (!s.ok()) return s;
    return Split(jobs, [](const JobInfo& j) -> const std::string& { return j.queue.type; },
                 [](Store& store, const std::vector<JobInfo>& part) { return store.Restore(part); });
  }

  Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs,
                                        std::optional<int64_t> ttl_ms) override {
    return For(queue.type).Claim(queue, max_jobs, ttl_ms);
  }

  Result<std::vector<ClaimedJob>> ClaimAny(const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    Status s = ValidateFilter(filter);
    if (s.ok() && ttl_ms) s = ValidateTtl(*ttl_ms);
    if (s.ok() && max_jobs > kMaxClaimBatch) {
      s = Status::InvalidArgument("cannot claim " + std::to_string(max_jobs) +
                                  " jobs at once; the limit is " + std::to_string(kMaxClaimBatch));
    }
    if (!s.ok()) return s;
    if (members_.size() == 1) return members_[0].store->ClaimAny(filter, max_jobs, ttl_ms, wait_ms);
    return internal::ClaimAnyVia(*this, filter, max_jobs, ttl_ms, wait_ms);
  }

  Status Ack(const jobstore::Claim& claim) override { return For(claim.queue.type).Ack(claim); }

  Result<std::vector<Status>> AckMany(const std::vector<jobstore::Claim>& claims) override {
    if (claims.size() > kMaxClaimBatch) {
      return Status::InvalidArgument("cannot ack " + std::to_string(claims.size()) +
                                     " jobs at once; the limit is " + std::to_string(kMaxClaimBatch));
    }
    std::vector<std::vector<size_t>> parts(members_.size());
    for (size_t i = 0; i < claims.size(); ++i) parts[MemberOf(claims[i].queue.type)].push_back(i);
    std::vector<Status> result(claims.size());
    size_t failed_whole = 0;
    Status whole;
    for (size_t m = 0; m < members_.size(); ++m) {
      if (parts[m].empty()) continue;
      std::vector<jobstore::Claim> part;
      for (size_t i : parts[m]) part.push_back(claims[i]);
      auto r = members_[m].store->AckMany(part);
      for (size_t k = 0; k < parts[m].size(); ++k) {
        result[parts[m][k]] = r.ok() ? (*r)[k] : r.status().Prefixed(Where(m));
      }
      if (!r.ok()) {
        ++failed_whole;
        whole = r.status().Prefixed(Where(m));
      }
    }
    // Nothing could be tried anywhere: the call failed, as on one medium.
    if (failed_whole > 0 && failed_whole == Used(parts)) return whole;
    return result;
  }

  Result<AckedThenClaimed> AckThenClaimAny(const std::vector<jobstore::Claim>& done,
                                           const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    // One medium: its own call (a served store's is one round trip). Several: ack each part
    // on its medium, then claim across them.
    if (members_.size() == 1) {
      return members_[0].store->AckThenClaimAny(done, filter, max_jobs, ttl_ms, wait_ms);
    }
    return Store::AckThenClaimAny(done, filter, max_jobs, ttl_ms, wait_ms);
  }

  Result<Released> Release(const jobstore::Claim& claim, int64_t delay_ms,
                           const std::string& error) override {
    return For(claim.queue.type).Release(claim, delay_ms, error);
  }
  Result<ClaimToken> Touch(const jobstore::Claim& claim, std::optional<int64_t> ttl_ms) override {
    return For(claim.queue.type).Touch(claim, ttl_ms);
  }
  Status ForceRelease(const QueueRef& queue, JobId id) override {
    return For(queue.type).ForceRelease(queue, id);
  }
  Result<uint64_t> RepushAbandoned(const QueueRef& queue) override {
    return For(queue.type).RepushAbandoned(queue);
  }
  Status RetryJob(const QueueRef& queue, JobId id) override {
    return For(queue.type).RetryJob(queue, id);
  }
  Status DeleteJob(const QueueRef& queue, JobId id) override {
    return For(queue.type).DeleteJob(queue, id);
  }
  Status Clear(const QueueRef& queue) override { return For(queue.type).Clear(queue); }

  Result<MaintenanceReport> Maintain() override {
    MaintenanceReport total;
    for (size_t m = 0; m < members_.size(); ++m) {
      auto r = members_[m].store->Maintain();
      if (!r.ok()) return r.status().Prefixed(Where(m));
      total.promoted += r->promoted;
      total.reclaimed += r->reclaimed;
      total.abandoned += r->abandoned;
      total.pruned += r->pruned;
      total.roots_expired += r->roots_expired;
      total.more = total.more || r->more;
    }
    return total;
  }

  Result<QueueCounts> Counts(const QueueRef& queue) override { return For(queue.type).Counts(queue); }

  Result<std::vector<QueueStats>> Queues() override {
    std::vector<QueueStats> all;
    for (size_t m = 0; m < members_.size(); ++m) {
      auto r = members_[m].store->Queues();
      if (!r.ok()) return r.status().Prefixed(Where(m));
      for (QueueStats& q : *r) {
        q.backend = members_[m].name;
        all.push_back(std::move(q));
      }
    }
    std::sort(all.begin(), all.end(), [](const QueueStats& a, const QueueStats& b) {
      return std::tie(a.queue.domain, a.queue.type, a.backend) <
             std::tie(b.queue.domain, b.queue.type, b.backend);
    });
    return all;
  }

  Result<ListPage> List(const QueueRef& queue, JobState state, const std::string& cursor,
                        size_t limit) override {
    return For(queue.type).List(queue, state, cursor, limit);
  }
  Result<JobInfo> Inspect(const QueueRef& queue, JobId id) override {
    return For(queue.type).Inspect(queue, id);
  }

  Result<std::vector<std::string>> Check() override {
    std::vector<std::string> bad;
    for (size_t m = 0; m < members_.size(); ++m) {
      auto r = members_[m].store->Check();
      if (!r.ok()) return r.status().Prefixed(Where(m));
      for (std::string& line : *r) bad.push_back(Where(m) + ": " + line);
    }
    return bad;
  }

  Result<std::vector<QueueRef>> ReadyQueues() override {
    std::vector<QueueRef> all;
    for (size_t m = 0; m < members_.size(); ++m) {
      auto r = members_[m].store->ReadyQueues();
      if (!r.ok()) return r.status().Prefixed(Where(m));
      // A queue whose type the config routes elsewhere (left over from an older config) cannot
      // be claimed through this store: it is not ready here.
      for (QueueRef& q : *r) {
        if (MemberOf(q.type) == m) all.push_back(std::move(q));
      }
    }
    std::sort(all.begin(), all.end(), [](const QueueRef& a, const QueueRef& b) {
      return std::tie(a.domain, a.type) < std::tie(b.domain, b.type);
    });
    return all;
  }

  // Each backend's own index is its aggregator: ask every backend for a pick among the types
  // routed to it, then choose one of their answers uniformly (each backend with ready work gets
  // an equal share, as each queue does within a backend).
  Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter) override {
    std::vector<QueueRef> picks;
    for (size_t m = 0; m < members_.size(); ++m) {
      std::optional<ReadyFilter> mine = FilterFor(m, filter);
      if (!mine) continue;
      auto r = members_[m].store->PickReadyQueue(*mine);
      if (!r.ok()) return r.status().Prefixed(Where(m));
      if (*r) picks.push_back(std::move(**r));
    }
    if (picks.empty()) return std::optional<QueueRef>();
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<size_t> pick(0, picks.size() - 1);
    return std::optional<QueueRef>(picks[pick(rng)]);
  }

  // Each backend's epoch only grows, so their sum changes whenever one of them does.
  Result<uint64_t> ReadyEpoch() override {
    uint64_t sum = 0;
    for (size_t m = 0; m < members_.size(); ++m) {
      auto r = members_[m].store->ReadyEpoch();
      if (!r.ok()) return r.status().Prefixed(Where(m));
      sum += *r;
    }
    return sum;
  }

  Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) override {
    if (members_.size() == 1) return members_[0].store->WaitForReady(epoch, max_wait_ms);
    // Backends notify only their own waiters: wait on each in turn, a slice at a time.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_wait_ms);
    for (size_t turn = 0;; ++turn) {
      auto now_epoch = ReadyEpoch();
      if (!now_epoch.ok()) return now_epoch.status();
      if (*now_epoch != epoch) return Status::OK();
      const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                               give_up - std::chrono::steady_clock::now())
                               .count();
      if (left <= 0) return Status::OK();
      Store& s = *members_[turn % members_.size()].store;
      auto own = s.ReadyEpoch();
      if (!own.ok()) return own.status();
      Status w = s.WaitForReady(*own, std::min(left, kWaitSliceMs));
      if (!w.ok()) return w;
    }
  }

  Result<TypeSettings> GetTypeSettings(const std::string& type) override {
    return For(type).GetTypeSettings(type);
  }
  Status SetTypeSettings(const std::string& type, const TypeSettings& settings) override {
    return For(type).SetTypeSettings(type, settings);
  }

  Result<std::vector<std::string>> Types() override {
    std::set<std::string> all;
    for (size_t m = 0; m < members_.size(); ++m) {
      auto r = members_[m].store->Types();
      if (!r.ok()) return r.status().Prefixed(Where(m));
      all.insert(r->begin(), r->end());
    }
    return std::vector<std::string>(all.begin(), all.end());
  }

  void SetReadOnly(bool read_only) override {
    for (Member& m : members_) m.store->SetReadOnly(read_only);
  }
  // Read-only when no backend takes writes.
  bool IsReadOnly() const override {
    return std::all_of(members_.begin(), members_.end(),
                       [](const Member& m) { return m.store->IsReadOnly(); });
  }

  // The weakest guarantee of any backend, push atomicity per backend.
  Capabilities capabilities() const override {
    Capabilities c;
    c.medium = "routed";
    c.push_atomicity = Capabilities::PushAtomicity::kPerBackend;
    c.push_durability = Capabilities::Durability::kPowerLoss;
    c.shared = true;
    for (const Member& m : members_) {
      const Capabilities b = m.store->capabilities();
      c.exact_counts = c.exact_counts && b.exact_counts;
      c.exact_ready_index = c.exact_ready_index && b.exact_ready_index;
      c.shared = c.shared && b.shared;
      c.push_durability = std::min(c.push_durability, b.push_durability);
      c.note += (c.note.empty() ? "" : "; ") + m.name + ": " + b.medium + " (" + m.address + ")";
    }
    return c;
  }
  const Options& options() const override { return options_; }
  Backend* backend() override { return nullptr; }

 private:
  Status CheckBatch(size_t n) const {
    if (IsReadOnly()) return Status::ReadOnly("the store is in read-only mode; switch it off to change jobs");
    if (n > kMaxPushBatch) {
      return Status::InvalidArgument("a push of " + std::to_string(n) + " jobs is over the limit of " +
                                     std::to_string(kMaxPushBatch) + "; split it into batches");
    }
    return Status::OK();
  }

  // A push (or restore) split by backend: each part is atomic in its backend, and when one
  // fails the error says exactly which jobs are in and which are not, so a caller retries
  // only what was refused.
  template <typename Job, typename TypeOf, typename Call>
  Result<PushResult> Split(const std::vector<Job>& jobs, TypeOf type_of, Call call) {
    std::vector<std::vector<size_t>> parts(members_.size());
    for (size_t i = 0; i < jobs.size(); ++i) parts[MemberOf(type_of(jobs[i]))].push_back(i);
    PushResult result;
    result.ids.assign(jobs.size(), 0);
    result.duplicate.assign(jobs.size(), false);
    std::string accepted, refused;
    Status first_failure;
    for (size_t m = 0; m < members_.size(); ++m) {
      if (parts[m].empty()) continue;
      std::vector<Job> part;
      part.reserve(parts[m].size());
      for (size_t i : parts[m]) part.push_back(jobs[i]);
      Result<PushResult> r = call(*members_[m].store, part);
      if (!r.ok()) {
        if (first_failure.ok()) first_failure = r.status();
        refused += (refused.empty() ? "" : "; ") + Describe(m, parts[m], nullptr) + ": " +
                   r.status().ToString();
        continue;
      }
      for (size_t k = 0; k < parts[m].size(); ++k) {
        result.ids[parts[m][k]] = r->ids[k];
        result.duplicate[parts[m][k]] = r->duplicate[k];
      }
      result.pushed += r->pushed;
      result.duplicates += r->duplicates;
      accepted += (accepted.empty() ? "" : "; ") + Describe(m, parts[m], &*r);
    }
    if (first_failure.ok()) return result;
    return Status::FromCode(
        first_failure.code(),
        "push partly failed (a push is atomic per backend): not pushed: " + refused +
            (accepted.empty() ? std::string("; nothing was pushed")
                              : "; pushed: " + accepted + "; push the jobs not pushed again"));
  }

  size_t MemberOf(const std::string& type) const { return index_.at(config_.BackendOf(type)); }
  Store& For(const std::string& type) { return *members_[MemberOf(type)].store; }
  std::string Where(size_t m) const {
    return "backend '" + members_[m].name + "' (" + members_[m].address + ")";
  }
  static size_t Used(const std::vector<std::vector<size_t>>& parts) {
    return static_cast<size_t>(std::count_if(parts.begin(), parts.end(),
                                             [](const auto& p) { return !p.empty(); }));
  }

  // "jobs 0, 2 (backend 'local', ids 17, 18)": what a partial push did with one backend's part.
  std::string Describe(size_t m, const std::vector<size_t>& part, const PushResult* r) const {
    std::string jobs, ids;
    for (size_t k = 0; k < part.size(); ++k) {
      jobs += (k ? ", " : "") + std::to_string(part[k]);
      if (r) ids += (k ? ", " : "") + std::to_string(r->ids[k]);
    }
    return "jobs " + jobs + " of the batch (" + Where(m) + (r ? ", ids " + ids : "") + ")";
  }

  // The filter a pick on backend `m` uses: only the types routed there. nullopt: none can be.
  std::optional<ReadyFilter> FilterFor(size_t m, const ReadyFilter& filter) const {
    const Member& member = members_[m];
    ReadyFilter mine = filter;
    if (!filter.types.empty()) {
      mine.types.clear();
      for (const std::string& t : filter.types) {
        if (MemberOf(t) == m) mine.types.push_back(t);
      }
      if (mine.types.empty()) return std::nullopt;
      return mine;
    }
    if (member.is_default) {
      // Every type but those the config sends elsewhere by name.
      for (const auto& [type, backend] : config_.types) {
        if (type != "default" && backend != member.name) mine.exclude.push_back(type);
      }
      return mine;
    }
    mine.types.assign(member.explicit_types.begin(), member.explicit_types.end());
    if (mine.types.empty()) return std::nullopt;
    return mine;
  }

  const StoreConfig config_;
  std::vector<Member> members_;
  std::map<std::string, size_t> index_;
  const Options options_;
};

// Every type routes to a backend the config has, and "default" exists.
Status CheckRoutes(const StoreConfig& config) {
  const std::string& origin = config.origin;
  if (config.backends.empty()) {
    return Status::InvalidArgument("config '" + origin + "' names no backend");
  }
  if (!config.types.count("default")) {
    return Status::InvalidArgument("config '" + origin + "': \"types\" has no \"default\"");
  }
  for (const auto& [type, backend] : config.types) {
    if (!config.backends.count(backend)) {
      return Status::InvalidArgument("config '" + origin + "': types." + type +
                                     " names unknown backend '" + backend + "'");
    }
  }
  return Status::OK();
}

// The routed store over `stores` (one per backend of `config`, by name).
Result<std::unique_ptr<Store>> Route(StoreConfig config,
                                     std::map<std::string, std::unique_ptr<Store>> stores,
                                     const Options& options) {
  Status s = CheckRoutes(config);
  if (!s.ok()) return s;
  std::vector<RoutedStore::Member> members;
  for (auto& [name, store] : stores) {
    RoutedStore::Member m;
    m.name = name;
    m.address = Redacted(config.backends.at(name));
    m.store = std::move(store);
    m.is_default = config.types.at("default") == name;
    for (const auto& [type, backend] : config.types) {
      if (type != "default" && backend == name) m.explicit_types.insert(type);
    }
    members.push_back(std::move(m));
  }
  return std::unique_ptr<Store>(new RoutedStore(std::move(config), std::move(members), options));
}

}  // namespace

Result<std::unique_ptr<Store>> RouteTypes(std::map<std::string, std::unique_ptr<Store>> stores,
                                          const std::map<std::string, std::string>& types,
                                          const Options& options) {
  StoreConfig config;
  config.origin = "(routed stores)";
  config.types = types;
  for (const auto& [name, store] : stores) {
    if (!store) return Status::InvalidArgument("backend '" + name + "' is a null store");
    config.backends[name] = store->capabilities().medium;
  }
  return Route(std::move(config), std::move(stores), options);
}

Result<std::unique_ptr<Store>> OpenConfig(const StoreConfig& config, const Options& options) {
  Status s = CheckRoutes(config);
  if (!s.ok()) return s;
  std::map<std::string, std::unique_ptr<Store>> stores;
  for (const auto& [name, address] : config.backends) {
    auto store = Store::Open(address, options);
    if (!store.ok()) {
      return store.status().Prefixed("config '" + config.origin + "': backend '" + name + "' (" +
                                     Redacted(address) + ")");
    }
    stores[name] = std::move(store).value();
  }
  return Route(config, std::move(stores), options);
}

}  // namespace jobstore
