// RemoteStore: a Store that is one connection to a served store (remote.h).
//
// Threads: any number of caller threads may call at once. Each call is written and its answer
// read on the caller's own thread (rpc_link.h): one connection, calls overlapping on it up to
// the server's limit of calls in flight (more wait here for a slot instead of being refused
// there), no event-loop thread to hop to and back. A tcp: connection with TLS goes through a
// TlsRelay (a kj-tls event loop of its own).
//
// Failures: the server's Status comes back as is. When the connection breaks, the calls in
// flight fail with Unavailable saying their outcome is unknown (a write may have committed),
// and every later call fails at once with Unavailable saying it was not sent: nothing hangs,
// nothing reports a success that did not happen, and the caller (the runner) reopens.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>

#include <sys/time.h>

#include <chrono>

#include "hello.h"
#include "jobstore/serve.h"
#include "rpc_link.h"
#include "remote.h"
#include "sockets.h"
#include "tls_relay.h"
#include "wire.h"

namespace jobstore::remote {
namespace {

// Room in a message for what is not a request's variable-length data.
constexpr size_t kRequestSlack = 64 << 10;

class RemoteStore final : public Store {
 public:
  RemoteStore(const Address& address, const Options& options)
      : options_(options), address_(address.text) {
    read_only_.store(options.read_only);
  }

  // The connection closes (then the TLS relay, if any).
  ~RemoteStore() override {
    link_.reset();
    relay_.reset();
  }

  Status Connect(const Endpoint& endpoint);

  // --- the contract ----------------------------------------------------------------------

  Result<PushResult> Push(const std::vector<JobSpec>& jobs) override {
    return Send<wire::Store::PushParams, wire::Store::PushResults>(Method::kPush, jobs);
  }

  Result<PushResult> Restore(const std::vector<JobInfo>& jobs) override {
    return Send<wire::Store::RestoreParams, wire::Store::RestoreResults>(Method::kRestore, jobs);
  }

  Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs,
                                        std::optional<int64_t> ttl_ms) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<std::vector<ClaimedJob>, wire::Store::ClaimParams, wire::Store::ClaimResults>(
        kWrite, Method::kClaim,
        [&](wire::Store::ClaimParams::Builder req) {
          ToWire(queue, req.initQueue());
          req.setMaxJobs(max_jobs);
          ToWire(ttl_ms, req.initTtl());
        },
        [](wire::Store::ClaimResults::Reader r) { return Jobs(r); });
  }

  Result<std::vector<ClaimedJob>> ClaimAny(const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<std::vector<ClaimedJob>, wire::Store::ClaimAnyParams, wire::Store::ClaimAnyResults>(
        kWrite, Method::kClaimAny,
        [&](wire::Store::ClaimAnyParams::Builder req) {
          ToWire(filter, req.initFilter());
          req.setMaxJobs(max_jobs);
          ToWire(ttl_ms, req.initTtl());
          req.setWaitMs(wait_ms);
        },
        [](wire::Store::ClaimAnyResults::Reader r) { return Jobs(r); });
  }

  Status Ack(const jobstore::Claim& claim) override {
    auto r = AckMany({claim});
    if (!r.ok()) return r.status();
    if (r->size() != 1) return Status::Internal("the server answered one ack with " +
                                                std::to_string(r->size()) + " statuses");
    return std::move((*r)[0]);
  }

