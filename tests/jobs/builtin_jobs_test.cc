// The built-in job types: null (no-op, fail, throw on request) and exec (a real shell
// command with the params on stdin).

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "jobs_fixture.h"
#include "jobstore/builtin_jobs.h"

namespace jobstore::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// --- null ---------------------------------------------------------------------------------

class JobsNull : public JobsFixture {
 protected:
  void SetUp() override {
    JobsFixture::SetUp();
    ASSERT_TRUE(RegisterNullJob(&registry_).ok());
  }
  // Builds the null job for `params` outside any runner.
  Result<std::unique_ptr<Job>> Build(const std::string& params) {
    ClaimedJob job;
    job.claim.queue = {"", "null"};
    job.params = params;
    return registry_.Create(job);
  }
};

TEST_F(JobsNull, DoesWhatItsParamsAsk) {
  JobContext ctx(store_.get(), {});
  for (const char* params : {"", "{}", R"({"sleep_ms": 1})", R"({"unknown": 1})"}) {
    auto job = Build(params);
    ASSERT_TRUE(job.ok()) << params << ": " << job.status().ToString();
    EXPECT_TRUE((*job)->Run(ctx).ok()) << params;
  }
  auto failing = Build(R"({"fail": "as asked", "allow_retries": false, "work_items": 5})");
  ASSERT_TRUE(failing.ok());
  EXPECT_EQ((*failing)->Run(ctx).message(), "as asked");
  EXPECT_FALSE((*failing)->allow_retries());
  EXPECT_EQ((*failing)->work_item_count(), 5u);
  auto throwing = Build(R"({"throw": "thrown"})");
  ASSERT_TRUE(throwing.ok());
  EXPECT_THROW((*throwing)->Run(ctx), std::runtime_error);
}

TEST_F(JobsNull, BadParamsFailTheBuild) {
  for (const char* params : {"not json", "[1]", R"({"sleep_ms": "x"})", R"({"sleep_ms": -1})",
                             R"({"work_items": -3})"}) {
    EXPECT_TRUE(Build(params).status().IsInvalidArgument()) << params;
  }
}

TEST_F(JobsNull, RunsUnderTheRunner) {
  Push("null", 2);
  Push("null", 1, R"({"fail": "x", "allow_retries": false})");
  Push("null", 1, "garbage");
  RunReport report = RunJobs();
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.succeeded, 2u);
  EXPECT_EQ(report.failed, 2u);
  // The final failure was acked; the unparsable job was released for a retry.
  EXPECT_EQ(Counts("null"), (QueueCounts{.delayed = 1}));
}

// --- exec ---------------------------------------------------------------------------------

class JobsExec : public JobsFixture {
 protected:
  ExecJobOptions Command(std::string command) {
    ExecJobOptions options;
    options.command = std::move(command);
    options.env["OUT"] = dir_.path();  // configured environment, not params
    return options;
  }
};

TEST_F(JobsExec, RunsAShellCommandThatWritesAFile) {
  ASSERT_TRUE(RegisterExecJob(&registry_, "export",
                              Command(R"(cat > "$OUT/$JOBSTORE_JOB_ID.json" && )"
                                      R"(echo "$JOBSTORE_JOB_TYPE $JOBSTORE_ATTEMPT )"
                                      R"($JOBSTORE_JOB_DOMAIN" > "$OUT/$JOBSTORE_JOB_ID.env")"))
                  .ok());
  const std::string params = R"({"page": "Main_Page", "n": 1})";
  std::vector<JobId> ids = Push("export", 2, params, "wiki1");
  RunReport report = RunJobs();
  EXPECT_EQ(report.reason, StopReason::kNoneReady);
  EXPECT_EQ(report.succeeded, 2u);
  for (JobId id : ids) {
    const std::string base = dir_.Sub(std::to_string(id));
    EXPECT_EQ(ReadFile(base + ".json"), params);
    EXPECT_EQ(ReadFile(base + ".env"), "export 1 wiki1\n");
  }
  EXPECT_EQ(Counts("export", "wiki1"), QueueCounts{});
}

TEST_F(JobsExec, ParamsNeverReachTheShell) {
  ASSERT_TRUE(RegisterExecJob(&registry_, "t", Command(R"(cat > "$OUT/stdin")")).ok());
  const std::string params = R"($(touch "$OUT/pwned"); `touch "$OUT/pwned"` ' " ;)";
  Push("t", 1, params);
  EXPECT_EQ(RunJobs().succeeded, 1u);
  EXPECT_EQ(ReadFile(dir_.Sub("stdin")), params);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("pwned")));
}

