// What only the RocksDB medium has: opening a directory (refusals, the lock and its holder),
// the secondary view, checkpoints, capabilities. The contract's own tests are the conformance
// suite (tests/conformance), which runs on RocksDB too.
#include <unistd.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>

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
  // A type the writer creates after the view opened is seen after a refresh, with its jobs.
  JobSpec late;
  late.type = "resize";
  late.domain = "wiki2";
  ASSERT_TRUE((*primary)->Push({late, late}).ok());
  ASSERT_TRUE(RocksDb::Refresh(**view).ok());
  EXPECT_EQ(*(*view)->Types(), (std::vector<std::string>{"email", "resize"}));
  EXPECT_EQ((*view)->Counts({"wiki2", "resize"})->ready, 2u);
  EXPECT_EQ((*view)->ReadyQueues()->size(), 2u);
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

// Every file of `dir`, recursively, with its permission bits.
std::map<std::string, unsigned> Modes(const std::string& dir) {
  std::map<std::string, unsigned> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    out[e.path().lexically_relative(dir).string()] =
        static_cast<unsigned>(e.status().permissions()) & 0777;
  }
  return out;
}

unsigned ModeOf(const std::string& path) {
  return static_cast<unsigned>(std::filesystem::status(path).permissions()) & 0777;
}

// Sets the umask for a test and puts it back.
class Umask {
 public:
  explicit Umask(mode_t m) : old_(::umask(m)) {}
  ~Umask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(StorePermissions, ANewStoreIsPrivateWhateverTheUmask) {
  Umask open_umask(0);  // the most permissive: every file would be 0666, every directory 0777
  TempDir dir;
  const std::string path = dir.Sub("store");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    JobSpec spec;
    spec.type = "email";
    spec.params = "secret@example.org";
    ASSERT_TRUE((*store)->Push({spec}).ok());
    EXPECT_EQ(ModeOf(path), 0700u);
    ASSERT_TRUE(RocksDb::Checkpoint(**store, dir.Sub("copy")).ok());
  }  // closing flushes: SST files too
  for (const std::string& root : {path, dir.Sub("copy")}) {
    EXPECT_EQ(ModeOf(root), 0700u) << root;
    auto modes = Modes(root);
    EXPECT_GT(modes.size(), 4u);
    for (const auto& [file, mode] : modes) EXPECT_EQ(mode, 0600u) << root << "/" << file;
  }
}

TEST(StorePermissions, AGroupStoreLetsItsGroupReadButNotOthers) {
  Umask usual(022);
  TempDir dir;
  const std::string path = dir.Sub("store");
  RocksDbOptions rocks;
  rocks.group_may_read = true;
  {
    auto store = RocksDb::Open(path, {}, rocks);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ(ModeOf(path), 0750u);
  }
  for (const auto& [file, mode] : Modes(path)) {
    EXPECT_EQ(mode & 0070, 0040u) << file;  // the group reads
  }
  // Reopened without the option, the directory's mode still says so; a private store stays so.
  { ASSERT_TRUE(Store::Open(path).ok()); }
  EXPECT_EQ(ModeOf(path), 0750u);
  // Other users are kept out by the directory, whatever the files' own bits.
  EXPECT_EQ(ModeOf(path) & 0007, 0u);
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
