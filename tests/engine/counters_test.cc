// The queue counters' merge operands (records.h): the short form every write now uses, the
// 32-byte form schema 1 wrote, both merged together by the store's merge operator, the
// upgrade of schema-1 and schema-2 stores on open, and the claimed count that schema 3 counts
// at open instead of persisting.
#include <rocksdb/db.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "jobstore/rocksdb_store.h"
#include "keys.h"     // engine/media/rocksdb: the key layout
#include "records.h"  // engine/media/rocksdb: the counter encodings
#include "store_fixture.h"
#include "support/raw_store.h"

namespace jobstore::testing {
namespace {

CounterDelta Decoded(const std::string& value) {
  CounterDelta d;
  Status s = DecodeCounters(value, &d);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return d;
}

bool Same(const CounterDelta& a, const CounterDelta& b) {
  return a.ready == b.ready && a.claimed == b.claimed && a.delayed == b.delayed &&
         a.abandoned == b.abandoned;
}

TEST(CounterOperands, AClaimsChangeTakesFiveBytesAndEveryValueRoundTrips) {
  const CounterDelta claim{.ready = -1, .claimed = 1};
  const std::string short_form = EncodeCounterDelta(claim);
  EXPECT_EQ(short_form.size(), 5u);  // the marker and four one-byte varints
  EXPECT_EQ(short_form[0], kShortCounters);
  EXPECT_TRUE(Same(Decoded(short_form), claim));
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  for (const CounterDelta& d :
       {CounterDelta{}, CounterDelta{.ready = 100, .delayed = -100},
        CounterDelta{.ready = 1 << 20, .claimed = -(1 << 20), .abandoned = 63},
        CounterDelta{.ready = kMax, .claimed = kMin, .delayed = kMax, .abandoned = kMin},
        CounterDelta{.ready = kMin, .claimed = 0, .delayed = 0, .abandoned = 0}}) {
    const std::string v = EncodeCounterDelta(d);
    // Never 32 bytes unless it is the stored form: that size is how the two are told apart.
    if (v.size() == 32) {
      EXPECT_EQ(v, EncodeCounters(d));
    } else {
      EXPECT_LT(v.size(), 32u);
    }
    EXPECT_TRUE(Same(Decoded(v), d)) << d.ready << " " << d.claimed;
    EXPECT_TRUE(Same(Decoded(EncodeCounters(d)), d));
  }
  // Four extreme fields take 41 bytes short: the stored form is used instead.
  EXPECT_EQ(EncodeCounterDelta({kMax, kMin, kMax, kMin}).size(), 32u);
}

TEST(CounterOperands, DamagedOperandsAreCorruptionNotNumbers) {
  CounterDelta d;
  const std::string good = EncodeCounterDelta({.ready = 300, .claimed = -2});
  for (const std::string& bad :
       {std::string(), std::string(31, '\0'), std::string(33, '\0'), std::string("x\x01\x01\x01\x01"),
        good.substr(0, good.size() - 1),                // truncated
        good + "\x01",                                   // trailing byte
        std::string("v\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01\x01\x01", 15)}) {  // overlong
    Status s = DecodeCounters(bad, &d);
    EXPECT_TRUE(s.IsCorruption()) << "size " << bad.size() << ": " << s.ToString();
  }
}

TEST(CounterOperands, TheMergeOperatorAddsBothFormsTogether) {
  TempDir dir;
  rocksdb::Options options;
  options.create_if_missing = true;
  options.merge_operator = NewStoreMergeOperator();
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir.Sub("db"), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  const std::string key = keys::CountsKey(0);
  rocksdb::WriteOptions wo;
  // What a schema-1 store holds (32-byte operands), then what this build writes.
  ASSERT_TRUE(db->Merge(wo, key, EncodeCounters({.ready = 10, .delayed = 2})).ok());
  ASSERT_TRUE(db->Merge(wo, key, EncodeCounterDelta({.ready = -1, .claimed = 1})).ok());
  ASSERT_TRUE(db->Merge(wo, key, EncodeCounterDelta({.ready = -1, .claimed = 1})).ok());
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());  // a table holds the partial merge
  ASSERT_TRUE(db->Merge(wo, key, EncodeCounterDelta({.claimed = -1, .abandoned = 1})).ok());
  ASSERT_TRUE(db->Merge(wo, key, EncodeCounters({.delayed = -2})).ok());
  std::string v;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), key, &v).ok());
  EXPECT_EQ(v.size(), 32u);  // a read always returns the stored form
  EXPECT_TRUE(Same(Decoded(v), {.ready = 8, .claimed = 1, .delayed = 0, .abandoned = 1}));
  // A damaged operand fails the read rather than yielding a number.
  ASSERT_TRUE(db->Merge(wo, key, std::string("v\x81", 2)).ok());
  EXPECT_FALSE(db->Get(rocksdb::ReadOptions(), key, &v).ok());
}

class SchemaUpgrade : public StoreTest {};

// Makes the closed store at `path` look as a schema-`version` build left it: its version record
// and marker, and the counters of type "t"'s queue in domain "" stored as `value` with
// `operand` merged on top.
void RewindSchema(const std::string& path, uint32_t version, const std::string& value,
                  const std::string& operand) {
  {
    RawStore raw(path, /*read_only=*/false);
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    std::string v;
    keys::PutBE32(&v, version);
    auto* cf = raw.family(keys::TypeFamilyName("t"));
    ASSERT_NE(cf, nullptr);
    ASSERT_TRUE(raw.db()->Put({}, raw.family("default"), std::string(1, keys::kVersion), v).ok());
    ASSERT_TRUE(raw.db()->Put({}, cf, keys::CountsKey(0), value).ok());
    ASSERT_TRUE(raw.db()->Merge({}, cf, keys::CountsKey(0), operand).ok());
  }
  std::ofstream(path + "/JOBSTORE", std::ios::trunc) << "jobstore " << version << "\n";
}

