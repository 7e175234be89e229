// export and import: every job as JSON lines, and back into a store.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "job_input.h"
#include "job_view.h"
#include "parse.h"
#include "progress.h"

namespace jobstore::cli {
namespace {

struct ExportArgs {
  std::optional<std::string> type, domain, output;
};

// An export holds what the store holds: its file is 0600, whatever the umask.
std::ofstream OpenPrivateOutput(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::fchmod(fd, 0600) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    Failure("--output: cannot write '" + path + "': " + why);
  }
  ::close(fd);
  std::ofstream out(path, std::ios::trunc);
  if (!out) Failure("--output: cannot write '" + path + "'");
  return out;
}

void RunExport(Context& ctx, const ExportArgs& a) {
  Store& store = ctx.Reader();
  JobFilter filter{a.type, a.domain};
  uint64_t total = 0;
  for (const QueueStats& q : SelectQueues(store, filter)) total += q.counts.total();
  std::ofstream file;
  if (a.output) file = OpenPrivateOutput(*a.output);
  std::ostream& out = a.output ? static_cast<std::ostream&>(file) : std::cout;
  Progress progress("export", total);
  ForEachJob(store, filter, [&](const JobInfo& job) {
    PrintJson(out, JobJson(job));
    progress.Add(1);
    return true;
  });
  if (a.output) {
    file.close();
    if (!file) Failure("--output: writing '" + *a.output + "' failed (is the disk full?)");
  }
}

struct ImportArgs {
  std::string file = "-";
  std::string abandoned = "skip";
};

struct ImportTally {
  uint64_t abandoned_skipped = 0;
  uint64_t corrupt_skipped = 0;
  uint64_t claimed_requeued = 0;
};

// One exported job as a spec; nullopt for a job that is not imported (counted in `tally`).
std::optional<JobSpec> SpecFromExport(Context& ctx, const std::string& line, bool requeue_abandoned,
                                      ImportTally& tally) {
  constexpr int64_t kMaxTime = INT64_MAX / 2;
  nlohmann::json v = ParseObjectLine(line, "a job as 'jobstore export' prints it");
  if (!v.contains("type") || !v.contains("params")) {
    UsageError("a job needs \"type\" and \"params\" (lines come from 'jobstore export')");
  }
  if (BoolField(v, "corrupt", false)) {
    ++tally.corrupt_skipped;
    return std::nullopt;
  }
  std::string state_name = StringField(v, "state", "ready");
  auto state = ParseJobState(state_name);
  if (!state.ok()) {
    UsageError("\"state\" '" + state_name + "' is not ready, claimed, delayed or abandoned");
  }
  if (state.value() == JobState::kAbandoned && !requeue_abandoned) {
    ++tally.abandoned_skipped;
    return std::nullopt;
  }
  if (state.value() == JobState::kClaimed) ++tally.claimed_requeued;

  JobSpec spec;
  spec.type = StringField(v, "type", "");
  spec.domain = StringField(v, "domain", "");
  const nlohmann::json& params = v.at("params");
  // Params that were not JSON are exported as a string of their bytes.
  spec.params = params.is_string() ? params.get<std::string>() : Canonical(params);
  spec.priority = static_cast<int32_t>(IntField(v, "priority", kMinPriority, kMaxPriority, 0));
  if (state.value() == JobState::kDelayed) {
    spec.release_at_ms = IntField(v, "release_at_ms", 0, kMaxTime, 0);
  }
  spec.dedup = BoolField(v, "dedup", false);
  spec.root_signature = StringField(v, "root_signature", "");
  spec.root_timestamp_ms = IntField(v, "root_timestamp_ms", 0, kMaxTime, 0);
  if (std::string bad = CheckSpec(spec); !bad.empty()) UsageError(bad);
  return spec;
}

void RunImport(Context& ctx, const ImportArgs& a) {
  if (a.abandoned != "skip" && a.abandoned != "ready") {
    UsageError("--abandoned: '" + a.abandoned + "' is not skip or ready");
  }
  std::ifstream file;
  if (a.file != "-") {
    file.open(a.file);
    if (!file) Failure("cannot read '" + a.file + "': " + std::strerror(errno));
  }
  std::istream& in = a.file == "-" ? std::cin : file;
  std::string source = a.file == "-" ? "stdin" : a.file;
  ImportTally tally;
  std::vector<JobSpec> specs = ReadSpecLines(in, source, "imported", [&](const std::string& line) {
    return SpecFromExport(ctx, line, a.abandoned == "ready", tally);
  });
  Pushed done = PushInBatches(ctx.Writer(), specs, "import", [](const Pushed&) {});
  if (ctx.json) {
    PrintJson(OJson{{"imported", done.ids.size()},
                    {"duplicates", done.duplicate_of.size()},
                    {"claimed_requeued", tally.claimed_requeued},
                    {"abandoned_skipped", tally.abandoned_skipped},
                    {"corrupt_skipped", tally.corrupt_skipped}});
    return;
  }
  std::cout << "imported " << CountOf(done.ids.size(), "job");
  if (!done.duplicate_of.empty()) {
    std::cout << " (" << CountOf(done.duplicate_of.size(), "duplicate") << " of queued jobs dropped)";
  }
  std::cout << '\n';
  if (tally.claimed_requeued > 0) {
    std::cout << CountOf(tally.claimed_requeued, "claimed job") << " queued as ready\n";
  }
  if (tally.abandoned_skipped > 0) {
    std::cout << "skipped " << CountOf(tally.abandoned_skipped, "abandoned job")
              << " (--abandoned ready queues them)\n";
  }
  if (tally.corrupt_skipped > 0) {
    std::cout << "skipped " << CountOf(tally.corrupt_skipped, "corrupt job") << "\n";
  }
}

}  // namespace

