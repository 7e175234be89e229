// The runner's retry backoff: exponential with full jitter, capped.
#include <gtest/gtest.h>

#include "jobstore/backoff.h"

namespace jobstore::testing {
namespace {

TEST(BackoffTest, ExponentialWithJitterAndCap) {
  BackoffPolicy p{1000, 30'000};
  for (int i = 0; i < 200; ++i) {
    const int64_t d1 = p.DelayMs(1), d3 = p.DelayMs(3), d20 = p.DelayMs(20);
    EXPECT_GE(d1, 500);
    EXPECT_LE(d1, 1000);
    EXPECT_GE(d3, 2000);
    EXPECT_LE(d3, 4000);
    EXPECT_GE(d20, 15'000);
    EXPECT_LE(d20, 30'000);
  }
}
}  // namespace
}  // namespace jobstore::testing
