// Throttle: work items per second per type, as backoff that accumulates.

#include <gtest/gtest.h>

#include "jobstore/throttle.h"

namespace jobstore {
namespace {

TEST(JobsThrottle, ChargesWorkItemsOverRate) {
  auto clock = std::make_shared<ManualClock>(1'000'000);
  Throttle throttle({{"t", 2.0}, {"zero", 0.0}, {"negative", -1.0}}, clock);
  EXPECT_FALSE(throttle.IsThrottled("t"));
  EXPECT_EQ(throttle.NextChangeInMs(), 0);
  // 3 items at 2/s: 1.5 s.
  EXPECT_EQ(throttle.Charge("t", 3), 1'001'500);
  EXPECT_TRUE(throttle.IsThrottled("t"));
  EXPECT_EQ(throttle.ThrottledTypes(), std::vector<std::string>{"t"});
  EXPECT_EQ(throttle.NextChangeInMs(), 1500);
  // A backlog accumulates from the current end, not from now.
  clock->Advance(500);
  EXPECT_EQ(throttle.Charge("t", 1), 1'002'000);
  clock->Advance(1499);
  EXPECT_TRUE(throttle.IsThrottled("t"));
  EXPECT_EQ(throttle.NextChangeInMs(), 1);
  clock->Advance(1);
  EXPECT_FALSE(throttle.IsThrottled("t"));
  EXPECT_TRUE(throttle.ThrottledTypes().empty());
  // An idle type starts again from now.
  clock->Advance(10'000);
  EXPECT_EQ(throttle.Charge("t", 2), clock->NowMs() + 1000);
}

TEST(JobsThrottle, UnlistedAndInvalidRatesNeverThrottle) {
  auto clock = std::make_shared<ManualClock>();
  Throttle throttle({{"zero", 0.0}, {"negative", -1.0}}, clock);
  for (const char* type : {"other", "zero", "negative"}) {
    EXPECT_EQ(throttle.Charge(type, 100), 0);
    EXPECT_FALSE(throttle.IsThrottled(type));
  }
  EXPECT_TRUE(throttle.ThrottledTypes().empty());
}

TEST(JobsThrottle, TinyChargesStillBackOff) {
  auto clock = std::make_shared<ManualClock>(0);
  Throttle throttle({{"fast", 1e6}}, clock);
  EXPECT_EQ(throttle.Charge("fast", 1), 1);  // 1 µs rounds up to 1 ms
  EXPECT_TRUE(throttle.IsThrottled("fast"));
  EXPECT_EQ(throttle.Charge("fast", 0), 1);  // no work, no backoff
}

}  // namespace
}  // namespace jobstore
