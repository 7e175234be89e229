// Opening, loading and closing a store.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>

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
#include "private_files.h"
#include "rocks_backend.h"

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

Status WriteMarker(const fs::path& dir, bool group_may_read) {
  return WritePrivateFile(dir / kMarkerFile, "jobstore " + std::to_string(kSchemaVersion) + "\n",
                          StoreFileMode(group_may_read));
}

// The process holding the store's lock. RocksDB locks its LOCK file with fcntl, so F_GETLK names
// the holder exactly, even before the holder has written its pid file (a pid file alone made
// two concurrent pushers print "store in use by process ?"). Within this process F_GETLK sees no
// conflict: the pid file, then, names this process. 0 when neither tells.
int64_t HolderPid(const std::string& path) {
  const std::string lock = (fs::path(path) / "LOCK").string();
  const int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct flock f {};
    f.l_type = F_WRLCK;
    f.l_whence = SEEK_SET;
    const int r = ::fcntl(fd, F_GETLK, &f);
    ::close(fd);
    if (r == 0 && f.l_type != F_UNLCK && f.l_pid > 0) return f.l_pid;
  }
  const std::string text = ReadFile(fs::path(path) / kPidFile);
  long long pid = 0;
  if (std::sscanf(text.c_str(), "%lld", &pid) != 1 || pid <= 0) return 0;
  return pid;
}

// Checks what is in `path` before RocksDB touches it. Sets *fresh when a new store must be
// created there, and otherwise *schema to the version its marker file names.
Status InspectDirectory(const std::string& path, bool create, bool* fresh, uint32_t* schema) {
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
  *schema = version;
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
  // Sequentially consistent: the ready index's lock-free check relies on it (ready_index.cc).
  if (d.ready) ready.fetch_add(d.ready);
  if (d.claimed) claimed.fetch_add(d.claimed);
  if (d.delayed) delayed.fetch_add(d.delayed);
  if (d.abandoned) abandoned.fetch_add(d.abandoned);
}

QueueCounts QueueState::Counts() const {
  auto v = [](const std::atomic<int64_t>& a) {
    const int64_t x = a.load(std::memory_order_acquire);
    return static_cast<uint64_t>(x < 0 ? 0 : x);
  };
  return {v(ready), v(claimed), v(delayed), v(abandoned)};
}

RocksBackend::RocksBackend(const Options& options, const RocksDbOptions& rocksdb,
                           std::string path)
    : options_(options), rocksdb_(rocksdb), path_(std::move(path)) {}

Result<std::unique_ptr<RocksBackend>> RocksBackend::Open(const std::string& path,
                                                         const Options& options,
                                                         const RocksDbOptions& rocksdb,
                                                         const std::string* secondary_dir) {
  if (path.empty()) return Status::InvalidArgument("store path is empty; name a directory");
  std::unique_ptr<RocksBackend> store(new RocksBackend(options, rocksdb, path));
  Status s = store->OpenDb(secondary_dir);
  if (!s.ok()) return s;
  s = store->LoadState();
  if (s.ok() && !store->secondary_) s = store->UpgradeSchema();
  if (s.ok() && !store->secondary_) s = store->ResumeCursors();
  if (!s.ok()) return s;
  return store;
}

Result<std::unique_ptr<Store>> RocksDb::Open(const std::string& path, const Options& options,
                                             const RocksDbOptions& rocksdb) {
  auto backend = RocksBackend::Open(path, options, rocksdb, nullptr);
  if (!backend.ok()) return backend.status();
  return Store::Over(std::move(backend).value(), options);
}

Result<std::unique_ptr<Store>> RocksDb::OpenSecondary(const std::string& path,
                                                      const std::string& scratch_dir,
                                                      const Options& options,
                                                      const RocksDbOptions& rocksdb) {
  auto backend = RocksBackend::Open(path, options, rocksdb, &scratch_dir);
  if (!backend.ok()) return backend.status();
  return Store::Over(std::move(backend).value(), options);
}

