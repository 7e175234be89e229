#include "memtable_hint.h"

#include "keys.h"

namespace jobstore {
namespace {

constexpr size_t kRegionBytes = 5;  // tag + domain id

// Only point keys of the hot regions, recognised by tag and exact size.
bool Hinted(const rocksdb::Slice& key) {
  if (key.empty()) return false;
  switch (key[0]) {
    case keys::kJob:
      return key.size() == keys::kJobKeySize;
    case keys::kReady:
      return key.size() == keys::kReadyKeySize;
    case keys::kClaimed:
    case keys::kDelayed:
      return key.size() == keys::kTimedKeySize;
    case keys::kCounts:  // every write merges the queue's counters: each lands by the last
      return key.size() == kRegionBytes;
    default:
      return false;  // abandoned, dedup, root and settings keys are not hot
  }
}

class HintPrefix : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "jobstore.MemtableHintPrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), kRegionBytes);
  }
  bool InDomain(const rocksdb::Slice& key) const override { return Hinted(key); }
};

}  // namespace

std::shared_ptr<const rocksdb::SliceTransform> NewMemtableHintPrefix() {
  static const auto kTransform = std::make_shared<const HintPrefix>();
  return kTransform;
}

void AddRangeDelete(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* cf,
                    const std::string& begin, const std::string& end) {
  if (!Hinted(begin)) {
    batch->DeleteRange(cf, begin, end);
    return;
  }
  batch->Delete(cf, begin);
  const std::string rest = keys::Successor(begin);
  if (rest < end) batch->DeleteRange(cf, rest, end);
}

}  // namespace jobstore
