// The RPC handlers of a served store: one wire::Store capability per connection, every call
// decoded on the loop, run on the server's pool against the store it was given, and answered
// with the store's Status. The store applies the policy (validation, limits, read-only); these
// handlers add only what the wire needs: batch bounds checked before decoding, answers kept
// under the message limit, and waits that park instead of holding a thread.
#include <unistd.h>

#include "jobstore/validation.h"
#include "server_loop.h"
#include "wire.h"

namespace jobstore::remote {
namespace {

template <typename Results>
void SetStatus(Results results, const Status& status) {
  ToWire(status, results.initStatus());
}

std::string MiB(size_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

Status TooBig(const std::string& what, size_t bytes, size_t budget) {
  return Status::NotSupported("the answer (" + what + ", " + MiB(bytes) +
                              ") is over the served store's message limit of " + MiB(budget) +
                              "; ask the owner to raise it (ServeOptions::max_message_bytes) or "
                              "run the command on the owner's machine");
}

// Keeps a claim's answer under `budget`: the jobs past it go back to ready at once (their
// attempt is counted, as for any claim given back). Only a batch of very large params ever
// gets here.
void FitClaims(Store& store, Result<std::vector<ClaimedJob>>* r, size_t budget) {
  if (!r->ok()) return;
  std::vector<ClaimedJob>& jobs = **r;
  size_t total = 0, keep = 0;
  for (; keep < jobs.size(); ++keep) {
    total += WireBytes(jobs[keep]);
    if (total > budget) break;
  }
  if (keep == jobs.size()) return;
  for (size_t i = keep; i < jobs.size(); ++i) {
    // A failed give-back leaves the claim to expire and be reclaimed: the job is not lost.
    (void)store.Release(jobs[i].claim, 0, "");
  }
  if (keep == 0) {
    *r = Status::NotSupported("job " + std::to_string(jobs[0].claim.id) + "'s params (" +
                              MiB(jobs[0].params.size()) +
                              ") do not fit in one message of the served store; it was given "
                              "back. Raise ServeOptions::max_message_bytes on the owner");
    return;
  }
  jobs.resize(keep);
}

struct ClaimAnyArgs {
  ReadyFilter filter;
  size_t max_jobs = 0;
  std::optional<int64_t> ttl;
};

// The claim of a claimAny or an ackThenClaimAny call.
template <typename Params>
std::shared_ptr<const ClaimAnyArgs> ClaimAnyFrom(Params p) {
  auto args = std::make_shared<ClaimAnyArgs>();
  args->filter = FromWire(p.getFilter());
  args->max_jobs = p.getMaxJobs();
  args->ttl = FromWire(p.getTtl());
  return args;
}

kj::TimePoint DeadlineIn(ServerLoop& server, int64_t wait_ms) {
  const int64_t ms = std::clamp<int64_t>(wait_ms, 0, kMaxWaitMs);
  return server.timer().now() + ms * kj::MILLISECONDS;
}

// ClaimAny with its wait: try at once; when nothing was claimed, park until the ready epoch
// moves (or the deadline, or the server stops) and try again. The store sees only ClaimAny
// with no wait, so no pool thread blocks.
// Claims and settles of up to this many jobs run on the loop thread (ServerLoop::Offload).
constexpr uint64_t kQuickJobs = 16;

kj::Promise<Result<std::vector<ClaimedJob>>> ClaimAnyUntil(
    ServerLoop& server, std::shared_ptr<Session> session,
    std::shared_ptr<const ClaimAnyArgs> args, kj::TimePoint deadline) {
  const uint64_t ticks = server.ticks();
  const size_t budget = server.answer_budget();
  return server
      .Offload<Result<std::vector<ClaimedJob>>>(
          *session,
          [args, budget](Store& s) {
            auto r = s.ClaimAny(args->filter, args->max_jobs, args->ttl, 0);
            FitClaims(s, &r, budget);
            return r;
          },
          args->max_jobs <= kQuickJobs)
      .then([&server, session, args, deadline,
             ticks](Result<std::vector<ClaimedJob>> r) -> kj::Promise<Result<std::vector<ClaimedJob>>> {
        if (!r.ok() || !r->empty() || server.stopping() || server.timer().now() >= deadline) {
          return kj::mv(r);
        }
        // The epoch moved while the attempt ran: a job may have come after it looked.
        if (server.ticks() != ticks) return ClaimAnyUntil(server, session, args, deadline);
        return server.ReadyChangeOr(deadline).then([&server, session, args, deadline] {
          return ClaimAnyUntil(server, session, args, deadline);
        });
      });
}

kj::Promise<Status> WaitForReadyUntil(ServerLoop& server, std::shared_ptr<Session> session,
                                      uint64_t epoch, kj::TimePoint deadline) {
  const uint64_t ticks = server.ticks();
  return server.Offload<Result<uint64_t>>(*session, [](Store& s) { return s.ReadyEpoch(); })
      .then([&server, session, epoch, deadline, ticks](Result<uint64_t> now) -> kj::Promise<Status> {
        if (!now.ok()) return now.status();
        if (*now != epoch || server.stopping() || server.timer().now() >= deadline) {
          return Status::OK();
        }
        if (server.ticks() != ticks) return WaitForReadyUntil(server, session, epoch, deadline);
        return server.ReadyChangeOr(deadline).then([&server, session, epoch, deadline] {
          return WaitForReadyUntil(server, session, epoch, deadline);
        });
      });
}

class StoreService final : public wire::Store::Server {
 public:
  StoreService(ServerLoop& server, std::shared_ptr<Session> session)
      : server_(server), session_(std::move(session)) {}

  kj::Promise<void> info(InfoContext context) override {
    auto out = context.getResults().initInfo();
    Store& store = server_.store();
    ToWire(store.capabilities(), out.initCapabilities());
    out.setReadOnly(store.IsReadOnly());
    out.setPid(getpid());
    out.setMaxMessageBytes(server_.options().max_message_bytes);
    out.setMaxCallsInFlight(static_cast<uint32_t>(server_.options().max_calls_in_flight));
    out.setMaxParamsBytes(store.options().max_params_bytes);
    return kj::READY_NOW;
  }

  kj::Promise<void> push(PushContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto jobs = context.getParams().getJobs();
      if (Status s = ValidatePushBatch(jobs.size()); !s.ok()) return Refuse(context, s);
      std::vector<JobSpec> specs;
      specs.reserve(jobs.size());
      for (auto job : jobs) specs.push_back(FromWire(job));
      context.releaseParams();
      return Run<Result<PushResult>>([specs = std::move(specs)](Store& s) { return s.Push(specs); })
          .then([context](Result<PushResult> r) mutable { SetPushed(context.getResults(), r); });
    });
  }

