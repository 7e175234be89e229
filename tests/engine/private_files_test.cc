// The private file system below a RocksDB store (engine/media/rocksdb/private_files.h): every
// file it creates gets the store's mode whatever the umask, and a file that another process
// moved away before it could be made private does not fail the open.
#include <sys/stat.h>

#include <gtest/gtest.h>
#include <rocksdb/file_system.h>

#include <filesystem>

#include "private_files.h"
#include "support/temp_dir.h"

namespace jobstore::testing {
namespace {

// Creates each writable file, then renames it at once: what RocksDB's LOG rotation in a second
// process opening the same directory does to the first one's new LOG.
class MovesFilesAway final : public rocksdb::FileSystemWrapper {
 public:
  explicit MovesFilesAway(std::shared_ptr<rocksdb::FileSystem> target) : FileSystemWrapper(target) {}
  const char* Name() const override { return "MovesFilesAway"; }
  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, r, d);
    if (s.ok()) std::filesystem::rename(f, f + ".old");
    return s;
  }
};

TEST(PrivateFiles, NewFilesGetTheStoresModeWhateverTheUmask) {
  TempDir dir;
  const mode_t old_umask = ::umask(0);
  auto fs = NewPrivateFileSystem(rocksdb::FileSystem::Default(), 0600);
  std::unique_ptr<rocksdb::FSWritableFile> file;
  const std::string path = dir.Sub("f");
  rocksdb::IOStatus s = fs->NewWritableFile(path, rocksdb::FileOptions(), &file, nullptr);
  ::umask(old_umask);
  ASSERT_TRUE(s.ok()) << s.ToString();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(PrivateFiles, AFileMovedAwayBeforeItIsMadePrivateDoesNotFailTheOpen) {
  TempDir dir;
  auto fs = NewPrivateFileSystem(std::make_shared<MovesFilesAway>(rocksdb::FileSystem::Default()),
                                 0600);
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = fs->NewWritableFile(dir.Sub("LOG"), rocksdb::FileOptions(), &file, nullptr);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("LOG.old")));
}

}  // namespace
}  // namespace jobstore::testing
