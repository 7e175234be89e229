#include "reliability/fault_fs.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace jobstore::testing {

using rocksdb::FileOptions;
using rocksdb::FSDirectory;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

// A writable file that reports its appends and syncs to the FaultFS, drops everything once
// the power is off, and fails on demand.
class FaultWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultWritableFile(FaultFS* fs, std::string path, uint64_t start_size,
                    std::unique_ptr<FSWritableFile> target)
      : FSWritableFileOwnerWrapper(std::move(target)),
        fs_(fs),
        path_(std::move(path)),
        pos_(start_size) {}

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* dbg) override {
    return DoAppend(data, pos_, [&] { return target()->Append(data, o, dbg); });
  }
  IOStatus Append(const Slice& data, const IOOptions& o,
                  const rocksdb::DataVerificationInfo& v, IODebugContext* dbg) override {
    return DoAppend(data, pos_, [&] { return target()->Append(data, o, v, dbg); });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            IODebugContext* dbg) override {
    return DoAppend(data, offset,
                    [&] { return target()->PositionedAppend(data, offset, o, dbg); });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            const rocksdb::DataVerificationInfo& v,
                            IODebugContext* dbg) override {
    return DoAppend(data, offset,
                    [&] { return target()->PositionedAppend(data, offset, o, v, dbg); });
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o, IODebugContext* dbg) override {
    if (fs_->powered_off()) return IOStatus::OK();
    IOStatus s = target()->Truncate(size, o, dbg);
    if (s.ok()) {
      pos_ = size;
      std::lock_guard<std::mutex> l(fs_->mu_);
      auto& st = fs_->files_[path_];
      st.size = size;
      if (st.synced > size) st.synced = size;
    }
    return s;
  }
  IOStatus Flush(const IOOptions& o, IODebugContext* dbg) override {
    if (fs_->powered_off()) return IOStatus::OK();
    return target()->Flush(o, dbg);
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* dbg) override {
    return DoSync([&] { return target()->Sync(o, dbg); });
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    return DoSync([&] { return target()->Fsync(o, dbg); });
  }
  // sync_file_range makes no durability promise: pass it on, count nothing.
  IOStatus RangeSync(uint64_t offset, uint64_t n, const IOOptions& o,
                     IODebugContext* dbg) override {
    if (fs_->powered_off()) return IOStatus::OK();
    return target()->RangeSync(offset, n, o, dbg);
  }
  IOStatus Allocate(uint64_t offset, uint64_t len, const IOOptions& o,
                    IODebugContext* dbg) override {
    if (fs_->powered_off()) return IOStatus::OK();
    return target()->Allocate(offset, len, o, dbg);
  }

 private:
  template <typename F>
  IOStatus DoAppend(const Slice& data, uint64_t offset, F&& write) {
    return fs_->Guarded(FaultFS::kAppend, path_, write, [&] {
      pos_ = offset + data.size();
      fs_->OnAppend(path_, pos_);
    });
  }
  template <typename F>
  IOStatus DoSync(F&& sync) {
    return fs_->Guarded(FaultFS::kSync, path_, sync, [&] { fs_->OnSync(path_); });
  }

  FaultFS* fs_;
  std::string path_;
  uint64_t pos_;
};

// A directory whose Fsync makes the entries created in it durable.
class FaultDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  FaultDirectory(FaultFS* fs, std::string path, std::unique_ptr<FSDirectory> target)
      : FSDirectoryWrapper(std::move(target)), fs_(fs), path_(std::move(path)) {}

  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    return DoSync([&] { return FSDirectoryWrapper::Fsync(o, dbg); });
  }
  IOStatus FsyncWithDirOptions(const IOOptions& o, IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& d) override {
    return DoSync([&] { return FSDirectoryWrapper::FsyncWithDirOptions(o, dbg, d); });
  }

 private:
  template <typename F>
  IOStatus DoSync(F&& sync) {
    return fs_->Guarded(FaultFS::kSync, path_, sync, [&] { fs_->OnDirSync(path_); });
  }

  FaultFS* fs_;
  std::string path_;
};

FaultFS::FaultFS(std::shared_ptr<rocksdb::FileSystem> base) : FileSystemWrapper(base) {}
FaultFS::~FaultFS() = default;

FaultFS::EnvBundle FaultFS::MakeEnv() {
  EnvBundle b;
  b.fs = std::make_shared<FaultFS>();
  b.env = rocksdb::NewCompositeEnv(b.fs);
  return b;
}