  kj::Promise<void> restore(RestoreContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto jobs = context.getParams().getJobs();
      if (Status s = ValidatePushBatch(jobs.size()); !s.ok()) return Refuse(context, s);
      std::vector<JobInfo> infos;
      infos.reserve(jobs.size());
      for (auto job : jobs) {
        Result<JobInfo> info = FromWire(job);
        if (!info.ok()) return Refuse(context, info.status());
        infos.push_back(std::move(*info));
      }
      context.releaseParams();
      return Run<Result<PushResult>>([infos = std::move(infos)](Store& s) { return s.Restore(infos); })
          .then([context](Result<PushResult> r) mutable { SetPushed(context.getResults(), r); });
    });
  }

  // The answer to a push or a restore.
  template <typename Results>
  static void SetPushed(Results out, const Result<PushResult>& r) {
    SetStatus(out, r.status());
    if (!r.ok()) return;
    auto ids = out.initIds(static_cast<unsigned>(r->ids.size()));
    auto dup = out.initDuplicate(static_cast<unsigned>(r->duplicate.size()));
    for (size_t i = 0; i < r->ids.size(); ++i) ids.set(i, r->ids[i]);
    for (size_t i = 0; i < r->duplicate.size(); ++i) dup.set(i, r->duplicate[i]);
    out.setPushed(r->pushed);
    out.setDuplicates(r->duplicates);
  }

  kj::Promise<void> claim(ClaimContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      QueueRef queue = FromWire(p.getQueue());
      const uint64_t max = p.getMaxJobs();
      std::optional<int64_t> ttl = FromWire(p.getTtl());
      const size_t budget = server_.answer_budget();
      return Run<Result<std::vector<ClaimedJob>>>([queue, max, ttl, budget](Store& s) {
               auto r = s.Claim(queue, max, ttl);
               FitClaims(s, &r, budget);
               return r;
             },
             max <= kQuickJobs)
          .then([context](Result<std::vector<ClaimedJob>> r) mutable { Answer(context, r); });
    });
  }

  kj::Promise<void> claimAny(ClaimAnyContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto args = ClaimAnyFrom(context.getParams());
      const kj::TimePoint deadline = DeadlineIn(server_, context.getParams().getWaitMs());
      context.releaseParams();
      return ClaimAnyUntil(server_, session_, args, deadline)
          .then([context](Result<std::vector<ClaimedJob>> r) mutable { Answer(context, r); });
    });
  }

  kj::Promise<void> ackMany(AckManyContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto list = context.getParams().getClaims();
      if (Status s = ValidateClaimBatch(list.size(), "ack"); !s.ok()) return Refuse(context, s);
      std::vector<Claim> claims;
      claims.reserve(list.size());
      for (auto c : list) claims.push_back(FromWire(c));
      const bool quick = claims.size() <= kQuickJobs;
      context.releaseParams();
      return Run<Result<std::vector<Status>>>(
                 [claims = std::move(claims)](Store& s) { return s.AckMany(claims); },
                 quick)
          .then([context](Result<std::vector<Status>> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (!r.ok()) return;
            ToWireList(*r, out.initStatuses(static_cast<unsigned>(r->size())));
          });
    });
  }

  kj::Promise<void> ackThenClaimAny(AckThenClaimAnyContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      auto list = p.getClaims();
      if (Status s = ValidateClaimBatch(list.size(), "ack"); !s.ok()) return Refuse(context, s);
      std::vector<Claim> claims;
      claims.reserve(list.size());
      for (auto c : list) claims.push_back(FromWire(c));
      auto args = ClaimAnyFrom(p);
      const kj::TimePoint deadline = DeadlineIn(server_, p.getWaitMs());
      context.releaseParams();
      const bool quick = claims.size() <= kQuickJobs && args->max_jobs <= kQuickJobs;
      const bool acked_none = claims.empty();
      const size_t budget = server_.answer_budget();
      // One store call acks and claims (one write on RocksDB, design note 39). Only a claim
      // that found nothing and may wait goes on to ClaimAnyUntil, the acks already applied.
      return Run<Result<AckedThenClaimed>>(
                 [claims = std::move(claims), args, budget](Store& s) {
                   auto r = s.AckThenClaimAny(claims, args->filter, args->max_jobs, args->ttl, 0);
                   if (r.ok()) FitClaims(s, &r->claimed, budget);
                   return r;
                 },
                 quick)
          .then([&server = server_, session = session_, context, args, deadline,
                 acked_none](Result<AckedThenClaimed> a) mutable -> kj::Promise<void> {
            auto out = context.getResults();
            SetStatus(out, a.status());
            if (!a.ok()) {
              // Nothing was done: the acks could not be tried, or there were none and the
              // claim failed.
              if (acked_none) ToWire(a.status(), out.initClaimStatus());
              return kj::READY_NOW;
            }
            ToWireList(a->acked, out.initStatuses(static_cast<unsigned>(a->acked.size())));
            Result<std::vector<ClaimedJob>>& first = a->claimed;
            const bool wait = first.ok() && first->empty() && !server.stopping() &&
                              server.timer().now() < deadline;
            kj::Promise<Result<std::vector<ClaimedJob>>> claimed =
                wait ? ClaimAnyUntil(server, session, args, deadline)
                     : kj::Promise<Result<std::vector<ClaimedJob>>>(kj::mv(first));
            return claimed.then([context, acked_none](Result<std::vector<ClaimedJob>> r) mutable {
              auto res = context.getResults();
              if (acked_none && !r.ok()) SetStatus(res, r.status());  // nothing was done
              ToWire(r.status(), res.initClaimStatus());
              if (!r.ok()) return;
              ToWireList(*r, res.initJobs(static_cast<unsigned>(r->size())));
            });
          });
    });
  }

  kj::Promise<void> release(ReleaseContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      Claim claim = FromWire(p.getClaim());
      const int64_t delay = p.getDelayMs();
      std::string error = Str(p.getError());
      return Run<Result<Released>>([claim, delay, error = std::move(error)](Store& s) {
               return s.Release(claim, delay, error);
             },
             /*quick=*/true)
          .then([context](Result<Released> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (r.ok()) ToWire(*r, out.initReleased());
          });
    });
  }

  kj::Promise<void> touch(TouchContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      Claim claim = FromWire(p.getClaim());
      std::optional<int64_t> ttl = FromWire(p.getTtl());
      return Run<Result<ClaimToken>>([claim, ttl](Store& s) { return s.Touch(claim, ttl); },
                                     /*quick=*/true)
          .then([context](Result<ClaimToken> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (r.ok()) ToWire(*r, out.initToken());
          });
    });
  }

  kj::Promise<void> forceRelease(ForceReleaseContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      QueueRef queue = FromWire(p.getQueue());
      const JobId id = p.getId();
      return Run<Status>([queue, id](Store& s) { return s.ForceRelease(queue, id); })
          .then([context](Status s) mutable { SetStatus(context.getResults(), s); });
    });
  }

  kj::Promise<void> repushAbandoned(RepushAbandonedContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      QueueRef queue = FromWire(context.getParams().getQueue());
      return Run<Result<uint64_t>>([queue](Store& s) { return s.RepushAbandoned(queue); })
          .then([context](Result<uint64_t> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (r.ok()) out.setMoved(*r);
          });
    });
  }

  kj::Promise<void> retryJob(RetryJobContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      QueueRef queue = FromWire(p.getQueue());
      const JobId id = p.getId();
      return Run<Status>([queue, id](Store& s) { return s.RetryJob(queue, id); })
          .then([context](Status s) mutable { SetStatus(context.getResults(), s); });
    });
  }

  kj::Promise<void> deleteJob(DeleteJobContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      QueueRef queue = FromWire(p.getQueue());
      const JobId id = p.getId();
      return Run<Status>([queue, id](Store& s) { return s.DeleteJob(queue, id); })
          .then([context](Status s) mutable { SetStatus(context.getResults(), s); });
    });
  }

  kj::Promise<void> clear(ClearContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      QueueRef queue = FromWire(context.getParams().getQueue());
      return Run<Status>([queue](Store& s) { return s.Clear(queue); })
          .then([context](Status s) mutable { SetStatus(context.getResults(), s); });
    });
  }

  kj::Promise<void> maintain(MaintainContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      return Run<Result<MaintenanceReport>>([](Store& s) { return s.Maintain(); })
          .then([context](Result<MaintenanceReport> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (r.ok()) ToWire(*r, out.initReport());
          });
    });
  }

  kj::Promise<void> counts(CountsContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      QueueRef queue = FromWire(context.getParams().getQueue());
      return Run<Result<QueueCounts>>([queue](Store& s) { return s.Counts(queue); })
          .then([context](Result<QueueCounts> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (r.ok()) ToWire(*r, out.initCounts());
          });
    });
  }

  kj::Promise<void> queues(QueuesContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      const size_t budget = server_.answer_budget();
      return Run<Result<std::vector<QueueStats>>>([budget](Store& s) {
               auto r = s.Queues();
               if (!r.ok()) return r;
               size_t bytes = 0;
               for (const QueueStats& q : *r) {
                 bytes += 128 + q.queue.domain.size() + q.queue.type.size() + q.backend.size();
               }
               if (bytes > budget) {
                 return Result<std::vector<QueueStats>>(
                     TooBig(std::to_string(r->size()) + " queues", bytes, budget));
               }
               return r;
             })
          .then([context](Result<std::vector<QueueStats>> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (!r.ok()) return;
            auto list = out.initQueues(static_cast<unsigned>(r->size()));
            for (size_t i = 0; i < r->size(); ++i) ToWire((*r)[i], list[i]);
          });
    });
  }

  kj::Promise<void> list(ListContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      QueueRef queue = FromWire(p.getQueue());
      Result<JobState> state = FromWire(p.getState());
      if (!state.ok()) return Refuse(context, state.status());
      std::string cursor = Str(p.getCursor());
      const uint64_t limit = p.getLimit();
      const size_t budget = server_.answer_budget();
      JobState st = *state;
      return Run<Result<ListPage>>([queue, st, cursor, limit, budget](Store& s) {
               // A page too big for one message is asked for again, half as long: the cursor
               // the smaller page returns continues from where it ends.
               for (uint64_t n = limit;; n = (n + 1) / 2) {
                 auto page = s.List(queue, st, cursor, n);
                 if (!page.ok()) return page;
                 size_t bytes = page->next_cursor.size();
                 for (const JobInfo& j : page->jobs) bytes += WireBytes(j);
                 if (bytes <= budget) return page;
                 if (n <= 1) {
                   return Result<ListPage>(TooBig("one job", bytes, budget));
                 }
               }
             })
          .then([context](Result<ListPage> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (!r.ok()) return;
            ToWireList(r->jobs, out.initJobs(static_cast<unsigned>(r->jobs.size())));
            out.setNextCursor(AsData(r->next_cursor));
          });
    });
  }

  kj::Promise<void> inspect(InspectContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      QueueRef queue = FromWire(p.getQueue());
      const JobId id = p.getId();
      const size_t budget = server_.answer_budget();
      return Run<Result<JobInfo>>([queue, id, budget](Store& s) {
               auto r = s.Inspect(queue, id);
               if (r.ok() && WireBytes(*r) > budget) {
                 return Result<JobInfo>(TooBig("one job", WireBytes(*r), budget));
               }
               return r;
             })
          .then([context](Result<JobInfo> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (r.ok()) ToWire(*r, out.initJob());
          });
    });
  }

  kj::Promise<void> check(CheckContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      const size_t budget = server_.answer_budget();
      return Run<Result<std::vector<std::string>>>([budget](Store& s) {
               auto r = s.Check();
               if (!r.ok()) return r;
               // A badly damaged store can report more problems than one message holds: the
               // answer says how many were left out.
               size_t bytes = 0, keep = 0;
               for (; keep < r->size(); ++keep) {
                 bytes += 16 + (*r)[keep].size();
                 if (bytes > budget - 1024) break;
               }
               if (keep < r->size()) {
                 const size_t more = r->size() - keep;
                 r->resize(keep);
                 r->push_back("... and " + std::to_string(more) +
                              " more problems, left out of this answer (over the served "
                              "store's message limit); run check on the owner to see them all");
               }
               return r;
             })
          .then([context](Result<std::vector<std::string>> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (!r.ok()) return;
            auto problems = out.initProblems(static_cast<unsigned>(r->size()));
            for (size_t i = 0; i < r->size(); ++i) problems.set(i, AsText((*r)[i]));
          });
    });
  }

  kj::Promise<void> readyQueues(ReadyQueuesContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      const size_t budget = server_.answer_budget();
      return Run<Result<std::vector<QueueRef>>>([budget](Store& s) {
               auto r = s.ReadyQueues();
               if (!r.ok()) return r;
               size_t bytes = 0;
               for (const QueueRef& q : *r) bytes += 64 + q.domain.size() + q.type.size();
               if (bytes > budget) {
                 return Result<std::vector<QueueRef>>(
                     TooBig(std::to_string(r->size()) + " ready queues", bytes, budget));
               }
               return r;
             })
          .then([context](Result<std::vector<QueueRef>> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (!r.ok()) return;
            auto list = out.initQueues(static_cast<unsigned>(r->size()));
            for (size_t i = 0; i < r->size(); ++i) ToWire((*r)[i], list[i]);
          });
    });
  }

  kj::Promise<void> pickReadyQueue(PickReadyQueueContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      ReadyFilter filter = FromWire(context.getParams().getFilter());
      return Run<Result<std::optional<QueueRef>>>(
                 [filter = std::move(filter)](Store& s) { return s.PickReadyQueue(filter); })
          .then([context](Result<std::optional<QueueRef>> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (!r.ok() || !r->has_value()) return;
            out.setFound(true);
            ToWire(**r, out.initQueue());
          });
    });
  }

  kj::Promise<void> readyEpoch(ReadyEpochContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      return Run<Result<uint64_t>>([](Store& s) { return s.ReadyEpoch(); })
          .then([context](Result<uint64_t> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (r.ok()) out.setEpoch(*r);
          });
    });
  }

  kj::Promise<void> waitForReady(WaitForReadyContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      return WaitForReadyUntil(server_, session_, p.getEpoch(), DeadlineIn(server_, p.getMaxWaitMs()))
          .then([context](Status s) mutable { SetStatus(context.getResults(), s); });
    });
  }

  kj::Promise<void> getTypeSettings(GetTypeSettingsContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      std::string type = Str(context.getParams().getType());
      return Run<Result<TypeSettings>>(
                 [type = std::move(type)](Store& s) { return s.GetTypeSettings(type); })
          .then([context](Result<TypeSettings> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (r.ok()) ToWire(*r, out.initSettings());
          });
    });
  }

  kj::Promise<void> setTypeSettings(SetTypeSettingsContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      auto p = context.getParams();
      std::string type = Str(p.getType());
      Result<TypeSettings> settings = FromWire(p.getSettings());
      if (!settings.ok()) return Refuse(context, settings.status());
      TypeSettings ts = *settings;
      return Run<Status>([type = std::move(type), ts](Store& s) {
               return s.SetTypeSettings(type, ts);
             })
          .then([context](Status s) mutable { SetStatus(context.getResults(), s); });
    });
  }

  kj::Promise<void> types(TypesContext context) override {
    return Admit(context, [&]() -> kj::Promise<void> {
      const size_t budget = server_.answer_budget();
      return Run<Result<std::vector<std::string>>>([budget](Store& s) {
               auto r = s.Types();
               if (!r.ok()) return r;
               size_t bytes = 0;
               for (const std::string& t : *r) bytes += 16 + t.size();
               if (bytes > budget) {
                 return Result<std::vector<std::string>>(
                     TooBig(std::to_string(r->size()) + " types", bytes, budget));
               }
               return r;
             })
          .then([context](Result<std::vector<std::string>> r) mutable {
            auto out = context.getResults();
            SetStatus(out, r.status());
            if (!r.ok()) return;
            auto list = out.initTypes(static_cast<unsigned>(r->size()));
            for (size_t i = 0; i < r->size(); ++i) list.set(i, AsText((*r)[i]));
          });
    });
  }

 private:
  // Runs one call: refused (its status says why, nothing is done) while the server stops or
  // when the connection has too many calls in flight; otherwise counted in flight until its
  // answer is ready. A body that throws (a message whose pointers are out of bounds) fails
  // the call with an RPC exception; the connection and the server carry on.
  template <typename Context, typename Body>
  kj::Promise<void> Admit(Context& context, Body&& body) {
    Status refusal = server_.Refusal(*session_);
    if (!refusal.ok()) {
      SetStatus(context.getResults(), refusal);
      return kj::READY_NOW;
    }
    auto guard = kj::heap<ServerLoop::InFlight>(server_, session_);
    return kj::evalNow([&]() -> kj::Promise<void> { return body(); }).attach(kj::mv(guard));
  }

  // Answers without calling the store (a batch over its bound, an enumerant this build does
  // not know).
  template <typename Context>
  kj::Promise<void> Refuse(Context& context, const Status& status) {
    server_.CountRefusedCall();
    SetStatus(context.getResults(), status);
    return kj::READY_NOW;
  }

  template <typename Context>
  static void Answer(Context& context, const Result<std::vector<ClaimedJob>>& r) {
    auto out = context.getResults();
    SetStatus(out, r.status());
    if (!r.ok()) return;
    ToWireList(*r, out.initJobs(static_cast<unsigned>(r->size())));
  }

  template <typename T>
  kj::Promise<T> Run(std::function<T(Store&)> fn, bool quick = false) {
    return server_.Offload<T>(*session_, std::move(fn), quick);
  }

  ServerLoop& server_;
  std::shared_ptr<Session> session_;
};

}  // namespace

wire::Store::Client NewStoreService(ServerLoop& server, std::shared_ptr<Session> session) {
  return kj::heap<StoreService>(server, std::move(session));
}

}  // namespace jobstore::remote