  Result<std::vector<Status>> AckMany(const std::vector<jobstore::Claim>& claims) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<std::vector<Status>, wire::Store::AckManyParams, wire::Store::AckManyResults>(
        kWrite, Method::kAckMany,
        [&](wire::Store::AckManyParams::Builder req) {
          auto list = req.initClaims(static_cast<unsigned>(claims.size()));
          for (size_t i = 0; i < claims.size(); ++i) ToWire(claims[i], list[i]);
        },
        [&](wire::Store::AckManyResults::Reader r) -> Result<std::vector<Status>> {
          Status s = FromWire(r.getStatus());
          if (!s.ok()) return s;
          return Statuses(r.getStatuses(), claims.size());
        });
  }

  Result<AckedThenClaimed> AckThenClaimAny(const std::vector<jobstore::Claim>& done,
                                           const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<AckedThenClaimed, wire::Store::AckThenClaimAnyParams,
                  wire::Store::AckThenClaimAnyResults>(
        kWrite, Method::kAckThenClaimAny,
        [&](wire::Store::AckThenClaimAnyParams::Builder req) {
          auto list = req.initClaims(static_cast<unsigned>(done.size()));
          for (size_t i = 0; i < done.size(); ++i) ToWire(done[i], list[i]);
          ToWire(filter, req.initFilter());
          req.setMaxJobs(max_jobs);
          ToWire(ttl_ms, req.initTtl());
          req.setWaitMs(wait_ms);
        },
        [&](wire::Store::AckThenClaimAnyResults::Reader r) -> Result<AckedThenClaimed> {
          Status s = FromWire(r.getStatus());
          if (!s.ok()) return s;
          auto acked = Statuses(r.getStatuses(), done.size());
          if (!acked.ok()) return acked.status();
          return AckedThenClaimed{std::move(*acked), Jobs(r.getClaimStatus(), r.getJobs())};
        });
  }

  Result<Released> Release(const jobstore::Claim& claim, int64_t delay_ms,
                           const std::string& error) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<Released, wire::Store::ReleaseParams, wire::Store::ReleaseResults>(
        kWrite, Method::kRelease,
        [&](wire::Store::ReleaseParams::Builder req) {
          ToWire(claim, req.initClaim());
          req.setDelayMs(delay_ms);
          // The store records only this much of an error: sending more would only risk the
          // message limit.
          req.setError(AsData(error.size() > kMaxErrorBytes ? error.substr(0, kMaxErrorBytes) : error));
        },
        [](wire::Store::ReleaseResults::Reader r) -> Result<Released> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getReleased());
      });
  }

  Result<ClaimToken> Touch(const jobstore::Claim& claim, std::optional<int64_t> ttl_ms) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<ClaimToken, wire::Store::TouchParams, wire::Store::TouchResults>(
        kWrite, Method::kTouch,
        [&](wire::Store::TouchParams::Builder req) {
          ToWire(claim, req.initClaim());
          ToWire(ttl_ms, req.initTtl());
        },
        [](wire::Store::TouchResults::Reader r) -> Result<ClaimToken> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getToken());
      });
  }

  Status ForceRelease(const QueueRef& queue, JobId id) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return InvokeStatus<wire::Store::ForceReleaseParams, wire::Store::ForceReleaseResults>(
        kWrite, Method::kForceRelease, [&](wire::Store::ForceReleaseParams::Builder req) {
          ToWire(queue, req.initQueue());
          req.setId(id);
        });
  }

  Result<uint64_t> RepushAbandoned(const QueueRef& queue) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<uint64_t, wire::Store::RepushAbandonedParams, wire::Store::RepushAbandonedResults>(
        kWrite, Method::kRepushAbandoned,
        [&](wire::Store::RepushAbandonedParams::Builder req) {
          ToWire(queue, req.initQueue());
        },
        [](wire::Store::RepushAbandonedResults::Reader r) -> Result<uint64_t> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return r.getMoved();
      });
  }

  Status RetryJob(const QueueRef& queue, JobId id) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return InvokeStatus<wire::Store::RetryJobParams, wire::Store::RetryJobResults>(
        kWrite, Method::kRetryJob, [&](wire::Store::RetryJobParams::Builder req) {
          ToWire(queue, req.initQueue());
          req.setId(id);
        });
  }

  Status DeleteJob(const QueueRef& queue, JobId id) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return InvokeStatus<wire::Store::DeleteJobParams, wire::Store::DeleteJobResults>(
        kWrite, Method::kDeleteJob, [&](wire::Store::DeleteJobParams::Builder req) {
          ToWire(queue, req.initQueue());
          req.setId(id);
        });
  }

  Status Clear(const QueueRef& queue) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return InvokeStatus<wire::Store::ClearParams, wire::Store::ClearResults>(
        kWrite, Method::kClear, [&](wire::Store::ClearParams::Builder req) {
          ToWire(queue, req.initQueue());
        });
  }

  Result<MaintenanceReport> Maintain() override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<MaintenanceReport, wire::Store::MaintainParams, wire::Store::MaintainResults>(
        kWrite, Method::kMaintain,
        [&](wire::Store::MaintainParams::Builder req) {
        },
        [](wire::Store::MaintainResults::Reader r) -> Result<MaintenanceReport> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getReport());
      });
  }

  Result<QueueCounts> Counts(const QueueRef& queue) override {
    return Invoke<QueueCounts, wire::Store::CountsParams, wire::Store::CountsResults>(
        kRead, Method::kCounts,
        [&](wire::Store::CountsParams::Builder req) {
          ToWire(queue, req.initQueue());
        },
        [](wire::Store::CountsResults::Reader r) -> Result<QueueCounts> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getCounts());
      });
  }

  Result<std::vector<QueueStats>> Queues() override {
    return Invoke<std::vector<QueueStats>, wire::Store::QueuesParams, wire::Store::QueuesResults>(
        kRead, Method::kQueues,
        [&](wire::Store::QueuesParams::Builder req) {
        },
        [](wire::Store::QueuesResults::Reader r) -> Result<std::vector<QueueStats>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        std::vector<QueueStats> out;
        for (auto q : r.getQueues()) out.push_back(FromWire(q));
        return out;
      });
  }

  Result<ListPage> List(const QueueRef& queue, JobState state, const std::string& cursor,
                        size_t limit) override {
    return Invoke<ListPage, wire::Store::ListParams, wire::Store::ListResults>(
        kRead, Method::kList,
        [&](wire::Store::ListParams::Builder req) {
          ToWire(queue, req.initQueue());
          req.setState(ToWire(state));
          req.setCursor(AsData(cursor));
          req.setLimit(limit);
        },
        [](wire::Store::ListResults::Reader r) -> Result<ListPage> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        ListPage page;
        for (auto j : r.getJobs()) {
          auto job = FromWire(j);
          if (!job.ok()) return job.status();
          page.jobs.push_back(std::move(*job));
        }
        page.next_cursor = Str(r.getNextCursor());
        return page;
      });
  }

  Result<JobInfo> Inspect(const QueueRef& queue, JobId id) override {
    return Invoke<JobInfo, wire::Store::InspectParams, wire::Store::InspectResults>(
        kRead, Method::kInspect,
        [&](wire::Store::InspectParams::Builder req) {
          ToWire(queue, req.initQueue());
          req.setId(id);
        },
        [](wire::Store::InspectResults::Reader r) -> Result<JobInfo> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getJob());
      });
  }

  Result<std::vector<std::string>> Check() override {
    return Invoke<std::vector<std::string>, wire::Store::CheckParams, wire::Store::CheckResults>(
        kRead, Method::kCheck,
        [&](wire::Store::CheckParams::Builder req) {
        },
        [](wire::Store::CheckResults::Reader r) -> Result<std::vector<std::string>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        std::vector<std::string> out;
        for (auto p : r.getProblems()) out.push_back(Str(p));
        return out;
      });
  }

  Result<std::vector<QueueRef>> ReadyQueues() override {
    return Invoke<std::vector<QueueRef>, wire::Store::ReadyQueuesParams, wire::Store::ReadyQueuesResults>(
        kRead, Method::kReadyQueues,
        [&](wire::Store::ReadyQueuesParams::Builder req) {
        },
        [](wire::Store::ReadyQueuesResults::Reader r) -> Result<std::vector<QueueRef>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        std::vector<QueueRef> out;
        for (auto q : r.getQueues()) out.push_back(FromWire(q));
        return out;
      });
  }

  Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter) override {
    return Invoke<std::optional<QueueRef>, wire::Store::PickReadyQueueParams, wire::Store::PickReadyQueueResults>(
        kRead, Method::kPickReadyQueue,
        [&](wire::Store::PickReadyQueueParams::Builder req) {
          ToWire(filter, req.initFilter());
        },
        [](wire::Store::PickReadyQueueResults::Reader r) -> Result<std::optional<QueueRef>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        if (!r.getFound()) return std::optional<QueueRef>();
        return std::optional<QueueRef>(FromWire(r.getQueue()));
      });
  }

  Result<uint64_t> ReadyEpoch() override {
    return Invoke<uint64_t, wire::Store::ReadyEpochParams, wire::Store::ReadyEpochResults>(
        kRead, Method::kReadyEpoch,
        [&](wire::Store::ReadyEpochParams::Builder req) {
        },
        [](wire::Store::ReadyEpochResults::Reader r) -> Result<uint64_t> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return r.getEpoch();
      });
  }

  Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) override {
    return InvokeStatus<wire::Store::WaitForReadyParams, wire::Store::WaitForReadyResults>(
        kRead, Method::kWaitForReady, [&](wire::Store::WaitForReadyParams::Builder req) {
          req.setEpoch(epoch);
          req.setMaxWaitMs(max_wait_ms);
        });
  }

  Result<TypeSettings> GetTypeSettings(const std::string& type) override {
    return Invoke<TypeSettings, wire::Store::GetTypeSettingsParams, wire::Store::GetTypeSettingsResults>(
        kRead, Method::kGetTypeSettings,
        [&](wire::Store::GetTypeSettingsParams::Builder req) {
          req.setType(AsText(type));
        },
        [](wire::Store::GetTypeSettingsResults::Reader r) -> Result<TypeSettings> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getSettings());
      });
  }

  Status SetTypeSettings(const std::string& type, const TypeSettings& settings) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return InvokeStatus<wire::Store::SetTypeSettingsParams, wire::Store::SetTypeSettingsResults>(
        kWrite, Method::kSetTypeSettings, [&](wire::Store::SetTypeSettingsParams::Builder req) {
          req.setType(AsText(type));
          ToWire(settings, req.initSettings());
        });
  }

  Result<std::vector<std::string>> Types() override {
    return Invoke<std::vector<std::string>, wire::Store::TypesParams, wire::Store::TypesResults>(
        kRead, Method::kTypes,
        [&](wire::Store::TypesParams::Builder req) {
        },
        [](wire::Store::TypesResults::Reader r) -> Result<std::vector<std::string>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        std::vector<std::string> out;
        for (auto t : r.getTypes()) out.push_back(Str(t));
        return out;
      });
  }

  // This connection's own read-only mode: it refuses writes here, whatever the server's.
  void SetReadOnly(bool read_only) override { read_only_.store(read_only); }
  bool IsReadOnly() const override { return read_only_.load() || served_read_only_; }
  Capabilities capabilities() const override { return capabilities_; }
  const Options& options() const override { return options_; }
  Backend* backend() override { return nullptr; }

 private:
  enum Kind { kRead, kWrite };

  // The methods' numbers: their ordinals in schema/remote.capnp.
  enum Method : uint16_t {
    kInfo = 0, kPush, kClaim, kClaimAny, kAckMany, kRelease, kTouch, kRepushAbandoned,
    kRetryJob, kDeleteJob, kClear, kMaintain, kCounts, kQueues, kList, kInspect, kCheck,
    kReadyQueues, kPickReadyQueue, kReadyEpoch, kWaitForReady, kGetTypeSettings,
    kSetTypeSettings, kTypes, kForceRelease, kRestore, kAckThenClaimAny,
  };

  Status CheckWritable() const {
    if (read_only_.load()) {
      return Status::ReadOnly("the store is in read-only mode; switch it off to change jobs");
    }
    return Status::OK();
  }

  // A push or a restore: `jobs` in one message, answered with ids and duplicate flags.
  template <typename Params, typename Results, typename Job>
  Result<PushResult> Send(Method method, const std::vector<Job>& jobs) {
    if (Status s = CheckWritable(); !s.ok()) return s;
    size_t bytes = 0;
    for (const Job& j : jobs) bytes += WireBytes(j);
    if (bytes + kRequestSlack > max_message_bytes_) {
      return Status::InvalidArgument(
          "a batch of " + std::to_string(jobs.size()) + " jobs is about " +
          std::to_string(bytes >> 20) + " MiB, over the served store's limit of " +
          std::to_string(max_message_bytes_ >> 20) +
          " MiB a message; nothing was pushed: send fewer jobs at a time");
    }
    return Invoke<PushResult, Params, Results>(
        kWrite, method,
        [&](typename Params::Builder req) {
          auto list = req.initJobs(static_cast<unsigned>(jobs.size()));
          for (size_t i = 0; i < jobs.size(); ++i) ToWire(jobs[i], list[i]);
        },
        [](typename Results::Reader r) -> Result<PushResult> {
          Status s = FromWire(r.getStatus());
          if (!s.ok()) return s;
          PushResult out;
          for (uint64_t id : r.getIds()) out.ids.push_back(id);
          for (bool d : r.getDuplicate()) out.duplicate.push_back(d);
          out.pushed = r.getPushed();
          out.duplicates = r.getDuplicates();
          return out;
        });
  }

  template <typename R>
  static Result<std::vector<ClaimedJob>> Jobs(R r) {
    return Jobs(r.getStatus(), r.getJobs());
  }
  static Result<std::vector<ClaimedJob>> Jobs(wire::Status::Reader status,
                                              capnp::List<wire::ClaimedJob>::Reader jobs) {
    Status s = FromWire(status);
    if (!s.ok()) return s;
    return FromWireList<ClaimedJob>(jobs);
  }

  // One status per claim sent, or an error naming the server that answered otherwise.
  Result<std::vector<Status>> Statuses(capnp::List<wire::Status>::Reader list,
                                       size_t sent) const {
    if (list.size() != sent) {
      return Status::Internal(Where() + " answered " + std::to_string(sent) + " acks with " +
                              std::to_string(list.size()) + " statuses");
    }
    return FromWireList<Status>(list);
  }

  // One call: `fill` fills its params, `decode` reads its results. A server's answer that does
  // not decode (bounds, an unknown enumerant) is Internal, naming the server.
  template <typename T, typename Params, typename Results, typename Fill, typename Decode>
  Result<T> Invoke(Kind kind, Method method, Fill fill, Decode decode) {
    InFlightSlot slot(*this);
    RpcLink::Outcome out = link_->Call(
        capnp::typeId<wire::Store>(), method,
        [&](capnp::AnyPointer::Builder params) { fill(params.initAs<Params>()); });
    if (out.kind != RpcLink::Outcome::kReturned) return Failed(kind, out);
    Result<T> result = Status::Internal("no answer decoded");
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
      result = decode(out.results().template getAs<Results>());
    })) {
      return Status::Internal(Where() + " sent an answer that does not decode: " +
                              e->getDescription().cStr());
    }
    return result;
  }

  template <typename Params, typename Results, typename Fill>
  Status InvokeStatus(Kind kind, Method method, Fill fill) {
    Result<bool> r = Invoke<bool, Params, Results>(kind, method, fill,
                                                   [](typename Results::Reader res) -> Result<bool> {
                                                     Status s = FromWire(res.getStatus());
                                                     if (!s.ok()) return s;
                                                     return true;
                                                   });
    return r.ok() ? Status::OK() : r.status();
  }

  std::string Where() const {
    return "the served store at " + address_ +
           (server_pid_ ? " (process " + std::to_string(server_pid_) + ")" : std::string());
  }

  // What a call that got no answer means for the caller.
  Status Failed(Kind kind, const RpcLink::Outcome& out) const {
    switch (out.kind) {
      case RpcLink::Outcome::kReturned:
        return Status::OK();
      case RpcLink::Outcome::kNotSent:
        return Status::Unavailable("the connection to " + Where() + " is closed (" + out.why +
                                   "): the call was not sent, so it was not applied; reopen "
                                   "the store (its owner may have exited)");
      case RpcLink::Outcome::kLost:
        return Status::Unavailable(
            "the connection to " + Where() + " was lost during the call (" + out.why + ")" +
            (kind == kWrite ? ": it may or may not have been applied" : "") +
            "; reopen the store (its owner may have exited)");
      case RpcLink::Outcome::kTooLarge:
        return Status::InvalidArgument(out.why);
      case RpcLink::Outcome::kException:
        break;
    }
    switch (out.type) {
      case capnp::rpc::Exception::Type::DISCONNECTED:
        return Status::Unavailable(Where() + " hung up during the call (" + out.why + ")" +
                                   (kind == kWrite ? ": it may or may not have been applied" : "") +
                                   "; reopen the store");
      case capnp::rpc::Exception::Type::OVERLOADED:
        return Status::Unavailable(Where() + " is overloaded: the call was not applied (" +
                                   out.why + "); retry later");
      case capnp::rpc::Exception::Type::UNIMPLEMENTED:
        return Status::NotSupported(Where() + " does not know this call (an older jobstore?): " +
                                    out.why);
      default:
        return Status::Internal(Where() + " failed the call: " + out.why);
    }
  }

  // Waits for one of the server's calls-in-flight slots.
  class InFlightSlot {
   public:
    explicit InFlightSlot(RemoteStore& s) : s_(s) {
      std::unique_lock<std::mutex> l(s_.slots_mu_);
      s_.slots_cv_.wait(l, [&] { return s_.in_flight_ < s_.max_in_flight_; });
      ++s_.in_flight_;
    }
    ~InFlightSlot() {
      {
        std::lock_guard<std::mutex> l(s_.slots_mu_);
        --s_.in_flight_;
      }
      s_.slots_cv_.notify_one();
    }

   private:
    RemoteStore& s_;
  };

  const Options options_;
  const std::string address_;  // for messages (unix: and tcp: addresses hold no secret)
  std::atomic<bool> read_only_{false};

  // Set once by Connect, read-only afterwards.
  Capabilities capabilities_;
  bool served_read_only_ = false;
  int64_t server_pid_ = 0;
  size_t max_message_bytes_ = kDefaultMaxMessageBytes;
  size_t max_in_flight_ = 1;

  std::mutex slots_mu_;
  std::condition_variable slots_cv_;
  size_t in_flight_ = 0;  // guarded by slots_mu_

  std::unique_ptr<TlsRelay> relay_;  // tcp: with TLS: the encrypted half of the connection
  std::unique_ptr<RpcLink> link_;
};