TEST_F(JobsExec, NonZeroExitFailsWithTheStderrTail) {
  ASSERT_TRUE(RegisterExecJob(&registry_, "t", Command("echo starting; echo 'disk full' >&2; exit 3")).ok());
  Push("t", 1);
  RunReport report = RunJobs();
  ASSERT_EQ(report.results.size(), 1u);
  EXPECT_FALSE(report.results[0].ok);
  EXPECT_EQ(report.results[0].error, "exit status 3: disk full");
  EXPECT_TRUE(report.results[0].released);
  auto page = store_->List({"", "t"}, JobState::kDelayed, "", 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].last_error, "exit status 3: disk full");
}

TEST_F(JobsExec, NoRetriesMeansTheFailureIsAcked) {
  ExecJobOptions options = Command("exit 1");
  options.allow_retries = false;
  ASSERT_TRUE(RegisterExecJob(&registry_, "t", options).ok());
  Push("t", 1);
  RunReport report = RunJobs();
  EXPECT_EQ(report.failed, 1u);
  EXPECT_EQ(report.results.at(0).error, "exit status 1");
  EXPECT_EQ(Counts("t"), QueueCounts{});
}

TEST_F(JobsExec, ErrorKeepsOnlyTheLastStderrBytes) {
  // 20,000 'a's then "END": the error keeps the last 4 KiB, which end with END.
  ExecOutcome outcome = RunCommand(
      Command("head -c 20000 /dev/zero | tr '\\0' a >&2; printf END >&2; exit 1"), "", {});
  EXPECT_TRUE(outcome.started);
  EXPECT_EQ(outcome.exit_status, 1);
  EXPECT_EQ(outcome.stderr_tail.size(), 4096u);
  EXPECT_EQ(outcome.stderr_tail.substr(4093), "END");
  EXPECT_EQ(outcome.error, "exit status 1: " + outcome.stderr_tail);
}

TEST_F(JobsExec, LargeParamsAreStreamedAndUnreadStdinIsHarmless) {
  const std::string big(1 << 20, 'x');  // far beyond a pipe's buffer
  ExecOutcome counted = RunCommand(Command(R"(wc -c > "$OUT/count")"), big, {});
  EXPECT_TRUE(counted.error.empty()) << counted.error;
  EXPECT_EQ(std::stoul(ReadFile(dir_.Sub("count"))), big.size());
  // A command that exits without reading must not kill us with SIGPIPE.
  ExecOutcome ignored = RunCommand(Command("exit 0"), big, {});
  EXPECT_TRUE(ignored.error.empty()) << ignored.error;
  EXPECT_EQ(ignored.exit_status, 0);
}

TEST_F(JobsExec, DeathBySignalIsReported) {
  ExecOutcome outcome = RunCommand(Command("kill -9 $$"), "", {});
  EXPECT_EQ(outcome.term_signal, SIGKILL);
  EXPECT_EQ(outcome.error.rfind("killed by signal 9", 0), 0u) << outcome.error;
}

// Whether process `pid` is gone or a zombie (dead, not yet reaped by its new parent).
bool ProcessIsDead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z' ||
         line[paren + 2] == 'X';
}

TEST_F(JobsExec, TimeoutKillsTheWholeProcessGroup) {
  // The shell starts a background sleep (a grandchild) and waits: the timeout must kill both.
  ExecJobOptions options = Command(R"(sleep 300 & echo $! > "$OUT/pid"; echo waiting >&2; wait)");
  options.timeout_ms = 300;
  ASSERT_TRUE(RegisterExecJob(&registry_, "t", options).ok());
  Push("t", 1);
  RunReport report = RunJobs();
  ASSERT_EQ(report.results.size(), 1u);
  EXPECT_EQ(report.results[0].error, "timed out after 300 ms: waiting");
  EXPECT_EQ(Counts("t"), (QueueCounts{.delayed = 1}));
  const pid_t grandchild = std::stoi(ReadFile(dir_.Sub("pid")));
  // SIGKILL is asynchronous: wait (bounded) for the kernel to finish the grandchild off.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ProcessIsDead(grandchild) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(ProcessIsDead(grandchild));
}

TEST_F(JobsExec, EmptyCommandIsRefused) {
  EXPECT_TRUE(RegisterExecJob(&registry_, "t", ExecJobOptions{}).IsInvalidArgument());
  EXPECT_FALSE(registry_.Contains("t"));
}

}  // namespace
}  // namespace jobstore::testing