namespace {
Result<RocksBackend*> RocksOf(Store& store, const char* what) {
  auto* rocks = dynamic_cast<RocksBackend*>(store.backend());
  if (!rocks) {
    return Status::NotSupported(std::string(what) + " is an operation of a RocksDB store; this one is " +
                                store.capabilities().medium);
  }
  return rocks;
}
}  // namespace

Status RocksDb::Checkpoint(Store& store, const std::string& dir) {
  auto rocks = RocksOf(store, "checkpoint");
  if (!rocks.ok()) return rocks.status();
  return (*rocks)->Checkpoint(dir);
}

Status RocksDb::Refresh(Store& store) {
  auto rocks = RocksOf(store, "refresh");
  if (!rocks.ok()) return rocks.status();
  return (*rocks)->Refresh();
}

rocksdb::ColumnFamilyOptions RocksBackend::TypeFamilyOptions() const {
  rocksdb::ColumnFamilyOptions cfo;
  cfo.merge_operator = NewStoreMergeOperator();
  cfo.write_buffer_size = rocksdb_.write_buffer_bytes_per_type;
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

Status RocksBackend::OpenDb(const std::string* secondary_dir) {
  secondary_ = secondary_dir != nullptr;
  if (secondary_dir) secondary_dir_ = *secondary_dir;
  bool fresh = false;
  Status s =
      InspectDirectory(path_, options_.create_if_missing && !secondary_, &fresh, &marker_schema_);
  if (fresh) marker_schema_ = kSchemaVersion;  // written below
  if (!s.ok()) return s;

  block_cache_ = rocksdb::NewLRUCache(rocksdb_.block_cache_bytes);
  write_buffer_manager_ =
      std::make_shared<rocksdb::WriteBufferManager>(rocksdb_.total_write_buffer_bytes);

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
  if (rocksdb_.env) dbo.env = rocksdb_.env;

  if (fresh) {
    std::error_code ec;
    fs::create_directories(path_, ec);
    if (ec) return Status::IOError("cannot create '" + path_ + "': " + ec.message());
    s = MakeStoreDirectory(path_, rocksdb_.group_may_read);
    if (s.ok()) s = WriteMarker(path_, rocksdb_.group_may_read);
    if (!s.ok()) return s;
  }
  // An existing store keeps what its directory says. A caller's own Env (a test's
  // fault-injecting one) keeps its own file modes.
  group_may_read_ = fresh ? rocksdb_.group_may_read : GroupMayRead(path_);
  if (!rocksdb_.env) {
    private_env_ = NewPrivateEnv(StoreFileMode(group_may_read_));
    dbo.env = private_env_.get();
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
      const int64_t pid = HolderPid(path_);
      return Status::Busy("store '" + path_ + "' is in use by " +
                              (pid ? "process " + std::to_string(pid) : std::string("another process")) +
                              "; stop it, or use a read-only command",
                          pid);
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
    s = WritePrivateFile(fs::path(path_) / kPidFile, std::to_string(getpid()) + "\n",
                         StoreFileMode(group_may_read_));
    if (!s.ok()) return s;
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

Status RocksBackend::UpgradeSchema() {
  // Schema 1 to 2: this build writes counter operands in the short form (records.h), which a
  // schema-1 build cannot merge. 2 to 3: it no longer persists the claimed count, which an
  // older build would read as it is. Nothing else changes, and an older store reads as it is
  // (CountsFromPersisted takes either meaning): raising the version (the record, then the
  // directory's marker) before the first write is the whole upgrade, and makes an older build
  // refuse the store rather than misread it. A crash between the two leaves the marker behind;
  // the record is what Open checks last, so the older build still refuses, and the next open
  // here rewrites the marker.
  if (stored_schema_ < kSchemaVersion) {
    rocksdb::WriteBatch batch;
    std::string v;
    keys::PutBE32(&v, kSchemaVersion);
    batch.Put(default_cf_, std::string(1, keys::kVersion), v);
    Status s = Write(&batch, true);
    if (!s.ok()) return s.Prefixed("upgrading the store's schema to " + std::to_string(kSchemaVersion));
    stored_schema_ = kSchemaVersion;
  }
  if (marker_schema_ < kSchemaVersion) {
    Status s = WriteMarker(path_, group_may_read_);
    if (!s.ok()) return s.Prefixed("upgrading the store's marker file");
    marker_schema_ = kSchemaVersion;
  }
  return Status::OK();
}

// The claimed count is not persisted (records.h): it is the number of the queue's claimed
// entries, the live leases, read past the tombstones of acks that compaction has not dropped.
Result<int64_t> RocksBackend::CountClaimed(rocksdb::ColumnFamilyHandle* cf, uint32_t domain) {
  const std::string lo = keys::Prefix(keys::kClaimed, domain), hi = keys::PrefixEnd(lo);
  rocksdb::Slice l(lo), h(hi);
  auto it = Scan(cf, &l, &h);
  int64_t n = 0;
  for (it->Seek(lo); it->Valid(); it->Next()) {
    if (it->key().size() == keys::kTimedKeySize) ++n;  // a malformed key is no lease (Check)
  }
  if (!it->status().ok()) return Status::IOError(it->status().ToString());
  return n;
}

Status RocksBackend::LoadState() {
  std::string v;
  Status s = Get(default_cf_, std::string(1, keys::kVersion), &v);
  if (s.IsNotFound()) {
    return Status::Corruption("store '" + path_ + "' has no schema version record");
  }
  if (!s.ok()) return s;
  if (v.size() != 4) return Status::Corruption("schema version record is damaged");
  stored_schema_ = keys::GetBE32(v.data());
  if (stored_schema_ > kSchemaVersion) {
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
      CounterDelta persisted;
      s = DecodeCounters(it->value().ToStringView(), &persisted);
      if (!s.ok()) return s;
      auto claimed = CountClaimed(t->cf, dom);
      if (!claimed.ok()) return claimed.status().Prefixed("counting the claims of '" + name + "'");
      const CounterDelta c = CountsFromPersisted(persisted, *claimed);
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
Status RocksBackend::ResumeCursors() {
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

void RocksBackend::SaveCursors() {
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

Status RocksBackend::RaiseNextIdAbove(rocksdb::ColumnFamilyHandle* cf, uint32_t domain_id) {
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

RocksBackend::~RocksBackend() {
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

Status RocksBackend::Refresh() {
  if (!secondary_) return Status::OK();
  rocksdb::Status rs = db_->TryCatchUpWithPrimary();
  if (!rs.ok()) return Status::IOError("cannot catch up with the writer: " + rs.ToString());
  // A secondary instance catches up only with the column families it was opened with: a type
  // the writer created since needs the view opened again.
  std::vector<std::string> families;
  rs = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path_, &families);
  if (!rs.ok()) return Status::IOError("cannot list the store's types: " + rs.ToString());
  size_t known = 0;
  {
    std::shared_lock<std::shared_mutex> l(registry_mu_);
    for (const std::string& name : families) {
      const std::string type = keys::TypeOfFamily(name);
      if (!type.empty() && types_.count(type)) ++known;
    }
  }
  if (known + 1 < families.size()) {  // the default family is no type
    CloseDb();
    Status s = OpenDb(&secondary_dir_);
    if (!s.ok()) return s;
  }
  return LoadState();
}

void RocksBackend::CloseDb() {
  ready_index_.Clear();
  std::unique_lock<std::shared_mutex> l(registry_mu_);
  queues_.clear();
  for (auto& [name, t] : types_) db_->DestroyColumnFamilyHandle(t->cf);
  types_.clear();
  domain_ids_.clear();
  domain_names_.clear();
  if (default_cf_) db_->DestroyColumnFamilyHandle(default_cf_);
  default_cf_ = nullptr;
  db_->Close();
  db_.reset();
}

Status RocksBackend::Checkpoint(const std::string& dir) {
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
  // A copy holds the same jobs: it gets the store's mode (its files are the store's own, hard
  // linked, or copied through the private Env).
  Status s = MakeStoreDirectory(dir, group_may_read_);
  if (s.ok()) s = WriteMarker(dir, group_may_read_);
  return s;
}

}  // namespace jobstore
