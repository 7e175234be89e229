// The memtable insert hint (engine/media/rocksdb/memtable_hint.h): which keys are hinted, and that range
// deletions stay correct beside hinted inserts on the RocksDB Debian ships.
#include <rocksdb/db.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "keys.h"           // engine/media/rocksdb: the key layout
#include "memtable_hint.h"  // engine/media/rocksdb
#include "support/temp_dir.h"

namespace jobstore::testing {
namespace {

TEST(MemtableHint, OnlyPointKeysOfTheHotRegionsAreHinted) {
  auto hint = NewMemtableHintPrefix();
  EXPECT_TRUE(hint->InDomain(keys::JobKey(7, 42)));
  EXPECT_TRUE(hint->InDomain(keys::ReadyKey(7, 0, 42, 42)));
  EXPECT_TRUE(hint->InDomain(keys::TimedKey(keys::kClaimed, 7, 1'000, 42)));
  EXPECT_TRUE(hint->InDomain(keys::TimedKey(keys::kDelayed, 7, 1'000, 42)));
  EXPECT_TRUE(hint->InDomain(keys::CountsKey(7)));
  EXPECT_FALSE(hint->InDomain(keys::TimedKey(keys::kAbandoned, 7, 1'000, 42)));
  EXPECT_FALSE(hint->InDomain(keys::DedupKey(7, std::string(32, 'h'))));
  EXPECT_FALSE(hint->InDomain(keys::RootKey(7, "sig")));
  EXPECT_FALSE(hint->InDomain(keys::SettingsKey()));
  // Region prefixes and successors, as range deletions use them, are never hinted.
  EXPECT_FALSE(hint->InDomain(keys::Prefix(keys::kJob, 7)));
  EXPECT_FALSE(hint->InDomain(keys::Successor(keys::JobKey(7, 42))));
  EXPECT_FALSE(hint->InDomain(""));
  // The region is tag + domain: two domains never share a hint.
  EXPECT_EQ(hint->Transform(keys::JobKey(7, 42)).ToString(), keys::Prefix(keys::kJob, 7));
  EXPECT_NE(hint->Transform(keys::JobKey(8, 42)).ToString(), keys::Prefix(keys::kJob, 7));
}

std::vector<uint64_t> JobIds(rocksdb::DB* db) {
  std::vector<uint64_t> ids;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ids.push_back(keys::IdOf(it->key().ToStringView()));
  EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  return ids;
}

// RocksDB 7.8 shares a region's hint between the point and range-deletion memtables
// (facebook/rocksdb#5118): a range tombstone that begins at a hinted key corrupts the skiplist
// (Debian's build asserts; a release build loses keys). AddRangeDelete must avoid that and still
// delete exactly [begin, end).
TEST(MemtableHint, RangeDeleteFromAHintedKeyDeletesExactlyTheRange) {
  TempDir dir;
  rocksdb::Options o;
  o.create_if_missing = true;
  o.memtable_insert_with_hint_prefix_extractor = NewMemtableHintPrefix();
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(o, dir.Sub("db"), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* cf = db->DefaultColumnFamily();
  auto put = [&](uint64_t from, uint64_t to) {
    rocksdb::WriteBatch b;
    for (uint64_t id = from; id <= to; ++id) b.Put(cf, keys::JobKey(1, id), "x");
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &b).ok());
  };
  put(1, 10);
  // Twice: the second range begins after the hint the first one left.
  for (auto [begin, end] : {std::pair<uint64_t, uint64_t>{3, 6}, {9, 10}}) {
    rocksdb::WriteBatch b;
    AddRangeDelete(&b, cf, keys::JobKey(1, begin), keys::JobKey(1, end));
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &b).ok());
  }
  put(11, 14);
  put(4, 4);  // a key inside a deleted range, written again after the tombstone
  EXPECT_EQ(JobIds(db.get()), (std::vector<uint64_t>{1, 2, 4, 6, 7, 8, 10, 11, 12, 13, 14}));
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  EXPECT_EQ(JobIds(db.get()), (std::vector<uint64_t>{1, 2, 4, 6, 7, 8, 10, 11, 12, 13, 14}));
}

}  // namespace
}  // namespace jobstore::testing
