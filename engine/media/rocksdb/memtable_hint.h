// Memtable insert hints. Every hot region of a type's column family (the J, R, C and D keys of one
// domain) is written in nearly ascending key order: ids, sequence numbers and deadlines only
// grow. Given a prefix per region, RocksDB's skiplist remembers where the region's last insert
// went and starts the next search there instead of at the top: in the push benchmark this took
// the CPU per pushed job from 1.6x the bare-RocksDB floor to 1.0x (bench/RESULTS.md, session 3).
// The queue's counter key is hinted too: every claim and ack merges into it.
#pragma once

#include <memory>
#include <string>

#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>

namespace jobstore {

// The transform for ColumnFamilyOptions::memtable_insert_with_hint_prefix_extractor. A key's
// region is its tag and domain (5 bytes). Only point keys of the hot regions are in its domain,
// recognised by tag and exact size; everything else is inserted without a hint.
std::shared_ptr<const rocksdb::SliceTransform> NewMemtableHintPrefix();

// Adds a range deletion of [begin, end) to `batch`, for a type's column family. Every range
// deletion in a type family must go through here: RocksDB before 9.2 (Debian 12 ships 7.8) keeps
// one hint per region for both the point-key and the range-deletion memtables
// (facebook/rocksdb#5118, fixed by #12558), and a range tombstone whose begin key is in the
// transform's domain follows a hint into the other list and corrupts it. Such a begin key is
// deleted on its own and the range starts at its successor, which is never in the domain.
void AddRangeDelete(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* cf,
                    const std::string& begin, const std::string& end);

}  // namespace jobstore
