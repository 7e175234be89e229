// Corrupt data (issue 8): a stored job record is damaged behind the store's back (RocksDB
// opened directly, a `J` value rewritten). Check() reports it; Claim moves the job aside to
// abandoned with the error and never hands it out, crashes or loops; the queue keeps working,
// and the damaged job can be repushed and pruned like any abandoned job.
#include <rocksdb/db.h>

#include <algorithm>
#include <functional>
#include <random>

#include <gtest/gtest.h>

#include "jobstore/store.h"
#include "keys.h"            // engine/media/rocksdb: the key layout (docs/DESIGN.md §3)
#include "reliability/harness.h"
#include "reliability/model.h"
#include "support/raw_store.h"

namespace jobstore::testing {
namespace {

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

// Opens the store's RocksDB with every column family, lets `edit` change it, then compacts
// everything so the rewritten key holds a single version (its original Put and the damaging
// Put collapse; the engine removes job keys with SingleDelete).
void EditRaw(const std::string& dir,
             const std::function<void(rocksdb::DB*, std::map<std::string,
                                                             rocksdb::ColumnFamilyHandle*>&)>& edit) {
  RawStore raw(dir, /*read_only=*/false);
  ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
  edit(raw.db(), raw.families());
  for (auto& [name, h] : raw.families()) {
    rocksdb::CompactRangeOptions cro;
    cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    EXPECT_TRUE(raw.db()->CompactRange(cro, h, nullptr, nullptr).ok());
  }
}

enum class Damage { kFlipBytes, kFlipChecksum, kTruncate, kGarbage, kEmpty };

std::string Damaged(std::string v, Damage d) {
  std::mt19937 rng(7);
  switch (d) {
    case Damage::kFlipBytes:  // a few bytes past the checksum, as a bad sector would
      for (size_t i = 4 + (v.size() - 4) / 3; i < v.size() && i < 4 + (v.size() - 4) / 3 + 3; ++i)
        v[i] = static_cast<char>(v[i] ^ 0x5a);
      return v;
    case Damage::kFlipChecksum:
      v[0] = static_cast<char>(v[0] ^ 1);
      return v;
    case Damage::kTruncate: return v.substr(0, v.size() / 2);
    case Damage::kGarbage:
      for (auto& c : v) c = static_cast<char>(rng());
      return v;
    case Damage::kEmpty: return "";
  }
  return v;
}

class Corruption : public ::testing::TestWithParam<Damage> {
 protected:
  void SetUp() override {
    dir_ = FreshDir("corrupt-" + std::to_string(static_cast<int>(GetParam())));
    clock_ = std::make_shared<ManualClock>();
    options_.clock = clock_;
  }
  void TearDown() override {
    store_.reset();
    if (!HasFailure()) RemoveDir(dir_);
  }
  void Open() {
    auto s = Store::Open(dir_, options_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  // Rewrites job `id`'s record (domain "", type "victim") with `d` applied.
  void DamageRecord(JobId id, Damage d) {
    store_.reset();
    EditRaw(dir_, [&](rocksdb::DB* db, auto& cfs) {
      auto* cf = cfs.at(keys::TypeFamilyName("victim"));
      std::string key = keys::JobKey(0, id);
      std::string value;
      ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf, key, &value).ok()) << "no J key for " << id;
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, key, Damaged(value, d)).ok());
    });
    Open();
  }

  std::string dir_;
  std::shared_ptr<ManualClock> clock_;
  Options options_;
  std::unique_ptr<Store> store_;
};

