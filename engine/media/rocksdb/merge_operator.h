// The store's merge operator, shared by every column family. Two kinds of keys are merged
// instead of read-modified-written, so concurrent writers never need a lock to update them:
// queue counters (`N`: element-wise addition, records.h) and high-water marks (`H` job ids and `O`
// root-job timestamps: big-endian values, keep the bytewise maximum).
#pragma once

#include <memory>

#include <rocksdb/merge_operator.h>

namespace jobstore {

std::shared_ptr<rocksdb::MergeOperator> NewStoreMergeOperator();

}  // namespace jobstore
