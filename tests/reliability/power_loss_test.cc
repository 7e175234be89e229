// Simulated power loss (issue 8): the store runs on a FaultFS; the power is cut between
// operations or in the middle of one (before the n-th file write or sync), unsynced data is
// dropped, and the store is reopened.
//   kPowerLoss durability: every push reported OK survives; the store is consistent.
//   kProcessCrash durability: anything unsynced may be lost, but the store opens consistent.
// JOBSTORE_POWER_CYCLES sets the number of cuts per durability (default 30).
#include <random>

#include <gtest/gtest.h>

#include "jobstore/rocksdb_store.h"
#include "jobstore/store.h"
#include "reliability/fault_fs.h"
#include "reliability/harness.h"
#include "reliability/model.h"
#include "reliability/workload.h"

namespace jobstore::testing {
namespace {

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

class PowerLoss : public ::testing::TestWithParam<Durability> {};

TEST_P(PowerLoss, CutsKeepWhatTheDurabilityPromises) {
  const Durability durability = GetParam();
  const Loss loss = durability == Durability::kPowerLoss ? Loss::kUnsyncedOps : Loss::kAnything;
  const uint64_t cycles = EnvU64("JOBSTORE_POWER_CYCLES", kSanitized ? 8 : 20);
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  auto rand = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  std::string dir = FreshDir(durability == Durability::kPowerLoss ? "power" : "power-pc");
  SCOPED_TRACE("JOBSTORE_SEED=" + std::to_string(seed));

  auto bundle = FaultFS::MakeEnv();
  FaultFS& fs = *bundle.fs;
  auto clock = std::make_shared<ManualClock>();
  Options options;
  options.clock = clock;
  options.durability = durability;
  RocksDbOptions rocks;
  rocks.env = bundle.env.get();
  // Small write buffers: memtables flush every few hundred operations, so cuts also land
  // around flushes (SST, MANIFEST and directory syncs) and not only in the WAL.
  rocks.write_buffer_bytes_per_type = 64 << 10;

  auto opened = RocksDb::Open(dir, options, rocks);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Store> store = std::move(*opened);
  Model model;
  uint64_t mid_op_cuts = 0, pushes_checked = 0;
  {
    Workload setup(*store, *clock, seed, [&](const std::string& l) { model.Apply(l); });
    ASSERT_TRUE(setup.Configure().ok());
  }

  for (uint64_t cycle = 0; cycle < cycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    const bool mid_op = rand(0, 1) == 0;
    if (mid_op) fs.PowerOffAfterWrites(rand(1, 300));
    Workload w(*store, *clock, seed + cycle + 1, [&](const std::string& l) { model.Apply(l); },
               [&] { return fs.powered_off(); });
    Status s = w.Run(rand(1, 300));
    ASSERT_TRUE(s.ok()) << s.ToString();
    if (fs.powered_off()) ++mid_op_cuts;
    ASSERT_TRUE(model.errors.empty()) << Describe(model.errors);

    fs.PowerOff();
    store.reset();
    std::string dropped = fs.ApplyPowerCut();
    fs.PowerOn();

    opened = RocksDb::Open(dir, options, rocks);
    ASSERT_TRUE(opened.ok()) << "reopen after the cut: " << opened.status().ToString()
                             << "\ndropped:\n" << dropped;
    store = std::move(*opened);
    Snapshot snap = TakeSnapshot(*store);
    auto problems = Verify(model, snap, loss);
    ASSERT_TRUE(problems.empty()) << Describe(problems) << "\ndropped:\n" << dropped;
    for (auto& [id, j] : model.jobs) pushes_checked += snap.jobs.count(id);

    // The claims died with the "machine": expire them, then continue from what is there.
    s = MaintainUntilIdle(*store, *clock, 2 * kDayMs);
    ASSERT_TRUE(s.ok()) << s.ToString();
    Snapshot after = TakeSnapshot(*store);
    ASSERT_TRUE(after.problems.empty()) << Describe(after.problems);
    model.ResetFrom(after, loss == Loss::kAnything);
    // Type settings are not synced by themselves: a cut may have taken them. Rewrite them.
    Workload setup(*store, *clock, seed, [&](const std::string& l) { model.Apply(l); });
    ASSERT_TRUE(setup.Configure().ok());
  }
  std::string drained = DrainAll(*store, *clock);
  EXPECT_EQ(drained, "");
  std::printf("power loss (%s): %llu cuts, %llu in the middle of an operation, %llu job "
              "survivals checked\n",
              durability == Durability::kPowerLoss ? "power-loss" : "process-crash",
              static_cast<unsigned long long>(cycles),
              static_cast<unsigned long long>(mid_op_cuts),
              static_cast<unsigned long long>(pushes_checked));
  store.reset();
  if (!HasFailure()) RemoveDir(dir);
}

INSTANTIATE_TEST_SUITE_P(Durability, PowerLoss,
                         ::testing::Values(Durability::kPowerLoss, Durability::kProcessCrash),
                         [](const auto& info) {
                           return info.param == Durability::kPowerLoss ? "PowerLoss"
                                                                       : "ProcessCrash";
                         });

// A push acknowledged under kPowerLoss survives a cut right after it returns, even when
// nothing else is ever synced (the smallest form of the guarantee, easy to read).
TEST(PowerLossExact, AcknowledgedPushSurvivesImmediateCut) {
  std::string dir = FreshDir("power-exact");
  auto bundle = FaultFS::MakeEnv();
  auto clock = std::make_shared<ManualClock>();
  Options options;
  options.clock = clock;
  RocksDbOptions rocks;
  rocks.env = bundle.env.get();
  options.durability = Durability::kPowerLoss;
  std::vector<JobId> ids;
  for (int i = 0; i < 5; ++i) {
    auto store = RocksDb::Open(dir, options, rocks);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto r = (*store)->Push({JobSpec{.type = "t" + std::to_string(i % 2), .params = "p"}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ids.push_back(r->ids[0]);
    bundle.fs->PowerOff();
    store->reset();
    bundle.fs->ApplyPowerCut();
    bundle.fs->PowerOn();
  }
  auto store = RocksDb::Open(dir, options, rocks);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (size_t i = 0; i < ids.size(); ++i) {
    auto info = (*store)->Inspect({"", "t" + std::to_string(i % 2)}, ids[i]);
    EXPECT_TRUE(info.ok()) << "job " << ids[i] << ": " << info.status().ToString();
  }
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]) << "ids reused";
  auto check = (*store)->Check();
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->empty()) << Describe(*check);
  store->reset();
  RemoveDir(dir);
}

}  // namespace
}  // namespace jobstore::testing
