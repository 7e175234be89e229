#include "floor.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>

#include "jobstore/rocksdb_store.h"
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

namespace jobstore::bench {
namespace {

std::string Key(char tag, uint64_t v) {
  std::string k(9, '\0');
  k[0] = tag;
  for (int i = 0; i < 8; ++i) k[1 + i] = static_cast<char>(v >> (56 - 8 * i));
  return k;
}
uint64_t KeyId(const rocksdb::Slice& k) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(k[1 + i]);
  return v;
}
Status IOErr(const char* what, const rocksdb::Status& s) {
  return Status::IOError(std::string("floor ") + what + ": " + s.ToString());
}

}  // namespace

Status FloorQueue::Open(const std::string& path, Durability d, Variant variant,
                        std::unique_ptr<FloorQueue>* out) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  if (variant.tuned) {
    RocksDbOptions jobstore;
    o.write_buffer_size = jobstore.write_buffer_bytes_per_type;
    rocksdb::BlockBasedTableOptions bbto;
    bbto.block_cache = rocksdb::NewLRUCache(jobstore.block_cache_bytes);
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(bbto));
  }
  if (variant.hint) {
    o.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
  }
  std::unique_ptr<FloorQueue> q(new FloorQueue());
  rocksdb::Status s = rocksdb::DB::Open(o, path, &q->db_);
  if (!s.ok()) return IOErr("open", s);
  q->sync_push_ = d == Durability::kPowerLoss;
  q->cursor_ = Key('R', 0);
  // Resume ids after whatever the store holds (only the highest J key matters).
  std::unique_ptr<rocksdb::Iterator> it(q->db_->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev(Key('J', UINT64_MAX));
  if (it->Valid() && it->key().size() == 9 && it->key()[0] == 'J') q->next_id_ = KeyId(it->key());
  *out = std::move(q);
  return Status::OK();
}

FloorQueue::~FloorQueue() {
  if (db_) {
    db_->Close();
    delete db_;
  }
}

Status FloorQueue::Push(const std::vector<std::string>& payloads, std::vector<uint64_t>* ids) {
  rocksdb::WriteBatch wb;
  for (const auto& p : payloads) {
    uint64_t id = ++next_id_;  // one producer
    wb.Put(Key('J', id), p);
    wb.Put(Key('R', id), rocksdb::Slice("\0\0\0\0", 4));
    if (ids) ids->push_back(id);
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync_push_;
  rocksdb::Status s = db_->Write(wo, &wb);
  return s.ok() ? Status::OK() : IOErr("push", s);
}

Status FloorQueue::Claim(uint64_t* id, std::string* payload, bool* found) {
  *found = false;
  std::string ready_key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    static const std::string kEnd = Key('S', 0);
    rocksdb::ReadOptions ro;
    rocksdb::Slice lower(cursor_), upper(kEnd);
    ro.iterate_lower_bound = &lower;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    it->Seek(lower);
    if (!it->Valid()) return it->status().ok() ? Status::OK() : IOErr("seek", it->status());
    ready_key = it->key().ToString();
    *id = KeyId(it->key());
    cursor_ = Key('R', *id + 1);
  }
  rocksdb::WriteBatch wb;
  wb.Delete(ready_key);
  wb.Put(Key('C', *id), rocksdb::Slice("token+deadline..", 16));
  rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &wb);
  if (!s.ok()) return IOErr("claim", s);
  s = db_->Get(rocksdb::ReadOptions(), Key('J', *id), payload);
  if (!s.ok()) return IOErr("claim read", s);
  *found = true;
  return Status::OK();
}

Status FloorQueue::Ack(uint64_t id) {
  rocksdb::WriteBatch wb;
  wb.Delete(Key('C', id));
  wb.Delete(Key('J', id));
  rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &wb);
  return s.ok() ? Status::OK() : IOErr("ack", s);
}

}  // namespace jobstore::bench
