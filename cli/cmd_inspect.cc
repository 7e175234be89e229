// Inspection: stats, list, queues, check. They work while another process holds the store
// (through a read-only secondary view).
#include <sys/stat.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include "commands.h"
#include "job_view.h"
#include "parse.h"
#include "table.h"

namespace jobstore::cli {
namespace {

struct FilterArgs {
  std::optional<std::string> type, domain;
};

void AddFilterOptions(CLI::App* cmd, FilterArgs& f) {
  cmd->add_option("--type", f.type, "only this job type")->type_name("T");
  cmd->add_option("--domain", f.domain, "only this domain (\"\" is the default domain)")
      ->type_name("D");
}

OJson CountsJson(const QueueCounts& c) {
  return OJson{{"ready", c.ready},
               {"claimed", c.claimed},
               {"delayed", c.delayed},
               {"abandoned", c.abandoned}};
}

void RunStats(Context& ctx, const FilterArgs& f) {
  std::vector<QueueStats> queues = SelectQueues(ctx.Reader(), {f.type, f.domain});
  QueueCounts total;
  for (const QueueStats& q : queues) {
    total.ready += q.counts.ready;
    total.claimed += q.counts.claimed;
    total.delayed += q.counts.delayed;
    total.abandoned += q.counts.abandoned;
  }
  // Routed (a config): which backend holds each queue.
  const bool routed = ctx.routed();
  if (ctx.json) {
    OJson list = OJson::array();
    for (const QueueStats& q : queues) {
      OJson row{{"domain", q.queue.domain}, {"type", q.queue.type}};
      if (routed) row["backend"] = q.backend;
      row.update(CountsJson(q.counts));
      list.push_back(std::move(row));
    }
    return PrintJson(OJson{{"queues", std::move(list)}, {"total", CountsJson(total)}});
  }
  if (queues.empty()) {
    std::cout << "no queues yet (push a job with 'jobstore push TYPE PARAMS_JSON')\n";
    return;
  }
  std::vector<std::string> head{"DOMAIN", "TYPE", "READY", "CLAIMED", "DELAYED", "ABANDONED"};
  if (routed) head.push_back("BACKEND");
  Table t(head, routed ? "llrrrrl" : "llrrrr");
  auto row = [&](const std::string& domain, const std::string& type, const QueueCounts& c,
                 const std::string& backend) {
    std::vector<std::string> cells{domain, type, std::to_string(c.ready), std::to_string(c.claimed),
                                   std::to_string(c.delayed), std::to_string(c.abandoned)};
    if (routed) cells.push_back(backend);
    t.Add(cells);
  };
  for (const QueueStats& q : queues) row(ShowDomain(q.queue.domain), q.queue.type, q.counts, q.backend);
  if (queues.size() > 1) row("total", "", total, "");
  t.Print(std::cout);
}

struct ListArgs {
  FilterArgs filter;
  std::optional<std::string> state;
  std::string limit = "50";
};

// What a table says about when: per state, the moment that matters.
std::string When(const JobInfo& job, int64_t now) {
  switch (job.state) {
    case JobState::kReady:
      return "queued " + FormatRelative(job.enqueued_at_ms, now);
    case JobState::kDelayed:
      return "runs " + FormatRelative(job.release_at_ms, now);
    case JobState::kClaimed:
      return "held " + FormatDuration(now - job.claimed_at_ms) + ", lease ends " +
             FormatRelative(job.deadline_ms, now);
    case JobState::kAbandoned:
      return "abandoned " + FormatRelative(job.abandoned_at_ms, now);
  }
  return "";
}

void RunList(Context& ctx, const ListArgs& a) {
  JobFilter filter{a.filter.type, a.filter.domain};
  if (a.state) {
    auto state = ParseJobState(*a.state);
    if (!state.ok()) {
      UsageError("--state: '" + *a.state + "' is not ready, claimed, delayed or abandoned");
    }
    filter.states = {state.value()};
  }
  size_t limit = static_cast<size_t>(ParseInt("--limit", a.limit, 1, 1'000'000));
  std::vector<JobInfo> jobs;
  bool more = false;
  ForEachJob(ctx.Reader(), filter, [&](const JobInfo& job) {
    if (jobs.size() == limit) {
      more = true;
      return false;
    }
    jobs.push_back(job);
    return true;
  });
  if (ctx.json) {
    OJson list = OJson::array();
    for (const JobInfo& job : jobs) list.push_back(JobJson(job));
    return PrintJson(OJson{{"jobs", std::move(list)}, {"more", more}});
  }
  if (jobs.empty()) {
    std::cout << "no jobs\n";
    return;
  }
  int64_t now = ctx.NowMs();
  Table t({"ID", "TYPE", "DOMAIN", "STATE", "ATTEMPTS", "PRIORITY", "WHEN", "PARAMS"},
          "rlllrrll");
  for (const JobInfo& job : jobs) {
    std::string params = job.corrupt ? "(corrupt record)" : job.params;
    if (!job.last_error.empty()) params = "error: " + job.last_error + "; " + params;
    t.Add({std::to_string(job.id), job.queue.type, ShowDomain(job.queue.domain),
           JobStateName(job.state), std::to_string(job.attempts), std::to_string(job.priority),
           When(job, now), Shorten(params, 60)});
  }
  t.Print(std::cout);
  if (more) {
    std::cerr << "jobstore: showing the first " << CountOf(limit, "job")
              << "; raise --limit for more\n";
  }
}

struct QueuesArgs {
  bool pick = false;
  std::optional<std::string> domain;
  std::vector<std::string> types, exclude;
};

void RunQueues(Context& ctx, const QueuesArgs& a) {
  Store& store = ctx.Reader();
  if (a.pick) {
    ReadyFilter filter{a.domain, a.types, a.exclude};
    auto q = store.PickReadyQueue(filter);
    if (!q.ok()) FailStatus(q.status(), "pick a ready queue");
    if (ctx.json) {
      return PrintJson(*q ? OJson{{"domain", (*q)->domain}, {"type", (*q)->type}} : OJson(nullptr));
    }
    if (*q) std::cout << (*q)->type << ((*q)->domain.empty() ? "" : "\t" + (*q)->domain) << '\n';
    return;
  }
  auto ready = store.ReadyQueues();
  if (!ready.ok()) FailStatus(ready.status(), "list the ready queues");
  // The counts, and with a config the backend, of each queue.
  std::map<std::pair<std::string, std::string>, QueueStats> stats;
  for (QueueStats& q : SelectQueues(store, {std::nullopt, a.domain})) {
    stats[{q.queue.domain, q.queue.type}] = std::move(q);
  }
  const bool routed = ctx.routed();
  OJson list = OJson::array();
  Table t(routed ? std::vector<std::string>{"DOMAIN", "TYPE", "READY", "BACKEND"}
                 : std::vector<std::string>{"DOMAIN", "TYPE", "READY"},
          routed ? "llrl" : "llr");
  for (const QueueRef& q : *ready) {
    if (a.domain && q.domain != *a.domain) continue;
    const QueueStats& s = stats[{q.domain, q.type}];
    OJson row{{"domain", q.domain}, {"type", q.type}, {"ready", s.counts.ready}};
    if (routed) row["backend"] = s.backend;
    list.push_back(std::move(row));
    std::vector<std::string> cells{ShowDomain(q.domain), q.type, std::to_string(s.counts.ready)};
    if (routed) cells.push_back(s.backend);
    t.Add(cells);
  }
  if (ctx.json) return PrintJson(OJson{{"queues", std::move(list)}});
  if (t.empty()) {
    std::cout << "no queue has ready jobs\n";
  } else {
    t.Print(std::cout);
  }
}

// A store holds whatever its jobs carry: say so when other users can read it.
void WarnIfOthersCanRead(Context& ctx) {
  if (!ctx.IsDirectoryStore()) return;
  struct stat st {};
  const std::string dir = ctx.StoreAddress();
  if (::stat(dir.c_str(), &st) != 0 || (st.st_mode & 0007) == 0) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  std::cerr << "jobstore: warning: store '" << dir << "' is open to other users (mode " << mode
            << "): any local user can read its jobs; run chmod 700 '" << dir
            << "' (or 750 to let its group read)\n";
}

void RunCheck(Context& ctx) {
  WarnIfOthersCanRead(ctx);
  auto violations = ctx.Reader().Check();
  if (!violations.ok()) FailStatus(violations.status(), "check");
  const std::vector<std::string>& v = violations.value();
  if (ctx.json) {
    PrintJson(OJson{{"ok", v.empty()}, {"violations", v}});
  } else if (v.empty()) {
    std::cout << "ok: every invariant holds\n";
  } else {
    for (const std::string& line : v) std::cout << "violation: " << line << '\n';
  }
  if (!v.empty()) {
    Failure("check found " + std::to_string(v.size()) +
            " violations (listed on stdout); keep a copy ('jobstore checkpoint DIR') and "
            "report them");
  }
}

}  // namespace

void AddInspectCommands(CommandSet& set) {
  Context& ctx = set.ctx();

  auto stats = std::make_shared<FilterArgs>();
  CLI::App* cmd = set.Add("stats", "Job counts per queue: ready, claimed, delayed, abandoned.",
                          {"stats", "stats --type email", "--json stats --domain wiki2"},
                          [&ctx, stats] { RunStats(ctx, *stats); });
  AddFilterOptions(cmd, *stats);

  auto list = std::make_shared<ListArgs>();
  cmd = set.Add("list", "List jobs: every state, or one, in the order they will be taken.",
                {"list", "list --state abandoned --type email", "list --limit 500",
                 "--json list --state delayed"},
                [&ctx, list] { RunList(ctx, *list); });
  cmd->add_option("--state", list->state, "ready, claimed, delayed or abandoned")
      ->type_name("STATE");
  AddFilterOptions(cmd, list->filter);
  cmd->add_option("--limit", list->limit, "show at most N jobs (default 50)")->type_name("N");

  auto queues = std::make_shared<QueuesArgs>();
  cmd = set.Add(
      "queues",
      "Queues that have ready jobs (the exact ready index).\n"
      "With --pick, prints one chosen at random as 'TYPE' or 'TYPE<tab>DOMAIN', or nothing\n"
      "when no queue has ready jobs (MediaWiki's nextJobDB).",
      {"queues", "queues --pick", "queues --pick --exclude email", "--json queues"},
      [&ctx, queues] { RunQueues(ctx, *queues); });
  cmd->add_flag("--pick", queues->pick, "print one ready queue chosen at random");
  cmd->add_option("--domain", queues->domain, "only this domain")->type_name("D");
  cmd->add_option("--type", queues->types, "with --pick: only these types (repeatable)")
      ->type_name("T");
  cmd->add_option("--exclude", queues->exclude, "with --pick: never these types (repeatable)")
      ->type_name("T");

  set.Add("check",
          "Verify every invariant of the store; exit status 1 listing any violation.\n"
          "Each job is in exactly one state, counts equal the stored keys, the ready index equals\n"
          "the queues with ready jobs, and every record decodes.",
          {"check", "--json check"}, [&ctx] { RunCheck(ctx); });
}

}  // namespace jobstore::cli
