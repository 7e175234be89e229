// run: the runner of issue 5 (MediaWiki's runJobs.php) with the built-in job types: `null`,
// and `exec` commands configured per type with --exec TYPE=COMMAND.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "commands.h"
#include "http_option.h"
#include "parse.h"
#include "progress.h"
#include "jobstore/address.h"
#include "jobstore/builtin_jobs.h"
#include "jobstore/runner.h"

namespace jobstore::cli {
namespace {

struct RunArgs {
  std::vector<std::string> types, exclude, exec;
  std::optional<std::string> domain, max_jobs, max_time, workers, exec_timeout, log_dir, lease,
      claim_batch;
  std::string output_max = "65536";
  bool wait = false;
  HttpArgs http;
};

// Where the output of --exec commands goes: files under --log DIR (one a run of a job, 0600: it
// may hold what the job held), or the run's own output, each line prefixed with its job.
// Commands run on several workers at once: a job's lines are written together.
class OutputSink {
 public:
  OutputSink(std::optional<std::string> dir, bool json) : dir_(std::move(dir)), json_(json) {
    if (dir_) {
      std::error_code ec;
      std::filesystem::create_directories(*dir_, ec);
      if (ec) Failure("--log: cannot create '" + *dir_ + "': " + ec.message());
    }
  }

  void Write(const ClaimedJob& job, const ExecOutcome& outcome) {
    if (outcome.output.empty() && outcome.output_cut == 0) return;
    const std::string cut =
        outcome.output_cut ? "[" + std::to_string(outcome.output_cut) + " more bytes not kept]\n"
                           : "";
    if (dir_) {
      const std::string path = *dir_ + "/" + job.claim.queue.type + "." +
                               std::to_string(job.claim.id) + "." +
                               std::to_string(job.attempts) + ".log";
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) {
        std::lock_guard<std::mutex> l(mu_);
        std::cerr << "jobstore: --log: cannot write '" << path << "': " << std::strerror(errno)
                  << "\n";
        return;
      }
      const std::string text = outcome.output + cut;
      for (size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n <= 0 && errno != EINTR) break;
        if (n > 0) done += static_cast<size_t>(n);
      }
      ::close(fd);
      return;
    }
    // Lines of the job, prefixed; stdout stays the report's with --json.
    std::string block;
    const std::string prefix = "job " + std::to_string(job.claim.id) + " | ";
    std::istringstream lines(outcome.output + cut);
    for (std::string line; std::getline(lines, line);) block += prefix + line + "\n";
    std::lock_guard<std::mutex> l(mu_);
    (json_ ? std::cerr : std::cout) << block << std::flush;
  }

  std::mutex& mu() { return mu_; }

 private:
  const std::optional<std::string> dir_;
  const bool json_;
  std::mutex mu_;  // one job's lines, or one result line, at a time
};

// The registry: `null`, and one exec job type per --exec TYPE=COMMAND.
void RegisterTypes(const RunArgs& a, const std::map<std::string, std::string>& env,
                   JobRegistry& registry, OutputSink& sink) {
  const size_t output_max =
      static_cast<size_t>(ParseInt("--output-max", a.output_max, 0, 1LL << 30));
  int64_t timeout = a.exec_timeout ? ParseDurationMs("--exec-timeout", *a.exec_timeout) : 0;
  std::set<std::string> exec_types;
  for (const std::string& spec : a.exec) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      UsageError("--exec: '" + spec + "' is not TYPE=COMMAND, e.g. --exec 'email=./send.sh'");
    }
    std::string type = spec.substr(0, eq);
    ParseQueue(type, "");
    if (!exec_types.insert(type).second) UsageError("--exec: type '" + type + "' is given twice");
    ExecJobOptions options;
    options.command = spec.substr(eq + 1);
    options.env = env;
    options.timeout_ms = timeout;
    options.output_bytes = output_max;
    options.on_output = [&sink](const ClaimedJob& job, const ExecOutcome& outcome) {
      sink.Write(job, outcome);
    };
    Status st = RegisterExecJob(&registry, type, std::move(options));
    if (!st.ok()) FailStatus(st, "--exec " + type);
  }
  if (!exec_types.count("null")) {
    Status st = RegisterNullJob(&registry);
    if (!st.ok()) FailStatus(st, "register the null job");
  }
  for (const std::string& type : a.types) {
    if (!registry.Contains(type)) {
      UsageError("--type " + type + ": nothing can run it; give --exec " + type +
                 "=COMMAND (the built-in types are null and those given with --exec)");
    }
  }
}

// What happened to the job, as the store decided it: a failed job's retry time, or why it was
// abandoned.
std::string Outcome(const JobResult& r, int64_t now) {
  if (r.superseded) return "superseded, acked without running";
  if (r.ok) return "ok";
  std::string what;
  if (!r.released) {
    what = "failed, final (the job does not allow retries; acked)";
  } else if (r.release.state == JobState::kAbandoned) {
    what = "failed, abandoned: " + r.release.reason;
  } else if (r.release.state == JobState::kDelayed) {
    what = "failed, retry " + FormatRelative(r.release.release_at_ms, now);
  } else {
    what = "failed, retry now";
  }
  return what + (r.error.empty() ? "" : ": " + r.error);
}

