// FaultFS: a RocksDB FileSystemWrapper for power-loss and I/O-fault tests.
//
// Power loss. It records, per file, how many bytes have been written and how many were
// made durable by Sync/Fsync, and which directory entries (files created or renamed into a
// directory) have not yet been made durable by an fsync of that directory. PowerOff() makes
// the "machine" stop: from then on every write, sync, create, rename and delete is silently
// dropped (it returns OK, as nothing can observe it), so the Store can be destroyed. Then
// ApplyPowerCut() rewrites the real directory the way the disk looks after the cut: files
// are truncated to their synced size, files whose directory entry was never synced are
// deleted, and a file replaced by an unsynced rename gets its previous content back. After
// that, PowerOn() resets all bookkeeping and the same FaultFS serves the reopened store.
//
// Faults. InjectFault() makes chosen operations fail with ENOSPC or EIO until ClearFault(),
// optionally only on files of one kind (WAL, SST, MANIFEST) and only after a number of
// matching operations succeeded.
//
// Written for jobstore against the public rocksdb/file_system.h; not derived from RocksDB's
// internal FaultInjectionTestFS.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace jobstore::testing {

class FaultFS : public rocksdb::FileSystemWrapper {
 public:
  // Which operations a fault hits.
  enum Op : unsigned {
    kAppend = 1u << 0,    // FSWritableFile::Append / PositionedAppend
    kSync = 1u << 1,      // FSWritableFile::Sync / Fsync, FSDirectory::Fsync
    kCreate = 1u << 2,    // NewWritableFile / ReopenWritableFile
    kRename = 1u << 3,    // RenameFile
  };
  // Which files a fault hits, by RocksDB file name.
  enum class FileKind { kAny, kWal, kSst, kManifest };
  enum class Error { kNoSpace, kIOError };

  explicit FaultFS(std::shared_ptr<rocksdb::FileSystem> base = rocksdb::FileSystem::Default());
  ~FaultFS() override;

  const char* Name() const override { return "JobstoreFaultFS"; }

  // Convenience: an Env over a FaultFS, to pass as jobstore::Options::env.
  struct EnvBundle {
    std::shared_ptr<FaultFS> fs;
    std::unique_ptr<rocksdb::Env> env;
  };
  static EnvBundle MakeEnv();

  // --- power loss ---
  void PowerOff();
  // Cuts the power by itself just before the n-th following write or sync (of any file,
  // from any thread), which is then dropped: a cut in the middle of an operation.
  void PowerOffAfterWrites(uint64_t n);
  // Rewrites the real files to what survives the cut. Call after PowerOff(), once the store
  // using this file system is closed. Returns a description of what was dropped.
  std::string ApplyPowerCut();
  // Forgets all bookkeeping and accepts writes again.
  void PowerOn();
  bool powered_off() const { return off_.load(); }

  // --- faults ---
  void InjectFault(unsigned ops, Error error, FileKind kind = FileKind::kAny,
                   uint64_t succeed_first = 0);
  void ClearFault();
  // How many operations failed because of the fault since it was injected.
  uint64_t faults_hit() const { return faults_hit_.load(); }

  // Bytes written but not synced, summed over all tracked files (for test diagnostics).
  uint64_t UnsyncedBytes() const;

  // --- FileSystem overrides ---
  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                 std::unique_ptr<rocksdb::FSDirectory>* r,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& dst,
                               const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& dst,
                             const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override;

 private:
  friend class FaultWritableFile;
  friend class FaultDirectory;

  struct FileState {
    uint64_t size = 0;    // bytes written through this file system
    uint64_t synced = 0;  // bytes made durable
    bool tracked_from_start = false;  // created here: size/synced describe the whole file
  };
  // An unsynced directory entry: a name that appeared (create, rename, link) since the
  // directory's last fsync. `previous` holds the content it replaced, if any.
  struct PendingEntry {
    std::optional<std::string> previous;
  };

  static std::string DirOf(const std::string& path);
  static std::string Normalize(const std::string& path);
  bool KindMatches(const std::string& path) const;
  // Returns a non-OK status when the fault hits this operation.
  rocksdb::IOStatus MaybeFail(unsigned op, const std::string& path);
  rocksdb::IOStatus Wrap(const std::string& path, bool truncated,
                         std::unique_ptr<rocksdb::FSWritableFile>* r);
  void NotePendingEntry(const std::string& path, bool existed);

  // Runs one write or sync of kind `op` on `path` as the power and fault settings say:
  // dropped (reported OK) when the power is off, failed when a fault hits it, else done by
  // `perform`; `done` records a success.
  template <typename Perform, typename Done>
  rocksdb::IOStatus Guarded(unsigned op, const std::string& path, Perform&& perform,
                            Done&& done) {
    if (CountWriteAndCheckOff()) return rocksdb::IOStatus::OK();
    rocksdb::IOStatus s = MaybeFail(op, path);
    if (s.ok()) s = perform();
    if (s.ok()) done();
    return s;
  }

  // Called by the wrappers.
  void OnAppend(const std::string& path, uint64_t new_size);
  void OnSync(const std::string& path);
  void OnDirSync(const std::string& dir);

  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;
  std::map<std::string, PendingEntry> pending_;  // full path -> entry
  std::atomic<bool> off_{false};
  std::atomic<uint64_t> off_countdown_{0};
  // Counts one write or sync toward PowerOffAfterWrites; true when the power is off.
  bool CountWriteAndCheckOff();

  std::atomic<unsigned> fault_ops_{0};
  Error fault_error_ = Error::kNoSpace;
  FileKind fault_kind_ = FileKind::kAny;
  std::atomic<uint64_t> fault_skip_{0};
  std::atomic<uint64_t> faults_hit_{0};
};

}  // namespace jobstore::testing
