#include "keys.h"

namespace jobstore::keys {

void PutBE32(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutBE64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetBE32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t GetBE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string Prefix(char tag, uint32_t domain) {
  std::string k(1, tag);
  PutBE32(&k, domain);
  return k;
}

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last != 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(64, '\xff');  // unreachable for our tagged prefixes
}

std::string JobKey(uint32_t domain, JobId id) {
  std::string k = Prefix(kJob, domain);
  PutBE64(&k, id);
  return k;
}

std::string ReadyKey(uint32_t domain, uint32_t rank, uint64_t seq, JobId id) {
  std::string k = Prefix(kReady, domain);
  PutBE32(&k, rank);
  PutBE64(&k, seq);
  PutBE64(&k, id);
  return k;
}

std::string TimedKey(char tag, uint32_t domain, int64_t time_ms, JobId id) {
  std::string k = Prefix(tag, domain);
  PutBE64(&k, TimeKey(time_ms));
  PutBE64(&k, id);
  return k;
}

std::string DedupKey(uint32_t domain, std::string_view hash) {
  std::string k = Prefix(kDedup, domain);
  k.append(hash);
  return k;
}

std::string RootKey(uint32_t domain, std::string_view signature) {
  std::string k = Prefix(kRoot, domain);
  k.append(signature);
  return k;
}

std::string CountsKey(uint32_t domain) { return Prefix(kCounts, domain); }
std::string CursorKey(uint32_t domain) { return Prefix(kCursor, domain); }
std::string SettingsKey() { return std::string(1, kSettings); }

std::string DomainKey(std::string_view name) {
  std::string k(1, kDomain);
  k.append(name);
  return k;
}

uint32_t RankFor(Order order, int32_t priority) {
  if (order != Order::kPriority) return 0;
  // kMaxPriority ranks 0; kMinPriority ranks last.
  return static_cast<uint32_t>(static_cast<int64_t>(kMaxPriority) - priority);
}

static constexpr std::string_view kTypeFamilyPrefix = "type:";

std::string TypeFamilyName(std::string_view type) {
  return std::string(kTypeFamilyPrefix) + std::string(type);
}

std::string TypeOfFamily(std::string_view family) {
  if (family.substr(0, kTypeFamilyPrefix.size()) != kTypeFamilyPrefix) return {};
  return std::string(family.substr(kTypeFamilyPrefix.size()));
}

std::string Hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

bool Unhex(std::string_view hex, std::string* out) {
  if (hex.size() % 2) return false;
  out->clear();
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

}  // namespace jobstore::keys
