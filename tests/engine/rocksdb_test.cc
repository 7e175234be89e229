// What only the RocksDB medium has: opening a directory (refusals, the lock and its holder),
// the secondary view, checkpoints, capabilities. The contract's own tests are the conformance
// suite (tests/conformance), which runs on RocksDB too.
#include <unistd.h>

#include <fstream>

#include "jobstore/rocksdb_store.h"
#include "store_fixture.h"

namespace jobstore::testing {
namespace {

const QueueRef kEmail{"", "email"};

TEST(StoreOpenTest, RefusesDirectoryThatIsNotAStore) {
  TempDir dir;
  const std::string path = dir.Sub("other");
  std::filesystem::create_directories(path);
  { std::ofstream(path + "/precious.txt") << "data"; }
  auto s = Store::Open(path, Options{});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsInvalidArgument()) << s.status().ToString();
  EXPECT_NE(s.status().message().find("is not a jobstore store"), std::string::npos);
  // Nothing was written into it.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(path),
                          std::filesystem::directory_iterator()), 1);
}

TEST(StoreOpenTest, RefusesNewerSchemaAndMissingStore) {
  TempDir dir;
  const std::string path = dir.Sub("store");
  { ASSERT_TRUE(Store::Open(path, Options{}).ok()); }
  { std::ofstream(path + "/JOBSTORE", std::ios::trunc) << "jobstore 99\n"; }
  auto s = Store::Open(path, Options{});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsNotSupported()) << s.status().ToString();
  Options no_create;
  no_create.create_if_missing = false;
  auto m = Store::Open(dir.Sub("absent"), no_create);
  EXPECT_TRUE(m.status().IsNotFound()) << m.status().ToString();
}

TEST(StoreOpenTest, SecondOpenIsBusyAndNamesTheProcess) {
  TempDir dir;
  auto first = Store::Open(dir.Sub("store"), Options{});
  ASSERT_TRUE(first.ok());
  auto second = Store::Open(dir.Sub("store"), Options{});
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsBusy()) << second.status().ToString();
  EXPECT_NE(second.status().message().find("in use by process " + std::to_string(getpid())),
            std::string::npos)
      << second.status().ToString();
  // The holder's pid is data too, not only text.
  EXPECT_EQ(second.status().holder_pid(), getpid());
}

TEST(StoreOpenTest, SecondaryViewReadsALiveStore) {
  TempDir dir;
  Options o;
  o.durability = Durability::kProcessCrash;
  auto primary = Store::Open(dir.Sub("store"), o);
  ASSERT_TRUE(primary.ok());
  JobSpec j;
  j.type = "email";
  j.params = "p";
  ASSERT_TRUE((*primary)->Push({j, j}).ok());
  auto view = RocksDb::OpenSecondary(dir.Sub("store"), dir.Sub("scratch"), o);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ((*view)->Counts({"", "email"})->ready, 2u);
  EXPECT_TRUE((*view)->Push({j}).status().IsReadOnly());
  ASSERT_TRUE((*primary)->Push({j}).ok());
  ASSERT_TRUE(RocksDb::Refresh(**view).ok());
  EXPECT_EQ((*view)->Counts({"", "email"})->ready, 3u);
  auto check = (*view)->Check();
  ASSERT_TRUE(check.ok());
  for (const auto& line : *check) ADD_FAILURE() << line;
}

TEST_F(StoreTest, CheckpointIsAStoreOfItsOwn) {
  PushAll({Spec("email", "a"), Spec("email", "b")});
  ASSERT_TRUE(RocksDb::Checkpoint(*store_, dir_.Sub("copy")).ok());
  EXPECT_TRUE(RocksDb::Checkpoint(*store_, dir_.Sub("copy")).IsInvalidArgument());
  auto copy = Store::Open(dir_.Sub("copy"), options_);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ((*copy)->Counts(kEmail)->ready, 2u);
}

TEST_F(StoreTest, CapabilitiesSayWhatAPushSurvives) {
  Capabilities c = store_->capabilities();
  EXPECT_EQ(c.medium, "rocksdb");
  EXPECT_EQ(c.push_atomicity, Capabilities::PushAtomicity::kWholeBatch);
  EXPECT_TRUE(c.exact_counts);
  EXPECT_TRUE(c.exact_ready_index);
  EXPECT_FALSE(c.shared);
  EXPECT_EQ(c.push_durability, Capabilities::Durability::kProcessCrash);  // the fixture's setting
  options_.durability = Durability::kPowerLoss;
  Reopen();
  EXPECT_EQ(store_->capabilities().push_durability, Capabilities::Durability::kPowerLoss);
  EXPECT_NE(store_->capabilities().note.find("fsynced"), std::string::npos);
}

TEST_F(StoreTest, RocksDbOnlyOperationsRefuseOtherMedia) {
  auto memory = Store::Open("memory:");
  ASSERT_TRUE(memory.ok());
  Status s = RocksDb::Checkpoint(**memory, dir_.Sub("copy"));
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_NE(s.message().find("memory"), std::string::npos) << s.ToString();
  EXPECT_TRUE(RocksDb::Refresh(**memory).IsNotSupported());
}

}  // namespace
}  // namespace jobstore::testing
