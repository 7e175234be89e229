// Built-in job types, so that a store can run real work without C++ code (the CLI uses them).
//
// null: MediaWiki's NullJob, for tests and benchmarks. Its params are empty or a JSON object:
//   {"sleep_ms": 20}          sleep that long (real time) before finishing
//   {"fail": "message"}       fail with this error
//   {"throw": "message"}      throw std::runtime_error (the runner records it as a failure)
//   {"allow_retries": false}  a failure is final (acked, not retried)
//   {"work_items": 5}         what work_item_count() reports (for throttling)
//
// exec: runs an external command configured for a job type. The command string is run with
// /bin/sh -c exactly as configured; the job's params never reach the command line (no shell
// injection): they are written to the command's stdin. The environment gets JOBSTORE_JOB_ID,
// JOBSTORE_JOB_TYPE, JOBSTORE_JOB_DOMAIN and JOBSTORE_ATTEMPT. Exit status 0 is success; any
// other status, a signal or the timeout fails the job, and the last bytes of its stderr become
// the recorded error. The command runs in its own process group, which a timeout kills whole,
// and which dies with the process that started it, even when that process is killed with
// SIGKILL (a guardian process holds the group and kills it when its parent is gone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "jobstore/registry.h"
#include "jobstore/status.h"
#include "jobstore/types.h"

namespace jobstore {

// Registers the null job under `type`. Returns Register()'s errors.
Status RegisterNullJob(JobRegistry* registry, const std::string& type = "null");

struct ExecOutcome;

struct ExecJobOptions {
  std::string command;             // run as /bin/sh -c <command>; must not be empty
  int64_t timeout_ms = 0;          // real time; 0 = no limit
  bool allow_retries = true;       // false: a failure is final
  std::map<std::string, std::string> env;  // extra environment variables
  size_t stderr_tail_bytes = 4096;         // how much of stderr the error keeps
  // What the command prints (stdout and stderr, interleaved as they arrive) is kept up to this
  // many bytes (the rest is counted, not kept). 0: stdout goes to /dev/null, and only stderr's
  // tail is kept, for the error.
  size_t output_bytes = 0;
  // Called after each run of an exec job with the job and what its command did (output
  // included when output_bytes > 0), from the runner's worker thread; calls may be concurrent.
  std::function<void(const ClaimedJob& job, const ExecOutcome& outcome)> on_output;
};

// Registers `type` as an exec job with `options`. Returns InvalidArgument for an empty
// command, and Register()'s errors.
Status RegisterExecJob(JobRegistry* registry, const std::string& type, ExecJobOptions options);

// The outcome of one external command, exposed for tests and for callers that run commands
// outside a runner.
struct ExecOutcome {
  bool started = false;      // false: the spawn failed (error says why)
  bool timed_out = false;
  int exit_status = -1;      // when it exited
  int term_signal = 0;       // when a signal ended it
  std::string stderr_tail;   // the last stderr_tail_bytes of stderr
  std::string output;        // the first output_bytes of stdout and stderr, interleaved
  uint64_t output_cut = 0;   // bytes printed beyond output_bytes, not kept
  std::string error;         // empty on success; else what a failed job records
};

// Runs `options.command` with `stdin_data` on stdin and `extra_env` added to the environment,
// and waits for it (or kills its process group at the timeout). Thread-safe: close-on-exec
// descriptors keep concurrent calls from leaking pipes into each other's children, and the
// child runs only async-signal-safe calls before exec.
ExecOutcome RunCommand(const ExecJobOptions& options, const std::string& stdin_data,
                       const std::map<std::string, std::string>& extra_env);

}  // namespace jobstore
