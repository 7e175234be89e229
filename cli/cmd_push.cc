// push: one job from the command line, or JSON lines from stdin in atomic batches.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "parse.h"
#include "job_input.h"

namespace jobstore::cli {
namespace {

struct PushArgs {
  std::string type;
  std::optional<std::string> params;
  std::string domain;
  std::optional<std::string> delay, priority, root, root_time;
  bool dedup = false;
  bool root_self = false;
};

// The spec the flags describe; each stdin line starts from it.
JobSpec DefaultSpec(Context& ctx, const PushArgs& a) {
  JobSpec spec;
  spec.type = a.type;
  spec.domain = a.domain;
  spec.dedup = a.dedup;
  if (a.priority) {
    spec.priority = static_cast<int32_t>(ParseInt("--priority", *a.priority, kMinPriority, kMaxPriority));
  }
  if (a.delay) {
    int64_t ms = ParseDurationMs("--delay", *a.delay);
    if (ms > 0) spec.release_at_ms = ctx.NowMs() + ms;
  }
  if (!a.root && (a.root_time || a.root_self)) {
    UsageError("--root-time and --root-self need --root SIGNATURE");
  }
  if (a.root) {
    spec.root_signature = *a.root;
    spec.root_timestamp_ms =
        a.root_time ? ParseInt("--root-time", *a.root_time, 0, INT64_MAX / 2) : ctx.NowMs();
    spec.root_is_self = a.root_self;
  }
  return spec;
}

// The keys of a stdin line that describes a whole job rather than only its params.
bool IsEnvelope(const nlohmann::json& v) {
  static const char* kKeys[] = {"type",     "domain", "params", "delay",    "priority",
                                "dedup",    "root",   "root_time", "root_self"};
  if (!v.contains("params")) return false;
  for (const auto& [key, value] : v.items()) {
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) return false;
  }
  return true;
}

JobSpec SpecFromEnvelope(Context& ctx, const nlohmann::json& v, JobSpec spec) {
  const nlohmann::json& params = v.at("params");
  if (!params.is_object()) UsageError("\"params\" must be a JSON object");
  spec.params = Canonical(params);
  spec.type = StringField(v, "type", spec.type);
  spec.domain = StringField(v, "domain", spec.domain);
  if (auto it = v.find("delay"); it != v.end()) {
    if (!it->is_number()) UsageError("\"delay\" must be a number of seconds");
    int64_t ms = SecondsToMs("\"delay\"", it->get<double>());
    spec.release_at_ms = ms > 0 ? ctx.NowMs() + ms : 0;
  }
  spec.priority = static_cast<int32_t>(
      IntField(v, "priority", kMinPriority, kMaxPriority, spec.priority));
  spec.dedup = BoolField(v, "dedup", spec.dedup);
  spec.root_signature = StringField(v, "root", spec.root_signature);
  if (!spec.root_signature.empty() && spec.root_timestamp_ms == 0) {
    spec.root_timestamp_ms = ctx.NowMs();
  }
  spec.root_timestamp_ms = IntField(v, "root_time", 0, INT64_MAX / 2, spec.root_timestamp_ms);
  spec.root_is_self = BoolField(v, "root_self", spec.root_is_self);
  return spec;
}

// One stdin line: a params object, or an envelope {"type":..,"params":{..},...}.
std::optional<JobSpec> SpecFromLine(Context& ctx, const std::string& line, const JobSpec& defaults) {
  nlohmann::json v = ParseObjectLine(line, "a params object or {\"type\":..,\"params\":{..}}");
  JobSpec spec = defaults;
  if (IsEnvelope(v)) {
    spec = SpecFromEnvelope(ctx, v, defaults);
  } else {
    spec.params = Canonical(v);
  }
  if (std::string bad = CheckSpec(spec); !bad.empty()) UsageError(bad);
  return spec;
}

void PrintPushed(Context& ctx, const Pushed& p) {
  if (ctx.json) {
    PrintJson(OJson{{"pushed", p.ids.size()},
                    {"duplicates", p.duplicate_of.size()},
                    {"ids", p.ids},
                    {"duplicate_of", p.duplicate_of}});
    return;
  }
  for (JobId id : p.ids) std::cout << id << '\n';
  for (JobId id : p.duplicate_of) {
    std::cerr << "jobstore: duplicate of queued job " << id << ", not pushed\n";
  }
}

void RunPush(Context& ctx, const PushArgs& a) {
  JobSpec defaults = DefaultSpec(ctx, a);
  if (std::string bad = CheckSpec(defaults); !bad.empty()) UsageError(bad);
  std::vector<JobSpec> specs;
  if (a.params) {
    std::string why;
    if (!CanonicalParams("PARAMS_JSON", *a.params, &defaults.params, &why)) UsageError(why);
    if (std::string bad = CheckSpec(defaults); !bad.empty()) UsageError(bad);
    specs.push_back(defaults);
  } else {
    if (isatty(STDIN_FILENO) == 1) {
      std::cerr << "jobstore: reading jobs from stdin, one JSON object a line (Ctrl-D ends)\n";
    }
    specs = ReadSpecLines(std::cin, "stdin", "pushed", [&](const std::string& line) {
      return SpecFromLine(ctx, line, defaults);
    });
  }
  Pushed done = PushInBatches(ctx.Writer(), specs, "push",
                              [&ctx](const Pushed& partial) { PrintPushed(ctx, partial); });
  PrintPushed(ctx, done);
}

}  // namespace

