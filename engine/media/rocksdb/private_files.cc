#include "private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

namespace jobstore {
namespace {

// After the wrapped file system created a file, sets its mode. A file whose mode cannot be set
// is an error: a store must not run with files others might read.
class PrivateFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  PrivateFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target, mode_t mode)
      : FileSystemWrapper(target), mode_(mode) {}
  const char* Name() const override { return "JobstorePrivateFiles"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    return Private(f, target()->NewWritableFile(f, o, r, d));
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* d) override {
    return Private(f, target()->ReopenWritableFile(f, o, r, d));
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* d) override {
    return Private(f, target()->ReuseWritableFile(f, old, o, r, d));
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                    rocksdb::IODebugContext* d) override {
    return Private(f, target()->NewRandomRWFile(f, o, r, d));
  }
  rocksdb::IOStatus LockFile(const std::string& f, const rocksdb::IOOptions& o,
                             rocksdb::FileLock** l, rocksdb::IODebugContext* d) override {
    return Private(f, target()->LockFile(f, o, l, d));
  }
  rocksdb::IOStatus NewLogger(const std::string& f, const rocksdb::IOOptions& o,
                              std::shared_ptr<rocksdb::Logger>* r,
                              rocksdb::IODebugContext* d) override {
    return Private(f, target()->NewLogger(f, o, r, d));
  }

 private:
  rocksdb::IOStatus Private(const std::string& file, rocksdb::IOStatus created) const {
    if (!created.ok()) return created;
    // ENOENT: another process opening the same directory moved the file away between its
    // creation and here (RocksDB rotates LOG to LOG.old.* before it takes the lock, so the
    // loser of two concurrent opens renames the winner's). The file then lives on under
    // another name inside the store's 0700 directory, which no other user can enter; failing
    // the open for it would fail a runner that reopens while another takes over.
    if (::chmod(file.c_str(), mode_) != 0 && errno != ENOENT) {
      return rocksdb::IOStatus::IOError("cannot make " + file + " private: " +
                                        std::strerror(errno));
    }
    return created;
  }

  const mode_t mode_;
};

}  // namespace

Status MakeStoreDirectory(const std::string& dir, bool group_may_read) {
  if (::chmod(dir.c_str(), group_may_read ? 0750 : 0700) != 0) {
    return Status::IOError("cannot set the mode of '" + dir + "': " + std::strerror(errno));
  }
  return Status::OK();
}

bool GroupMayRead(const std::string& dir) {
  struct stat st {};
  return ::stat(dir.c_str(), &st) == 0 && (st.st_mode & S_IRGRP);
}

Status WritePrivateFile(const std::filesystem::path& path, const std::string& content,
                        mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::IOError("cannot write " + path.string() + ": " + std::strerror(errno));
  bool ok = ::fchmod(fd, mode) == 0;
  for (size_t done = 0; ok && done < content.size();) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  const int saved = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) return Status::IOError("cannot write " + path.string() + ": " + std::strerror(saved));
  return Status::OK();
}

std::shared_ptr<rocksdb::FileSystem> NewPrivateFileSystem(std::shared_ptr<rocksdb::FileSystem> target,
                                                          mode_t mode) {
  return std::make_shared<PrivateFileSystem>(target, mode);
}

std::unique_ptr<rocksdb::Env> NewPrivateEnv(mode_t mode) {
  return rocksdb::NewCompositeEnv(NewPrivateFileSystem(rocksdb::FileSystem::Default(), mode));
}

}  // namespace jobstore