void PrintResultLine(const JobResult& r, int64_t now) {
  std::cout << "job " << r.id << ' ' << r.queue.type
            << (r.queue.domain.empty() ? "" : " (domain " + r.queue.domain + ")") << ": "
            << Outcome(r, now) << " (attempt " << r.attempt << ", " << FormatDuration(r.ms)
            << ")" << std::endl;
}

// Where the store put a job that did not succeed ("acked" for a final failure).
OJson OutcomeJson(const JobResult& r) {
  if (r.ok) return OJson{{"state", "acked"}};
  if (!r.released) return OJson{{"state", "acked"}, {"reason", "retries not allowed by the job"}};
  OJson out{{"state", JobStateName(r.release.state)}};
  if (r.release.state == JobState::kDelayed) out["release_at_ms"] = r.release.release_at_ms;
  if (r.release.state == JobState::kAbandoned) out["reason"] = r.release.reason;
  return out;
}

OJson ReportJson(const RunReport& report) {
  OJson results = OJson::array();
  for (const JobResult& r : report.results) {
    results.push_back(OJson{{"id", r.id},
                            {"type", r.queue.type},
                            {"domain", r.queue.domain},
                            {"attempt", r.attempt},
                            {"ok", r.ok},
                            {"superseded", r.superseded},
                            {"released", r.released},
                            {"outcome", OutcomeJson(r)},
                            {"error", r.error},
                            {"ms", r.ms}});
  }
  return OJson{{"reason", StopReasonName(report.reason)},
               {"error", report.status.ok() ? "" : report.status.ToString()},
               {"jobs", report.jobs},
               {"succeeded", report.succeeded},
               {"failed", report.failed},
               {"superseded", report.superseded},
               {"elapsed_ms", report.elapsed_ms},
               {"reopened", report.reopened},
               {"results", std::move(results)}};
}

// Ready jobs the run could not take because no command runs their type: say so.
void NoteUnrunnable(Store& store, const JobRegistry& registry, const RunArgs& a) {
  std::set<std::string> left;
  auto ready = store.ReadyQueues();
  if (!ready.ok()) return;  // only a hint: the run's own report stands
  for (const QueueRef& q : *ready) {
    if (a.domain && q.domain != *a.domain) continue;
    if (!registry.Contains(q.type)) left.insert(q.type);
  }
  for (const std::string& type : left) {
    std::cerr << "jobstore: '" << type << "' jobs are ready but nothing runs them: give --exec "
              << type << "=COMMAND\n";
  }
}

void RunRun(Context& ctx, const RunArgs& a) {
  OutputSink sink(a.log_dir, ctx.json);
  JobRegistry registry;
  // A command that pushes follow-up jobs (`jobstore push ...`) reaches the same store: this
  // run serves it, and the command's own jobstore connects.
  std::map<std::string, std::string> env;
  if (ctx.routed()) {
    env["JOBSTORE_CONFIG"] = std::filesystem::absolute(ctx.ConfigFile()).string();
  } else {
    auto address = Address::Parse(ctx.StoreAddress());
    env["JOBSTORE_DIR"] = address.ok() && address->scheme == Address::Scheme::kRocksDb
                              ? std::filesystem::absolute(ctx.StoreAddress()).string()
                              : ctx.StoreAddress();
  }
  if (!ctx.TokenFile().empty()) {
    env["JOBSTORE_TOKEN_FILE"] = std::filesystem::absolute(ctx.TokenFile()).string();
  }
  if (!ctx.RedisPasswordFile().empty()) {
    env["JOBSTORE_REDIS_PASSWORD_FILE"] = std::filesystem::absolute(ctx.RedisPasswordFile()).string();
  }
  RegisterTypes(a, env, registry, sink);
  RunnerOptions options;
  options.types = a.types;
  options.exclude_types = a.exclude;
  options.domain = a.domain;
  if (a.domain) ParseQueue("x", *a.domain);
  if (a.max_jobs) options.max_jobs = ParseInt("--max-jobs", *a.max_jobs, 1, INT64_MAX);
  if (a.max_time) options.max_time_ms = ParseDurationMs("--max-time", *a.max_time);
  if (a.workers) options.threads = static_cast<int>(ParseInt("--workers", *a.workers, 1, 256));
  if (a.lease) options.lease_ms = ParseDurationMs("--lease", *a.lease);
  if (a.claim_batch) {
    options.claim_batch = static_cast<size_t>(
        ParseInt("--claim-batch", *a.claim_batch, 1, static_cast<int64_t>(kMaxClaimBatch)));
  }
  options.wait = a.wait;
  options.handle_signals = true;
  options.keep_results = ctx.json;

  // This run serves the store it holds, so that pushes from the shell, cron and its own jobs
  // reach it; when the store's owner (this run's or another's) goes away, the run reopens it
  // and carries on.
  ctx.serve = true;
  options.reopen = [&ctx] { return ctx.OpenWriterAgain(); };
  std::shared_ptr<Metrics> metrics = ObserveForHttp(ctx, a.http);
  Store& store = ctx.Writer();
  std::unique_ptr<StatusServer> http = StartHttp(ctx, store, a.http, metrics);
  Progress progress("run", options.max_jobs.value_or(0));
  bool show_progress = options.max_jobs.has_value();
  options.on_result = [&](const JobResult& r) {
    if (!ctx.json) {
      progress.Done();  // the line goes above the bar, which is redrawn by Add
      std::lock_guard<std::mutex> l(sink.mu());
      PrintResultLine(r, ctx.NowMs());
    }
    if (show_progress) progress.Add(1);
  };
  RunReport report = Runner(&store, &registry, options).Run();
  progress.Done();

  if (ctx.json) {
    PrintJson(ReportJson(report));
  } else {
    std::cout << "stopped: " << StopReasonName(report.reason) << " after "
              << CountOf(report.jobs, "job") << " (" << report.succeeded << " succeeded, " << report.failed << " failed, "
              << report.superseded << " superseded) in " << FormatDuration(report.elapsed_ms)
              << (report.reopened ? ", reopened the store " + CountOf(report.reopened, "time")
                                  : std::string())
              << '\n';
  }
  if (report.reason == StopReason::kNoneReady && a.types.empty()) {
    NoteUnrunnable(store, registry, a);
  }
  if (report.reason == StopReason::kError) FailStatus(report.status, "run");
  if (report.reason == StopReason::kReadOnly) Failure("run: the store is read-only");
}

}  // namespace