void AddPushCommand(CommandSet& set) {
  Context& ctx = set.ctx();
  auto a = std::make_shared<PushArgs>();
  CLI::App* cmd = set.Add(
      "push",
      "Push one job, or JSON lines from stdin; prints the new ids.\n"
      "Without PARAMS_JSON, reads JSON lines from stdin: each a params object, or\n"
      "{\"type\":..,\"domain\":..,\"params\":{..},\"delay\":SECONDS,\"priority\":N,\"dedup\":BOOL,\n"
      "\"root\":SIG,\"root_time\":UNIX_MS,\"root_self\":BOOL} (a line is read that way when it has\n"
      "\"params\" and no other keys than these; missing fields come from the options).\n"
      "Lines are pushed in atomic batches of 1000; a malformed line rejects the whole input,\n"
      "naming its line number, and nothing is pushed. Params are stored as canonical JSON\n"
      "(sorted keys, no spaces), so dedup does not depend on key order.\n"
      "Prints the ids of the new jobs, one a line; duplicates are reported on stderr.",
      {"push email '{\"to\":\"ann@example.org\"}'",
       "push email '{\"to\":\"bob@example.org\"}' --delay 10m --priority 5",
       "push refresh '{\"page\":42}' --dedup",
       "push refresh '{\"page\":42}' --root page-42 --root-time 1714557600000",
       "push refresh < jobs.jsonl", "--json push email < jobs.jsonl"},
      [&ctx, a] { RunPush(ctx, *a); });
  cmd->add_option("TYPE", a->type, "the job type, e.g. email")->required();
  cmd->add_option("PARAMS_JSON", a->params, "the job's params, a JSON object (default: stdin)");
  AddDomainOption(cmd, a->domain);
  cmd->add_option("--delay", a->delay, "run no earlier than this from now (30, 1.5, 10m, 2h)")
      ->type_name("SECONDS");
  cmd->add_option("--priority", a->priority,
                  "higher runs first when the type's order is priority")
      ->type_name("N");
  cmd->add_flag("--dedup", a->dedup,
                "drop the job when an identical one (type, domain, params) is queued");
  cmd->add_option("--root", a->root, "the root job signature this job belongs to")
      ->type_name("SIGNATURE");
  cmd->add_option("--root-time", a->root_time,
                  "the root job's timestamp (default: now); jobs of an older root are "
                  "superseded and acked unrun")
      ->type_name("UNIX_MS");
  cmd->add_flag("--root-self", a->root_self,
                "this job is the root job: pushing it registers (SIGNATURE, root time), "
                "superseding older jobs of the signature");
}

}  // namespace jobstore::cli
