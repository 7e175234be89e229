// Opening, loading and closing a store.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/write_buffer_manager.h>

#include "keys.h"
#include "memtable_hint.h"
#include "merge_operator.h"
#include "store_impl.h"

namespace jobstore {
namespace fs = std::filesystem;
namespace {

// A store directory carries this file beside RocksDB's own. It lets Open refuse a directory
// that is not a store, or a newer schema, before RocksDB writes anything into it.
constexpr const char* kMarkerFile = "JOBSTORE";
constexpr const char* kPidFile = "jobstore.pid";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s;
}

Status WriteMarker(const fs::path& dir) {
  std::ofstream out(dir / kMarkerFile);
  out << "jobstore " << kSchemaVersion << "\n";
  out.close();
  if (!out) return Status::IOError("cannot write " + (dir / kMarkerFile).string());
  return Status::OK();
}

// Checks what is in `path` before RocksDB touches it. Sets *fresh when a new store must be
// created there.
Status InspectDirectory(const std::string& path, bool create, bool* fresh) {
  std::error_code ec;
  const fs::path dir(path);
  if (!fs::exists(dir, ec)) {
    if (!create) return Status::NotFound("no store at '" + path + "'; create it first (jobstore init)");
    *fresh = true;
    return Status::OK();
  }
  if (!fs::is_directory(dir, ec)) {
    return Status::InvalidArgument("'" + path + "' is not a directory; give a store directory");
  }
  if (fs::is_empty(dir, ec)) {
    if (!create) return Status::NotFound("'" + path + "' is empty, not a store; create it first");
    *fresh = true;
    return Status::OK();
  }
  *fresh = false;
  if (!fs::exists(dir / kMarkerFile, ec)) {
    return Status::InvalidArgument("'" + path + "' is not a jobstore store (it has no " +
                                   kMarkerFile +
                                   " file); use a new or empty directory for a new store");
  }
  const std::string marker = ReadFile(dir / kMarkerFile);
  unsigned version = 0;
  if (std::sscanf(marker.c_str(), "jobstore %u", &version) != 1) {
    return Status::Corruption("'" + path + "/" + kMarkerFile + "' is damaged: '" + marker + "'");
  }
  if (version > kSchemaVersion) {
    return Status::NotSupported("'" + path + "' was written by a newer jobstore (schema " +
                                std::to_string(version) + ", this build reads up to " +
                                std::to_string(kSchemaVersion) + "); upgrade jobstore");
  }
  return Status::OK();
}

}  // namespace

QueueState::QueueState(TypeState* t, uint32_t domain_id_in, std::string domain_name)
    : type(t),
      domain_id(domain_id_in),
      domain(std::move(domain_name)),
      ready_cursor(keys::Prefix(keys::kReady, domain_id_in)),
      delayed_floor(keys::Prefix(keys::kDelayed, domain_id_in)),
      claimed_floor(keys::Prefix(keys::kClaimed, domain_id_in)),
      abandoned_floor(keys::Prefix(keys::kAbandoned, domain_id_in)),
      root_cursor(keys::Prefix(keys::kRoot, domain_id_in)) {}

void QueueState::Apply(const CounterDelta& d) {
  if (d.ready) ready.fetch_add(d.ready, std::memory_order_acq_rel);
  if (d.claimed) claimed.fetch_add(d.claimed, std::memory_order_acq_rel);
  if (d.delayed) delayed.fetch_add(d.delayed, std::memory_order_acq_rel);
  if (d.abandoned) abandoned.fetch_add(d.abandoned, std::memory_order_acq_rel);
}

QueueCounts QueueState::Counts() const {
  auto v = [](const std::atomic<int64_t>& a) {
    const int64_t x = a.load(std::memory_order_acquire);
    return static_cast<uint64_t>(x < 0 ? 0 : x);
  };
  return {v(ready), v(claimed), v(delayed), v(abandoned)};
}

StoreImpl::StoreImpl(const Options& options, std::string path)
    : options_(options), path_(std::move(path)) {
  clock_ = options_.clock ? options_.clock : SystemClock();
  read_only_.store(options_.read_only);
}

Result<std::unique_ptr<Store>> Store::Open(const Options& options, const std::string& path) {
  return StoreImpl::OpenImpl(options, path, nullptr);
}

Result<std::unique_ptr<Store>> Store::OpenSecondary(const Options& options,
                                                    const std::string& path,
                                                    const std::string& scratch_dir) {
  return StoreImpl::OpenImpl(options, path, &scratch_dir);
}

