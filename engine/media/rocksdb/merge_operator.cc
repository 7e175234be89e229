#include "merge_operator.h"

#include <cstring>

#include "keys.h"

namespace jobstore {
namespace {

class StoreMergeOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& key, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* out,
             rocksdb::Logger*) const override {
    if (!key.empty() && key[0] == keys::kCounts) {
      if (value.size() != 32 || (existing && existing->size() != 32)) return false;
      int64_t a[4] = {0, 0, 0, 0}, b[4];
      if (existing) std::memcpy(a, existing->data(), 32);
      std::memcpy(b, value.data(), 32);
      for (int i = 0; i < 4; ++i) a[i] += b[i];
      out->assign(reinterpret_cast<const char*>(a), 32);
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
