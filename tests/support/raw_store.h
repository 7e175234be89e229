// A store's RocksDB opened directly, for tests that read or damage raw keys. Users need the
// engine's private headers (engine/media/rocksdb, for the merge operator) and RocksDB linked.
#pragma once

#include <rocksdb/db.h>

#include <map>
#include <string>
#include <vector>

#include "merge_operator.h"  // engine/media/rocksdb

namespace jobstore::testing {

class RawStore {
 public:
  // Opens every column family of the store in `dir`, read-write or read-only (read-only works
  // while a Store holds the directory open, and sees its unflushed writes).
  RawStore(const std::string& dir, bool read_only) {
    rocksdb::Options options;
    options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
    std::vector<std::string> names;
    status_ = rocksdb::DB::ListColumnFamilies(options, dir, &names);
    if (!status_.ok()) return;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : names) {
      rocksdb::ColumnFamilyOptions cfo;
      cfo.merge_operator = NewStoreMergeOperator();
      descriptors.emplace_back(n, cfo);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    status_ = read_only
                  ? rocksdb::DB::OpenForReadOnly(options, dir, descriptors, &handles, &db_)
                  : rocksdb::DB::Open(options, dir, descriptors, &handles, &db_);
    if (!status_.ok()) return;
    for (size_t i = 0; i < names.size(); ++i) families_[names[i]] = handles[i];
  }
  ~RawStore() {
    if (!db_) return;
    for (auto& [name, h] : families_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
    delete db_;
  }
  RawStore(const RawStore&) = delete;
  RawStore& operator=(const RawStore&) = delete;

  const rocksdb::Status& status() const { return status_; }
  rocksdb::DB* db() const { return db_; }
  // The column family of that name (keys::TypeFamilyName for a type), or null.
  rocksdb::ColumnFamilyHandle* family(const std::string& name) const {
    auto it = families_.find(name);
    return it == families_.end() ? nullptr : it->second;
  }
  std::map<std::string, rocksdb::ColumnFamilyHandle*>& families() { return families_; }

 private:
  rocksdb::Status status_;
  rocksdb::DB* db_ = nullptr;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
};

}  // namespace jobstore::testing