Result<std::unique_ptr<Store>> StoreImpl::OpenImpl(const Options& options,
                                                   const std::string& path,
                                                   const std::string* secondary_dir) {
  if (path.empty()) return Status::InvalidArgument("store path is empty; name a directory");
  std::unique_ptr<StoreImpl> store(new StoreImpl(options, path));
  Status s = store->OpenDb(secondary_dir);
  if (!s.ok()) return s;
  s = store->LoadState();
  if (s.ok() && !store->secondary_) s = store->ResumeCursors();
  if (!s.ok()) return s;
  if (!store->secondary_ && options.maintenance_interval_ms > 0) {
    store->maintenance_thread_ = std::thread([p = store.get()] { p->MaintenanceLoop(); });
  }
  return std::unique_ptr<Store>(std::move(store));
}

rocksdb::ColumnFamilyOptions StoreImpl::TypeFamilyOptions() const {
  rocksdb::ColumnFamilyOptions cfo;
  cfo.merge_operator = NewStoreMergeOperator();
  cfo.write_buffer_size = options_.write_buffer_bytes_per_type;
  cfo.max_write_buffer_number = 3;
  // A memtable's arena grows in blocks of this size; RocksDB's default (1/8 of the write
  // buffer) charged 1,000 idle types 512 KB each against the shared write-buffer budget.
  cfo.arena_block_size = 64 << 10;
  cfo.level_compaction_dynamic_level_bytes = true;
  cfo.memtable_insert_with_hint_prefix_extractor = NewMemtableHintPrefix();
  // Deletion-triggered compaction keeps drained ranges from piling up tombstones (rule 3).
  cfo.table_properties_collector_factories.push_back(
      rocksdb::NewCompactOnDeletionCollectorFactory(128, 64, 0.5));
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = block_cache_;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cfo;
}

