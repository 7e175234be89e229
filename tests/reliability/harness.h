// Small helpers shared by the reliability tests.
#pragma once

#include <cstdint>
#include <string>

#include "jobstore/clock.h"
#include "jobstore/store.h"

namespace jobstore::testing {

// Sanitizer builds (JOBSTORE_SANITIZE) run the randomized tests with fewer rounds by default:
// the same code paths, a third of the volume, since ASan/TSan slow every operation 3-10x.
#ifdef JOBSTORE_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// A fresh, empty directory for one test (removed by RemoveDir, kept on failure for a look).
std::string FreshDir(const std::string& name);
void RemoveDir(const std::string& dir);

// An unsigned integer from the environment, or `def`.
uint64_t EnvU64(const char* name, uint64_t def);
// The seed for a randomized test: JOBSTORE_SEED if set, else random. Printed by the caller.
uint64_t TestSeed();

// Moves the clock forward by `advance_ms` and runs Maintain() until it has no more work.
// Returns the first error, or an error when the passes do not converge.
Status MaintainUntilIdle(Store& store, ManualClock& clock, int64_t advance_ms);

// Drains a store: promotes everything delayed, repushes every abandoned job, then claims and
// acks every job of every queue. Returns a description of what did not work (empty = fine).
std::string DrainAll(Store& store, ManualClock& clock);

}  // namespace jobstore::testing
