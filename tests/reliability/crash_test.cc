// The SIGKILL crash harness (issue 8). A child process (jobstore_crash_child) runs the random
// workload and reports each operation after it returned OK; this test drains the reports as
// they come, SIGKILLs the child after a random number of them, reopens the store and checks
// every invariant against the reports. Many rounds on the same directory.
//
// CI size by default (JOBSTORE_CRASH_ROUNDS, default 24). JOBSTORE_CRASH_LONG=1 runs rounds for
// JOBSTORE_CRASH_SECONDS (default 4 hours). JOBSTORE_SEED reproduces a run.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "jobstore/store.h"
#include "reliability/harness.h"
#include "reliability/model.h"
#include "reliability/workload.h"

#ifndef JOBSTORE_CRASH_CHILD
#error "JOBSTORE_CRASH_CHILD must name the crash child executable"
#endif

extern char** environ;

namespace jobstore::testing {
namespace {

constexpr int64_t kDayMs = 24LL * 3600 * 1000;
constexpr int64_t kBaseMs = 1'700'000'000'000;
constexpr int64_t kRoundSpanMs = 10 * kDayMs;

// The child's clock at the start of round r. Rounds are 10 days apart, so claims (1 day
// TTL) expire between rounds and abandoned jobs (15 days retention) get pruned after two.
int64_t ChildStart(uint64_t r) {
  return kBaseMs + static_cast<int64_t>(r) * kRoundSpanMs + 60 * 1000;
}

struct ChildRun {
  uint64_t lines = 0;
  bool killed = false;
  int wait_status = 0;
};

// Spawns the child, feeds its report lines to the model as they arrive, and SIGKILLs it
// after `kill_after` lines (0 = let it finish).
ChildRun RunChild(const std::string& dir, uint64_t seed, int64_t start_ms, size_t ops,
                  bool power, uint64_t kill_after, bool kill_on_begin, Model& model) {
  ChildRun run;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return run;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 3);
  std::string seed_s = std::to_string(seed), start_s = std::to_string(start_ms),
              ops_s = std::to_string(ops);
  const char* argv[] = {JOBSTORE_CRASH_CHILD, dir.c_str(), seed_s.c_str(), start_s.c_str(),
                        ops_s.c_str(), power ? "power" : "process", nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, JOBSTORE_CRASH_CHILD, &actions, nullptr,
                       const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    ADD_FAILURE() << "posix_spawn " << JOBSTORE_CRASH_CHILD << ": " << std::strerror(rc);
    return run;
  }

  std::string buf;
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = buf.substr(start, nl - start);
      if (line.empty() || line[0] == '#') continue;
      model.Apply(line);
      ++run.lines;
      bool at_begin = line[0] == 'B';
      if (!run.killed && kill_after > 0 && run.lines >= kill_after &&
          (!kill_on_begin || at_begin)) {
        kill(pid, SIGKILL);
        run.killed = true;
      }
    }
    buf.erase(0, start);  // a torn last line is an operation not reported
  }
  close(fds[0]);
  while (waitpid(pid, &run.wait_status, 0) < 0 && errno == EINTR) {
  }
  return run;
}

