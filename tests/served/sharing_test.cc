// Sharing one store between processes through the CLI, as a user does: `jobstore serve`,
// `jobstore run --wait` workers, `jobstore push` from other processes and from the jobs
// themselves; and the owner killed with SIGKILL in the middle of it, repeatedly.
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "observe/http_client.h"
#include "served/process.h"
#include "support/eventually.h"
#include "support/temp_dir.h"

#ifndef JOBSTORE_CLI
#error "JOBSTORE_CLI must name the jobstore binary"
#endif

namespace jobstore::testing {
namespace {

using namespace std::chrono_literals;

#ifdef JOBSTORE_SANITIZED
constexpr int kScale = 10;  // sanitizers slow every process start and call 3-10x
#else
constexpr int kScale = 1;
#endif

const std::string kCli = JOBSTORE_CLI;

// Runs the CLI to completion; returns its stdout, failing the test when it fails.
std::string Cli(const std::vector<std::string>& args, const std::string& log,
                const std::map<std::string, std::string>& env = {}) {
  Process p(kCli, args, log, env);
  const int status = p.Wait();
  EXPECT_TRUE(ExitedOk(status)) << "jobstore " << args.back() << ": " << p.Err();
  return p.Out();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// The job commands: each run appends "w ID" (or "f ID") to the log; a work job whose params
// ask for it pushes a follow-up job from inside the run, through the served store.
std::string WorkCommand(const std::string& log) {
  return "read p; echo \"w $JOBSTORE_JOB_ID\" >> " + log +
         "; case \"$p\" in *follow*) " + kCli +
         " push followup '{}' >/dev/null || { echo \"push-failed $JOBSTORE_JOB_ID\" >> " + log +
         "; exit 1; };; esac";
}
std::string FollowupCommand(const std::string& log) {
  return "echo \"f $JOBSTORE_JOB_ID\" >> " + log;
}

// A pusher: `batches` invocations of `jobstore push work` with `per_batch` jobs each (every
// 100th asks for a follow-up), ids appended to its stdout. A push that fails is retried (the
// store may be between owners); the ids printed are the acknowledged ones.
std::string PusherScript(const std::string& store, int first, int batches, int per_batch,
                         const std::map<std::string, std::string>& env_prefix = {}) {
  std::string env;
  for (const auto& [k, v] : env_prefix) env += k + "=" + v + " ";
  return "i=0; while [ $i -lt " + std::to_string(batches) + " ]; do "
         "s=$((" + std::to_string(first) + " + i * " + std::to_string(per_batch) + ")); "
         "e=$((s + " + std::to_string(per_batch - 1) + ")); "
         "until seq $s $e | awk '{ if ($1 % 100 == 0) print \"{\\\"n\\\":\" $1 \",\\\"follow\\\":1}\"; "
         "else print \"{\\\"n\\\":\" $1 \"}\" }' | " + env + kCli + " --store " + store +
         " push work; do echo retry >&2; done; i=$((i + 1)); done";
}

struct Ran {
  std::map<std::string, int> work, followups;  // id -> times run
  int push_failures = 0;
};

Ran ReadRan(const std::string& log) {
  Ran r;
  for (const std::string& line : Lines(ReadFile(log))) {
    if (line.rfind("w ", 0) == 0) ++r.work[line.substr(2)];
    if (line.rfind("f ", 0) == 0) ++r.followups[line.substr(2)];
    if (line.rfind("push-failed", 0) == 0) ++r.push_failures;
  }
  return r;
}

size_t Runs(const Ran& r) {
  size_t n = 0;
  for (auto& [id, c] : r.work) n += c;
  for (auto& [id, c] : r.followups) n += c;
  return n;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  return Eventually(done, limit, 10ms);
}

// Ready jobs in the store, from `stats --json`'s total.
uint64_t ReadyLeft(const std::string& store, const std::string& log,
                   const std::map<std::string, std::string>& env) {
  Process p(kCli, {"--store", store, "--json", "stats"}, log, env);
  if (!ExitedOk(p.Wait())) return UINT64_MAX;
  const std::string out = p.Out();
  const std::string key = "\"total\":{\"ready\":";
  const size_t total = out.find(key);
  if (total == std::string::npos) return UINT64_MAX;
  return std::strtoull(out.c_str() + total + key.size(), nullptr, 10);
}

void ExpectEmptyAndHealthy(const std::string& store, const std::string& log,
                           const std::map<std::string, std::string>& env = {}) {
  const std::string stats = Cli({"--store", store, "--json", "stats"}, log + "-stats", env);
  EXPECT_NE(stats.find("\"total\":{"), std::string::npos) << stats;
  for (const std::string field : {"\"ready\":", "\"claimed\":", "\"delayed\":", "\"abandoned\":"}) {
    for (size_t at = stats.find(field); at != std::string::npos; at = stats.find(field, at + 1)) {
      EXPECT_EQ(stats[at + field.size()], '0') << stats;
    }
  }
  Process check(kCli, {"--store", store, "check"}, log + "-check", env);
  EXPECT_TRUE(ExitedOk(check.Wait())) << check.Out() << check.Err();
}

TEST(Sharing, OneServerFourWorkersTwoPushersEveryJobRunsExactlyOnce) {
  TempDir dir;
  const std::string store = dir.Sub("store"), log = dir.Sub("ran.log");
  Cli({"--store", store, "init"}, dir.Sub("init"));
  Process serve(kCli, {"--store", store, "serve"}, dir.Sub("serve"));
  ASSERT_TRUE(serve.WaitForOutput("serving")) << serve.Err();

  const int per_pusher = 10'000 / kScale, batches = 10, per_batch = per_pusher / batches;
  const int work_jobs = 2 * per_pusher, followups = work_jobs / 100;
  std::vector<std::unique_ptr<Process>> workers, pushers;
  for (int w = 0; w < 4; ++w) {
    workers.push_back(std::make_unique<Process>(
        kCli,
        std::vector<std::string>{"--store", store, "run", "--wait", "--exec",
                                 "work=" + WorkCommand(log), "--exec",
                                 "followup=" + FollowupCommand(log)},
        dir.Sub("worker" + std::to_string(w))));
  }
  for (int p = 0; p < 2; ++p) {
    pushers.push_back(std::make_unique<Process>(
        "/bin/sh",
        std::vector<std::string>{"-c", PusherScript(store, 1 + p * per_pusher, batches, per_batch)},
        dir.Sub("pusher" + std::to_string(p))));
  }
  std::set<std::string> pushed;
  for (auto& p : pushers) {
    ASSERT_TRUE(ExitedOk(p->Wait())) << p->Err();
    EXPECT_EQ(p->Err(), "") << "a push failed while nothing went wrong";
    for (const std::string& id : Lines(p->Out())) pushed.insert(id);
  }
  ASSERT_EQ(pushed.size(), static_cast<size_t>(work_jobs));
  ASSERT_TRUE(WaitFor([&] { return Runs(ReadRan(log)) >= static_cast<size_t>(work_jobs + followups); },
                      300s))
      << Runs(ReadRan(log)) << " of " << work_jobs + followups << " jobs ran";
  for (auto& w : workers) w->Signal(SIGTERM);
  for (auto& w : workers) {
    ASSERT_TRUE(ExitedOk(w->Wait())) << w->Err();
    EXPECT_NE(w->Out().find("stopped: signal"), std::string::npos) << w->Out();
  }

  const Ran ran = ReadRan(log);
  EXPECT_EQ(ran.push_failures, 0);
  EXPECT_EQ(ran.work.size(), static_cast<size_t>(work_jobs));
  EXPECT_EQ(ran.followups.size(), static_cast<size_t>(followups));
  for (const auto& [id, times] : ran.work) {
    EXPECT_EQ(times, 1) << "job " << id << " ran " << times << " times";
    EXPECT_TRUE(pushed.count(id)) << "job " << id << " ran but was never pushed";
  }
  for (const auto& [id, times] : ran.followups) EXPECT_EQ(times, 1) << "follow-up " << id;
  // Every command works while the store is served: stats and check here go through a read
  // view, push and claim through the server.
  ExpectEmptyAndHealthy(store, dir.Sub("end"));
  serve.Signal(SIGTERM);
  ASSERT_TRUE(ExitedOk(serve.Wait())) << serve.Err();
  EXPECT_NE(serve.Out().find("stopped:"), std::string::npos) << serve.Out();
  // Closed cleanly: the store opens in this process now, with nothing left.
  ExpectEmptyAndHealthy(store, dir.Sub("closed"));
}

TEST(Sharing, TheOwnerKilledRepeatedlyLosesNoAcknowledgedJob) {
  TempDir dir;
  const std::string store = dir.Sub("store"), log = dir.Sub("ran.log");
  // Every process on one pinned clock: the leases of jobs a killed worker held expire only
  // when the test moves the clock (below), never by waiting.
  const int64_t t0 = 1'700'000'000'000;
  const std::map<std::string, std::string> env = {{"JOBSTORE_TEST_NOW_MS", std::to_string(t0)}};
  Cli({"--store", store, "init"}, dir.Sub("init"), env);
  auto serve = std::make_unique<Process>(kCli, std::vector<std::string>{"--store", store, "serve"},
                                         dir.Sub("serve"), env);
  ASSERT_TRUE(serve->WaitForOutput("serving")) << serve->Err();

  const int per_pusher = 4'000 / kScale, batches = 20, per_batch = per_pusher / batches;
  auto worker_args = [&] {
    return std::vector<std::string>{"--store", store, "run", "--wait", "--exec",
                                    "work=" + WorkCommand(log), "--exec",
                                    "followup=" + FollowupCommand(log)};
  };
  std::vector<std::unique_ptr<Process>> workers;
  int started = 0;
  for (; started < 3; ++started) {
    workers.push_back(std::make_unique<Process>(kCli, worker_args(),
                                                dir.Sub("worker" + std::to_string(started)), env));
  }
  std::vector<std::unique_ptr<Process>> pushers;
  for (int p = 0; p < 2; ++p) {
    pushers.push_back(std::make_unique<Process>(
        "/bin/sh",
        std::vector<std::string>{"-c", PusherScript(store, 1 + p * per_pusher, batches, per_batch)},
        dir.Sub("pusher" + std::to_string(p)), env));
  }

  // Kill whoever owns the store, four times, each once some more jobs ran. The first owner is
  // `serve`; then a worker that reopened the store became the owner, and is killed in turn (a
  // new worker takes its place).
  int kills = 0;
  for (size_t runs_before = 0; kills < 4; ++kills) {
    const size_t target = runs_before + static_cast<size_t>(per_pusher / 5);
    ASSERT_TRUE(WaitFor([&] { return Runs(ReadRan(log)) >= target; }, 120s))
        << "no progress after kill " << kills;
    runs_before = Runs(ReadRan(log));
    const pid_t owner = LockHolder(store);
    ASSERT_GT(owner, 0);
    ASSERT_EQ(kill(owner, SIGKILL), 0);
    for (auto& w : workers) {
      if (w->pid() == owner) {
        w->Wait();
        w = std::make_unique<Process>(kCli, worker_args(),
                                      dir.Sub("worker" + std::to_string(started++)), env);
      }
    }
    if (serve && serve->pid() == owner) serve->Wait();
    // The next owner takes over: some process holds the store again.
    ASSERT_TRUE(WaitFor([&] { return LockHolder(store) > 0 && LockHolder(store) != owner; }, 30s));
  }
  std::set<std::string> pushed;
  for (auto& p : pushers) {
    ASSERT_TRUE(ExitedOk(p->Wait())) << p->Err();
    for (const std::string& id : Lines(p->Out())) pushed.insert(id);
  }
  ASSERT_GE(pushed.size(), static_cast<size_t>(2 * per_pusher));
  // The traffic drains: nothing is left ready (jobs a killed worker held stay claimed until
  // their lease ends, below).
  ASSERT_TRUE(WaitFor([&] { return ReadyLeft(store, dir.Sub("ready"), env) == 0; }, 300s));
  uint64_t reopened = 0;
  for (auto& w : workers) {
    w->Signal(SIGTERM);
    EXPECT_TRUE(ExitedOk(w->Wait())) << w->Err();
    const std::string out = w->Out();
    if (out.find("reopened the store") != std::string::npos) ++reopened;
  }
  if (serve && serve->running()) {
    serve->Signal(SIGTERM);
    serve->Wait();
  }
  EXPECT_GT(reopened, 0u) << "no worker reopened the store after its owner died";

  // Jobs a killed worker held are claimed until their lease ends: two hours later (the pinned
  // clock moved, nothing waited), maintenance reclaims them, a worker runs them, and the store
  // drains to zero.
  const std::map<std::string, std::string> later = {
      {"JOBSTORE_TEST_NOW_MS", std::to_string(t0 + 2 * 3600 * 1000)}};
  Cli({"--store", store, "maintain"}, dir.Sub("maintain"), later);
  Cli({"--store", store, "run", "--exec", "work=" + WorkCommand(log), "--exec",
       "followup=" + FollowupCommand(log)},
      dir.Sub("drain"), later);
  ExpectEmptyAndHealthy(store, dir.Sub("end"), later);
  const Ran ran = ReadRan(log);
  for (const std::string& id : pushed) EXPECT_TRUE(ran.work.count(id)) << "job " << id << " never ran";
  // A follow-up push that met a dying owner failed its job, which ran again later: no job
  // whose follow-up was acknowledged is missing its follow-up run.
  EXPECT_GE(ran.followups.size(), pushed.size() / 100 - static_cast<size_t>(ran.push_failures));
}

// serve --http: the owner's metrics count what its clients did through the socket, and its
// page shows the store.
TEST(Sharing, ServeShowsMetricsOfWhatItsClientsDo) {
  TempDir dir;
  const std::string store = dir.Sub("store");
  Cli({"--store", store, "init"}, dir.Sub("init"));
  Process serve(kCli, {"--store", store, "serve", "--http", "127.0.0.1:0"}, dir.Sub("serve"));
  ASSERT_TRUE(serve.WaitForOutput("serving")) << serve.Err();
  const std::string marker = "status page at http://127.0.0.1:";
  ASSERT_TRUE(WaitFor([&] { return serve.Err().find(marker) != std::string::npos; }, 60s))
      << serve.Err();
  const std::string err = serve.Err();
  const int port = std::atoi(err.c_str() + err.find(marker) + marker.size());
  ASSERT_GT(port, 0) << err;
  Cli({"--store", store, "push", "email", "{}"}, dir.Sub("push1"));
  Cli({"--store", store, "push", "email", "{}"}, dir.Sub("push2"));
  Cli({"--store", store, "claim", "email"}, dir.Sub("claim"));

  TestHttpClient http(static_cast<uint16_t>(port));
  const HttpResponse metrics = http.Get("/metrics");
  ASSERT_EQ(metrics.status, 200u) << metrics.body;
  EXPECT_NE(metrics.body.find("\njobstore_jobs_pushed_total{domain=\"\",type=\"email\"} 2\n"),
            std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("\njobstore_jobs_claimed_total{domain=\"\",type=\"email\"} 1\n"),
            std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find(
                "\njobstore_queue_jobs{domain=\"\",type=\"email\",state=\"ready\"} 1\n"),
            std::string::npos) << metrics.body;
  const HttpResponse page = http.Get("/");
  ASSERT_EQ(page.status, 200u);
  EXPECT_NE(page.body.find("email"), std::string::npos);

  serve.Signal(SIGTERM);
  ASSERT_TRUE(ExitedOk(serve.Wait())) << serve.Err();
}

}  // namespace
}  // namespace jobstore::testing
