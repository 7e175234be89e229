#include "merge_operator.h"

#include "keys.h"
#include "records.h"

namespace jobstore {
namespace {

class StoreMergeOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* out,
             rocksdb::Logger*) const override {
    if (!key.empty() && key[0] == keys::kCounts) {
      // Either side may be either form (records.h); the result is always the stored form.
      // A damaged one fails the merge, which RocksDB reports as corruption on read.
      CounterDelta sum, add;
      if (existing && !DecodeCounters(existing->ToStringView(), &sum).ok()) return false;
      if (!DecodeCounters(value.ToStringView(), &add).ok()) return false;
      sum += add;
      *out = EncodeCounters(sum);
      return true;
    }
    if (!existing || value.compare(*existing) > 0) {
      out->assign(value.data(), value.size());
    } else {
      out->assign(existing->data(), existing->size());
    }
    return true;
  }
  const char* Name() const override { return "jobstore.StoreMergeOperator"; }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewStoreMergeOperator() {
  return std::make_shared<StoreMergeOperator>();
}

}  // namespace jobstore
