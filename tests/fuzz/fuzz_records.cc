// libFuzzer target: decoding of stored values (engine/media/rocksdb/records.h). A store read from a
// damaged disk hands these functions arbitrary bytes; they must return Corruption, never
// crash, hang or read out of bounds. Every input is tried twice: as stored bytes (almost
// always stopped by the checksum), and with a valid checksum in front, so the fuzzer
// reaches the Cap'n Proto decoding behind it. A value that decodes must survive
// encode -> decode unchanged.
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "records.h"

namespace {

std::string WithChecksum(std::string_view body) {
  std::string v(4, '\0');
  v.append(body);
  uint32_t c = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(v.data() + 4), static_cast<uInt>(body.size())));
  std::memcpy(v.data(), &c, 4);
  return v;
}

void Require(bool ok) {
  if (!ok) std::abort();
}

void DecodeAll(std::string_view v) {
  jobstore::JobRecord r;
  if (jobstore::DecodeJobRecord(v, &r).ok()) {
    jobstore::JobRecord again;
    Require(jobstore::DecodeJobRecord(jobstore::EncodeJobRecord(r), &again).ok());
    Require(again.params == r.params && again.enqueued_at_ms == r.enqueued_at_ms &&
            again.priority == r.priority && again.release_at_ms == r.release_at_ms &&
            again.dedup == r.dedup && again.dedup_hash == r.dedup_hash &&
            again.root_signature == r.root_signature &&
            again.root_timestamp_ms == r.root_timestamp_ms &&
            again.root_is_self == r.root_is_self);
  }
  jobstore::StateEntry e;
  if (jobstore::DecodeStateEntry(v, &e).ok()) {
    jobstore::StateEntry again;
    Require(jobstore::DecodeStateEntry(jobstore::EncodeStateEntry(e), &again).ok());
    Require(again.attempts == e.attempts && again.claim_nonce == e.claim_nonce &&
            again.last_error == e.last_error && again.order_seq == e.order_seq &&
            again.order_rank == e.order_rank && again.owns_dedup == e.owns_dedup &&
            again.abandoned_at_ms == e.abandoned_at_ms);
  }
  jobstore::TypeSettings s;
  if (jobstore::DecodeTypeSettings(v, &s).ok()) {
    jobstore::TypeSettings again;
    Require(jobstore::DecodeTypeSettings(jobstore::EncodeTypeSettings(s), &again).ok());
    Require(again == s);
  }
  jobstore::CounterDelta c;
  (void)jobstore::DecodeCounters(v, &c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  DecodeAll(in);
  DecodeAll(WithChecksum(in));
  return 0;
}
