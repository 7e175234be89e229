// SIGINT/SIGTERM with a real child process: the runner finishes and acks the jobs in hand,
// stops with "signal", and after reopening the store nothing is lost.

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

#include "jobstore/store.h"
#include "support/temp_dir.h"

extern char** environ;

namespace jobstore::testing {
namespace {

constexpr int kJobs = 6;
constexpr int kThreads = 2;  // as in signal_child.cc

class JobsSignal : public ::testing::TestWithParam<int> {};

TEST_P(JobsSignal, FinishesJobsInHandAndLosesNothing) {
  const int signal_number = GetParam();
  TempDir dir;
  const std::string store_dir = dir.Sub("store");
  std::vector<JobId> ids;
  {
    auto store = Store::Open(store_dir, Options{});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto pushed = (*store)->Push(std::vector<JobSpec>(kJobs, JobSpec{.type = "block"}));
    ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
    ids = pushed->ids;
  }  // closed: the child must own the store

  int started[2];
  ASSERT_EQ(pipe(started), 0);
  const std::string report_path = dir.Sub("report");
  std::string child = JOBSTORE_SIGNAL_CHILD, fd = std::to_string(started[1]);
  char* argv[] = {child.data(), const_cast<char*>(store_dir.c_str()),
                  const_cast<char*>(report_path.c_str()), fd.data(), nullptr};
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, child.c_str(), nullptr, nullptr, argv, environ), 0);
  close(started[1]);

  // One byte per worker thread: every thread holds a job. Only then send the signal.
  for (int i = 0; i < kThreads; ++i) {
    char byte = 0;
    ASSERT_EQ(read(started[0], &byte, 1), 1) << "the child died before starting its jobs";
  }
  ASSERT_EQ(kill(pid, signal_number), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  close(started[0]);
  ASSERT_TRUE(WIFEXITED(status)) << "the child was killed by the signal";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the run did not end with 'signal'";

  std::ifstream report(report_path);
  std::string reason;
  report >> reason;
  EXPECT_EQ(reason, "signal");
  std::set<JobId> acked;
  JobId id;
  std::string outcome;
  while (report >> id >> outcome) {
    EXPECT_EQ(outcome, "ok");
    acked.insert(id);
  }
  EXPECT_EQ(acked.size(), static_cast<size_t>(kThreads));

  // Reopen: the jobs in hand are gone (acked), the others ready, none claimed or lost.
  auto store = Store::Open(store_dir, Options{});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto counts = (*store)->Counts({"", "block"});
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->ready, static_cast<uint64_t>(kJobs - kThreads));
  EXPECT_EQ(counts->claimed, 0u);
  EXPECT_EQ(counts->delayed, 0u);
  EXPECT_EQ(counts->abandoned, 0u);
  for (JobId job : ids) {
    auto info = (*store)->Inspect({"", "block"}, job);
    if (acked.contains(job)) {
      EXPECT_TRUE(info.status().IsNotFound()) << job;
    } else {
      ASSERT_TRUE(info.ok()) << job << ": " << info.status().ToString();
      EXPECT_EQ(info->state, JobState::kReady);
      EXPECT_EQ(info->attempts, 0u);
    }
  }
  auto problems = (*store)->Check();
  ASSERT_TRUE(problems.ok());
  EXPECT_TRUE(problems->empty());
}

INSTANTIATE_TEST_SUITE_P(Signals, JobsSignal, ::testing::Values(SIGTERM, SIGINT),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGTERM ? "SIGTERM" : "SIGINT");
                         });

}  // namespace
}  // namespace jobstore::testing