TEST_P(Corruption, CheckReportsItAndClaimMovesItAside) {
  Open();
  const QueueRef victim{"", "victim"};
  TypeSettings ts;
  ts.retention_ms = 7 * kDayMs;
  ASSERT_TRUE(store_->SetTypeSettings("victim", ts).ok());
  std::vector<JobSpec> specs;
  for (int i = 0; i < 20; ++i) {
    specs.push_back(JobSpec{.type = "victim", .params = "job-" + std::to_string(i) + std::string(40, 'x')});
  }
  auto pushed = store_->Push(specs);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  const JobId bad = pushed->ids[0];  // the head of the queue: the first one a claim meets

  DamageRecord(bad, GetParam());

  // Check() names the damaged job.
  auto check = store_->Check();
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  ASSERT_FALSE(check->empty()) << "Check() does not see the damaged record";
  bool named = false;
  for (auto& v : *check) named |= v.find(std::to_string(bad)) != std::string::npos;
  EXPECT_TRUE(named) << Describe(*check);
  // Inspect and List show it as corrupt rather than failing.
  auto info = store_->Inspect(victim, bad);
  ASSERT_TRUE(info.ok() || info.status().IsCorruption()) << info.status().ToString();
  if (info.ok()) {
    EXPECT_TRUE(info->corrupt);
  }
  auto listed = store_->List(victim, JobState::kReady, "", 100);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->jobs.size(), 20u);

  // Claims hand out the 19 good jobs, never the bad one, and terminate.
  size_t handed = 0;
  for (int round = 0; round < 100; ++round) {
    auto jobs = store_->Claim(victim, 3);
    ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
    if (jobs->empty()) break;
    for (auto& j : *jobs) {
      ASSERT_NE(j.claim.id, bad) << "the corrupt job was handed out";
      ASSERT_TRUE(store_->Ack(j.claim).ok());
      ++handed;
    }
  }
  EXPECT_EQ(handed, 19u);
  info = store_->Inspect(victim, bad);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->state, JobState::kAbandoned);
  EXPECT_FALSE(info->last_error.empty()) << "abandoned without saying why";
  auto counts = store_->Counts(victim);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(*counts, (QueueCounts{.ready = 0, .claimed = 0, .delayed = 0, .abandoned = 1}));
  EXPECT_TRUE(store_->ReadyQueues()->empty());

  // The queue keeps working, also across a reopen.
  store_.reset();
  Open();
  auto more = store_->Push({JobSpec{.type = "victim", .params = "fresh"}});
  ASSERT_TRUE(more.ok());
  auto fresh = store_->Claim(victim, 10);
  ASSERT_TRUE(fresh.ok());
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ(fresh->front().params, "fresh");
  ASSERT_TRUE(store_->Ack(fresh->front().claim).ok());

  // Repushed, it is moved aside again (no loop); pruned after retention, the store is clean.
  auto repushed = store_->RepushAbandoned(victim);
  ASSERT_TRUE(repushed.ok());
  EXPECT_EQ(*repushed, 1u);
  auto again = store_->Claim(victim, 10);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->empty());
  ASSERT_TRUE(MaintainUntilIdle(*store_, *clock_, 8 * kDayMs).ok());
  EXPECT_TRUE(store_->Inspect(victim, bad).status().IsNotFound());
  Snapshot snap = TakeSnapshot(*store_);
  EXPECT_TRUE(snap.problems.empty()) << Describe(snap.problems);
  EXPECT_TRUE(snap.jobs.empty());
}

INSTANTIATE_TEST_SUITE_P(Damage, Corruption,
                         ::testing::Values(Damage::kFlipBytes, Damage::kFlipChecksum,
                                           Damage::kTruncate, Damage::kGarbage, Damage::kEmpty),
                         [](const auto& info) {
                           switch (info.param) {
                             case Damage::kFlipBytes: return "FlipBytes";
                             case Damage::kFlipChecksum: return "FlipChecksum";
                             case Damage::kTruncate: return "Truncate";
                             case Damage::kGarbage: return "Garbage";
                             case Damage::kEmpty: return "Empty";
                           }
                           return "?";
                         });

class CorruptionMore : public Corruption {};

