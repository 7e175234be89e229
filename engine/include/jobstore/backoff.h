// The default retry backoff: exponential with full jitter, capped.
#pragma once

#include <cstdint>

namespace jobstore {

struct BackoffPolicy {
  int64_t base_ms = 1000;           // the first retry waits up to this
  int64_t cap_ms = 3600 * 1000;     // no retry waits longer
  // Delay before the retry that follows failed attempt number `attempts` (1 = first run):
  // a uniform random value in [d/2, d] with d = min(cap, base * 2^(attempts-1)).
  // Thread-safe.
  int64_t DelayMs(uint32_t attempts) const;
};

}  // namespace jobstore