void AddTransferCommands(CommandSet& set) {
  Context& ctx = set.ctx();

  auto exp = std::make_shared<ExportArgs>();
  CLI::App* cmd = set.Add(
      "export",
      "Print every job, in all states, as JSON lines.\n"
      "Fields: id, type, domain, state, params, attempts, priority, times (enqueued, release, deadline, claimed, abandoned), last error, root job,\n"
      "dedup. On a live store it is not a snapshot: export a checkpoint for one.",
      {"export --output jobs.jsonl", "export --type email --domain wiki2 > email.jsonl",
       "checkpoint /tmp/snap && jobstore --store /tmp/snap export > jobs.jsonl"},
      [&ctx, exp] { RunExport(ctx, *exp); });
  cmd->add_option("--type", exp->type, "only this job type")->type_name("T");
  cmd->add_option("--domain", exp->domain, "only this domain")->type_name("D");
  cmd->add_option("--output", exp->output, "write to FILE (created 0600) instead of stdout")
      ->type_name("FILE");

  auto imp = std::make_shared<ImportArgs>();
  set.SetGroup("Store");  // import writes: listed with the commands that manage the store
  cmd = set.Add(
      "import",
      "Push the jobs of an export into this store (they get new ids).\n"
      "Ready and claimed jobs become ready, delayed jobs keep their release time; attempts\n"
      "start again from 0. Abandoned jobs are skipped unless --abandoned ready. The whole input\n"
      "is checked first: a bad line rejects it, naming its line number, and nothing is imported.",
      {"import < jobs.jsonl", "import jobs.jsonl --abandoned ready",
       "--store old export | jobstore --store new import"},
      [&ctx, imp] { RunImport(ctx, *imp); });
  cmd->add_option("FILE", imp->file, "the export to read (default: stdin)");
  cmd->add_option("--abandoned", imp->abandoned,
                  "skip (default) or ready: queue abandoned jobs to run again")
      ->type_name("skip|ready");
}

}  // namespace jobstore::cli
