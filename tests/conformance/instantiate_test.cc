// Runs the suites on the media registered in this binary (media/*.cc).
#include "conformance/conformance.h"

namespace jobstore::testing {

INSTANTIATE_TEST_SUITE_P(Media, Conformance, ::testing::ValuesIn(RegisteredMedia()), MediumName);
INSTANTIATE_TEST_SUITE_P(Media, DurableConformance, ::testing::ValuesIn(PersistentMedia()),
                         MediumName);
// A medium that keeps nothing has no durable suite.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DurableConformance);

}  // namespace jobstore::testing
