// The checker checks: Model + Verify flag every kind of violation the crash and power tests
// look for, and accept exactly what the operation in flight may have done. Hand-made
// snapshots, no store.
#include <gtest/gtest.h>

#include "reliability/model.h"
#include "reliability/workload.h"

namespace jobstore::testing {
namespace {

JobInfo Job(JobId id, int queue, JobState state, uint32_t attempts = 0, int64_t deadline = 0) {
  JobInfo j;
  j.id = id;
  j.queue = WorkloadQueues()[queue];
  j.state = state;
  j.attempts = attempts;
  j.deadline_ms = deadline;
  return j;
}

Snapshot Snap(std::vector<JobInfo> jobs) {
  Snapshot s;
  for (auto& j : jobs) s.jobs[j.id] = j;
  return s;
}

// Jobs 1, 2 and 3 pushed to queue 0; job 2 claimed (token nonce 7, deadline 500); job 3 acked.
Model Base() {
  Model m;
  for (const char* line : {"B P 0 0 0", "P 3 0 1 0 0 2 0 0 3 0", "B C 0 2", "C 0 2 2 7 500 1 3 8 600 1",
                           "B A 0 3", "A 0 3"}) {
    m.Apply(line);
  }
  return m;
}

TEST(ReliabilityModel, ExactStatePasses) {
  Model m = Base();
  EXPECT_TRUE(m.errors.empty()) << Describe(m.errors);
  auto p = Verify(m, Snap({Job(1, 0, JobState::kReady), Job(2, 0, JobState::kClaimed, 1, 500)}),
                  Loss::kNone);
  EXPECT_TRUE(p.empty()) << Describe(p);
}

TEST(ReliabilityModel, FlagsLostBackPhantomAndWrongState) {
  Model m = Base();
  const JobInfo one = Job(1, 0, JobState::kReady), two = Job(2, 0, JobState::kClaimed, 1, 500);
  const std::pair<const char*, Snapshot> cases[] = {
      {"lost job", Snap({two})},
      {"acked job back", Snap({one, two, Job(3, 0, JobState::kReady)})},
      {"phantom job", Snap({one, two, Job(9, 0, JobState::kReady)})},
      {"claim undone", Snap({one, Job(2, 0, JobState::kReady, 1)})},
      {"lease changed", Snap({one, Job(2, 0, JobState::kClaimed, 1, 999)})},
      {"moved queue", Snap({Job(1, 1, JobState::kReady), two})},
  };
  for (auto& [what, snap] : cases) {
    EXPECT_EQ(Verify(m, snap, Loss::kNone).size(), 1u) << what;
  }
}

TEST(ReliabilityModel, FlagsImpossibleReports) {
  Model m = Base();
  m.Apply("B P 0");
  m.Apply("P 1 0 2 0");  // id 2 again
  m.Apply("B C 0 1");
  m.Apply("C 0 1 2 9 900 2");  // job 2 is claimed already
  m.Apply("B A 0 1");
  m.Apply("A 0 1");  // job 1 was never claimed
  EXPECT_EQ(m.errors.size(), 3u) << Describe(m.errors);
}

TEST(ReliabilityModel, InFlightOperationMayApplyInFullOrNotAtAll) {
  Model m = Base();
  m.Apply("B A 0 2");  // ack of job 2 in flight
  auto without = Snap({Job(1, 0, JobState::kReady)});
  EXPECT_TRUE(Verify(m, without, Loss::kNone).empty());
  auto with = Snap({Job(1, 0, JobState::kReady), Job(2, 0, JobState::kClaimed, 1, 500)});
  EXPECT_TRUE(Verify(m, with, Loss::kNone).empty());

  Model p = Base();
  p.Apply("B P 4 4");  // push in flight: new ids above the highest, queued, in those queues
  EXPECT_TRUE(Verify(p,
                     Snap({Job(1, 0, JobState::kReady), Job(2, 0, JobState::kClaimed, 1, 500),
                           Job(4, 4, JobState::kReady), Job(5, 4, JobState::kDelayed)}),
                     Loss::kNone)
                  .empty());
  EXPECT_FALSE(Verify(p,
                      Snap({Job(1, 0, JobState::kReady), Job(2, 0, JobState::kClaimed, 1, 500),
                            Job(4, 5, JobState::kReady)}),
                      Loss::kNone)
                   .empty())
      << "a push in flight cannot land in another queue";

  Model c = Base();
  c.Apply("B C 0 1");  // claim of at most one in flight
  EXPECT_TRUE(Verify(c, Snap({Job(1, 0, JobState::kClaimed, 1, 1), Job(2, 0, JobState::kClaimed, 1, 500)}),
                     Loss::kNone)
                  .empty());
}

TEST(ReliabilityModel, PowerLossAllowsUndoneAcksButNotLostPushes) {
  Model m = Base();
  auto back = Snap({Job(1, 0, JobState::kReady), Job(2, 0, JobState::kReady),
                    Job(3, 0, JobState::kClaimed, 1, 600)});
  EXPECT_TRUE(Verify(m, back, Loss::kUnsyncedOps).empty());
  EXPECT_FALSE(Verify(m, Snap({Job(2, 0, JobState::kReady)}), Loss::kUnsyncedOps).empty());
  EXPECT_TRUE(Verify(m, Snap({}), Loss::kAnything).empty());
  EXPECT_FALSE(Verify(m, Snap({Job(77, 0, JobState::kReady)}), Loss::kAnything).empty())
      << "a job never pushed";
}

}  // namespace
}  // namespace jobstore::testing