void AddRunCommand(CommandSet& set) {
  Context& ctx = set.ctx();
  auto a = std::make_shared<RunArgs>();
  CLI::App* cmd = set.Add(
      "run",
      "Run jobs until a limit is reached or nothing is ready; prints the report.\n"
      "One line per job as it finishes, then why the run stopped. A job type runs only if\n"
      "something can run it: the built-in 'null' type, or a command given with\n"
      "--exec TYPE=COMMAND (run by /bin/sh -c), which gets the\n"
      "job's params on stdin and JOBSTORE_JOB_ID, JOBSTORE_JOB_TYPE, JOBSTORE_JOB_DOMAIN and\n"
      "JOBSTORE_ATTEMPT in its environment; exit status 0 acks the job, anything else fails it\n"
      "(retried with backoff while it has tries left). Ctrl-C finishes the jobs in hand.\n"
      "What a command prints is shown, each line as 'job ID | ...' (on stderr with --json), or\n"
      "written to DIR/TYPE.ID.ATTEMPT.log with --log DIR; a command dies with its runner.",
      {"run --exec 'email=./send-mail.sh'",
       "run --exec 'email=./send-mail.sh' --max-jobs 1000 --workers 4",
       "run --exec 'resize=convert-job' --type resize --max-time 5m",
       "run --exec 'email=./send-mail.sh' --wait",
       "run --exec 'email=./send-mail.sh' --wait --http 127.0.0.1:9187",
       "run --wait --http 9187 --http-token-file /etc/jobstore/http-token",
       "--json run --type null"},
      [&ctx, a] { RunRun(ctx, *a); });
  cmd->add_option("--type", a->types, "only these types (repeatable)")->type_name("T");
  cmd->add_option("--exclude", a->exclude, "never these types (repeatable)")->type_name("T");
  cmd->add_option("--domain", a->domain, "only this domain (default: every domain)")
      ->type_name("D");
  cmd->add_option("--max-jobs", a->max_jobs, "stop after taking N jobs")->type_name("N");
  cmd->add_option("--max-time", a->max_time, "stop after this long (30, 10m, 1h)")
      ->type_name("SECONDS");
  cmd->add_option("--workers", a->workers, "run N jobs at a time (default 1)")->type_name("N");
  cmd->add_option("--claim-batch", a->claim_batch,
                  "each worker claims up to N jobs at once, runs them in turn and acks them "
                  "together (default 1; for many short jobs)")
      ->type_name("N");
  cmd->add_flag("--wait", a->wait, "when nothing is ready, wait for jobs instead of stopping");
  cmd->add_option("--exec", a->exec,
                  "run TYPE jobs with COMMAND (/bin/sh -c; params on stdin) (repeatable)")
      ->type_name("TYPE=COMMAND");
  cmd->add_option("--log", a->log_dir, "write each command's output to DIR/TYPE.ID.ATTEMPT.log")
      ->type_name("DIR");
  cmd->add_option("--output-max", a->output_max,
                  "keep at most this many bytes of a command's output (default 65536)")
      ->type_name("BYTES");
  cmd->add_option("--exec-timeout", a->exec_timeout,
                  "kill a command that runs longer than this (default: no limit)")
      ->type_name("SECONDS");
  cmd->add_option("--lease", a->lease,
                  "claim jobs for this long and renew the claim while a job runs, so the jobs "
                  "of a runner that died return this soon (default 60s; 0: the type's claim TTL, "
                  "never renewed)")
      ->type_name("SECONDS");
  AddHttpOptions(cmd, a->http);
}

}  // namespace jobstore::cli
