// Pieces the embedded and the served workload share: payload generation, fingerprints of what
// was pushed and acked, latency samples and percentiles.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace jobstore::bench {

// A fast deterministic generator for payload bytes.
struct SplitMix {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

inline void FillRandom(SplitMix& rng, std::string* out, size_t n) {
  out->resize(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng.Next();
    std::memcpy(out->data() + i, &v, 8);
  }
  if (i < n) {
    uint64_t v = rng.Next();
    std::memcpy(out->data() + i, &v, n - i);
  }
}

// Order-independent fingerprints: the sum of a hash of each payload and of each id.
inline uint64_t HashBytes(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}
inline uint64_t MixId(uint64_t id) {
  SplitMix m{id};
  return m.Next();
}

// What each worker records per claim.
struct Sample {
  float claim_us;
  float ack_us;
  uint32_t tombstones;
  uint32_t keys_skipped;
};

inline double Percentile(std::vector<float>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace jobstore::bench
