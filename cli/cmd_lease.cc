// Working jobs by hand or from a script: claim, then ack, release or touch with the token.
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "parse.h"

namespace jobstore::cli {
namespace {

struct ClaimArgs {
  std::string type, domain;
  std::string count = "1";
  std::optional<std::string> ttl;
};

OJson ClaimedJson(const ClaimedJob& job) {
  return OJson{{"id", job.claim.id},
               {"token", job.claim.token.ToString()},
               {"type", job.claim.queue.type},
               {"domain", job.claim.queue.domain},
               {"params", ParamsJson(job.params)},
               {"attempts", job.attempts}};
}

void RunClaim(Context& ctx, const ClaimArgs& a) {
  QueueRef queue = ParseQueue(a.type, a.domain);
  size_t want = static_cast<size_t>(ParseInt("--count", a.count, 1, 100000));
  std::optional<int64_t> ttl;
  if (a.ttl) ttl = ParseDurationMs("--ttl", *a.ttl);
  Store& store = ctx.Writer();
  RequireKnownType(store, a.type);
  // Jobs superseded by a newer root job are acked unrun and do not count; claim again for them.
  size_t printed = 0;
  while (printed < want) {
    auto jobs = store.Claim(queue, want - printed, ttl);
    if (!jobs.ok()) FailStatus(jobs.status(), "claim '" + a.type + "' jobs");
    bool superseded = false;
    for (const ClaimedJob& job : jobs.value()) {
      if (job.superseded) {
        superseded = true;
        Status st = store.Ack(job.claim);
        if (!st.ok()) FailStatus(st, "ack superseded job " + std::to_string(job.claim.id));
        std::cerr << "jobstore: job " << job.claim.id << " was superseded by a newer root job ("
                  << job.root_signature << "); acked without running\n";
        continue;
      }
      PrintJson(ClaimedJson(job));
      ++printed;
    }
    if (!superseded) break;
  }
}

// TYPE ID TOKEN [--domain D], the address of a claim.
struct ClaimAddress {
  std::string type, domain, id, token;
};

// `token_required`: false for a command that can also act without the token (release --force).
void AddClaimAddress(CLI::App* cmd, ClaimAddress& c, bool token_required = true) {
  cmd->add_option("TYPE", c.type, "the job type")->required();
  cmd->add_option("ID", c.id, "the job id, as 'claim' printed it")->required();
  CLI::Option* token =
      cmd->add_option("TOKEN", c.token, "the claim token, as 'claim' or 'touch' printed it");
  if (token_required) token->required();
  AddDomainOption(cmd, c.domain);
}

// Parses the address (exit 2 when malformed) and opens the store for writing.
Claim ResolveClaim(Context& ctx, const ClaimAddress& c) {
  Claim claim;
  claim.queue = ParseQueue(c.type, c.domain);
  claim.id = static_cast<JobId>(ParseInt("ID", c.id, 1, INT64_MAX));
  claim.token = ParseToken(c.token);
  RequireKnownType(ctx.Writer(), c.type);
  return claim;
}

std::string JobName(const Claim& claim) { return "job " + std::to_string(claim.id); }

struct ReleaseArgs {
  ClaimAddress at;
  std::optional<std::string> delay;
  std::string error;
  bool force = false;
};

// release --force TYPE ID: an operator frees a stuck claim (its worker died holding a long
// lease); the worker's token becomes stale.
void ForceRelease(Context& ctx, const ReleaseArgs& a) {
  if (!a.at.token.empty()) UsageError("release --force takes no TOKEN: it releases whoever holds the job");
  if (a.delay || !a.error.empty()) UsageError("release --force returns the job to ready; drop --delay and --error");
  const QueueRef queue = ParseQueue(a.at.type, a.at.domain);
  const JobId id = static_cast<JobId>(ParseInt("ID", a.at.id, 1, INT64_MAX));
  Store& store = ctx.Writer();
  RequireKnownType(store, a.at.type);
  Status st = store.ForceRelease(queue, id);
  if (!st.ok()) FailStatus(st, "release job " + std::to_string(id) + " by force");
  Report(ctx, "released job " + std::to_string(id) + " by force: now ready (its claim's token is stale)",
         OJson{{"id", id}, {"released", true}, {"forced", true}, {"state", "ready"}});
}

struct TouchArgs {
  ClaimAddress at;
  std::optional<std::string> ttl;
};

}  // namespace

void AddLeaseCommands(CommandSet& set) {
  Context& ctx = set.ctx();

  auto claim = std::make_shared<ClaimArgs>();
  CLI::App* cmd = set.Add(
      "claim",
      "Claim up to N ready jobs of a queue; prints one JSON object a line.\n"
      "Each line is {\"id\",\"token\",\"type\",\"domain\",\"params\",\"attempts\"}; nothing is printed\n"
      "when no job is ready. Jobs superseded by a newer root job are acked unrun (said on stderr).\n"
      "Finish each with 'ack', give it back with 'release', extend it with 'touch'.",
      {"claim email", "claim email --count 10 --ttl 5m", "claim refresh --domain wiki2"},
      [&ctx, claim] { RunClaim(ctx, *claim); });
  cmd->add_option("TYPE", claim->type, "the job type")->required();
  AddDomainOption(cmd, claim->domain);
  cmd->add_option("--count", claim->count, "claim up to N jobs (default 1)")->type_name("N");
  cmd->add_option("--ttl", claim->ttl,
                  "lease length (default: the type's claim TTL; 0: never expires)")
      ->type_name("SECONDS");

  auto ack = std::make_shared<ClaimAddress>();
  cmd = set.Add("ack", "Finish a claimed job: it is deleted.",
                {"ack email 17 00000190a3c2f1e04b7d2c9e8f1a6b3c"}, [&ctx, ack] {
                  Claim c = ResolveClaim(ctx, *ack);
                  Status st = ctx.Writer().Ack(c);
                  if (!st.ok()) FailStatus(st, "ack " + JobName(c));
                  Report(ctx, "acked " + JobName(c), OJson{{"id", c.id}, {"acked", true}});
                });
  AddClaimAddress(cmd, *ack);

  auto release = std::make_shared<ReleaseArgs>();
  cmd = set.Add(
      "release",
      "Give a claimed job back before its lease ends.\n"
      "Without --error it returns to ready (or delayed, with --delay), whatever its attempts.\n"
      "With --error it counts as a failed run: it is retried only if its type allows retries\n"
      "and it has tries left, else abandoned. Prints the job's new state.\n"
      "--force, without a TOKEN, frees a job whose worker died holding its claim: it returns to\n"
      "ready at once, and that worker's token is refused from then on.",
      {"release email 17 00000190a3c2f1e04b7d2c9e8f1a6b3c",
       "release email 17 00000190a3c2f1e04b7d2c9e8f1a6b3c --delay 5m",
       "release email 17 00000190a3c2f1e04b7d2c9e8f1a6b3c --error 'SMTP 451'",
       "release email 17 --force"},
      [&ctx, release] {
        if (release->force) return ForceRelease(ctx, *release);
        if (release->at.token.empty()) UsageError("release: TOKEN is required (or --force)");
        Claim c = ResolveClaim(ctx, release->at);
        int64_t delay = release->delay ? ParseDurationMs("--delay", *release->delay) : 0;
        Store& store = ctx.Writer();
        auto released = store.Release(c, delay, release->error);
        if (!released.ok()) FailStatus(released.status(), "release " + JobName(c));
        const std::string state = JobStateName(released->state);
        OJson json{{"id", c.id}, {"released", true}, {"state", state}};
        std::string text = "released " + JobName(c) + ": now " + state;
        if (released->state == JobState::kDelayed) json["release_at_ms"] = released->release_at_ms;
        if (released->state == JobState::kAbandoned) {
          json["reason"] = released->reason;
          text += " (" + released->reason + ")";
        }
        Report(ctx, text, json);
      });
  AddClaimAddress(cmd, release->at, /*token_required=*/false);
  cmd->add_flag("--force", release->force,
                "release a claim whose worker is gone, without its token (operators)");
  cmd->add_option("--delay", release->delay, "keep it delayed this long (30, 10m)")
      ->type_name("SECONDS");
  cmd->add_option("--error", release->error, "the run failed with this error")
      ->type_name("TEXT");

  auto touch = std::make_shared<TouchArgs>();
  cmd = set.Add(
      "touch",
      "Extend a claim's lease to now + TTL; prints the new token.\n"
      "The new token replaces the old one, which is rejected from now on.",
      {"touch email 17 00000190a3c2f1e04b7d2c9e8f1a6b3c",
       "touch email 17 00000190a3c2f1e04b7d2c9e8f1a6b3c --ttl 30m"},
      [&ctx, touch] {
        Claim c = ResolveClaim(ctx, touch->at);
        std::optional<int64_t> ttl;
        if (touch->ttl) ttl = ParseDurationMs("--ttl", *touch->ttl);
        auto token = ctx.Writer().Touch(c, ttl);
        if (!token.ok()) FailStatus(token.status(), "touch " + JobName(c));
        Report(ctx, token->ToString(),
               OJson{{"id", c.id},
                     {"token", token->ToString()},
                     {"deadline_ms", token->deadline_ms}});
      });
  AddClaimAddress(cmd, touch->at);
  cmd->add_option("--ttl", touch->ttl, "new lease length (default: the type's claim TTL)")
      ->type_name("SECONDS");
}

}  // namespace jobstore::cli
