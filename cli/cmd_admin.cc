// Commands that manage the store and its queues: init, maintain, config, repush-abandoned,
// clear, checkpoint.
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "jobstore/rocksdb_store.h"
#include "parse.h"
#include "table.h"

namespace jobstore::cli {
namespace {

void AddInit(CommandSet& set) {
  Context& ctx = set.ctx();
  auto group = std::make_shared<bool>(false);
  CLI::App* cmd = set.Add(
      "init",
      "Create a store (nothing happens when it exists already).\n"
      "A store holds whatever its jobs carry: its directory is created 0700 and its files 0600,\n"
      "whatever the umask; --group-read makes them 0750 and 0640, for a group that may read.",
      {"init", "--store /var/lib/app/jobs init", "init --group-read", "init --json"}, [&ctx, group] {
            bool created = ctx.Create(*group);
            Report(ctx,
                   (created ? "created store " : "store exists: ") + ctx.StoreLabel(),
                   OJson{{"store", ctx.StoreLabel()}, {"created", created}});
          });
  cmd->add_flag("--group-read", *group,
                "let the directory's group read the store (0750 directory, 0640 files)");
}

void AddMaintain(CommandSet& set) {
  Context& ctx = set.ctx();
  set.Add("maintain",
          "Run one maintenance pass; prints what it did.\n"
          "It promotes due delayed jobs, reclaims expired claims, prunes abandoned jobs past\n"
          "their retention and expires old root-job registrations ('run' does this by itself).",
          {"maintain", "--json maintain"}, [&ctx] {
            auto r = ctx.Writer().Maintain();
            if (!r.ok()) FailStatus(r.status(), "maintain");
            const MaintenanceReport& m = r.value();
            std::string text = "promoted " + std::to_string(m.promoted) + ", reclaimed " +
                               std::to_string(m.reclaimed) + ", abandoned " +
                               std::to_string(m.abandoned) + ", pruned " +
                               std::to_string(m.pruned) + ", root jobs expired " +
                               std::to_string(m.roots_expired);
            if (m.more) text += "\nmore work is due: run 'jobstore maintain' again";
            Report(ctx, text,
                   OJson{{"promoted", m.promoted},
                         {"reclaimed", m.reclaimed},
                         {"abandoned", m.abandoned},
                         {"pruned", m.pruned},
                         {"roots_expired", m.roots_expired},
                         {"more", m.more}});
          });
}

struct ConfigArgs {
  std::string type;
  std::optional<std::string> order, claim_ttl, max_tries, retries, retention, root_ttl;
};

OJson SettingsJson(const std::string& type, const TypeSettings& s) {
  return OJson{{"type", type},
               {"order", OrderName(s.order)},
               {"claim_ttl_seconds", Seconds(s.claim_ttl_ms)},
               {"max_tries", s.max_tries},
               {"retries", s.retries_allowed},
               {"retention_seconds", Seconds(s.retention_ms)},
               {"root_ttl_seconds", Seconds(s.root_job_ttl_ms)}};
}

void PrintSettings(Context& ctx, const std::string& type, const TypeSettings& s) {
  if (ctx.json) return PrintJson(SettingsJson(type, s));
  Table t({"SETTING", "VALUE"});
  t.Add({"type", type});
  t.Add({"order", OrderName(s.order)});
  t.Add({"claim-ttl", s.claim_ttl_ms == 0 ? "never expires" : FormatDuration(s.claim_ttl_ms)});
  t.Add({"max-tries", std::to_string(s.max_tries)});
  t.Add({"retries", s.retries_allowed ? "yes" : "no"});
  t.Add({"retention", FormatDuration(s.retention_ms)});
  t.Add({"root-ttl", FormatDuration(s.root_job_ttl_ms)});
  t.Print(std::cout);
}

void AddConfig(CommandSet& set) {
  Context& ctx = set.ctx();
  auto a = std::make_shared<ConfigArgs>();
  CLI::App* cmd = set.Add(
      "config", "Show a job type's settings, or change the ones given (the rest are kept).",
      {"config email", "config email --order priority --max-tries 5",
       "config email --claim-ttl 10m --retention 2d", "config email --retries no",
       "--json config email"},
      [&ctx, a] {
        ParseQueue(a->type, "");
        bool change = a->order || a->claim_ttl || a->max_tries || a->retries || a->retention ||
                      a->root_ttl;
        Store& store = change ? ctx.Writer() : ctx.Reader();
        auto current = store.GetTypeSettings(a->type);
        if (!current.ok()) FailStatus(current.status(), "read the settings of '" + a->type + "'");
        TypeSettings s = current.value();
        if (!change) return PrintSettings(ctx, a->type, s);
        if (a->order) {
          auto order = ParseOrder(*a->order);
          if (!order.ok()) UsageError("--order: '" + *a->order + "' is not fifo, random or priority");
          s.order = order.value();
        }
        if (a->claim_ttl) s.claim_ttl_ms = ParseDurationMs("--claim-ttl", *a->claim_ttl);
        if (a->max_tries) s.max_tries = ParseInt("--max-tries", *a->max_tries, 1, 1'000'000);
        if (a->retries) {
          if (*a->retries != "yes" && *a->retries != "no") {
            UsageError("--retries: '" + *a->retries + "' is not yes or no");
          }
          s.retries_allowed = *a->retries == "yes";
        }
        if (a->retention) s.retention_ms = ParseDurationMs("--retention", *a->retention);
        if (a->root_ttl) s.root_job_ttl_ms = ParseDurationMs("--root-ttl", *a->root_ttl);
        Status st = store.SetTypeSettings(a->type, s);
        if (!st.ok()) FailStatus(st, "change the settings of '" + a->type + "'");
        PrintSettings(ctx, a->type, s);
      });
  cmd->add_option("TYPE", a->type, "the job type")->required();
  cmd->add_option("--order", a->order, "fifo, random or priority")->type_name("ORDER");
  cmd->add_option("--claim-ttl", a->claim_ttl,
                  "how long a claim lasts before it is reclaimed; 0: forever (30, 10m, 2h)")
      ->type_name("SECONDS");
  cmd->add_option("--max-tries", a->max_tries, "claims a job gets before it is abandoned")
      ->type_name("N");
  cmd->add_option("--retries", a->retries, "yes: retry failed jobs; no: abandon them at once")
      ->type_name("yes|no");
  cmd->add_option("--retention", a->retention, "how long abandoned jobs are kept (7d)")
      ->type_name("SECONDS");
  cmd->add_option("--root-ttl", a->root_ttl, "how long root-job registrations are kept (28d)")
      ->type_name("SECONDS");
}

struct QueueArgs {
  std::string type, domain;
};

void AddQueueCommand(CommandSet& set, const std::string& name, const std::string& description,
                     const std::vector<std::string>& examples,
                     std::function<void(Context&, Store&, const QueueRef&)> action) {
  Context& ctx = set.ctx();
  auto a = std::make_shared<QueueArgs>();
  CLI::App* cmd = set.Add(name, description, examples, [&ctx, a, action] {
    QueueRef queue = ParseQueue(a->type, a->domain);
    Store& store = ctx.Writer();
    RequireKnownType(store, a->type);
    action(ctx, store, queue);
  });
  cmd->add_option("TYPE", a->type, "the job type")->required();
  AddDomainOption(cmd, a->domain);
}

void AddRepushAbandoned(CommandSet& set) {
  AddQueueCommand(
      set, "repush-abandoned",
      "Move every abandoned job of a queue back to ready, with its attempts reset.",
      {"repush-abandoned email", "repush-abandoned email --domain wiki2"},
      [](Context& ctx, Store& store, const QueueRef& queue) {
        auto moved = store.RepushAbandoned(queue);
        if (!moved.ok()) FailStatus(moved.status(), "repush abandoned '" + queue.type + "' jobs");
        Report(ctx, "moved " + CountOf(moved.value(), "abandoned job") + " back to ready",
               OJson{{"type", queue.type}, {"domain", queue.domain}, {"repushed", moved.value()}});
      });
}

void AddClear(CommandSet& set) {
  AddQueueCommand(
      set, "clear", "Delete every job of a queue, in every state.",
      {"clear email", "clear email --domain wiki2"},
      [](Context& ctx, Store& store, const QueueRef& queue) {
        auto counts = store.Counts(queue);
        if (!counts.ok()) FailStatus(counts.status(), "count '" + queue.type + "' jobs");
        Status st = store.Clear(queue);
        if (!st.ok()) FailStatus(st, "clear '" + queue.type + "'");
        uint64_t n = counts.value().total();
        Report(ctx, "deleted " + CountOf(n, "job"),
               OJson{{"type", queue.type}, {"domain", queue.domain}, {"deleted", n}});
      });
}

void AddCheckpoint(CommandSet& set) {
  Context& ctx = set.ctx();
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = set.Add(
      "checkpoint",
      "Write a consistent copy of the store to DIR (a new directory).\n"
      "For backups, or a snapshot to export from. Works while another process holds the store.",
      {"checkpoint /backup/jobs-2024-05-01", "--store /var/lib/app/jobs checkpoint ./copy"},
      [&ctx, dir] {
        Status st = RocksDb::Checkpoint(ctx.Reader(), *dir);
        if (!st.ok()) FailStatus(st, "checkpoint to '" + *dir + "'");
        Report(ctx, "wrote a checkpoint of " + ctx.StoreLabel() + " to " + *dir,
               OJson{{"store", ctx.StoreLabel()}, {"checkpoint", *dir}});
      });
  cmd->add_option("DIR", *dir, "where to write the copy (must not exist)")->required();
}

}  // namespace

void AddAdminCommands(CommandSet& set) {
  AddInit(set);
  AddMaintain(set);
  AddConfig(set);
  AddRepushAbandoned(set);
  AddClear(set);
  AddCheckpoint(set);
}

}  // namespace jobstore::cli
