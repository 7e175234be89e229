// Plumbing shared by every operation: the registry of types, domains and queues, writes,
// counters and ready-key bookkeeping.
#include "rocks_backend.h"

#include <algorithm>

#include "keys.h"

namespace jobstore {

Status RocksBackend::Writable() const {
  if (secondary_) {
    return Status::ReadOnly("this is a read-only view of a store held by another process");
  }
  return Status::OK();
}

Capabilities RocksBackend::capabilities() const {
  Capabilities c;
  c.medium = "rocksdb";
  c.push_atomicity = Capabilities::PushAtomicity::kWholeBatch;
  c.exact_counts = true;
  c.exact_ready_index = true;
  const bool power = options_.durability == Durability::kPowerLoss;
  c.push_durability =
      power ? Capabilities::Durability::kPowerLoss : Capabilities::Durability::kProcessCrash;
  c.shared = false;
  c.note = "RocksDB at " + path_ + (power ? ", WAL fsynced on push" : ", WAL written (no fsync) on push");
  return c;
}

Status RocksBackend::Write(rocksdb::WriteBatch* batch, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status rs = db_->Write(wo, batch);
  if (!rs.ok()) {
    return Status::IOError("write failed, nothing was changed: " + rs.ToString());
  }
  return Status::OK();
}

Status RocksBackend::Get(rocksdb::ColumnFamilyHandle* cf, const std::string& key,
                      std::string* value) {
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf, key, value);
  if (rs.IsNotFound()) return Status::NotFound("");
  if (!rs.ok()) return Status::IOError("read failed: " + rs.ToString());
  return Status::OK();
}

std::unique_ptr<rocksdb::Iterator> RocksBackend::Scan(rocksdb::ColumnFamilyHandle* cf,
                                                   const rocksdb::Slice* lower,
                                                   const rocksdb::Slice* upper) {
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = lower;
  ro.iterate_upper_bound = upper;
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(ro, cf));
}

uint64_t RocksBackend::NewNonce() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