std::string FaultFS::Normalize(const std::string& path) {
  std::string p;
  p.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !p.empty() && p.back() == '/') continue;  // collapse "//"
    p.push_back(c);
  }
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string FaultFS::DirOf(const std::string& path) {
  std::string p = Normalize(path);
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

bool FaultFS::KindMatches(const std::string& path) const {
  std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  auto ends_with = [&](const char* suffix) {
    std::string s(suffix);
    return base.size() >= s.size() && base.compare(base.size() - s.size(), s.size(), s) == 0;
  };
  switch (fault_kind_) {
    case FileKind::kAny: return true;
    case FileKind::kWal: return ends_with(".log");
    case FileKind::kSst: return ends_with(".sst");
    case FileKind::kManifest: return base.rfind("MANIFEST-", 0) == 0;
  }
  return false;
}

IOStatus FaultFS::MaybeFail(unsigned op, const std::string& path) {
  if ((fault_ops_.load() & op) == 0) return IOStatus::OK();
  std::lock_guard<std::mutex> l(mu_);
  if (!KindMatches(path)) return IOStatus::OK();
  if (fault_skip_.load() > 0) {
    fault_skip_.fetch_sub(1);
    return IOStatus::OK();
  }
  faults_hit_.fetch_add(1);
  if (fault_error_ == Error::kNoSpace) {
    return IOStatus::NoSpace("FaultFS: injected ENOSPC", path);
  }
  return IOStatus::IOError("FaultFS: injected EIO", path);
}

void FaultFS::InjectFault(unsigned ops, Error error, FileKind kind, uint64_t succeed_first) {
  std::lock_guard<std::mutex> l(mu_);
  fault_error_ = error;
  fault_kind_ = kind;
  fault_skip_.store(succeed_first);
  faults_hit_.store(0);
  fault_ops_.store(ops);
}

void FaultFS::ClearFault() { fault_ops_.store(0); }

void FaultFS::OnAppend(const std::string& path, uint64_t new_size) {
  std::lock_guard<std::mutex> l(mu_);
  files_[path].size = new_size;
}

void FaultFS::OnSync(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto& st = files_[path];
  st.synced = st.size;
}

void FaultFS::OnDirSync(const std::string& dir) {
  std::string d = Normalize(dir);
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (DirOf(it->first) == d) {
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

// Caller holds no lock. Records that `path` is a new, not yet durable directory entry,
// remembering what it replaced.
void FaultFS::NotePendingEntry(const std::string& path, bool existed) {
  std::optional<std::string> previous;
  if (existed) {
    std::string content;
    IOStatus s = rocksdb::ReadFileToString(target(), path, &content);
    if (s.ok()) previous = std::move(content);
  }
  std::lock_guard<std::mutex> l(mu_);
  if (pending_.count(path)) return;  // keep the oldest durable content
  pending_[path].previous = std::move(previous);
}

IOStatus FaultFS::Wrap(const std::string& path, bool truncated,
                       std::unique_ptr<FSWritableFile>* r) {
  uint64_t start = 0;
  if (!truncated) {
    IOStatus s = target()->GetFileSize(path, IOOptions(), &start, nullptr);
    if (!s.ok()) start = 0;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    auto& st = files_[path];
    if (truncated) {
      st = FileState{0, 0, true};
    } else if (!st.tracked_from_start) {
      st.size = start;
      st.synced = start;  // what was there before we looked is durable
    }
  }
  *r = std::make_unique<FaultWritableFile>(this, path, start, std::move(*r));
  return IOStatus::OK();
}

IOStatus FaultFS::NewWritableFile(const std::string& f, const FileOptions& o,
                                  std::unique_ptr<FSWritableFile>* r, IODebugContext* dbg) {
  std::string path = Normalize(f);
  bool existed = target()->FileExists(path, IOOptions(), nullptr).ok();
  if (powered_off()) {
    // Never touch durable content once the power is off: open without truncating.
    IOStatus s = existed ? target()->ReopenWritableFile(path, o, r, dbg)
                         : target()->NewWritableFile(path, o, r, dbg);
    if (!s.ok()) return s;
    if (!existed) NotePendingEntry(path, false);
    *r = std::make_unique<FaultWritableFile>(this, path, 0, std::move(*r));
    return IOStatus::OK();
  }
  IOStatus s = MaybeFail(kCreate, path);
  if (!s.ok()) return s;
  s = target()->NewWritableFile(path, o, r, dbg);
  if (!s.ok()) return s;
  if (!existed) NotePendingEntry(path, false);
  return Wrap(path, true, r);
}

IOStatus FaultFS::ReopenWritableFile(const std::string& f, const FileOptions& o,
                                     std::unique_ptr<FSWritableFile>* r, IODebugContext* dbg) {
  std::string path = Normalize(f);
  bool existed = target()->FileExists(path, IOOptions(), nullptr).ok();
  if (!powered_off()) {
    IOStatus s = MaybeFail(kCreate, path);
    if (!s.ok()) return s;
  }
  IOStatus s = target()->ReopenWritableFile(path, o, r, dbg);
  if (!s.ok()) return s;
  if (!existed) NotePendingEntry(path, false);
  return Wrap(path, false, r);
}

IOStatus FaultFS::ReuseWritableFile(const std::string& f, const std::string& old,
                                    const FileOptions& o, std::unique_ptr<FSWritableFile>* r,
                                    IODebugContext* dbg) {
  // Recycling = rename + overwrite from the start. Model it that way.
  IOStatus s = RenameFile(old, f, IOOptions(), dbg);
  if (!s.ok()) return s;
  return NewWritableFile(f, o, r, dbg);
}

IOStatus FaultFS::NewDirectory(const std::string& name, const IOOptions& o,
                               std::unique_ptr<FSDirectory>* r, IODebugContext* dbg) {
  std::unique_ptr<FSDirectory> dir;
  IOStatus s = target()->NewDirectory(name, o, &dir, dbg);
  if (!s.ok()) return s;
  *r = std::make_unique<FaultDirectory>(this, Normalize(name), std::move(dir));
  return IOStatus::OK();
}

IOStatus FaultFS::RenameFile(const std::string& src, const std::string& dst,
                             const IOOptions& o, IODebugContext* dbg) {
  if (powered_off()) return IOStatus::OK();
  std::string s_path = Normalize(src), d_path = Normalize(dst);
  IOStatus s = MaybeFail(kRename, d_path);
  if (!s.ok()) return s;
  bool existed = target()->FileExists(d_path, IOOptions(), nullptr).ok();
  NotePendingEntry(d_path, existed);
  s = target()->RenameFile(s_path, d_path, o, dbg);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(s_path);
  if (it != files_.end()) {
    files_[d_path] = it->second;
    files_.erase(it);
  } else {
    files_.erase(d_path);  // untracked content: durable as far as we know
  }
  pending_.erase(s_path);
  return IOStatus::OK();
}

IOStatus FaultFS::LinkFile(const std::string& src, const std::string& dst,
                           const IOOptions& o, IODebugContext* dbg) {
  if (powered_off()) return IOStatus::OK();
  std::string s_path = Normalize(src), d_path = Normalize(dst);
  IOStatus s = target()->LinkFile(s_path, d_path, o, dbg);
  if (!s.ok()) return s;
  NotePendingEntry(d_path, false);
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(s_path);
  if (it != files_.end()) files_[d_path] = it->second;
  return IOStatus::OK();
}

// Deletions are treated as durable at once (a simplification: resurrecting deleted files
// after a cut is not modelled).
IOStatus FaultFS::DeleteFile(const std::string& f, const IOOptions& o, IODebugContext* dbg) {
  if (powered_off()) return IOStatus::OK();
  std::string path = Normalize(f);
  IOStatus s = target()->DeleteFile(path, o, dbg);
  if (s.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    files_.erase(path);
    pending_.erase(path);
  }
  return s;
}

void FaultFS::PowerOff() { off_.store(true); }

void FaultFS::PowerOffAfterWrites(uint64_t n) { off_countdown_.store(n); }

bool FaultFS::CountWriteAndCheckOff() {
  uint64_t c = off_countdown_.load();
  while (c > 0) {
    if (off_countdown_.compare_exchange_weak(c, c - 1)) {
      if (c == 1) off_.store(true);
      break;
    }
  }
  return off_.load();
}

std::string FaultFS::ApplyPowerCut() {
  std::lock_guard<std::mutex> l(mu_);
  std::ostringstream report;
  IOOptions io;
  // 1. Directory entries never made durable: restore what they replaced, or remove them.
  for (auto& [path, entry] : pending_) {
    if (entry.previous) {
      std::unique_ptr<FSWritableFile> f;
      if (target()->NewWritableFile(path, FileOptions(), &f, nullptr).ok()) {
        f->Append(*entry.previous, io, nullptr);
        f->Sync(io, nullptr);
        f->Close(io, nullptr);
      }
      report << "restored " << path << "\n";
    } else {
      target()->DeleteFile(path, io, nullptr);
      report << "removed " << path << "\n";
    }
    files_.erase(path);
  }
  pending_.clear();
  // 2. File content never synced: cut it off.
  for (auto& [path, st] : files_) {
    if (st.size <= st.synced) continue;
    if (!target()->FileExists(path, io, nullptr).ok()) continue;
    // FileSystem::Truncate is optional (the POSIX one does not implement it): use the call.
    if (::truncate(path.c_str(), static_cast<off_t>(st.synced)) != 0) {
      report << "cannot truncate " << path << ": " << std::strerror(errno) << "\n";
      continue;
    }
    report << "truncated " << path << " " << st.size << " -> " << st.synced << "\n";
  }
  files_.clear();
  return report.str();
}

void FaultFS::PowerOn() {
  off_countdown_.store(0);
  {
    std::lock_guard<std::mutex> l(mu_);
    files_.clear();
    pending_.clear();
  }
  off_.store(false);
}

uint64_t FaultFS::UnsyncedBytes() const {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t n = 0;
  for (auto& [path, st] : files_) n += st.size > st.synced ? st.size - st.synced : 0;
  return n;
}

}  // namespace jobstore::testing
