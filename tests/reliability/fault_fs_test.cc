// The fault-injecting file system itself: what a power cut keeps, and failures on demand.
// Plain RocksDB (no Store) so a bug in the tool is not mistaken for one in the engine.
#include <rocksdb/db.h>

#include <gtest/gtest.h>

#include "reliability/fault_fs.h"
#include "reliability/harness.h"

namespace jobstore::testing {
namespace {

using rocksdb::IOOptions;

std::string Read(rocksdb::FileSystem* fs, const std::string& path) {
  std::string s;
  if (!rocksdb::ReadFileToString(fs, path, &s).ok()) return "<missing>";
  return s;
}

TEST(FaultFS, PowerCutKeepsOnlySyncedBytesAndSyncedEntries) {
  std::string dir = FreshDir("faultfs");
  auto fs = std::make_shared<FaultFS>();
  auto base = rocksdb::FileSystem::Default();
  IOOptions io;
  std::unique_ptr<rocksdb::FSDirectory> d;
  ASSERT_TRUE(fs->NewDirectory(dir, io, &d, nullptr).ok());

  // a: synced content and synced entry, then more unsynced bytes.
  std::unique_ptr<rocksdb::FSWritableFile> a;
  ASSERT_TRUE(fs->NewWritableFile(dir + "/a", {}, &a, nullptr).ok());
  ASSERT_TRUE(a->Append("hello ", io, nullptr).ok());
  ASSERT_TRUE(a->Sync(io, nullptr).ok());
  ASSERT_TRUE(d->Fsync(io, nullptr).ok());
  ASSERT_TRUE(a->Append("world", io, nullptr).ok());
  ASSERT_TRUE(a->Close(io, nullptr).ok());
  // b: synced content, entry never synced.
  std::unique_ptr<rocksdb::FSWritableFile> b;
  ASSERT_TRUE(fs->NewWritableFile(dir + "/b", {}, &b, nullptr).ok());
  ASSERT_TRUE(b->Append("b", io, nullptr).ok());
  ASSERT_TRUE(b->Sync(io, nullptr).ok());
  ASSERT_TRUE(b->Close(io, nullptr).ok());
  // c: durable, then replaced by an unsynced rename of t.
  ASSERT_TRUE(rocksdb::WriteStringToFile(base.get(), "old", dir + "/c", true).ok());
  std::unique_ptr<rocksdb::FSWritableFile> t;
  ASSERT_TRUE(fs->NewWritableFile(dir + "/t", {}, &t, nullptr).ok());
  ASSERT_TRUE(t->Append("new", io, nullptr).ok());
  ASSERT_TRUE(t->Sync(io, nullptr).ok());
  ASSERT_TRUE(t->Close(io, nullptr).ok());
  ASSERT_TRUE(fs->RenameFile(dir + "/t", dir + "/c", io, nullptr).ok());
  EXPECT_EQ(Read(base.get(), dir + "/c"), "new");
  EXPECT_GT(fs->UnsyncedBytes(), 0u);

  fs->PowerOff();
  // Nothing written while the power is off reaches the disk.
  std::unique_ptr<rocksdb::FSWritableFile> late;
  ASSERT_TRUE(fs->NewWritableFile(dir + "/a", {}, &late, nullptr).ok());
  ASSERT_TRUE(late->Append("XXXX", io, nullptr).ok());
  ASSERT_TRUE(late->Close(io, nullptr).ok());
  EXPECT_EQ(Read(base.get(), dir + "/a"), "hello world");

  std::string report = fs->ApplyPowerCut();
  fs->PowerOn();
  EXPECT_EQ(Read(base.get(), dir + "/a"), "hello ") << report;
  EXPECT_EQ(Read(base.get(), dir + "/b"), "<missing>") << report;
  EXPECT_EQ(Read(base.get(), dir + "/c"), "old") << report;
  RemoveDir(dir);
}

TEST(FaultFS, InjectedFaultsFailTheChosenOperationsOnly) {
  std::string dir = FreshDir("faultfs-err");
  auto fs = std::make_shared<FaultFS>();
  IOOptions io;
  std::unique_ptr<rocksdb::FSWritableFile> wal, sst;
  ASSERT_TRUE(fs->NewWritableFile(dir + "/000001.log", {}, &wal, nullptr).ok());
  ASSERT_TRUE(fs->NewWritableFile(dir + "/000002.sst", {}, &sst, nullptr).ok());
  fs->InjectFault(FaultFS::kAppend, FaultFS::Error::kNoSpace, FaultFS::FileKind::kWal, 1);
  EXPECT_TRUE(wal->Append("ok", io, nullptr).ok());  // the first one succeeds
  rocksdb::IOStatus s = wal->Append("full", io, nullptr);
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_TRUE(sst->Append("other kind", io, nullptr).ok());
  EXPECT_TRUE(wal->Sync(io, nullptr).ok());  // syncs are not chosen
  EXPECT_EQ(fs->faults_hit(), 1u);
  fs->InjectFault(FaultFS::kSync, FaultFS::Error::kIOError);
  s = sst->Sync(io, nullptr);
  EXPECT_TRUE(s.IsIOError() && !s.IsNoSpace()) << s.ToString();
  fs->ClearFault();
  EXPECT_TRUE(sst->Sync(io, nullptr).ok());
  wal->Close(io, nullptr);
  sst->Close(io, nullptr);
  RemoveDir(dir);
}

// RocksDB itself on the FaultFS: synced writes survive a cut, unsynced ones may not, and
// the database always reopens.
TEST(FaultFS, RawRocksDbSyncedWritesSurviveACut) {
  std::string dir = FreshDir("faultfs-db");
  auto bundle = FaultFS::MakeEnv();
  rocksdb::Options options;
  options.create_if_missing = true;
  options.env = bundle.env.get();
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  for (int cycle = 0; cycle < 5; ++cycle) {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    for (int i = 0; i < 10; ++i) {
      std::string k = "synced-" + std::to_string(cycle) + "-" + std::to_string(i);
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(db->Put(wo, k, "v").ok());
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "unsynced-" + k, "v").ok());
    }
    bundle.fs->PowerOff();
    db.reset();
    bundle.fs->ApplyPowerCut();
    bundle.fs->PowerOn();
    ASSERT_TRUE(rocksdb::DB::Open(options, dir, &raw).ok());
    db.reset(raw);
    for (int c = 0; c <= cycle; ++c) {
      for (int i = 0; i < 10; ++i) {
        std::string v;
        std::string k = "synced-" + std::to_string(c) + "-" + std::to_string(i);
        EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), k, &v).ok()) << k;
      }
    }
    // The write after the cycle's last sync was never synced: the cut took it.
    std::string v;
    std::string last = "unsynced-synced-" + std::to_string(cycle) + "-9";
    EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), last, &v).IsNotFound()) << last;
  }
  RemoveDir(dir);
}

}  // namespace
}  // namespace jobstore::testing