template <typename Registry>
Status RocksBackend::RegisterMissing(const std::vector<std::string>& wanted, const Registry& registry,
                                  Status (RocksBackend::*create)(const std::vector<std::string>&)) {
  auto unregistered = [&](const std::vector<std::string>& names) {
    std::vector<std::string> out;
    {
      std::shared_lock<std::shared_mutex> l(registry_mu_);
      for (const auto& n : names) {
        if (!registry.count(n)) out.push_back(n);
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  };
  std::vector<std::string> missing = unregistered(wanted);
  if (missing.empty()) return Status::OK();
  std::lock_guard<std::mutex> creating(create_mu_);
  missing = unregistered(missing);  // another caller may have created some meanwhile
  if (missing.empty()) return Status::OK();
  return (this->*create)(missing);
}

Result<TypeState*> RocksBackend::GetType(const std::string& type, bool create) {
  {
    std::shared_lock<std::shared_mutex> l(registry_mu_);
    auto it = types_.find(type);
    if (it != types_.end()) return it->second.get();
  }
  if (!create) return Status::NotFound("no job type '" + type + "' in this store");
  Status s = EnsureTypes({type});
  if (!s.ok()) return s;
  std::shared_lock<std::shared_mutex> l(registry_mu_);
  return types_.at(type).get();
}

Status RocksBackend::EnsureTypes(const std::vector<std::string>& wanted) {
  return RegisterMissing(wanted, types_, &RocksBackend::CreateTypes);
}

Status RocksBackend::CreateTypes(const std::vector<std::string>& missing) {
  // One call for all new types: RocksDB rewrites its OPTIONS file (which lists every column
  // family) once per call, so creating types one by one costs O(types^2).
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& t : missing) {
    descriptors.emplace_back(keys::TypeFamilyName(t), TypeFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status rs = db_->CreateColumnFamilies(descriptors, &handles);
  if (!rs.ok()) {
    for (auto* h : handles) {
      db_->DropColumnFamily(h);
      db_->DestroyColumnFamilyHandle(h);
    }
    return Status::IOError("cannot create job types: " + rs.ToString());
  }
  rocksdb::WriteBatch batch;
  const TypeSettings defaults;
  for (auto* h : handles) batch.Put(h, keys::SettingsKey(), EncodeTypeSettings(defaults));
  Status s = Write(&batch, true);
  if (!s.ok()) {
    for (auto* h : handles) {
      db_->DropColumnFamily(h);
      db_->DestroyColumnFamilyHandle(h);
    }
    return s;
  }
  std::unique_lock<std::shared_mutex> l(registry_mu_);
  for (size_t i = 0; i < handles.size(); ++i) {
    auto t = std::make_unique<TypeState>();
    t->name = missing[i];
    t->cf = handles[i];
    types_[missing[i]] = std::move(t);
  }
  return Status::OK();
}

Result<uint32_t> RocksBackend::GetDomain(const std::string& domain, bool create) {
  {
    std::shared_lock<std::shared_mutex> l(registry_mu_);
    auto it = domain_ids_.find(domain);
    if (it != domain_ids_.end()) return it->second;
  }
  if (!create) return Status::NotFound("no domain '" + domain + "' in this store");
  Status s = EnsureDomains({domain});
  if (!s.ok()) return s;
  std::shared_lock<std::shared_mutex> l(registry_mu_);
  return domain_ids_.at(domain);
}

Status RocksBackend::EnsureDomains(const std::vector<std::string>& wanted) {
  return RegisterMissing(wanted, domain_ids_, &RocksBackend::CreateDomains);
}

Status RocksBackend::CreateDomains(const std::vector<std::string>& missing) {
  const auto next_id = static_cast<uint32_t>(domain_names_.size());  // stable under create_mu_
  // One synced write for all of them: a push into 1,000 new domains paid 1,000 fsyncs.
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < missing.size(); ++i) {
    std::string v;
    keys::PutBE32(&v, next_id + static_cast<uint32_t>(i));
    batch.Put(default_cf_, keys::DomainKey(missing[i]), v);
  }
  Status s = Write(&batch, true);
  if (!s.ok()) return s;
  std::unique_lock<std::shared_mutex> l(registry_mu_);
  for (const auto& d : missing) {
    domain_ids_[d] = static_cast<uint32_t>(domain_names_.size());
    domain_names_.push_back(d);
  }
  return Status::OK();
}

QueueState* RocksBackend::FindOrAddQueue(TypeState* type, uint32_t domain_id,
                                      const std::string& domain) {
  auto& slot = queues_[{type->name, domain_id}];
  if (!slot) slot = std::make_unique<QueueState>(type, domain_id, domain);
  return slot.get();
}

Result<QueueState*> RocksBackend::GetQueue(const QueueRef& ref, bool create) {
  auto type = GetType(ref.type, create);
  if (!type.ok()) return type.status().IsNotFound() ? Result<QueueState*>(nullptr) : type.status();
  auto domain = GetDomain(ref.domain, create);
  if (!domain.ok()) {
    return domain.status().IsNotFound() ? Result<QueueState*>(nullptr) : domain.status();
  }
  {
    std::shared_lock<std::shared_mutex> l(registry_mu_);
    auto it = queues_.find({ref.type, *domain});
    if (it != queues_.end()) return it->second.get();
  }
  if (!create) return Result<QueueState*>(nullptr);
  std::unique_lock<std::shared_mutex> l(registry_mu_);
  return FindOrAddQueue(*type, *domain, ref.domain);
}

std::vector<QueueState*> RocksBackend::AllQueues() const {
  std::shared_lock<std::shared_mutex> l(registry_mu_);
  std::vector<QueueState*> out;
  out.reserve(queues_.size());
  for (const auto& [key, q] : queues_) out.push_back(q.get());
  return out;
}

void RocksBackend::MergeCounters(rocksdb::WriteBatch* batch, QueueState* q,
                              const CounterDelta& delta) {
  const CounterDelta persisted = PersistedDelta(delta);
  if (persisted.empty()) return;
  batch->Merge(q->type->cf, keys::CountsKey(q->domain_id), EncodeCounterDelta(persisted));
}

void RocksBackend::ApplyCounters(QueueState* q, const CounterDelta& delta) {
  q->Apply(delta);
  if (delta.ready != 0) ready_index_.Refresh(q);
  if (delta.ready > 0) ready_index_.Bump();
}

std::string RocksBackend::ReadyKeyFor(QueueState* q, const StateEntry& e, JobId id) const {
  return keys::ReadyKey(q->domain_id, e.order_rank, e.order_seq, id);
}

void RocksBackend::BeginReadyInserts(
    QueueState* q, const std::vector<std::pair<std::string, std::string>>& inserts) {
  if (inserts.empty()) return;
  std::lock_guard<std::mutex> l(q->mu);
  for (const auto& [key, value] : inserts) q->ready_cursor.BeginInsert(key);
}

void RocksBackend::FinishReadyInserts(
    QueueState* q, const std::vector<std::pair<std::string, std::string>>& inserts,
    bool committed) {
  if (inserts.empty()) return;
  std::lock_guard<std::mutex> l(q->mu);
  for (const auto& [key, value] : inserts) q->ready_cursor.EndInsert(key, value, committed);
}

void RocksBackend::Transition::Leave(JobState state, const std::string& key) {
  batch_.SingleDelete(q_->type->cf, key);
  switch (state) {
    case JobState::kReady: --delta_.ready; break;
    case JobState::kClaimed: --delta_.claimed; break;
    case JobState::kDelayed: --delta_.delayed; break;
    case JobState::kAbandoned: --delta_.abandoned; break;
  }
}

void RocksBackend::Transition::EnterReady(JobId id, const StateEntry& e) {
  std::string value = EncodeStateEntry(e);
  std::string key = b_->ReadyKeyFor(q_, e, id);
  batch_.Put(q_->type->cf, key, value);
  ready_.emplace_back(std::move(key), std::move(value));
  ++delta_.ready;
}

void RocksBackend::Transition::EnterDelayed(JobId id, const StateEntry& e, int64_t release_at_ms) {
  std::string key = keys::TimedKey(keys::kDelayed, q_->domain_id, release_at_ms, id);
  batch_.Put(q_->type->cf, key, EncodeStateEntry(e));
  if (lowest_delayed_.empty() || key < lowest_delayed_) lowest_delayed_ = std::move(key);
  ++delta_.delayed;
}

void RocksBackend::Transition::EnterClaimed(JobId id, const StateEntry& e, int64_t deadline_ms) {
  std::string key = keys::TimedKey(keys::kClaimed, q_->domain_id, deadline_ms, id);
  batch_.Put(q_->type->cf, key, EncodeStateEntry(e));
  if (lowest_claimed_.empty() || key < lowest_claimed_) lowest_claimed_ = std::move(key);
  ++delta_.claimed;
}

void RocksBackend::Transition::EnterAbandoned(JobId id, StateEntry e, int64_t now) {
  e.abandoned_at_ms = now;
  batch_.Put(q_->type->cf, keys::TimedKey(keys::kAbandoned, q_->domain_id, now, id),
             EncodeStateEntry(e));
  ++delta_.abandoned;
}

void RocksBackend::Transition::Enter(const Disposition& to, JobId id, StateEntry e, int64_t now) {
  if (!to.error.empty()) {
    e.last_error = to.error;
    e.last_error_at_ms = now;
  }
  switch (to.to) {
    case Disposition::To::kReady: return EnterReady(id, e);
    case Disposition::To::kDelayed: return EnterDelayed(id, e, to.release_at_ms);
    case Disposition::To::kAbandoned: return EnterAbandoned(id, std::move(e), now);
  }
}

Status RocksBackend::Transition::Commit(bool sync) {
  if (batch_.Count() == 0) return Status::OK();
  b_->MergeCounters(&batch_, q_, delta_);
  b_->BeginReadyInserts(q_, ready_);
  Status s = b_->Write(&batch_, sync);
  b_->FinishReadyInserts(q_, ready_, s.ok());
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> l(q_->mu);
    if (!lowest_delayed_.empty() && lowest_delayed_ < q_->delayed_floor) {
      q_->delayed_floor = lowest_delayed_;
    }
    if (!lowest_claimed_.empty() && lowest_claimed_ < q_->claimed_floor) {
      q_->claimed_floor = lowest_claimed_;
    }
  }
  b_->ApplyCounters(q_, delta_);
  return Status::OK();
}

Result<TypeSettings> RocksBackend::GetTypeSettings(const std::string& type) {
  auto t = GetType(type, false);
  if (!t.ok()) return TypeSettings{};
  return (*t)->Settings();
}

Status RocksBackend::SetTypeSettings(const std::string& type, const TypeSettings& settings) {
  auto t = GetType(type, true);
  if (!t.ok()) return t.status();
  // Setters of one type are serialised on its own mutex, so neither type creation (create_mu_)
  // nor the claims and acks reading settings_mu wait behind this synced write.
  std::lock_guard<std::mutex> setting((*t)->settings_write_mu);
  rocksdb::WriteBatch batch;
  batch.Put((*t)->cf, keys::SettingsKey(), EncodeTypeSettings(settings));
  Status s = Write(&batch, true);
  if (s.ok()) {
    std::lock_guard<std::mutex> l((*t)->settings_mu);
    (*t)->settings = settings;
  }
  return s;
}

Result<std::vector<std::string>> RocksBackend::Types() {
  std::shared_lock<std::shared_mutex> l(registry_mu_);
  std::vector<std::string> out;
  for (const auto& [name, t] : types_) out.push_back(name);
  return out;
}

Result<QueueCounts> RocksBackend::Counts(const QueueRef& queue) {
  auto q = GetQueue(queue, false);
  if (!q.ok()) return q.status();
  if (!*q) return QueueCounts{};
  return (*q)->Counts();
}

Result<std::vector<QueueStats>> RocksBackend::Queues() {
  std::vector<QueueStats> out;
  for (QueueState* q : AllQueues()) out.push_back({q->ref(), q->Counts(), ""});
  std::sort(out.begin(), out.end(), [](const QueueStats& a, const QueueStats& b) {
    return std::tie(a.queue.domain, a.queue.type) < std::tie(b.queue.domain, b.queue.type);
  });
  return out;
}

}  // namespace jobstore