Status StoreImpl::OpenDb(const std::string* secondary_dir) {
  secondary_ = secondary_dir != nullptr;
  bool fresh = false;
  Status s = InspectDirectory(path_, options_.create_if_missing && !secondary_, &fresh);
  if (!s.ok()) return s;

  block_cache_ = rocksdb::NewLRUCache(options_.block_cache_bytes);
  write_buffer_manager_ =
      std::make_shared<rocksdb::WriteBufferManager>(options_.total_write_buffer_bytes);

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = fresh;
  dbo.create_missing_column_families = true;
  dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;  // Debian's build defaults to DEBUG
  dbo.keep_log_file_num = 3;
  // Cold types must not pin the WAL: past this size RocksDB flushes the families holding the
  // oldest log, so a crash replays at most this much at open.
  dbo.max_total_wal_size = 64u << 20;
  dbo.write_buffer_manager = write_buffer_manager_;
  dbo.max_background_jobs = 2;
  dbo.max_open_files = -1;
  // Recovery opens each column family's tables with this many new threads: with 1,000 types
  // the default (16) spawned 16,000 threads and made reopen take seconds.
  dbo.max_file_opening_threads = 1;
  // Recovered memtables stay in memory instead of becoming one tiny SST per type at open.
  dbo.avoid_flush_during_recovery = true;
  if (options_.env) dbo.env = options_.env;

  if (fresh) {
    std::error_code ec;
    fs::create_directories(path_, ec);
    if (ec) return Status::IOError("cannot create '" + path_ + "': " + ec.message());
    s = WriteMarker(path_);
    if (!s.ok()) return s;
  }

  std::vector<std::string> families{rocksdb::kDefaultColumnFamilyName};
  if (!fresh) {
    families.clear();
    rocksdb::Status rs = rocksdb::DB::ListColumnFamilies(dbo, path_, &families);
    if (!rs.ok()) {
      return Status::Corruption("'" + path_ + "' has a jobstore marker but no readable database: " +
                                rs.ToString());
    }
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  rocksdb::ColumnFamilyOptions default_options = TypeFamilyOptions();
  for (const auto& name : families) {
    if (name == rocksdb::kDefaultColumnFamilyName) {
      descriptors.emplace_back(name, default_options);
    } else if (!keys::TypeOfFamily(name).empty()) {
      descriptors.emplace_back(name, TypeFamilyOptions());
    } else {
      return Status::Corruption("'" + path_ + "' holds an unknown column family '" + name + "'");
    }
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status rs;
  if (secondary_) {
    rs = rocksdb::DB::OpenAsSecondary(dbo, path_, *secondary_dir, descriptors, &handles, &raw);
  } else {
    rs = rocksdb::DB::Open(dbo, path_, descriptors, &handles, &raw);
  }
  if (!rs.ok()) {
    const std::string msg = rs.ToString();
    if (msg.find("lock") != std::string::npos || msg.find("Lock") != std::string::npos) {
      std::string pid = ReadFile(fs::path(path_) / kPidFile);
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      return Status::Busy("store in use by process " + (pid.empty() ? "?" : pid) +
                          "; stop it, or use a read-only command");
    }
    return Status::IOError("cannot open store '" + path_ + "': " + msg);
  }
  db_.reset(raw);
  for (size_t i = 0; i < handles.size(); ++i) {
    const std::string& name = descriptors[i].name;
    if (name == rocksdb::kDefaultColumnFamilyName) {
      default_cf_ = handles[i];
      continue;
    }
    auto t = std::make_unique<TypeState>();
    t->name = keys::TypeOfFamily(name);
    t->cf = handles[i];
    types_[t->name] = std::move(t);
  }
  if (!secondary_) {
    std::ofstream pid(fs::path(path_) / kPidFile, std::ios::trunc);
    pid << getpid() << "\n";
  }

  if (fresh) {
    rocksdb::WriteBatch batch;
    std::string v;
    keys::PutBE32(&v, kSchemaVersion);
    batch.Put(default_cf_, std::string(1, keys::kVersion), v);
    std::string id;
    keys::PutBE32(&id, 0);
    batch.Put(default_cf_, keys::DomainKey(""), id);
    s = Write(&batch, true);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status StoreImpl::LoadState() {
  std::string v;
  Status s = Get(default_cf_, std::string(1, keys::kVersion), &v);
  if (s.IsNotFound()) {
    return Status::Corruption("store '" + path_ + "' has no schema version record");
  }
  if (!s.ok()) return s;
  if (v.size() != 4) return Status::Corruption("schema version record is damaged");
  if (keys::GetBE32(v.data()) > kSchemaVersion) {
    return Status::NotSupported("store '" + path_ + "' has a newer schema; upgrade jobstore");
  }

  std::unique_lock<std::shared_mutex> registry(registry_mu_);
  // Domains.
  {
    const std::string lo(1, keys::kDomain), hi(1, keys::kDomain + 1);
    rocksdb::Slice l(lo), h(hi);
    auto it = Scan(default_cf_, &l, &h);
    for (it->Seek(lo); it->Valid(); it->Next()) {
      if (it->value().size() != 4) return Status::Corruption("domain record is damaged");
      const std::string name = it->key().ToString().substr(1);
      const uint32_t id = keys::GetBE32(it->value().data());
      domain_ids_[name] = id;
      if (domain_names_.size() <= id) domain_names_.resize(id + 1);
      domain_names_[id] = name;
    }
    if (!it->status().ok()) return Status::IOError(it->status().ToString());
  }
  // Job id high-water mark.
  s = Get(default_cf_, std::string(1, keys::kHighWater), &v);
  if (s.ok()) {
    if (v.size() != 8) return Status::Corruption("job id high-water mark is damaged");
    next_id_.store(keys::GetBE64(v.data()) + 1);
  } else if (!s.IsNotFound()) {
    return s;
  }
  // Types: settings and per-queue counters.
  for (auto& [name, t] : types_) {
    s = Get(t->cf, keys::SettingsKey(), &v);
    if (s.ok()) {
      TypeSettings ts;
      s = DecodeTypeSettings(v, &ts);
      if (!s.ok()) return Status::Corruption("settings of type '" + name + "': " + s.message());
      std::lock_guard<std::mutex> l(t->settings_mu);
      t->settings = ts;
    } else if (!s.IsNotFound()) {
      return s;
    }
    const std::string lo(1, keys::kCounts), hi(1, keys::kCounts + 1);
    rocksdb::Slice l(lo), h(hi);
    auto it = Scan(t->cf, &l, &h);
    for (it->Seek(lo); it->Valid(); it->Next()) {
      if (it->key().size() != 5) return Status::Corruption("counter key of '" + name + "' is damaged");
      const uint32_t dom = keys::DomainOf(it->key().ToStringView());
      if (dom >= domain_names_.size()) {
        return Status::Corruption("type '" + name + "' has jobs in unknown domain id " +
                                  std::to_string(dom));
      }
      CounterDelta c;
      s = DecodeCounters(it->value().ToStringView(), &c);
      if (!s.ok()) return s;
      QueueState* q = FindOrAddQueue(t.get(), dom, domain_names_[dom]);
      s = RaiseNextIdAbove(t->cf, dom);
      if (!s.ok()) return s;
      q->ready.store(c.ready);
      q->claimed.store(c.claimed);
      q->delayed.store(c.delayed);
      q->abandoned.store(c.abandoned);
      ready_index_.Refresh(q);
    }
    if (!it->status().ok()) return Status::IOError(it->status().ToString());
  }
  return Status::OK();
}

// A clean close saves where each queue's claims would resume (`P`); without it a new process's
// first claim walks every tombstone its predecessors' drains left in the ready range (62,000 of
// them, 40 ms, in a 1M-job store after 300k were drained). The saved keys are deleted before the
// store is used, so only a clean close ever leaves one: a stale one, after a crash, could hide a
// job that re-entered ready below it. Deleting them must succeed, or Open fails.
Status StoreImpl::ResumeCursors() {
  rocksdb::WriteBatch batch;
  std::vector<std::pair<QueueState*, std::string>> resume;
  for (QueueState* q : AllQueues()) {
    std::string v;
    Status s = Get(q->type->cf, keys::CursorKey(q->domain_id), &v);
    if (s.IsNotFound()) continue;
    if (!s.ok()) return s;
    batch.Delete(q->type->cf, keys::CursorKey(q->domain_id));
    // A damaged key is not trusted: that queue's first claim walks from the start instead.
    if (v.size() == keys::kReadyKeySize && v.starts_with(keys::Prefix(keys::kReady, q->domain_id))) {
      resume.emplace_back(q, std::move(v));
    }
  }
  if (batch.Count() == 0) return Status::OK();
  Status s = Write(&batch, false);
  if (!s.ok()) {
    return Status::IOError("cannot clear the claim cursors saved at the last close: " +
                           s.message());
  }
  for (auto& [q, key] : resume) {
    std::lock_guard<std::mutex> l(q->mu);
    q->ready_cursor.ResumeAt(key);
  }
  return Status::OK();
}

void StoreImpl::SaveCursors() {
  rocksdb::WriteBatch batch;
  for (QueueState* q : AllQueues()) {
    std::string key;
    {
      std::lock_guard<std::mutex> l(q->mu);
      key = q->ready_cursor.ResumeKey();
    }
    if (key > keys::Prefix(keys::kReady, q->domain_id)) {
      batch.Put(q->type->cf, keys::CursorKey(q->domain_id), key);
    }
  }
  // Best effort: if it fails, the next open walks the drained prefixes once.
  if (batch.Count() > 0) (void)Write(&batch, false);
}

Status StoreImpl::RaiseNextIdAbove(rocksdb::ColumnFamilyHandle* cf, uint32_t domain_id) {
  // The high-water mark lives in the default family, the jobs in their type's. A write that
  // failed in the WAL can still be replayed at the next open into the families that were not
  // flushed since, and skipped in those that were (RocksDB replays per family from its own log
  // number), so jobs can come back without the mark that covered them. Ids must never repeat:
  // take the highest stored id of each queue into account too (one seek per queue).
  const std::string lo = keys::Prefix(keys::kJob, domain_id);
  const std::string hi = keys::PrefixEnd(lo);
  rocksdb::Slice l(lo), h(hi);
  auto it = Scan(cf, &l, &h);
  it->SeekToLast();
  if (it->Valid()) {
    const JobId highest = keys::IdOf(it->key().ToStringView());
    if (highest >= next_id_.load()) next_id_.store(highest + 1);
  }
  if (!it->status().ok()) return Status::IOError("reading the highest job id: " + it->status().ToString());
  return Status::OK();
}

StoreImpl::~StoreImpl() {
  {
    std::lock_guard<std::mutex> l(thread_mu_);
    stopping_ = true;
  }
  thread_cv_.notify_all();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  ready_index_.Shutdown();
  if (db_ && !secondary_) {
    SaveCursors();
    // Flushed memtables make the next open replay no WAL (a clean close costs one small SST
    // per type that has unflushed writes).
    std::vector<rocksdb::ColumnFamilyHandle*> all{default_cf_};
    for (auto& [name, t] : types_) all.push_back(t->cf);
    rocksdb::FlushOptions fo;
    db_->Flush(fo, all);
  }
  if (db_) {
    for (auto& [name, t] : types_) db_->DestroyColumnFamilyHandle(t->cf);
    if (default_cf_) db_->DestroyColumnFamilyHandle(default_cf_);
    db_->Close();
    db_.reset();
    if (!secondary_) {
      std::error_code ec;
      fs::remove(fs::path(path_) / kPidFile, ec);
    }
  }
}

Status StoreImpl::Refresh() {
  if (!secondary_) return Status::OK();
  rocksdb::Status rs = db_->TryCatchUpWithPrimary();
  if (!rs.ok()) return Status::IOError("cannot catch up with the writer: " + rs.ToString());
  return LoadState();
}

Status StoreImpl::Checkpoint(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return Status::InvalidArgument("checkpoint directory '" + dir +
                                   "' exists; name a new directory");
  }
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status rs = rocksdb::Checkpoint::Create(db_.get(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  if (rs.ok()) rs = cp->CreateCheckpoint(dir);
  if (!rs.ok()) return Status::IOError("checkpoint to '" + dir + "' failed: " + rs.ToString());
  return WriteMarker(dir);
}

}  // namespace jobstore