TEST(CrashHarness, SigkillAtRandomPointsKeepsEveryInvariant) {
  const bool long_mode = EnvU64("JOBSTORE_CRASH_LONG", 0) != 0;
  const uint64_t rounds = long_mode ? UINT64_MAX : EnvU64("JOBSTORE_CRASH_ROUNDS", kSanitized ? 8 : 24);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(long_mode ? EnvU64("JOBSTORE_CRASH_SECONDS", 4 * 3600)
                                                       : 24 * 3600);
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  auto rand = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  std::string dir = FreshDir("crash");
  SCOPED_TRACE("JOBSTORE_SEED=" + std::to_string(seed) + " dir=" + dir);
  std::printf("crash harness: JOBSTORE_SEED=%llu dir=%s\n",
              static_cast<unsigned long long>(seed), dir.c_str());

  Model model;
  uint64_t kills = 0, clean = 0, total_lines = 0, parent_acks = 0, stale_checked = 0;
  uint64_t r = 0;
  for (; r < rounds && std::chrono::steady_clock::now() < deadline; ++r) {
    SCOPED_TRACE("round " + std::to_string(r));
    const int64_t start_ms = ChildStart(r);
    const size_t ops = rand(0, 3) == 0 ? rand(1, 40) : rand(100, 1500);
    const bool power = rand(0, 2) == 0;
    // 1 round in 8 runs to its end; the others are killed after a random number of reported
    // lines, half of them right after a "B" line, i.e. with an operation in flight.
    const uint64_t kill_after = rand(0, 7) == 0 ? 0 : rand(1, 2 * ops + 2);
    const bool kill_on_begin = rand(0, 1) == 0;

    ChildRun run = RunChild(dir, seed + r, start_ms, ops, power, kill_after, kill_on_begin, model);
    total_lines += run.lines;
    if (run.killed && WIFSIGNALED(run.wait_status)) {
      ++kills;
    } else {
      ASSERT_TRUE(WIFEXITED(run.wait_status) && WEXITSTATUS(run.wait_status) == 0)
          << "child failed, wait status " << run.wait_status;
      ++clean;
    }
    ASSERT_EQ(model.failures, 0u) << "an operation failed in the child (see its stderr)";
    ASSERT_TRUE(model.errors.empty()) << Describe(model.errors);

    // Reopen and verify everything the child reported.
    auto clock = std::make_shared<ManualClock>(start_ms + kDayMs / 2);
    Options options;
    options.clock = clock;
    options.durability = power ? Durability::kPowerLoss : Durability::kProcessCrash;
    auto opened = Store::Open(dir, options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Store& store = **opened;
    Snapshot snap = TakeSnapshot(store);
    auto problems = Verify(model, snap, Loss::kNone);
    ASSERT_TRUE(problems.empty()) << Describe(problems);

    // Claims survived with their tokens: ack half of them with the reported token.
    std::vector<Claim> kept;
    for (auto& [id, j] : model.jobs) {
      if (j.state != ModelState::kClaimed || j.token.nonce == 0) continue;
      // The operation in flight (ack, release, touch) may have changed this claim.
      if (model.in_flight && std::count(model.in_flight->ids.begin(), model.in_flight->ids.end(), id)) {
        continue;
      }
      Claim c{WorkloadQueues()[j.queue], id, j.token};
      if (rand(0, 1) == 0) {
        Status s = store.Ack(c);
        ASSERT_TRUE(s.ok()) << "ack of job " << id << " with its reported token: " << s.ToString();
        model.acked.insert(id);
        ++parent_acks;
      } else {
        kept.push_back(c);
      }
    }
    // Expire every claim of the round; the old tokens are then fenced off.
    Status s = MaintainUntilIdle(store, *clock, 2 * kDayMs);
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (auto& c : kept) {
      Status st = store.Ack(c);
      ASSERT_TRUE(st.IsStaleToken()) << "ack of reclaimed job " << c.id << ": " << st.ToString();
      ++stale_checked;
    }
    // Prune now whatever the next child's maintenance could prune (its clock starts at the
    // next round and moves by less than a minute), so every job the child meets is modelled.
    clock->Set(ChildStart(r + 1) + 60 * 1000);
    s = MaintainUntilIdle(store, *clock, 0);
    ASSERT_TRUE(s.ok()) << s.ToString();
    Snapshot after = TakeSnapshot(store);
    ASSERT_TRUE(after.problems.empty()) << Describe(after.problems);
    for (auto& [id, info] : after.jobs) {
      ASSERT_NE(info.state, JobState::kClaimed) << "job " << id << " still claimed after expiry";
      ASSERT_FALSE(model.acked.count(id)) << "acked job " << id << " is back";
    }
    // Jobs gone during maintenance must have been abandoned past their retention.
    for (auto& [id, info] : snap.jobs) {
      if (after.jobs.count(id) || model.acked.count(id)) continue;
      ASSERT_EQ(info.state, JobState::kAbandoned) << "job " << id << " vanished in maintenance";
    }
    model.ResetFrom(after);
  }

  // Finally everything left can be drained to zero.
  {
    auto clock = std::make_shared<ManualClock>(ChildStart(r));
    Options options;
    options.clock = clock;
    auto opened = Store::Open(dir, options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    std::string drained = DrainAll(**opened, *clock);
    ASSERT_EQ(drained, "");
    Snapshot snap = TakeSnapshot(**opened);
    ASSERT_TRUE(snap.problems.empty()) << Describe(snap.problems);
    ASSERT_TRUE(snap.jobs.empty());
  }
  std::printf(
      "crash harness: %llu rounds (%llu killed, %llu clean), %llu report lines, %llu ids, "
      "%llu acked by the parent with surviving tokens, %llu stale tokens fenced\n",
      static_cast<unsigned long long>(r), static_cast<unsigned long long>(kills),
      static_cast<unsigned long long>(clean), static_cast<unsigned long long>(total_lines),
      static_cast<unsigned long long>(model.ever.size()),
      static_cast<unsigned long long>(parent_acks),
      static_cast<unsigned long long>(stale_checked));
  if (!HasFailure()) RemoveDir(dir);
}

}  // namespace
}  // namespace jobstore::testing
