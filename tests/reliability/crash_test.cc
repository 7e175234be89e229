// The SIGKILL crash harness (issue 8). A child process (jobstore_crash_child) runs the random
// workload and reports each operation after it returned OK; this test drains the reports as
// they come, SIGKILLs the child after a random number of them, reopens the store and checks
// every invariant against the reports. Many rounds on the same directory.
//
// The same harness runs served (docs/DESIGN.md §11): the store's owner is a process of its own
// (jobstore_served_owner), the child is its client, and the harness SIGKILLs the owner in the
// middle of the child's traffic (or the client, holding claims): the client must report
// Unavailable, never a success that did not commit, and the store the next owner opens must
// hold every acknowledged push and ack.
//
// CI size by default (JOBSTORE_CRASH_ROUNDS, default 24; JOBSTORE_SERVED_CRASH_ROUNDS, default
// 16). JOBSTORE_CRASH_LONG=1 runs rounds for JOBSTORE_CRASH_SECONDS (default 4 hours).
// JOBSTORE_SEED reproduces a run.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "jobstore/store.h"
#include "reliability/harness.h"
#include "reliability/model.h"
#include "reliability/workload.h"

#ifndef JOBSTORE_CRASH_CHILD
#error "JOBSTORE_CRASH_CHILD must name the crash child executable"
#endif
#ifndef JOBSTORE_SERVED_OWNER
#error "JOBSTORE_SERVED_OWNER must name the served owner executable"
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
  bool killed = false;        // the child was SIGKILLed
  bool owner_killed = false;  // served: the owner was SIGKILLed
  int wait_status = 0;
  std::string failure;        // the child's "F" line, if any
};

// Served rounds: the owner process, and whom to kill.
struct Served {
  std::string clock_file;
  bool kill_owner = true;  // else the client
};

// The owner of a served round: started before the child, stopped (or found dead) after it.
class Owner {
 public:
  Owner(const std::string& dir, const Served& served, bool power) {
    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe: " << std::strerror(errno);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    const std::string durability = power ? "durability=power" : "durability=process";
    const char* argv[] = {JOBSTORE_SERVED_OWNER, dir.c_str(), served.clock_file.c_str(),
                          durability.c_str(), nullptr};
    const int rc = posix_spawn(&pid_, JOBSTORE_SERVED_OWNER, &actions, nullptr,
                               const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(in[0]);
    stdin_ = in[1];
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << JOBSTORE_SERVED_OWNER << ": " << std::strerror(rc);
      pid_ = -1;
      close(out[0]);
      return;
    }
    // Wait for "ready": the owner serves from then on.
    std::string got;
    char c;
    while (got.find('\n') == std::string::npos && read(out[0], &c, 1) == 1) got += c;
    close(out[0]);
    if (got.rfind("ready ", 0) != 0) ADD_FAILURE() << "the served owner did not start: " << got;
  }
  ~Owner() { Stop(); }
  pid_t pid() const { return pid_; }
  void Kill() {
    if (pid_ > 0) kill(pid_, SIGKILL);
  }
  // A clean stop (its stdin ends) unless it is dead already.
  void Stop() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
    if (pid_ <= 0) return;
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
};

// Spawns the child, feeds its report lines to the model as they arrive, and SIGKILLs it (or,
// served, its owner) after `kill_after` lines (0 = let it finish).
ChildRun RunChild(const std::string& dir, uint64_t seed, int64_t start_ms, size_t ops,
                  bool power, uint64_t kill_after, bool kill_on_begin, Model& model,
                  const std::optional<Served>& served = std::nullopt) {
  ChildRun run;
  std::optional<Owner> owner;
  if (served) owner.emplace(dir, *served, power);
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
  std::vector<const char*> argv = {JOBSTORE_CRASH_CHILD, dir.c_str(), seed_s.c_str(),
                                   start_s.c_str(), ops_s.c_str(), power ? "power" : "process"};
  if (served) {
    argv.push_back("served");
    argv.push_back(served->clock_file.c_str());
  }
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, JOBSTORE_CRASH_CHILD, &actions, nullptr,
                       const_cast<char* const*>(argv.data()), environ);
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
      if (line[0] == 'F') run.failure = line;
      bool at_begin = line[0] == 'B';
      if (!run.killed && !run.owner_killed && kill_after > 0 && run.lines >= kill_after &&
          (!kill_on_begin || at_begin)) {
        if (served && served->kill_owner) {
          owner->Kill();
          run.owner_killed = true;
        } else {
          kill(pid, SIGKILL);
          run.killed = true;
        }
      }
    }
    buf.erase(0, start);  // a torn last line is an operation not reported
  }
  close(fds[0]);
  while (waitpid(pid, &run.wait_status, 0) < 0 && errno == EINTR) {
  }
  if (owner) owner->Stop();
  return run;
}