std::string ReadFileText(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  *ok = static_cast<bool>(in) || in.eof();
  return buf.str();
}

Status RemoteStore::Connect(const Endpoint& endpoint) {
  std::string ca_pem;
  const bool tls = !endpoint.is_unix && !options_.tls_ca_file.empty();
  if (tls) {
    bool ok = false;
    ca_pem = ReadFileText(options_.tls_ca_file, &ok);
    if (!ok || ca_pem.empty()) {
      return Status::InvalidArgument("cannot read the TLS certificate file '" +
                                     options_.tls_ca_file + "' (Options::tls_ca_file)");
    }
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(kConnectTimeoutMs);
  auto fd = ConnectSocket(endpoint, kConnectTimeoutMs);
  if (!fd.ok()) return fd.status();
  int plain = *fd;
  if (endpoint.is_unix) {
    // The other way round too: jobs go only to a server of this user (or root), never to a
    // socket someone else put in a shared directory.
    struct ucred cred {};
    socklen_t len = sizeof cred;
    if (getsockopt(plain, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || !PeerUidAllowed(cred.uid)) {
      close(plain);
      return Status::InvalidArgument("'" + address_ + "' is served by uid " +
                                     std::to_string(cred.uid) +
                                     ", not by this user or root: refusing to use it");
    }
  }
  if (tls) {
    auto relay = TlsRelay::Start(*fd, endpoint.host, ca_pem, kConnectTimeoutMs, &plain);
    if (!relay.ok()) return relay.status().Prefixed("cannot connect to '" + address_ + "'");
    relay_ = std::move(relay).value();
  }
  // The hello and the first answers must come within the connect timeout: a peer that
  // accepts and says nothing must not hang Store::Open.
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
                        give_up - std::chrono::steady_clock::now())
                        .count();
  struct timeval tv {};
  tv.tv_sec = std::max<int64_t>(left, 1000) / 1'000'000;
  tv.tv_usec = std::max<int64_t>(left, 1000) % 1'000'000;
  setsockopt(plain, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Status hello = ClientHello(plain, options_.token);
  if (!hello.ok()) {
    close(plain);
    return hello.Prefixed("cannot connect to '" + address_ + "'");
  }
  // Twice the largest server limit: any answer a server may send is readable.
  link_ = std::make_unique<RpcLink>(plain, 2 * kDefaultMaxMessageBytes, kDefaultMaxMessageBytes);
  RpcLink::Outcome boot = link_->Bootstrap();
  if (boot.kind != RpcLink::Outcome::kReturned) {
    return Status::Unavailable("cannot connect to '" + address_ + "': " + boot.why);
  }
  Status info = Status::OK();
  Result<bool> got = Invoke<bool, wire::Store::InfoParams, wire::Store::InfoResults>(
      kRead, Method::kInfo, [](wire::Store::InfoParams::Builder) {},
      [&](wire::Store::InfoResults::Reader r) -> Result<bool> {
        auto i = r.getInfo();
        auto caps = FromWire(i.getCapabilities());
        if (!caps.ok()) return caps.status();
        server_pid_ = i.getPid();
        capabilities_ = *caps;
        capabilities_.medium = "remote";
        capabilities_.shared = true;
        capabilities_.note = "served by process " + std::to_string(server_pid_) + " at " +
                             address_ + ": " + caps->note;
        served_read_only_ = i.getReadOnly();
        max_message_bytes_ = std::min<size_t>(i.getMaxMessageBytes(), 2 * kDefaultMaxMessageBytes);
        max_in_flight_ = std::max<size_t>(1, i.getMaxCallsInFlight());
        return true;
      });
  if (!got.ok()) return got.status().Prefixed("cannot connect to '" + address_ + "'");
  link_->set_max_write_bytes(max_message_bytes_);
  // From now on a call waits as long as the server takes (a ClaimAny may wait an hour); a
  // server that is gone closes the socket, and TCP keepalive finds a vanished machine.
  tv = {};
  setsockopt(plain, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Store>> Connect(const Address& address, const Options& options) {
  auto endpoint = ParseEndpoint(address.text);
  if (!endpoint.ok()) return endpoint.status();
  auto store = std::make_unique<RemoteStore>(address, options);
  Status s = store->Connect(*endpoint);
  if (!s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace jobstore::remote
