// export and import: a faithful logical backup of a store as JSON lines, and its restore.
//
// An export is one line per configured type ({"type", "settings"}) and then one per job (the
// fields of JobJson). Import restores them with Store::Restore: every job in its state with
// its id, attempts, times and last error (claimed jobs come back ready: their leases died with
// the old store). Ids are kept, so importing the same export twice adds nothing: a job whose
// id its queue already holds is counted as already there. --new-ids gives every job a new id
// instead (to merge a store into another that has its own jobs; then a second import adds
// the jobs again).
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include "commands.h"
#include "job_input.h"
#include "job_view.h"
#include "parse.h"
#include "jobstore/validation.h"
#include "progress.h"

namespace jobstore::cli {
namespace {

std::string Base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Unbase64(const std::string& text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// A job of the export: JobJson, and the exact params bytes when the JSON line would not give
// them back (params that are JSON but not canonical, or bytes that are not UTF-8).
OJson ExportJson(const JobInfo& job) {
  OJson v = JobJson(job);
  const std::string text = v["params"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const nlohmann::json back = nlohmann::json::parse(text);
  if ((back.is_string() ? back.get<std::string>() : Canonical(back)) != job.params) {
    v["params_base64"] = Base64(job.params);
  }
  return v;
}

OJson SettingsLine(const std::string& type, const TypeSettings& s) {
  return OJson{{"type", type},
               {"settings",
                OJson{{"order", OrderName(s.order)},
                      {"claim_ttl_ms", s.claim_ttl_ms},
                      {"max_tries", s.max_tries},
                      {"retries", s.retries_allowed},
                      {"retention_ms", s.retention_ms},
                      {"root_job_ttl_ms", s.root_job_ttl_ms}}}};
}

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
  auto types = store.Types();
  if (!types.ok()) FailStatus(types.status(), "export: listing the types");
  std::ofstream file;
  if (a.output) file = OpenPrivateOutput(*a.output);
  std::ostream& out = a.output ? static_cast<std::ostream&>(file) : std::cout;
  for (const std::string& type : *types) {
    if (a.type && *a.type != type) continue;
    auto s = store.GetTypeSettings(type);
    if (!s.ok()) FailStatus(s.status(), "export: the settings of type '" + type + "'");
    PrintJson(out, SettingsLine(type, *s));
  }
  Progress progress("export", total);
  ForEachJob(store, filter, [&](const JobInfo& job) {
    PrintJson(out, ExportJson(job));
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
  std::string abandoned = "keep";
  bool new_ids = false;
};

struct ImportInput {
  std::map<std::string, TypeSettings> settings;
  std::vector<JobInfo> jobs;
  uint64_t abandoned_skipped = 0;
  uint64_t corrupt_skipped = 0;
  uint64_t claimed_requeued = 0;
};

TypeSettings SettingsFromLine(const nlohmann::json& v) {
  constexpr int64_t kMaxMs = INT64_MAX / 2;
  const nlohmann::json& s = v.at("settings");
  if (!s.is_object()) UsageError("\"settings\" must be an object");
  TypeSettings out;
  const std::string order = StringField(s, "order", OrderName(out.order));
  auto parsed = ParseOrder(order);
  if (!parsed.ok()) UsageError("\"order\" '" + order + "' is not fifo, random or priority");
  out.order = *parsed;
  out.claim_ttl_ms = IntField(s, "claim_ttl_ms", 0, kMaxMs, out.claim_ttl_ms);
  out.max_tries = static_cast<uint32_t>(IntField(s, "max_tries", 0, UINT32_MAX, out.max_tries));
  out.retries_allowed = BoolField(s, "retries", out.retries_allowed);
  out.retention_ms = IntField(s, "retention_ms", 0, kMaxMs, out.retention_ms);
  out.root_job_ttl_ms = IntField(s, "root_job_ttl_ms", 0, kMaxMs, out.root_job_ttl_ms);
  if (Status st = ValidateSettings(out); !st.ok()) UsageError(st.message());
  return out;
}

// One exported job; nullopt for one that is not imported (counted in `in`).
std::optional<JobInfo> JobFromLine(const nlohmann::json& v, const ImportArgs& a,
                                   size_t max_params_bytes, ImportInput& in) {
  constexpr int64_t kMaxTime = INT64_MAX / 2;
  if (!v.contains("params")) {
    UsageError("a job needs \"type\" and \"params\" (lines come from 'jobstore export')");
  }
  if (BoolField(v, "corrupt", false)) {
    ++in.corrupt_skipped;
    return std::nullopt;
  }
  JobInfo job;
  const std::string state_name = StringField(v, "state", "ready");
  auto state = ParseJobState(state_name);
  if (!state.ok()) {
    UsageError("\"state\" '" + state_name + "' is not ready, claimed, delayed or abandoned");
  }
  job.state = *state;
  if (job.state == JobState::kAbandoned && a.abandoned == "skip") {
    ++in.abandoned_skipped;
    return std::nullopt;
  }
  job.queue = {StringField(v, "domain", ""), StringField(v, "type", "")};
  job.id = a.new_ids ? 0 : static_cast<JobId>(IntField(v, "id", 0, INT64_MAX, 0));
  if (v.contains("params_base64")) {
    auto bytes = Unbase64(StringField(v, "params_base64", ""));
    if (!bytes) UsageError("\"params_base64\" is not base64");
    job.params = std::move(*bytes);
  } else {
    // Params that were not JSON are exported as a string of their bytes.
    const nlohmann::json& params = v.at("params");
    job.params = params.is_string() ? params.get<std::string>() : Canonical(params);
  }
  job.attempts = static_cast<uint32_t>(IntField(v, "attempts", 0, kMaxRestoredAttempts, 0));
  job.priority = static_cast<int32_t>(IntField(v, "priority", kMinPriority, kMaxPriority, 0));
  job.enqueued_at_ms = IntField(v, "enqueued_at_ms", 0, kMaxTime, 0);
  job.release_at_ms = IntField(v, "release_at_ms", 0, kMaxTime, 0);
  job.claimed_at_ms = IntField(v, "claimed_at_ms", 0, kMaxTime, 0);
  job.abandoned_at_ms = IntField(v, "abandoned_at_ms", 0, kMaxTime, 0);
  job.last_error = StringField(v, "last_error", "");
  job.root_signature = StringField(v, "root_signature", "");
  job.root_timestamp_ms = IntField(v, "root_timestamp_ms", 0, kMaxTime, 0);
  job.dedup = BoolField(v, "dedup", false);
  if (job.state == JobState::kAbandoned && a.abandoned == "ready") {
    job.state = JobState::kReady;
    job.attempts = 0;  // as `repush` would
  }
  if (job.state == JobState::kClaimed) ++in.claimed_requeued;
  if (Status s = ValidateRestore(job, max_params_bytes); !s.ok()) UsageError(s.message());
  return job;
}

ImportInput ReadImport(const ImportArgs& a, size_t max_params, std::istream& in,
                       const std::string& source) {
  ImportInput input;
  std::set<std::tuple<std::string, std::string, JobId>> seen;
  ForEachLine(in, source, "imported", [&](const std::string& line) {
    nlohmann::json v = ParseObjectLine(line, "a line as 'jobstore export' prints it");
    if (!v.contains("type")) UsageError("a line needs \"type\" (lines come from 'jobstore export')");
    if (v.contains("settings")) {
      const std::string type = StringField(v, "type", "");
      if (Status s = ValidateType(type); !s.ok()) UsageError(s.message());
      input.settings[type] = SettingsFromLine(v);
      return;
    }
    std::optional<JobInfo> job = JobFromLine(v, a, max_params, input);
    if (!job) return;
    if (job->id != 0 &&
        !seen.emplace(job->queue.domain, job->queue.type, job->id).second) {
      UsageError("job " + std::to_string(job->id) + " of '" + job->queue.type +
                 "' is in the input twice");
    }
    input.jobs.push_back(std::move(*job));
  });
  return input;
}

// Jobs whose id the store already holds for a different job (another store's export): their
// restore would be skipped as "already there", so the import refuses them up front.
void RefuseConflicts(Store& store, const std::vector<JobInfo>& jobs) {
  // A queue that holds nothing has no conflict: an import into a new store looks nothing up.
  auto queues = store.Queues();
  if (!queues.ok()) FailStatus(queues.status(), "import: listing the queues");
  std::set<std::pair<std::string, std::string>> occupied;
  for (const QueueStats& q : *queues) {
    if (q.counts.total() > 0) occupied.emplace(q.queue.domain, q.queue.type);
  }
  std::vector<std::string> conflicts;
  size_t count = 0;
  for (const JobInfo& job : jobs) {
    if (job.id == 0 || !occupied.count({job.queue.domain, job.queue.type})) continue;
    auto held = store.Inspect(job.queue, job.id);
    if (held.status().IsNotFound()) continue;
    if (!held.ok()) FailStatus(held.status(), "import: looking up job " + std::to_string(job.id));
    if (held->params == job.params && held->enqueued_at_ms == job.enqueued_at_ms) continue;
    if (++count <= 3) conflicts.push_back(std::to_string(job.id) + " of '" + job.queue.type + "'");
  }
  if (count == 0) return;
  std::string list;
  for (const std::string& c : conflicts) list += (list.empty() ? "" : ", ") + c;
  UsageError("the store already has other jobs under " + std::to_string(count) +
             (count == 1 ? " id" : " ids") + " of the input (" + list + (count > 3 ? ", ..." : "") +
             "); nothing was imported: import with --new-ids to give the jobs new ids");
}

void RunImport(Context& ctx, const ImportArgs& a) {
  if (a.abandoned != "keep" && a.abandoned != "skip" && a.abandoned != "ready") {
    UsageError("--abandoned: '" + a.abandoned + "' is not keep, skip or ready");
  }
  std::ifstream file;
  if (a.file != "-") {
    file.open(a.file);
    if (!file) Failure("cannot read '" + a.file + "': " + std::strerror(errno));
  }
  std::istream& in = a.file == "-" ? std::cin : file;
  Store& store = ctx.Writer();
  ImportInput input =
      ReadImport(a, store.options().max_params_bytes, in, a.file == "-" ? "stdin" : a.file);
  RefuseConflicts(store, input.jobs);
  // Settings first: a type's order places its restored ready jobs.
  for (const auto& [type, settings] : input.settings) {
    if (Status s = store.SetTypeSettings(type, settings); !s.ok()) {
      FailStatus(s, "import: setting type '" + type + "' (no job was imported)");
    }
  }
  Pushed done = SendInBatches(
      input.jobs.size(), "import",
      [&](size_t begin, size_t end) {
        return store.Restore(
            std::vector<JobInfo>(input.jobs.begin() + begin, input.jobs.begin() + end));
      },
      [](const Pushed&) {});
  if (ctx.json) {
    PrintJson(OJson{{"imported", done.ids.size()},
                    {"already_present", done.duplicate_of.size()},
                    {"types_configured", input.settings.size()},
                    {"claimed_requeued", input.claimed_requeued},
                    {"abandoned_skipped", input.abandoned_skipped},
                    {"corrupt_skipped", input.corrupt_skipped}});
    return;
  }
  std::cout << "imported " << CountOf(done.ids.size(), "job");
  if (!done.duplicate_of.empty()) {
    std::cout << " (" << CountOf(done.duplicate_of.size(), "job") << " already in the store)";
  }
  std::cout << '\n';
  if (!input.settings.empty()) {
    std::cout << "configured " << CountOf(input.settings.size(), "type") << '\n';
  }
  if (input.claimed_requeued > 0) {
    std::cout << CountOf(input.claimed_requeued, "claimed job") << " queued as ready\n";
  }
  if (input.abandoned_skipped > 0) {
    std::cout << "skipped " << CountOf(input.abandoned_skipped, "abandoned job") << '\n';
  }
  if (input.corrupt_skipped > 0) {
    std::cout << "skipped " << CountOf(input.corrupt_skipped, "corrupt job") << '\n';
  }
}

}  // namespace

void AddTransferCommands(CommandSet& set) {
  Context& ctx = set.ctx();

  auto exp = std::make_shared<ExportArgs>();
  CLI::App* cmd = set.Add(
      "export",
      "Print the store as JSON lines: each type's settings, then every job in every state.\n"
      "Job fields: id, type, domain, state, params, attempts, priority, times (enqueued, release,\n"
      "deadline, claimed, abandoned), last error, root job, dedup ('params_base64' too when the\n"
      "params are not canonical JSON). 'import' restores it faithfully. On a live store it is\n"
      "not a snapshot: export a checkpoint for one.",
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
      "Restore an export into this store: type settings, then every job in its state with its\n"
      "id, attempts, times and last error. Claimed jobs come back ready (their leases died with\n"
      "the old store). Ids are kept, so importing the same export twice adds nothing; when the\n"
      "store holds other jobs under the same ids, the import is refused: --new-ids gives the\n"
      "jobs new ids (a second import then adds them again). The whole input is checked first: a\n"
      "bad line rejects it, naming its line number, and nothing is imported.",
      {"import < jobs.jsonl", "import jobs.jsonl --abandoned ready",
       "--store old export | jobstore --store new import"},
      [&ctx, imp] { RunImport(ctx, *imp); });
  cmd->add_option("FILE", imp->file, "the export to read (default: stdin)");
  cmd->add_option("--abandoned", imp->abandoned,
                  "keep (default): restore abandoned jobs as abandoned; ready: queue them to run "
                  "again (attempts reset); skip: leave them out")
      ->type_name("keep|ready|skip");
  cmd->add_flag("--new-ids", imp->new_ids,
                "give every imported job a new id (merging into a store with jobs of its own)");
}

}  // namespace jobstore::cli
