#include "jobstore/backoff.h"

#include <algorithm>
#include <random>

namespace jobstore {

int64_t BackoffPolicy::DelayMs(uint32_t attempts) const {
  const uint32_t shift = std::min<uint32_t>(attempts == 0 ? 0 : attempts - 1, 40);
  const int64_t base = std::max<int64_t>(base_ms, 1);
  int64_t d = cap_ms;
  if (shift < 62 && base <= (cap_ms >> shift)) d = base << shift;
  d = std::max<int64_t>(d, 1);
  // Half fixed, half jitter: retries of many jobs that failed together spread out, while
  // every retry still waits at least half the nominal delay.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> jitter(0, d / 2);
  return d - d / 2 + jitter(rng);
}

}  // namespace jobstore
