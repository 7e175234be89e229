// I/O faults (issue 8): writes and syncs that fail with ENOSPC or EIO through the FaultFS.
// The failing operation returns an error, the store's memory does not change (counts, claims,
// listings equal the model of the operations that succeeded), nothing acknowledged is lost,
// and after the fault clears and a reopen the store works again.
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

class IoFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshDir("iofault-" + std::string(
                                     ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    bundle_ = FaultFS::MakeEnv();
    clock_ = std::make_shared<ManualClock>();
    options_.clock = clock_;
    rocks_.env = bundle_.env.get();
    options_.durability = Durability::kPowerLoss;
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    if (!HasFailure()) RemoveDir(dir_);
  }
  void Reopen() {
    store_.reset();
    auto s = RocksDb::Open(dir_, options_, rocks_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  Workload MakeWorkload(uint64_t seed) {
    return Workload(*store_, *clock_, seed, [this](const std::string& l) { model_.Apply(l); });
  }
  // The store's state equals the model exactly (the failed operation changed nothing).
  void ExpectExactly(const char* when) {
    Model strict = model_;
    strict.in_flight.reset();
    auto problems = Verify(strict, TakeSnapshot(*store_), Loss::kNone);
    EXPECT_TRUE(problems.empty()) << when << ": " << Describe(problems);
  }
  // The store's state equals the model, the failed operation applied in full or not at all.
  void ExpectModelOrInFlight(const char* when) {
    auto problems = Verify(model_, TakeSnapshot(*store_), Loss::kNone);
    EXPECT_TRUE(problems.empty()) << when << ": " << Describe(problems);
  }
  // Pushes, claims and acks work (the random workload, reported to the model).
  void ExpectWorks() {
    Workload w = MakeWorkload(99);
    Status s = w.Run(300);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(model_.errors.empty()) << Describe(model_.errors);
    EXPECT_GT(w.ops_done(), 250u);
  }

  std::string dir_;
  FaultFS::EnvBundle bundle_;
  std::shared_ptr<ManualClock> clock_;
  Options options_;
  RocksDbOptions rocks_;
  std::unique_ptr<Store> store_;
  Model model_;
};

// The WAL is full: push, claim, ack, release, touch, repush and maintain all fail, memory
// does not move, and after a reopen nothing acknowledged is lost and nothing failed is there.
TEST_F(IoFaults, WalAppendFailureFailsEveryWriteAndChangesNothing) {
  Workload w = MakeWorkload(1);
  ASSERT_TRUE(w.Configure().ok());
  ASSERT_TRUE(w.Run(300).ok());
  ASSERT_TRUE(model_.errors.empty()) << Describe(model_.errors);
  auto held = store_->Claim({"", "fifo"}, 2);
  ASSERT_TRUE(held.ok());
  for (auto& j : *held) {
    model_.Apply("B C 0 1");
    model_.Apply("C 0 1 " + std::to_string(j.claim.id) + " " + std::to_string(j.claim.token.nonce) +
                 " " + std::to_string(j.claim.token.deadline_ms) + " " + std::to_string(j.attempts));
  }
  ASSERT_TRUE(model_.errors.empty()) << Describe(model_.errors);
  QueueRef fifo{"", "fifo"};
  auto before = store_->Counts(fifo);
  ASSERT_TRUE(before.ok());

  bundle_.fs->InjectFault(FaultFS::kAppend, FaultFS::Error::kNoSpace, FaultFS::FileKind::kWal);
  auto pushed = store_->Push({JobSpec{.type = "fifo", .params = "x"}});
  EXPECT_FALSE(pushed.ok());
  EXPECT_TRUE(pushed.status().IsIOError()) << pushed.status().ToString();
  auto claimed = store_->Claim(fifo, 5);
  EXPECT_FALSE(claimed.ok() && !claimed->empty()) << "a claim succeeded on a full disk";
  if (!held->empty()) {
    EXPECT_FALSE(store_->Ack(held->front().claim).ok());
    EXPECT_FALSE(store_->Release(held->front().claim, 0, "e").ok());
    // (a different TTL: a touch to the same deadline writes nothing and may succeed)
    EXPECT_FALSE(store_->Touch(held->front().claim, kDayMs + 5).ok());
  }
  auto counts = store_->Counts(fifo);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(*counts, *before) << "memory moved on failed writes";
  EXPECT_GT(bundle_.fs->faults_hit(), 0u);
  ExpectExactly("while the disk is full");

  bundle_.fs->ClearFault();
  Reopen();
  ExpectExactly("after the fault cleared and a reopen");
  // The claims held across the fault are still valid.
  for (auto& j : *held) {
    Status s = store_->Ack(j.claim);
    EXPECT_TRUE(s.ok()) << s.ToString();
    model_.Apply("B A 0 " + std::to_string(j.claim.id));
    model_.Apply("A 0 " + std::to_string(j.claim.id));
  }
  ExpectWorks();
  ExpectExactly("working again");
}

// fsync fails (EIO) under kPowerLoss: the push reports an error. Its batch reached the OS, so
// after a reopen it may be there or not, in full or not at all; everything else is exact.
TEST_F(IoFaults, WalSyncFailureFailsThePushAndLosesNothingAcknowledged) {
  Workload w = MakeWorkload(2);
  ASSERT_TRUE(w.Configure().ok());
  ASSERT_TRUE(w.Run(200).ok());
  bundle_.fs->InjectFault(FaultFS::kSync, FaultFS::Error::kIOError, FaultFS::FileKind::kWal);
  std::vector<JobSpec> specs;
  std::string begin = "B P";
  for (int i = 0; i < 4; ++i) {
    specs.push_back(JobSpec{.type = "prio", .domain = "wiki-a", .params = "s" + std::to_string(i)});
    begin += " " + std::to_string(QueueIndex({"wiki-a", "prio"}));
  }
  model_.Apply(begin);
  auto pushed = store_->Push(specs);
  ASSERT_FALSE(pushed.ok()) << "a push whose fsync failed was acknowledged";
  model_.Apply("F " + pushed.status().ToString());
  ExpectExactly("after the failed sync");
  bundle_.fs->ClearFault();
  Reopen();
  ExpectModelOrInFlight("after a reopen");
  model_.ResetFrom(TakeSnapshot(*store_));
  ExpectWorks();
}

// A push into many new domains registers them all in one synced write (it was one fsync per
// domain): with every WAL sync after the next two failing, a power-loss push of 20 jobs into 20
// new domains succeeds (one sync registers the domains, one commits the jobs) and survives a
// reopen.
TEST_F(IoFaults, NewDomainsOfAPushShareOneSync) {
  ASSERT_TRUE(store_->Push({JobSpec{.type = "t", .domain = "first", .params = "p"}}).ok());
  bundle_.fs->InjectFault(FaultFS::kSync, FaultFS::Error::kIOError, FaultFS::FileKind::kWal,
                          /*succeed_first=*/2);
  std::vector<JobSpec> specs;
  for (int i = 0; i < 20; ++i) {
    specs.push_back(JobSpec{.type = "t", .domain = "d" + std::to_string(i), .params = "p"});
  }
  auto pushed = store_->Push(specs);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  EXPECT_EQ(pushed->pushed, 20u);
  EXPECT_EQ(bundle_.fs->faults_hit(), 0u);
  bundle_.fs->ClearFault();
  Reopen();
  for (int i = 0; i < 20; ++i) {
    auto counts = store_->Counts({"d" + std::to_string(i), "t"});
    ASSERT_TRUE(counts.ok()) << counts.status().ToString();
    EXPECT_EQ(*counts, (QueueCounts{.ready = 1})) << "domain d" << i;
  }
}

// A worker's ack of the job it ran and its claim of the next are one write (AckThenClaimAny,
// fused in RocksDB): with every WAL append after the next one failing, both succeed; the
// write after them fails, and after a reopen the ack and the claim are both there, the claim
// with its token.
TEST_F(IoFaults, AckThenClaimAnyIsOneWrite) {
  const QueueRef q{"", "t"};
  ASSERT_TRUE(store_->Push({JobSpec{.type = "t", .params = "a"}, JobSpec{.type = "t", .params = "b"}}).ok());
  auto first = store_->Claim(q, 1);
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  bundle_.fs->InjectFault(FaultFS::kAppend, FaultFS::Error::kIOError, FaultFS::FileKind::kWal,
                          /*succeed_first=*/1);
  auto next = store_->AckThenClaimAny({first->front().claim}, ReadyFilter{.types = {"t"}}, 1);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_EQ(next->acked.size(), 1u);
  EXPECT_TRUE(next->acked[0].ok()) << next->acked[0].ToString();
  ASSERT_TRUE(next->claimed.ok()) << next->claimed.status().ToString();
  ASSERT_EQ(next->claimed->size(), 1u);
  EXPECT_EQ(next->claimed->front().params, "b");
  EXPECT_EQ(bundle_.fs->faults_hit(), 0u) << "the ack and the claim took more than one write";
  EXPECT_FALSE(store_->Push({JobSpec{.type = "t", .params = "c"}}).ok()) << "the fault was not armed";
  EXPECT_GT(bundle_.fs->faults_hit(), 0u);
  bundle_.fs->ClearFault();
  Reopen();
  EXPECT_EQ(*store_->Counts(q), (QueueCounts{.claimed = 1}));
  EXPECT_TRUE(store_->Inspect(q, first->front().claim.id).status().IsNotFound());
  EXPECT_TRUE(store_->Ack(next->claimed->front().claim).ok());
  EXPECT_EQ(*store_->Counts(q), QueueCounts{});
}

// When that one write fails, neither happened: the ack reports the error, the claim too, the
// store's memory does not move, and after a reopen the acked job is still claimed under its
// token and the other still ready.
TEST_F(IoFaults, AckThenClaimAnyWhoseWriteFailsChangesNothing) {
  const QueueRef q{"", "t"};
  ASSERT_TRUE(store_->Push({JobSpec{.type = "t", .params = "a"}, JobSpec{.type = "t", .params = "b"}}).ok());
  auto first = store_->Claim(q, 1);
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  bundle_.fs->InjectFault(FaultFS::kAppend, FaultFS::Error::kIOError, FaultFS::FileKind::kWal);
  auto next = store_->AckThenClaimAny({first->front().claim}, ReadyFilter{.types = {"t"}}, 1);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_EQ(next->acked.size(), 1u);
  EXPECT_TRUE(next->acked[0].IsIOError()) << next->acked[0].ToString();
  EXPECT_TRUE(next->claimed.status().IsIOError()) << next->claimed.status().ToString();
  EXPECT_GT(bundle_.fs->faults_hit(), 0u);
  EXPECT_EQ(*store_->Counts(q), (QueueCounts{.ready = 1, .claimed = 1}));
  bundle_.fs->ClearFault();
  Reopen();
  EXPECT_EQ(*store_->Counts(q), (QueueCounts{.ready = 1, .claimed = 1}));
  EXPECT_TRUE(store_->Ack(first->front().claim).ok());
  auto rest = store_->Claim(q, 5);
  ASSERT_TRUE(rest.ok() && rest->size() == 1u);
  EXPECT_EQ(rest->front().params, "b");
  EXPECT_TRUE(store_->Ack(rest->front().claim).ok());
  EXPECT_EQ(*store_->Counts(q), QueueCounts{});
}

// A clean close saves each queue's claim cursor; the next open must delete it before the store
// is used (a stale one could hide jobs after a crash). If it cannot, Open fails and the saved
// cursor stays valid for the next try.
TEST_F(IoFaults, OpenFailsWhenItCannotClearTheSavedClaimCursor) {
  std::vector<JobSpec> specs(10, JobSpec{.type = "t", .params = "p"});
  ASSERT_TRUE(store_->Push(specs).ok());
  auto first = store_->Claim({"", "t"}, 5);
  ASSERT_TRUE(first.ok());
  for (const auto& j : *first) ASSERT_TRUE(store_->Ack(j.claim).ok());
  store_.reset();
  bundle_.fs->InjectFault(FaultFS::kAppend, FaultFS::Error::kNoSpace, FaultFS::FileKind::kWal);
  auto failed = RocksDb::Open(dir_, options_, rocks_);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("cannot clear the claim cursors"), std::string::npos)
      << failed.status().ToString();
  bundle_.fs->ClearFault();
  Reopen();
  auto rest = store_->Claim({"", "t"}, 10);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  ASSERT_EQ(rest->size(), 5u);
  EXPECT_EQ(rest->front().claim.id, first->back().claim.id + 1);
}

// A write fault while creating a new type (a new column family: a MANIFEST write).
TEST_F(IoFaults, ManifestFailureWhileCreatingATypeFailsCleanly) {
  auto r = store_->Push({JobSpec{.type = "old", .params = "kept"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  JobId kept = r->ids[0];
  bundle_.fs->InjectFault(FaultFS::kAppend | FaultFS::kSync | FaultFS::kCreate,
                          FaultFS::Error::kNoSpace, FaultFS::FileKind::kManifest);
  auto failed = store_->Push({JobSpec{.type = "brand-new", .params = "x"}});
  EXPECT_FALSE(failed.ok()) << "push to a new type succeeded although its MANIFEST write failed";
  auto counts = store_->Counts({"", "brand-new"});
  if (counts.ok()) {
    EXPECT_EQ(counts->total(), 0u);
  }
  bundle_.fs->ClearFault();
  Reopen();
  EXPECT_TRUE(store_->Inspect({"", "old"}, kept).ok());
  auto check = store_->Check();
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_TRUE(check->empty()) << Describe(*check);
  auto again = store_->Push({JobSpec{.type = "brand-new", .params = "y"}});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto c = store_->Claim({"", "brand-new"}, 10);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->empty());
}

// Flushes fail (SST writes hit ENOSPC) while pushes keep coming: some push eventually
// reports the background error; every push acknowledged before survives a reopen.
TEST_F(IoFaults, FlushFailureStopsWritesAndLosesNothing) {
  bundle_.fs->InjectFault(FaultFS::kAppend | FaultFS::kCreate, FaultFS::Error::kNoSpace,
                          FaultFS::FileKind::kSst);
  std::vector<std::pair<QueueRef, JobId>> acked;
  std::string big(64 * 1024, 'p');
  bool failed = false;
  // 4 MiB write buffers: a few hundred 64 KiB pushes must trigger flushes.
  for (int i = 0; i < 600 && !failed; ++i) {
    QueueRef q{"", i % 2 ? "fifo" : "bulk"};
    auto r = store_->Push({JobSpec{.type = q.type, .params = big}});
    if (!r.ok()) {
      failed = true;
      EXPECT_TRUE(r.status().IsIOError()) << r.status().ToString();
    } else {
      acked.emplace_back(q, r->ids[0]);
    }
  }
  std::printf("flush fault: %zu pushes acknowledged, %s, %llu faults hit\n", acked.size(),
              failed ? "then a push failed" : "no push failed",
              static_cast<unsigned long long>(bundle_.fs->faults_hit()));
  bundle_.fs->ClearFault();
  Reopen();
  for (auto& [q, id] : acked) {
    auto info = store_->Inspect(q, id);
    ASSERT_TRUE(info.ok()) << "acknowledged job " << id << " lost: " << info.status().ToString();
  }
  auto check = store_->Check();
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_TRUE(check->empty()) << Describe(*check);
  auto r = store_->Push({JobSpec{.type = "bulk", .params = "after"}});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

// Random faults: a random kind of failure on a random kind of file after a random number of
// successful operations, in the middle of the random workload. Repeated.
TEST_F(IoFaults, RandomFaultsNeverDivergeMemoryFromDisk) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("JOBSTORE_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto rand = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  const FaultFS::FileKind kinds[] = {FaultFS::FileKind::kAny, FaultFS::FileKind::kWal,
                                     FaultFS::FileKind::kWal, FaultFS::FileKind::kManifest};
  const unsigned ops[] = {FaultFS::kAppend, FaultFS::kSync, FaultFS::kAppend | FaultFS::kSync};
  {
    Workload w = MakeWorkload(seed);
    ASSERT_TRUE(w.Configure().ok());
  }
  uint64_t faulted = 0;
  const uint64_t cycles = EnvU64("JOBSTORE_IOFAULT_CYCLES", kSanitized ? 6 : 15);
  for (uint64_t cycle = 0; cycle < cycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    bundle_.fs->InjectFault(ops[rand(0, 2)],
                            rand(0, 1) ? FaultFS::Error::kNoSpace : FaultFS::Error::kIOError,
                            kinds[rand(0, 3)], rand(0, 120));
    Workload w = MakeWorkload(seed + cycle + 1);
    Status s = w.Run(rand(10, 300));
    ASSERT_TRUE(model_.errors.empty()) << Describe(model_.errors);
    if (!s.ok()) {
      ++faulted;
      // Memory: exactly the operations that succeeded.
      ExpectExactly("in memory, right after the failure");
      // Other writes keep failing or work; either way memory stays exact.
      bundle_.fs->ClearFault();
      auto extra = store_->Push({JobSpec{.type = "fifo", .params = "probe"}});
      if (extra.ok()) {
        std::optional<InFlight> failed_op = model_.in_flight;
        model_.Apply("B P 0");
        model_.Apply("P 1 0 " + std::to_string(extra->ids[0]) + " 0");
        model_.in_flight = failed_op;
      }
    }
    bundle_.fs->ClearFault();
    Reopen();
    // Disk: the same, the failed operation in full or not at all.
    ExpectModelOrInFlight("after a reopen");
    if (HasFailure()) return;
    ASSERT_TRUE(MaintainUntilIdle(*store_, *clock_, 2 * kDayMs).ok());
    Snapshot after = TakeSnapshot(*store_);
    ASSERT_TRUE(after.problems.empty()) << Describe(after.problems);
    model_.ResetFrom(after);
  }
  std::printf("random I/O faults: %llu of %llu cycles hit a failing operation\n",
              static_cast<unsigned long long>(faulted), static_cast<unsigned long long>(cycles));
  ExpectWorks();
}

}  // namespace
}  // namespace jobstore::testing