// The value stored under `key` in `family` of the closed store at `path`; empty, with a
// failure recorded, when it cannot be read.
std::string StoredValue(const std::string& path, const std::string& family,
                        const std::string& key) {
  RawStore raw(path, /*read_only=*/true);
  EXPECT_TRUE(raw.status().ok()) << raw.status().ToString();
  if (!raw.status().ok()) return "";
  std::string v;
  rocksdb::Status s = raw.db()->Get({}, raw.family(family), key, &v);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return v;
}

std::string MarkerOf(const std::string& path) {
  std::ifstream marker(path + "/JOBSTORE");
  return std::string((std::istreambuf_iterator<char>(marker)), std::istreambuf_iterator<char>());
}

// A store as schema 1 left it: version record and marker say 1, the counters were merged
// with 32-byte operands. This build opens it, raises both to 2, and its counters go on from
// where they were.
TEST_F(SchemaUpgrade, ASchemaOneStoreIsUpgradedOnOpenAndKeepsItsCounts) {
  for (int i = 0; i < 5; ++i) Push1("t", std::to_string(i));
  store_.reset();
  const std::string path = dir_.Sub("store");
  // The counters as schema 1 stored them, 32 bytes, with one more 32-byte operand on top.
  RewindSchema(path, 1, EncodeCounters({.ready = 4}), EncodeCounters({.ready = 1}));
  if (HasFatalFailure()) return;

  Reopen();
  EXPECT_EQ(CountsOf({"", "t"}), (QueueCounts{.ready = 5}));
  auto claimed = ClaimN({"", "t"}, 2);
  ASSERT_EQ(claimed.size(), 2u);
  ASSERT_TRUE(store_->Ack(claimed[0].claim).ok());
  EXPECT_EQ(CountsOf({"", "t"}), (QueueCounts{.ready = 3, .claimed = 1}));
  ExpectHealthy();
  store_.reset();

  EXPECT_EQ(MarkerOf(path), "jobstore " + std::to_string(kSchemaVersion) + "\n");
  {
    const std::string v = StoredValue(path, "default", std::string(1, keys::kVersion));
    ASSERT_EQ(v.size(), 4u);
    EXPECT_EQ(keys::GetBE32(v.data()), kSchemaVersion);
  }
  // And it opens again as a store of this schema, the counts where they were.
  Reopen();
  EXPECT_EQ(CountsOf({"", "t"}), (QueueCounts{.ready = 3, .claimed = 1}));
  ExpectHealthy();
}

// Schema 3: a claim moves a job from ready to claimed and writes no counter operand; the
// persisted ready field holds ready + claimed, and Open counts the claimed entries.
TEST_F(SchemaUpgrade, AClaimPersistsNoCountAndOpenCountsTheClaims) {
  for (int i = 0; i < 3; ++i) Push1("t", std::to_string(i));
  auto claimed = ClaimN({"", "t"}, 2);
  ASSERT_EQ(claimed.size(), 2u);
  ASSERT_TRUE(store_->Ack(claimed[0].claim).ok());
  EXPECT_EQ(CountsOf({"", "t"}), (QueueCounts{.ready = 1, .claimed = 1}));
  store_.reset();
  const std::string path = dir_.Sub("store");
  // Three pushed, one acked: the claims changed nothing persisted.
  EXPECT_TRUE(Same(Decoded(StoredValue(path, keys::TypeFamilyName("t"), keys::CountsKey(0))),
                   {.ready = 2, .claimed = 0}));
  Reopen();
  EXPECT_EQ(CountsOf({"", "t"}), (QueueCounts{.ready = 1, .claimed = 1}));
  ExpectHealthy();
}

// A schema-2 store persisted ready and claimed apart; it opens with the same counts, is raised
// to 3, and goes on counting.
TEST_F(SchemaUpgrade, ASchemaTwoStoreKeepsItsCountsWithClaimsLive) {
  for (int i = 0; i < 5; ++i) Push1("t", std::to_string(i));
  auto claimed = ClaimN({"", "t"}, 2);
  ASSERT_EQ(claimed.size(), 2u);
  store_.reset();
  const std::string path = dir_.Sub("store");
  RewindSchema(path, 2, EncodeCounters({.ready = 3}), EncodeCounterDelta({.claimed = 2}));
  if (HasFatalFailure()) return;

  Reopen();
  EXPECT_EQ(CountsOf({"", "t"}), (QueueCounts{.ready = 3, .claimed = 2}));
  ExpectHealthy();
  ASSERT_TRUE(store_->Ack(claimed[0].claim).ok());
  ASSERT_EQ(ClaimN({"", "t"}, 1).size(), 1u);
  EXPECT_EQ(CountsOf({"", "t"}), (QueueCounts{.ready = 2, .claimed = 2}));
  Reopen();
  EXPECT_EQ(CountsOf({"", "t"}), (QueueCounts{.ready = 2, .claimed = 2}));
  ExpectHealthy();
  store_.reset();
  EXPECT_EQ(MarkerOf(path), "jobstore 3\n");
}

}  // namespace
}  // namespace jobstore::testing
