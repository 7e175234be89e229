// One job at a time, for operators: show it whatever its state, delete it, retry it when it
// was abandoned.
#include <iostream>
#include <memory>

#include "commands.h"
#include "job_view.h"
#include "parse.h"
#include "table.h"

namespace jobstore::cli {
namespace {

struct JobArgs {
  std::string type, domain, id;
};

void AddJobAddress(CLI::App* cmd, JobArgs& a) {
  cmd->add_option("TYPE", a.type, "the job type")->required();
  cmd->add_option("ID", a.id, "the job id")->required();
  AddDomainOption(cmd, a.domain);
}

std::pair<QueueRef, JobId> Resolve(const JobArgs& a) {
  return {ParseQueue(a.type, a.domain), static_cast<JobId>(ParseInt("ID", a.id, 1, INT64_MAX))};
}

void RunShow(Context& ctx, const JobArgs& a) {
  auto [queue, id] = Resolve(a);
  auto info = ctx.Reader().Inspect(queue, id);
  if (!info.ok()) FailStatus(info.status(), "show job " + std::to_string(id));
  const JobInfo& job = *info;
  if (ctx.json) return PrintJson(JobJson(job));
  const int64_t now = ctx.NowMs();
  Table t({"FIELD", "VALUE"});
  t.Add({"id", std::to_string(job.id)});
  t.Add({"type", job.queue.type});
  t.Add({"domain", ShowDomain(job.queue.domain)});
  t.Add({"state", JobStateName(job.state)});
  t.Add({"params", job.corrupt ? "(corrupt record)" : job.params});
  t.Add({"attempts", std::to_string(job.attempts)});
  t.Add({"priority", std::to_string(job.priority)});
  t.Add({"enqueued", FormatRelative(job.enqueued_at_ms, now)});
  if (job.state == JobState::kDelayed) t.Add({"runs", FormatRelative(job.release_at_ms, now)});
  if (job.state == JobState::kClaimed) {
    t.Add({"claimed", FormatRelative(job.claimed_at_ms, now) + " (held for " +
                          FormatDuration(now - job.claimed_at_ms) + ")"});
    t.Add({"lease ends", FormatRelative(job.deadline_ms, now)});
  }
  if (job.state == JobState::kAbandoned) {
    t.Add({"abandoned", FormatRelative(job.abandoned_at_ms, now)});
  }
  if (!job.last_error.empty()) t.Add({"last error", job.last_error});
  if (!job.root_signature.empty()) {
    t.Add({"root job", job.root_signature + " @ " + std::to_string(job.root_timestamp_ms)});
  }
  t.Add({"dedup", job.dedup ? "yes" : "no"});
  t.Print(std::cout);
}

}  // namespace

void AddJobCommands(CommandSet& set) {
  Context& ctx = set.ctx();
  auto show = std::make_shared<JobArgs>();
  CLI::App* cmd = set.Add(
      "show",
      "Show one job, whatever its state, with every field.\n"
      "Params, attempts, priority, when it was pushed, runs, was claimed (and for how long)\n"
      "and when its lease ends, when it was abandoned, its last error, its root job.",
      {"show email 17", "show email 17 --domain wiki2", "--json show email 17"},
      [&ctx, show] { RunShow(ctx, *show); });
  AddJobAddress(cmd, *show);

  auto del = std::make_shared<JobArgs>();
  cmd = set.Add("delete",
                "Remove one job, whatever its state.\n"
                "A claimed job's worker finds its claim gone when it acks.",
                {"delete email 17", "delete email 17 --domain wiki2"}, [&ctx, del] {
                  auto [queue, id] = Resolve(*del);
                  Status st = ctx.Writer().DeleteJob(queue, id);
                  if (!st.ok()) FailStatus(st, "delete job " + std::to_string(id));
                  Report(ctx, "deleted job " + std::to_string(id),
                         OJson{{"id", id}, {"deleted", true}});
                });
  AddJobAddress(cmd, *del);

  auto retry = std::make_shared<JobArgs>();
  cmd = set.Add("retry",
                "Send one abandoned job back to ready, its attempts reset.\n"
                "'repush-abandoned TYPE' does it for every abandoned job of a queue.",
                {"retry email 17", "retry email 17 --domain wiki2"}, [&ctx, retry] {
                  auto [queue, id] = Resolve(*retry);
                  Status st = ctx.Writer().RetryJob(queue, id);
                  if (!st.ok()) FailStatus(st, "retry job " + std::to_string(id));
                  Report(ctx, "job " + std::to_string(id) + " is ready again",
                         OJson{{"id", id}, {"state", "ready"}});
                });
  AddJobAddress(cmd, *retry);
}

}  // namespace jobstore::cli