// The harness: many rounds on one directory, each a child (and, served, its owner) killed at a
// random point, then every invariant checked against the child's reports.
void RunHarness(bool served_mode) {
  const bool long_mode = EnvU64("JOBSTORE_CRASH_LONG", 0) != 0;
  const uint64_t rounds =
      long_mode ? UINT64_MAX
      : served_mode ? EnvU64("JOBSTORE_SERVED_CRASH_ROUNDS", kSanitized ? 6 : 16)
                    : EnvU64("JOBSTORE_CRASH_ROUNDS", kSanitized ? 8 : 24);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(long_mode ? EnvU64("JOBSTORE_CRASH_SECONDS", 4 * 3600)
                                                       : 24 * 3600);
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  auto rand = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  std::string dir = FreshDir(served_mode ? "served-crash" : "crash");
  SCOPED_TRACE("JOBSTORE_SEED=" + std::to_string(seed) + " dir=" + dir);
  std::printf("crash harness: JOBSTORE_SEED=%llu dir=%s\n",
              static_cast<unsigned long long>(seed), dir.c_str());

  Model model;
  uint64_t kills = 0, clean = 0, total_lines = 0, parent_acks = 0, stale_checked = 0;
  uint64_t owner_kills = 0, unavailable = 0;
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

    std::optional<Served> served;
    if (served_mode) served = Served{dir + ".clock", /*kill_owner=*/rand(0, 2) != 0};
    ChildRun run =
        RunChild(dir, seed + r, start_ms, ops, power, kill_after, kill_on_begin, model, served);
    total_lines += run.lines;
    if (run.killed && WIFSIGNALED(run.wait_status)) {
      ++kills;
    } else if (run.owner_killed) {
      // The client learns of its owner's death from its next call, which must fail with
      // Unavailable (the child then stops, exit 2) -- unless it had just finished.
      ++owner_kills;
      ASSERT_TRUE(WIFEXITED(run.wait_status)) << "client wait status " << run.wait_status;
      if (WEXITSTATUS(run.wait_status) == 2) {
        ASSERT_NE(run.failure.find("unavailable"), std::string::npos)
            << "the client reported: " << run.failure;
        ++unavailable;
      } else {
        ASSERT_EQ(WEXITSTATUS(run.wait_status), 0) << "client: " << run.failure;
      }
    } else {
      ASSERT_TRUE(WIFEXITED(run.wait_status) && WEXITSTATUS(run.wait_status) == 0)
          << "child failed, wait status " << run.wait_status << ": " << run.failure;
      ++clean;
    }
    ASSERT_EQ(model.failures, run.owner_killed && !run.failure.empty() ? 1u : 0u)
        << "an operation failed in the child (see its stderr): " << run.failure;
    model.failures = 0;
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
      "crash harness%s: %llu rounds (%llu clients killed, %llu owners killed, %llu clean), "
      "%llu report lines, %llu ids, %llu acked by the parent with surviving tokens, %llu stale "
      "tokens fenced, %llu clients told Unavailable\n",
      served_mode ? " (served)" : "", static_cast<unsigned long long>(r),
      static_cast<unsigned long long>(kills), static_cast<unsigned long long>(owner_kills),
      static_cast<unsigned long long>(clean), static_cast<unsigned long long>(total_lines),
      static_cast<unsigned long long>(model.ever.size()),
      static_cast<unsigned long long>(parent_acks),
      static_cast<unsigned long long>(stale_checked),
      static_cast<unsigned long long>(unavailable));
  if (served_mode) {
    EXPECT_GT(owner_kills, 0u);
    EXPECT_GT(unavailable, 0u) << "no client ever saw its owner die during a call";
  }
  if (!::testing::Test::HasFailure()) {
    RemoveDir(dir);
    std::remove((dir + ".clock").c_str());
  }
}

TEST(CrashHarness, SigkillAtRandomPointsKeepsEveryInvariant) { RunHarness(false); }

TEST(CrashHarness, ServedOwnerOrClientSigkilledKeepsEveryInvariant) { RunHarness(true); }

}  // namespace
}  // namespace jobstore::testing
