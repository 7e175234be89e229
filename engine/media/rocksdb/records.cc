#include "records.h"

#include <capnp/message.h>
#include <capnp/serialize-packed.h>
#include <kj/io.h>
#include <zlib.h>

#include <cstring>

#include "records.capnp.h"

namespace jobstore {
namespace {

// Job records are small; a corrupt value must not make the reader walk far.
capnp::ReaderOptions ReaderLimits(size_t value_size) {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = value_size + 64;
  o.nestingLimit = 8;
  return o;
}

uint32_t Crc(const char* p, size_t n) {
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(p), static_cast<uInt>(n)));
}

std::string Seal(capnp::MessageBuilder& mb) {
  kj::VectorOutputStream out;
  capnp::writePackedMessage(out, mb);
  auto bytes = out.getArray();
  std::string v(4, '\0');
  v.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  const uint32_t c = Crc(v.data() + 4, v.size() - 4);
  std::memcpy(v.data(), &c, 4);
  return v;
}

// Verifies the checksum and hands the root struct to `read`, turning any Cap'n Proto
// exception into Corruption.
template <typename Root, typename Fn>
Status Open(std::string_view value, const char* what, Fn&& read) {
  if (value.size() < 4) return Status::Corruption(std::string(what) + " record is truncated");
  uint32_t stored;
  std::memcpy(&stored, value.data(), 4);
  if (stored != Crc(value.data() + 4, value.size() - 4)) {
    return Status::Corruption(std::string(what) + " record fails its checksum");
  }
  try {
    kj::ArrayInputStream in(kj::ArrayPtr<const kj::byte>(
        reinterpret_cast<const kj::byte*>(value.data() + 4), value.size() - 4));
    capnp::PackedMessageReader reader(in, ReaderLimits(value.size()));
    read(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return Status::Corruption(std::string(what) + " record does not decode: " +
                              e.getDescription().cStr());
  }
  return Status::OK();
}

std::string ToString(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

kj::ArrayPtr<const kj::byte> Bytes(const std::string& s) {
  return kj::ArrayPtr<const kj::byte>(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

}  // namespace

std::string EncodeJobRecord(const JobRecord& r) {
  capnp::MallocMessageBuilder mb(64 + r.params.size() / 8);
  auto b = mb.initRoot<schema::JobRecord>();
  b.setParams(Bytes(r.params));
  b.setEnqueuedAtMs(r.enqueued_at_ms);
  b.setPriority(r.priority);
  b.setReleaseAtMs(r.release_at_ms);
  b.setDedup(r.dedup);
  if (!r.dedup_hash.empty()) b.setDedupHash(Bytes(r.dedup_hash));
  if (!r.root_signature.empty()) b.setRootSignature(r.root_signature);
  b.setRootTimestampMs(r.root_timestamp_ms);
  b.setRootIsSelf(r.root_is_self);
  return Seal(mb);
}

Status DecodeJobRecord(std::string_view value, JobRecord* out) {
  return Open<schema::JobRecord>(value, "job", [&](schema::JobRecord::Reader r) {
    out->params = ToString(r.getParams());
    out->enqueued_at_ms = r.getEnqueuedAtMs();
    out->priority = r.getPriority();
    out->release_at_ms = r.getReleaseAtMs();
    out->dedup = r.getDedup();
    out->dedup_hash = ToString(r.getDedupHash());
    out->root_signature = r.getRootSignature().cStr();
    out->root_timestamp_ms = r.getRootTimestampMs();
    out->root_is_self = r.getRootIsSelf();
  });
}

std::string EncodeStateEntry(const StateEntry& e) {
  capnp::MallocMessageBuilder mb(32);
  auto b = mb.initRoot<schema::StateEntry>();
  b.setAttempts(e.attempts);
  b.setPriority(e.priority);
  b.setOrderRank(e.order_rank);
  b.setOrderSeq(e.order_seq);
  b.setOwnsDedup(e.owns_dedup);
  b.setClaimNonce(e.claim_nonce);
  b.setClaimedAtMs(e.claimed_at_ms);
  if (!e.last_error.empty()) b.setLastError(e.last_error);
  b.setAbandonedAtMs(e.abandoned_at_ms);
  b.setLastErrorAtMs(e.last_error_at_ms);
  return Seal(mb);
}

Status DecodeStateEntry(std::string_view value, StateEntry* out) {
  return Open<schema::StateEntry>(value, "state", [&](schema::StateEntry::Reader r) {
    out->attempts = r.getAttempts();
    out->priority = r.getPriority();
    out->order_rank = r.getOrderRank();
    out->order_seq = r.getOrderSeq();
    out->owns_dedup = r.getOwnsDedup();
    out->claim_nonce = r.getClaimNonce();
    out->claimed_at_ms = r.getClaimedAtMs();
    out->last_error = r.getLastError().cStr();
    out->abandoned_at_ms = r.getAbandonedAtMs();
    out->last_error_at_ms = r.getLastErrorAtMs();
  });
}

std::string EncodeTypeSettings(const TypeSettings& s) {
  capnp::MallocMessageBuilder mb(16);
  auto b = mb.initRoot<schema::TypeSettings>();
  b.setOrder(s.order == Order::kRandom     ? schema::Order::RANDOM
             : s.order == Order::kPriority ? schema::Order::PRIORITY
                                           : schema::Order::FIFO);
  b.setClaimTtlMs(s.claim_ttl_ms);
  b.setMaxTries(s.max_tries);
  b.setRetentionMs(s.retention_ms);
  b.setRetriesAllowed(s.retries_allowed);
  b.setRootJobTtlMs(s.root_job_ttl_ms);
  return Seal(mb);
}

Status DecodeTypeSettings(std::string_view value, TypeSettings* out) {
  return Open<schema::TypeSettings>(value, "type settings", [&](schema::TypeSettings::Reader r) {
    switch (r.getOrder()) {
      case schema::Order::RANDOM: out->order = Order::kRandom; break;
      case schema::Order::PRIORITY: out->order = Order::kPriority; break;
      default: out->order = Order::kFifo; break;
    }
    out->claim_ttl_ms = r.getClaimTtlMs();
    out->max_tries = r.getMaxTries();
    out->retention_ms = r.getRetentionMs();
    out->retries_allowed = r.getRetriesAllowed();
    out->root_job_ttl_ms = r.getRootJobTtlMs();
  });
}

std::string EncodeCounters(const CounterDelta& d) {
  std::string v(32, '\0');
  const int64_t f[4] = {d.ready, d.claimed, d.delayed, d.abandoned};
  std::memcpy(v.data(), f, 32);  // x86-64 and aarch64 are little-endian
  return v;
}

std::string EncodeCounterDelta(const CounterDelta& d) {
  std::string v(1, kShortCounters);
  for (const int64_t field : {d.ready, d.claimed, d.delayed, d.abandoned}) {
    // Zigzag, so that -1 takes one byte as +1 does.
    uint64_t z = (static_cast<uint64_t>(field) << 1) ^ static_cast<uint64_t>(field >> 63);
    while (z >= 0x80) {
      v.push_back(static_cast<char>(z | 0x80));
      z >>= 7;
    }
    v.push_back(static_cast<char>(z));
  }
  return v.size() < 32 ? v : EncodeCounters(d);
}

Status DecodeCounters(std::string_view value, CounterDelta* out) {
  if (value.size() == 32) {
    int64_t f[4];
    std::memcpy(f, value.data(), 32);
    *out = CounterDelta{f[0], f[1], f[2], f[3]};
    return Status::OK();
  }
  if (value.empty() || value[0] != kShortCounters) {
    return Status::Corruption("queue counters have the wrong size (" + std::to_string(value.size()) +
                              " bytes) and are not the short form");
  }
  int64_t f[4];
  size_t at = 1;
  for (int64_t& field : f) {
    uint64_t z = 0;
    for (int shift = 0;; shift += 7) {
      if (at >= value.size() || shift > 63) {
        return Status::Corruption("queue counters in the short form are truncated or overlong");
      }
      const auto byte = static_cast<uint8_t>(value[at++]);
      z |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
    }
    field = static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
  }
  if (at != value.size()) {
    return Status::Corruption("queue counters in the short form have " +
                              std::to_string(value.size() - at) + " trailing bytes");
  }
  *out = CounterDelta{f[0], f[1], f[2], f[3]};
  return Status::OK();
}

}  // namespace jobstore