// A corrupt job that held the queue's dedup entry: once it is moved aside, an identical
// dedup push is accepted again (it must not be dropped as a duplicate of an abandoned job).
TEST_P(CorruptionMore, DedupEntryOfACorruptJobDoesNotBlockPushes) {
  Open();
  const QueueRef victim{"", "victim"};
  auto pushed = store_->Push({JobSpec{.type = "victim", .params = "same", .dedup = true}});
  ASSERT_TRUE(pushed.ok());
  const JobId bad = pushed->ids[0];
  DamageRecord(bad, GetParam());
  auto none = store_->Claim(victim, 10);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  auto again = store_->Push({JobSpec{.type = "victim", .params = "same", .dedup = true}});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->duplicate[0]) << "dropped as a duplicate of abandoned job " << again->ids[0];
  auto got = store_->Claim(victim, 10);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 1u) << "the identical job pushed after the corrupt one is not claimable";
}

// A damaged state entry (the `R` value, not the record): also moved aside, never a crash.
TEST_P(CorruptionMore, DamagedReadyEntryIsMovedAside) {
  Open();
  const QueueRef victim{"", "victim"};
  auto pushed = store_->Push({JobSpec{.type = "victim", .params = "a"},
                              JobSpec{.type = "victim", .params = "b"}});
  ASSERT_TRUE(pushed.ok());
  const JobId bad = pushed->ids[0];
  store_.reset();
  EditRaw(dir_, [&](rocksdb::DB* db, auto& cfs) {
    auto* cf = cfs.at(keys::TypeFamilyName("victim"));
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf));
    std::string prefix = keys::Prefix(keys::kReady, 0);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (keys::IdOf(it->key().ToStringView()) != bad) continue;
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, it->key(),
                          Damaged(it->value().ToString(), GetParam()))
                      .ok());
      return;
    }
    FAIL() << "no ready key for job " << bad;
  });
  Open();
  auto check = store_->Check();
  ASSERT_TRUE(check.ok());
  EXPECT_FALSE(check->empty()) << "Check() does not see the damaged ready entry";
  auto got = store_->Claim(victim, 10);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().params, "b");
  auto info = store_->Inspect(victim, bad);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->state, JobState::kAbandoned);
}

INSTANTIATE_TEST_SUITE_P(Damage, CorruptionMore,
                         ::testing::Values(Damage::kFlipBytes, Damage::kGarbage),
                         [](const auto& info) {
                           return info.param == Damage::kFlipBytes ? "FlipBytes" : "Garbage";
                         });

// A failed WAL write can come back at recovery in the type families but not in the default
// one, which holds the id high-water mark (io_fault_test found it). Whatever the mark says,
// a reopened store must never hand out an id that is already stored.
TEST(LostHighWater, IdsNeverRepeatWhenTheMarkLostTheJobsWrite) {
  const std::string dir = FreshDir("lost-high-water");
  std::vector<JobId> before;
  {
    auto store = Store::Open(dir, Options{});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto pushed = (*store)->Push({JobSpec{.type = "a", .params = "1"},
                                  JobSpec{.type = "b", .domain = "wiki", .params = "2"},
                                  JobSpec{.type = "a", .domain = "wiki", .params = "3"}});
    ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
    before = pushed->ids;
  }
  EditRaw(dir, [](rocksdb::DB* db, auto& cfs) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cfs.at(rocksdb::kDefaultColumnFamilyName),
                           std::string(1, keys::kHighWater))
                    .ok());
  });
  auto store = Store::Open(dir, Options{});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto check = (*store)->Check();
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_TRUE(check->empty()) << Describe(*check);
  for (const char* type : {"a", "b"}) {
    auto pushed = (*store)->Push({JobSpec{.type = type, .params = "new"}});
    ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
    EXPECT_GT(pushed->ids[0], *std::max_element(before.begin(), before.end())) << type;
  }
  auto info = (*store)->Inspect({"wiki", "a"}, before[2]);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->params, "3");
  store->reset();
  RemoveDir(dir);
}

}  // namespace
}  // namespace jobstore::testing
