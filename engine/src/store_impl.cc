// Plumbing shared by every operation: the registry of types, domains and queues, writes,
// counters and ready-key bookkeeping.
#include "store_impl.h"

#include <algorithm>

#include "keys.h"
#include "jobstore/validation.h"

namespace jobstore {

Status StoreImpl::CheckWritable() const {
  if (secondary_) {
    return Status::ReadOnly("this is a read-only view of a store held by another process");
  }
  if (read_only_.load()) {
    return Status::ReadOnly("the store is in read-only mode; switch it off to change jobs");
  }
  return Status::OK();
}

Status StoreImpl::Write(rocksdb::WriteBatch* batch, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status rs = db_->Write(wo, batch);
  if (!rs.ok()) {
    return Status::IOError("write failed, nothing was changed: " + rs.ToString());
  }
  return Status::OK();
}

Status StoreImpl::Get(rocksdb::ColumnFamilyHandle* cf, const std::string& key,
                      std::string* value) {
  rocksdb::Status rs = db_->Get(rocksdb::ReadOptions(), cf, key, value);
  if (rs.IsNotFound()) return Status::NotFound("");
  if (!rs.ok()) return Status::IOError("read failed: " + rs.ToString());
  return Status::OK();
}

std::unique_ptr<rocksdb::Iterator> StoreImpl::Scan(rocksdb::ColumnFamilyHandle* cf,
                                                   const rocksdb::Slice* lower,
                                                   const rocksdb::Slice* upper) {
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = lower;
  ro.iterate_upper_bound = upper;
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(ro, cf));
}

uint64_t StoreImpl::NewNonce() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

template <typename Registry>
Status StoreImpl::RegisterMissing(const std::vector<std::string>& wanted, const Registry& registry,
                                  Status (*validate)(std::string_view),
                                  Status (StoreImpl::*create)(const std::vector<std::string>&)) {
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
  for (const auto& n : missing) {
    Status s = validate(n);
    if (!s.ok()) return s;
  }
  std::lock_guard<std::mutex> creating(create_mu_);
  missing = unregistered(missing);  // another caller may have created some meanwhile
  if (missing.empty()) return Status::OK();
  return (this->*create)(missing);
}

Result<TypeState*> StoreImpl::GetType(const std::string& type, bool create) {
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

Status StoreImpl::EnsureTypes(const std::vector<std::string>& wanted) {
  return RegisterMissing(wanted, types_, ValidateType, &StoreImpl::CreateTypes);
}

Status StoreImpl::CreateTypes(const std::vector<std::string>& missing) {
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

Result<uint32_t> StoreImpl::GetDomain(const std::string& domain, bool create) {
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

Status StoreImpl::EnsureDomains(const std::vector<std::string>& wanted) {
  return RegisterMissing(wanted, domain_ids_, ValidateDomain, &StoreImpl::CreateDomains);
}

Status StoreImpl::CreateDomains(const std::vector<std::string>& missing) {
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

QueueState* StoreImpl::FindOrAddQueue(TypeState* type, uint32_t domain_id,
                                      const std::string& domain) {
  auto& slot = queues_[{type->name, domain_id}];
  if (!slot) slot = std::make_unique<QueueState>(type, domain_id, domain);
  return slot.get();
}

Result<QueueState*> StoreImpl::GetQueue(const QueueRef& ref, bool create) {
  Status s = ValidateQueue(ref);
  if (!s.ok()) return s;
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

std::vector<QueueState*> StoreImpl::AllQueues() const {
  std::shared_lock<std::shared_mutex> l(registry_mu_);
  std::vector<QueueState*> out;
  out.reserve(queues_.size());
  for (const auto& [key, q] : queues_) out.push_back(q.get());
  return out;
}

void StoreImpl::MergeCounters(rocksdb::WriteBatch* batch, QueueState* q,
                              const CounterDelta& delta) {
  if (delta.empty()) return;
  batch->Merge(q->type->cf, keys::CountsKey(q->domain_id), EncodeCounters(delta));
}

void StoreImpl::ApplyCounters(QueueState* q, const CounterDelta& delta) {
  q->Apply(delta);
  if (delta.ready != 0) ready_index_.Refresh(q);
  if (delta.ready > 0) ready_index_.Bump();
}

std::string StoreImpl::ReadyKeyFor(QueueState* q, const StateEntry& e, JobId id) const {
  return keys::ReadyKey(q->domain_id, e.order_rank, e.order_seq, id);
}

void StoreImpl::BeginReadyInserts(
    QueueState* q, const std::vector<std::pair<std::string, std::string>>& inserts) {
  if (inserts.empty()) return;
  std::lock_guard<std::mutex> l(q->mu);
  for (const auto& [key, value] : inserts) q->ready_cursor.BeginInsert(key);
}

void StoreImpl::FinishReadyInserts(
    QueueState* q, const std::vector<std::pair<std::string, std::string>>& inserts,
    bool committed) {
  if (inserts.empty()) return;
  std::lock_guard<std::mutex> l(q->mu);
  for (const auto& [key, value] : inserts) q->ready_cursor.EndInsert(key, value, committed);
}

Result<TypeSettings> StoreImpl::GetTypeSettings(const std::string& type) {
  Status s = ValidateType(type);
  if (!s.ok()) return s;
  auto t = GetType(type, false);
  if (!t.ok()) return TypeSettings{};
  return (*t)->Settings();
}

Status StoreImpl::SetTypeSettings(const std::string& type, const TypeSettings& settings) {
  Status s = CheckWritable();
  if (s.ok()) s = ValidateSettings(settings);
  if (!s.ok()) return s;
  auto t = GetType(type, true);
  if (!t.ok()) return t.status();
  // Setters of one type are serialised on its own mutex, so neither type creation (create_mu_)
  // nor the claims and acks reading settings_mu wait behind this synced write.
  std::lock_guard<std::mutex> setting((*t)->settings_write_mu);
  rocksdb::WriteBatch batch;
  batch.Put((*t)->cf, keys::SettingsKey(), EncodeTypeSettings(settings));
  s = Write(&batch, true);
  if (s.ok()) {
    std::lock_guard<std::mutex> l((*t)->settings_mu);
    (*t)->settings = settings;
  }
  return s;
}

std::vector<std::string> StoreImpl::Types() {
  std::shared_lock<std::shared_mutex> l(registry_mu_);
  std::vector<std::string> out;
  for (const auto& [name, t] : types_) out.push_back(name);
  return out;
}

Result<QueueCounts> StoreImpl::Counts(const QueueRef& queue) {
  auto q = GetQueue(queue, false);
  if (!q.ok()) return q.status();
  if (!*q) return QueueCounts{};
  return (*q)->Counts();
}

std::vector<QueueStats> StoreImpl::Queues() {
  std::vector<QueueStats> out;
  for (QueueState* q : AllQueues()) out.push_back({q->ref(), q->Counts()});
  std::sort(out.begin(), out.end(), [](const QueueStats& a, const QueueStats& b) {
    return std::tie(a.queue.domain, a.queue.type) < std::tie(b.queue.domain, b.queue.type);
  });
  return out;
}

}  // namespace jobstore
