// A claim cursor saved by a clean close must not survive the next open: a process that opens
// the store, queues a job below the saved position and is SIGKILLed leaves no close behind,
// and the job must still be the next one claimed after a reopen.
#include <spawn.h>
#include <sys/wait.h>

#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "jobstore/store.h"
#include "support/temp_dir.h"

extern char** environ;

namespace jobstore::testing {
namespace {

TEST(CursorCrash, AJobQueuedBelowTheSavedCursorBeforeASigkillIsClaimedFirst) {
  TempDir dir;
  const std::string path = dir.Sub("store");
  Options options;
  options.durability = Durability::kProcessCrash;
  options.maintenance_interval_ms = 0;
  const QueueRef queue{"", "t"};
  {
    auto store = Store::Open(path, options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->SetTypeSettings("t", TypeSettings{.order = Order::kPriority}).ok());
    ASSERT_TRUE((*store)->Push(std::vector<JobSpec>(100, JobSpec{.type = "t", .params = "p"})).ok());
    auto first = (*store)->Claim(queue, 50);
    ASSERT_TRUE(first.ok());
    for (const auto& j : *first) ASSERT_TRUE((*store)->Ack(j.claim).ok());
  }  // a clean close: the cursor is saved at job 51

  const char* argv[] = {JOBSTORE_CURSOR_CRASH_CHILD, path.c_str(), nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, JOBSTORE_CURSOR_CRASH_CHILD, nullptr, nullptr,
                       const_cast<char* const*>(argv), environ);
  ASSERT_EQ(rc, 0) << "posix_spawn: " << std::strerror(rc);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child did not die of SIGKILL (exit status " << status << ")";

  auto store = Store::Open(path, options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto counts = (*store)->Counts(queue);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->ready, 51u);
  auto next = (*store)->Claim(queue, 2);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ((*next)[0].params, "urgent") << "a stale saved cursor hid the job pushed before the kill";
  EXPECT_EQ((*next)[1].claim.id, 51u);
}

}  // namespace
}  // namespace jobstore::testing
