// Claim cursors across a clean close (StoreImpl::SaveCursors / ResumeCursors): a new process
// resumes claiming where the last one stopped instead of walking the drained prefix, and the
// saved key never outlives the open that read it.
#include <rocksdb/db.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store_fixture.h"
#include "keys.h"            // engine/media/rocksdb: the key layout
#include "support/raw_store.h"

namespace jobstore::testing {
namespace {

class ClaimCursor : public StoreTest {
 protected:
  void PushJobs(int n) {
    std::vector<JobSpec> specs;
    for (int i = 0; i < n; ++i) specs.push_back(Spec("t", std::to_string(i)));
    ASSERT_EQ(PushAll(specs).size(), static_cast<size_t>(n));
  }

  std::vector<ClaimedJob> ClaimN(size_t n) { return StoreTest::ClaimN(queue_, n); }

  void AckAll(const std::vector<ClaimedJob>& jobs) {
    std::vector<jobstore::Claim> claims;
    for (const auto& j : jobs) claims.push_back(j.claim);
    auto acked = store_->AckMany(claims);
    ASSERT_TRUE(acked.ok()) << acked.status().ToString();
    for (const Status& s : *acked) ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // The saved cursor of the default domain's queue, read from RocksDB directly (read-only, so
  // it works whether or not the store is open).
  std::optional<std::string> SavedCursor() {
    RawStore raw(dir_.Sub("store"), /*read_only=*/true);
    EXPECT_TRUE(raw.status().ok()) << raw.status().ToString();
    auto* cf = raw.family(keys::TypeFamilyName("t"));
    if (!cf) return std::nullopt;
    std::string v;
    rocksdb::Status rs = raw.db()->Get(rocksdb::ReadOptions(), cf, keys::CursorKey(0), &v);
    EXPECT_TRUE(rs.ok() || rs.IsNotFound()) << rs.ToString();
    return rs.ok() ? std::optional<std::string>(v) : std::nullopt;
  }

  const QueueRef queue_{"", "t"};
};

TEST_F(ClaimCursor, ResumesAfterACleanCloseWithoutWalkingTheDrainedPrefix) {
  PushJobs(3000);
  Reopen();  // the jobs are flushed to a table: the drain below leaves tombstones over them
  AckAll(ClaimN(2000));
  auto held = ClaimN(10);  // jobs 2001..2010
  ASSERT_EQ(held.size(), 10u);
  ASSERT_EQ(held[0].claim.id, 2001u);
  ASSERT_TRUE(store_->Release(held[0].claim).ok());  // 2001 re-enters ready below the head
  AckAll(std::vector<ClaimedJob>(held.begin() + 1, held.end()));

  store_.reset();
  auto saved = SavedCursor();
  ASSERT_TRUE(saved.has_value()) << "a clean close saved no cursor";
  EXPECT_EQ(saved->size(), keys::kReadyKeySize);
  EXPECT_EQ(keys::IdOf(*saved), 2001u) << "the cursor must resume at the lowest claimable job";

  Reopen();
  EXPECT_FALSE(SavedCursor().has_value()) << "the saved cursor outlived the open that read it";
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  auto next = ClaimN(2);
  const uint64_t skipped = rocksdb::get_perf_context()->internal_delete_skipped_count;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].claim.id, 2001u);
  EXPECT_EQ(next[1].claim.id, 2011u);
  EXPECT_EQ(next[0].attempts, 2);
  // At most the 9 acked jobs between 2001 and 2011 (fewer if a compaction dropped them), never
  // the 2,000 of the drained prefix.
  EXPECT_LE(skipped, 9u) << "the first claim walked the drained prefix";
  AckAll(next);
  // Everything else is still there, in order, exactly once.
  auto rest = ClaimN(5000);
  ASSERT_EQ(rest.size(), 3000u - 2011u);
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i].claim.id, 2012u + i);
}

TEST_F(ClaimCursor, ANewJobBelowTheSavedCursorIsClaimedFirst) {
  ASSERT_TRUE(store_->SetTypeSettings("t", TypeSettings{.order = Order::kPriority}).ok());
  PushJobs(100);
  AckAll(ClaimN(50));
  Reopen();
  // A higher priority ranks below every saved position.
  auto urgent = store_->Push({JobSpec{.type = "t", .params = "urgent", .priority = 9}});
  ASSERT_TRUE(urgent.ok()) << urgent.status().ToString();
  auto next = ClaimN(2);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].params, "urgent");
  EXPECT_EQ(next[1].claim.id, 51u);
}

TEST_F(ClaimCursor, ADamagedSavedCursorIsIgnored) {
  PushJobs(20);
  AckAll(ClaimN(5));
  store_.reset();
  {
    // Overwrite the saved cursor with something that is not a ready key of this queue.
    RawStore raw(dir_.Sub("store"), /*read_only=*/false);
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    ASSERT_TRUE(raw.db()->Put(rocksdb::WriteOptions(), raw.family(keys::TypeFamilyName("t")),
                              keys::CursorKey(0), std::string(25, '\xff')).ok());
  }
  Reopen();
  EXPECT_FALSE(SavedCursor().has_value());
  auto rest = ClaimN(100);
  ASSERT_EQ(rest.size(), 15u) << "a damaged cursor hid ready jobs";
  EXPECT_EQ(rest.front().claim.id, 6u);
}

}  // namespace
}  // namespace jobstore::testing
