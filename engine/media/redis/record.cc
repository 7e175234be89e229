#include "record.h"

namespace jobstore::redis {
namespace {

void Put(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t Get(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

Status Corrupt(const std::string& what) { return Status::Corruption("job record " + what); }

}  // namespace

std::string TokenBytes(const ClaimToken& token) {
  std::string out;
  out.reserve(16);
  Put(&out, token.nonce, 8);
  Put(&out, static_cast<uint64_t>(token.deadline_ms), 8);
  return out;
}

bool ParseToken(std::string_view bytes, ClaimToken* token) {
  if (bytes.size() != 16) return false;
  token->nonce = Get(bytes, 0, 8);
  token->deadline_ms = static_cast<int64_t>(Get(bytes, 8, 8));
  return true;
}

std::string EncodeNew(const NewJob& job, int64_t now_ms) {
  const JobSpec& spec = *job.spec;
  uint8_t flags = 0;
  if (spec.dedup) flags |= kFlagDedup;
  if (!spec.root_signature.empty()) flags |= kFlagRoot;
  if (job.delayed) flags |= kFlagDelayedAtPush;
  if (spec.root_is_self) flags |= kFlagRootIsSelf;
  std::string out;
  out.reserve(kFixedBytes + 32 + 1 + spec.root_signature.size() + 8 + spec.params.size());
  out.push_back(static_cast<char>(kRecordFormat));
  out.push_back(static_cast<char>(flags));
  Put(&out, static_cast<uint64_t>(now_ms), 8);
  Put(&out, static_cast<uint32_t>(spec.priority), 4);
  Put(&out, static_cast<uint64_t>(spec.release_at_ms), 8);
  if (spec.dedup) out += job.dedup_hash;  // 32 bytes (SHA-256), from the policy layer
  if (!spec.root_signature.empty()) {
    out.push_back(static_cast<char>(spec.root_signature.size()));  // <= 128, validated
    out += spec.root_signature;
    Put(&out, static_cast<uint64_t>(spec.root_timestamp_ms), 8);
  }
  out += spec.params;
  return out;
}

Result<Record> Decode(std::string_view in) {
  if (in.size() < kFixedBytes) {
    return Corrupt("of " + std::to_string(in.size()) + " bytes is shorter than its " +
                   std::to_string(kFixedBytes) + "-byte fixed part");
  }
  if (static_cast<uint8_t>(in[0]) != kRecordFormat) {
    return Corrupt("has format " + std::to_string(static_cast<uint8_t>(in[0])) +
                   ", which this jobstore does not know (" + std::to_string(kRecordFormat) +
                   " is)");
  }
  Record r;
  r.flags = static_cast<uint8_t>(in[1]);
  r.enqueued_at_ms = static_cast<int64_t>(Get(in, 2, 8));
  r.priority = static_cast<int32_t>(static_cast<uint32_t>(Get(in, 10, 4)));
  r.release_at_ms = static_cast<int64_t>(Get(in, 14, 8));
  size_t at = kFixedBytes;
  if (r.flags & kFlagDedup) {
    if (in.size() < at + 32) return Corrupt("is cut short in its dedup hash");
    r.dedup_hash = std::string(in.substr(at, 32));
    at += 32;
  }
  if (r.flags & kFlagRoot) {
    if (in.size() < at + 1) return Corrupt("is cut short before its root signature");
    const size_t n = static_cast<unsigned char>(in[at]);
    if (in.size() < at + 1 + n + 8) return Corrupt("is cut short in its root signature");
    r.root_signature = std::string(in.substr(at + 1, n));
    r.root_timestamp_ms = static_cast<int64_t>(Get(in, at + 1 + n, 8));
    at += 1 + n + 8;
  }
  r.params = std::string(in.substr(at));
  return r;
}

}  // namespace jobstore::redis
