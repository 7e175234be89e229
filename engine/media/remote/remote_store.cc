// RemoteStore: a Store that is one connection to a served store (remote.h).
//
// Threads: the connection lives on a LoopThread of its own (loop_thread.h). Any number of
// caller threads may call at once: each call is built and sent on the loop, and the caller
// sleeps on a condition variable until its answer is decoded into plain values. Calls overlap
// on the one connection (Cap'n Proto answers them in any order), up to the server's limit of
// calls in flight; more wait here for a slot instead of being refused there.
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

#include <capnp/rpc-twoparty.h>
#include <capnp/rpc.h>
#include <kj/compat/tls.h>
#include <kj/timer.h>

#include "hello.h"
#include "jobstore/serve.h"
#include "loop_thread.h"
#include "remote.h"
#include "sockets.h"
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

  ~RemoteStore() override {
    if (loop_) {
      (void)loop_->Call<int>([this] {
        link_.reset();
        return 0;
      });
      loop_->Stop();
    }
  }

  Status Connect(const Endpoint& endpoint);

  // --- the contract ----------------------------------------------------------------------

  Result<PushResult> Push(const std::vector<JobSpec>& jobs) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    size_t bytes = 0;
    for (const JobSpec& j : jobs) bytes += WireBytes(j);
    if (bytes + kRequestSlack > max_message_bytes_) {
      return Status::InvalidArgument(
          "a push of " + std::to_string(jobs.size()) + " jobs is about " +
          std::to_string(bytes >> 20) + " MiB, over the served store's limit of " +
          std::to_string(max_message_bytes_ >> 20) +
          " MiB a message; nothing was pushed: push fewer jobs at a time");
    }
    return Invoke<PushResult>(kWrite, [&](wire::Store::Client& c) {
      auto req = c.pushRequest();
      auto list = req.initJobs(static_cast<unsigned>(jobs.size()));
      for (size_t i = 0; i < jobs.size(); ++i) ToWire(jobs[i], list[i]);
      return Send<PushResult>(req, [](auto& r) -> Result<PushResult> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        PushResult out;
        for (uint64_t id : r.getIds()) out.ids.push_back(id);
        for (bool d : r.getDuplicate()) out.duplicate.push_back(d);
        out.pushed = r.getPushed();
        out.duplicates = r.getDuplicates();
        return out;
      });
    });
  }

  Result<std::vector<ClaimedJob>> Claim(const QueueRef& queue, size_t max_jobs,
                                        std::optional<int64_t> ttl_ms) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<std::vector<ClaimedJob>>(kWrite, [&](wire::Store::Client& c) {
      auto req = c.claimRequest();
      ToWire(queue, req.initQueue());
      req.setMaxJobs(max_jobs);
      ToWire(ttl_ms, req.initTtl());
      return Send<std::vector<ClaimedJob>>(req, [](auto& r) { return Jobs(r); });
    });
  }

  Result<std::vector<ClaimedJob>> ClaimAny(const ReadyFilter& filter, size_t max_jobs,
                                           std::optional<int64_t> ttl_ms,
                                           int64_t wait_ms) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<std::vector<ClaimedJob>>(kWrite, [&](wire::Store::Client& c) {
      auto req = c.claimAnyRequest();
      ToWire(filter, req.initFilter());
      req.setMaxJobs(max_jobs);
      ToWire(ttl_ms, req.initTtl());
      req.setWaitMs(wait_ms);
      return Send<std::vector<ClaimedJob>>(req, [](auto& r) { return Jobs(r); });
    });
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
    return Invoke<std::vector<Status>>(kWrite, [&](wire::Store::Client& c) {
      auto req = c.ackManyRequest();
      auto list = req.initClaims(static_cast<unsigned>(claims.size()));
      for (size_t i = 0; i < claims.size(); ++i) ToWire(claims[i], list[i]);
      return Send<std::vector<Status>>(req, [](auto& r) -> Result<std::vector<Status>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        std::vector<Status> out;
        for (auto st : r.getStatuses()) out.push_back(FromWire(st));
        return out;
      });
    });
  }

  Result<Released> Release(const jobstore::Claim& claim, int64_t delay_ms,
                           const std::string& error) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<Released>(kWrite, [&](wire::Store::Client& c) {
      auto req = c.releaseRequest();
      ToWire(claim, req.initClaim());
      req.setDelayMs(delay_ms);
      // The store records only this much of an error: sending more would only risk the
      // message limit.
      req.setError(AsData(error.size() > kMaxErrorBytes ? error.substr(0, kMaxErrorBytes) : error));
      return Send<Released>(req, [](auto& r) -> Result<Released> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getReleased());
      });
    });
  }

  Result<ClaimToken> Touch(const jobstore::Claim& claim, std::optional<int64_t> ttl_ms) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<ClaimToken>(kWrite, [&](wire::Store::Client& c) {
      auto req = c.touchRequest();
      ToWire(claim, req.initClaim());
      ToWire(ttl_ms, req.initTtl());
      return Send<ClaimToken>(req, [](auto& r) -> Result<ClaimToken> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getToken());
      });
    });
  }

  Result<uint64_t> RepushAbandoned(const QueueRef& queue) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<uint64_t>(kWrite, [&](wire::Store::Client& c) {
      auto req = c.repushAbandonedRequest();
      ToWire(queue, req.initQueue());
      return Send<uint64_t>(req, [](auto& r) -> Result<uint64_t> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return r.getMoved();
      });
    });
  }

  Status RetryJob(const QueueRef& queue, JobId id) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return InvokeStatus(kWrite, [&](wire::Store::Client& c) {
      auto req = c.retryJobRequest();
      ToWire(queue, req.initQueue());
      req.setId(id);
      return SendStatus(req);
    });
  }

  Status DeleteJob(const QueueRef& queue, JobId id) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return InvokeStatus(kWrite, [&](wire::Store::Client& c) {
      auto req = c.deleteJobRequest();
      ToWire(queue, req.initQueue());
      req.setId(id);
      return SendStatus(req);
    });
  }

  Status Clear(const QueueRef& queue) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return InvokeStatus(kWrite, [&](wire::Store::Client& c) {
      auto req = c.clearRequest();
      ToWire(queue, req.initQueue());
      return SendStatus(req);
    });
  }

  Result<MaintenanceReport> Maintain() override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return Invoke<MaintenanceReport>(kWrite, [&](wire::Store::Client& c) {
      auto req = c.maintainRequest();
      return Send<MaintenanceReport>(req, [](auto& r) -> Result<MaintenanceReport> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getReport());
      });
    });
  }

  Result<QueueCounts> Counts(const QueueRef& queue) override {
    return Invoke<QueueCounts>(kRead, [&](wire::Store::Client& c) {
      auto req = c.countsRequest();
      ToWire(queue, req.initQueue());
      return Send<QueueCounts>(req, [](auto& r) -> Result<QueueCounts> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getCounts());
      });
    });
  }

  Result<std::vector<QueueStats>> Queues() override {
    return Invoke<std::vector<QueueStats>>(kRead, [&](wire::Store::Client& c) {
      auto req = c.queuesRequest();
      return Send<std::vector<QueueStats>>(req, [](auto& r) -> Result<std::vector<QueueStats>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        std::vector<QueueStats> out;
        for (auto q : r.getQueues()) out.push_back(FromWire(q));
        return out;
      });
    });
  }

  Result<ListPage> List(const QueueRef& queue, JobState state, const std::string& cursor,
                        size_t limit) override {
    return Invoke<ListPage>(kRead, [&](wire::Store::Client& c) {
      auto req = c.listRequest();
      ToWire(queue, req.initQueue());
      req.setState(ToWire(state));
      req.setCursor(AsData(cursor));
      req.setLimit(limit);
      return Send<ListPage>(req, [](auto& r) -> Result<ListPage> {
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
    });
  }

  Result<JobInfo> Inspect(const QueueRef& queue, JobId id) override {
    return Invoke<JobInfo>(kRead, [&](wire::Store::Client& c) {
      auto req = c.inspectRequest();
      ToWire(queue, req.initQueue());
      req.setId(id);
      return Send<JobInfo>(req, [](auto& r) -> Result<JobInfo> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getJob());
      });
    });
  }

  Result<std::vector<std::string>> Check() override {
    return Invoke<std::vector<std::string>>(kRead, [&](wire::Store::Client& c) {
      auto req = c.checkRequest();
      return Send<std::vector<std::string>>(req, [](auto& r) -> Result<std::vector<std::string>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        std::vector<std::string> out;
        for (auto p : r.getProblems()) out.push_back(Str(p));
        return out;
      });
    });
  }

  Result<std::vector<QueueRef>> ReadyQueues() override {
    return Invoke<std::vector<QueueRef>>(kRead, [&](wire::Store::Client& c) {
      auto req = c.readyQueuesRequest();
      return Send<std::vector<QueueRef>>(req, [](auto& r) -> Result<std::vector<QueueRef>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        std::vector<QueueRef> out;
        for (auto q : r.getQueues()) out.push_back(FromWire(q));
        return out;
      });
    });
  }

  Result<std::optional<QueueRef>> PickReadyQueue(const ReadyFilter& filter) override {
    return Invoke<std::optional<QueueRef>>(kRead, [&](wire::Store::Client& c) {
      auto req = c.pickReadyQueueRequest();
      ToWire(filter, req.initFilter());
      return Send<std::optional<QueueRef>>(req, [](auto& r) -> Result<std::optional<QueueRef>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        if (!r.getFound()) return std::optional<QueueRef>();
        return std::optional<QueueRef>(FromWire(r.getQueue()));
      });
    });
  }

  Result<uint64_t> ReadyEpoch() override {
    return Invoke<uint64_t>(kRead, [&](wire::Store::Client& c) {
      auto req = c.readyEpochRequest();
      return Send<uint64_t>(req, [](auto& r) -> Result<uint64_t> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return r.getEpoch();
      });
    });
  }

  Status WaitForReady(uint64_t epoch, int64_t max_wait_ms) override {
    return InvokeStatus(kRead, [&](wire::Store::Client& c) {
      auto req = c.waitForReadyRequest();
      req.setEpoch(epoch);
      req.setMaxWaitMs(max_wait_ms);
      return SendStatus(req);
    });
  }

  Result<TypeSettings> GetTypeSettings(const std::string& type) override {
    return Invoke<TypeSettings>(kRead, [&](wire::Store::Client& c) {
      auto req = c.getTypeSettingsRequest();
      req.setType(AsText(type));
      return Send<TypeSettings>(req, [](auto& r) -> Result<TypeSettings> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        return FromWire(r.getSettings());
      });
    });
  }

  Status SetTypeSettings(const std::string& type, const TypeSettings& settings) override {
    if (Status s = CheckWritable(); !s.ok()) return s;
    return InvokeStatus(kWrite, [&](wire::Store::Client& c) {
      auto req = c.setTypeSettingsRequest();
      req.setType(AsText(type));
      ToWire(settings, req.initSettings());
      return SendStatus(req);
    });
  }

  Result<std::vector<std::string>> Types() override {
    return Invoke<std::vector<std::string>>(kRead, [&](wire::Store::Client& c) {
      auto req = c.typesRequest();
      return Send<std::vector<std::string>>(req, [](auto& r) -> Result<std::vector<std::string>> {
        Status s = FromWire(r.getStatus());
        if (!s.ok()) return s;
        std::vector<std::string> out;
        for (auto t : r.getTypes()) out.push_back(Str(t));
        return out;
      });
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

  // Loop thread only.
  struct Link {
    kj::Maybe<kj::TlsCertificate> ca;
    kj::Own<kj::TlsContext> tls;
    kj::Own<kj::AsyncIoStream> stream;
    kj::Own<capnp::TwoPartyVatNetwork> network;
    kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
    wire::Store::Client client = nullptr;
    kj::Promise<void> watch = nullptr;
    bool broken = false;
  };

  Status CheckWritable() const {
    if (read_only_.load()) {
      return Status::ReadOnly("the store is in read-only mode; switch it off to change jobs");
    }
    return Status::OK();
  }

  template <typename R>
  static Result<std::vector<ClaimedJob>> Jobs(R& r) {
    Status s = FromWire(r.getStatus());
    if (!s.ok()) return s;
    std::vector<ClaimedJob> out;
    out.reserve(r.getJobs().size());
    for (auto j : r.getJobs()) out.push_back(FromWire(j));
    return out;
  }

  // Sends `req` (unless it is over the message limit) and decodes its answer.
  template <typename T, typename Request, typename Decode>
  kj::Promise<Result<T>> Send(Request& req, Decode decode) {
    const size_t bytes = req.totalSize().wordCount * sizeof(capnp::word);
    if (bytes + kRequestSlack > max_message_bytes_) {
      return Result<T>(Status::InvalidArgument(
          "the call is " + std::to_string(bytes >> 20) + " MiB, over the served store's limit of " +
          std::to_string(max_message_bytes_ >> 20) + " MiB a message; it was not sent"));
    }
    return req.send().then([decode](auto&& response) -> Result<T> { return decode(response); });
  }

  template <typename Request>
  kj::Promise<Result<bool>> SendStatus(Request& req) {
    return Send<bool>(req, [](auto& r) -> Result<bool> {
      Status s = FromWire(r.getStatus());
      if (!s.ok()) return s;
      return true;
    });
  }

  // Runs one call on the loop and waits for its answer.
  template <typename T>
  Result<T> Invoke(Kind kind, std::function<kj::Promise<Result<T>>(wire::Store::Client&)> send) {
    InFlightSlot slot(*this);
    std::optional<Result<T>> r = loop_->Await<Result<T>>([&]() -> kj::Promise<Result<T>> {
      if (!link_ || link_->broken) return Result<T>(NotSent());
      return kj::evalNow([&] { return send(link_->client); })
          .catch_([this, kind](kj::Exception&& e) { return Result<T>(Failed(kind, e)); });
    });
    if (!r) return NotSent();
    return std::move(*r);
  }

  Status InvokeStatus(Kind kind,
                      std::function<kj::Promise<Result<bool>>(wire::Store::Client&)> send) {
    Result<bool> r = Invoke<bool>(kind, std::move(send));
    return r.ok() ? Status::OK() : r.status();
  }

  std::string Where() const {
    return "the served store at " + address_ +
           (server_pid_ ? " (process " + std::to_string(server_pid_) + ")" : std::string());
  }

  Status NotSent() const {
    return Status::Unavailable("the connection to " + Where() +
                               " is closed: the call was not sent, so it was not applied; "
                               "reopen the store (its owner may have exited)");
  }

  // Loop thread: what a failed call means for the caller.
  Status Failed(Kind kind, const kj::Exception& e) {
    const std::string why = e.getDescription().cStr();
    switch (e.getType()) {
      case kj::Exception::Type::DISCONNECTED:
        if (link_) link_->broken = true;
        return Status::Unavailable(
            "the connection to " + Where() + " was lost during the call (" + why + ")" +
            (kind == kWrite ? ": it may or may not have been applied" : "") +
            "; reopen the store (its owner may have exited)");
      case kj::Exception::Type::OVERLOADED:
        return Status::Unavailable(Where() + " is overloaded: the call was not applied (" + why +
                                   "); retry later");
      case kj::Exception::Type::UNIMPLEMENTED:
        return Status::NotSupported(Where() + " does not know this call (an older jobstore?): " +
                                    why);
      default:
        return Status::Internal(Where() + " failed the call: " + why);
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

  std::unique_ptr<LoopThread> loop_;
  std::unique_ptr<Link> link_;  // loop thread only
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
  auto fd = ConnectSocket(endpoint, kConnectTimeoutMs);
  if (!fd.ok()) return fd.status();
  if (endpoint.is_unix) {
    // The other way round too: jobs go only to a server of this user (or root), never to a
    // socket someone else put in a shared directory.
    struct ucred cred {};
    socklen_t len = sizeof cred;
    if (getsockopt(*fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || !PeerUidAllowed(cred.uid)) {
      close(*fd);
      return Status::InvalidArgument("'" + address_ + "' is served by uid " +
                                     std::to_string(cred.uid) +
                                     ", not by this user or root: refusing to use it");
    }
  }
  loop_ = std::make_unique<LoopThread>();
  const int raw = *fd;
  std::optional<Status> connected = loop_->Await<Status>([&, raw]() -> kj::Promise<Status> {
    link_ = std::make_unique<Link>();
    Link& link = *link_;
    kj::Own<kj::AsyncIoStream> stream = loop_->io().lowLevelProvider->wrapSocketFd(
        raw, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                 kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
    kj::Promise<kj::Own<kj::AsyncIoStream>> ready = kj::mv(stream);
    if (tls) {
      KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
        link.ca = kj::TlsCertificate(kj::StringPtr(ca_pem.c_str()));
        kj::TlsContext::Options o;
        KJ_IF_MAYBE(ca, link.ca) { o.trustedCertificates = kj::arrayPtr(ca, 1); }
        link.tls = kj::heap<kj::TlsContext>(kj::mv(o));
      })) {
        return Status::InvalidArgument("the TLS certificate file '" + options_.tls_ca_file +
                                       "' is not usable PEM (" + e->getDescription().cStr() + ")");
      }
      ready = ready.then([&link, host = endpoint.host](kj::Own<kj::AsyncIoStream> s) {
        return link.tls->wrapClient(kj::mv(s), host);
      });
    }
    auto setup =
        ready
            .then([this, &link](kj::Own<kj::AsyncIoStream> s) {
              link.stream = kj::mv(s);
              return WriteHello(*link.stream, options_.token);
            })
            .then([&link] { return ReadHelloReply(*link.stream); })
            .then([this, &link](Status hello) -> kj::Promise<Status> {
              if (!hello.ok()) return hello;
              capnp::ReaderOptions reader;
              // Twice the largest server limit: any answer a server may send is readable.
              reader.traversalLimitInWords = 2 * kDefaultMaxMessageBytes / sizeof(capnp::word);
              link.network = kj::heap<capnp::TwoPartyVatNetwork>(
                  *link.stream, capnp::rpc::twoparty::Side::CLIENT, reader);
              link.rpc = kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(
                  capnp::makeRpcClient(*link.network));
              capnp::MallocMessageBuilder vat;
              auto id = vat.initRoot<capnp::rpc::twoparty::VatId>();
              id.setSide(capnp::rpc::twoparty::Side::SERVER);
              link.client = link.rpc->bootstrap(id).castAs<wire::Store>();
              link.watch = link.network->onDisconnect()
                               .then([&link] { link.broken = true; })
                               .eagerlyEvaluate(nullptr);
              return link.client.infoRequest().send().then([this](auto&& r) -> Status {
                auto info = r.getInfo();
                auto caps = FromWire(info.getCapabilities());
                if (!caps.ok()) return caps.status();
                server_pid_ = info.getPid();
                capabilities_ = *caps;
                capabilities_.medium = "remote";
                capabilities_.shared = true;
                capabilities_.note = "served by process " + std::to_string(server_pid_) + " at " +
                                     address_ + ": " + caps->note;
                served_read_only_ = info.getReadOnly();
                max_message_bytes_ = std::min<size_t>(info.getMaxMessageBytes(),
                                                      2 * kDefaultMaxMessageBytes);
                max_in_flight_ = std::max<size_t>(1, info.getMaxCallsInFlight());
                return Status::OK();
              });
            });
    return loop_->io()
        .provider->getTimer()
        .timeoutAfter(kConnectTimeoutMs * kj::MILLISECONDS, kj::mv(setup))
        .catch_([this](kj::Exception&& e) -> Status {
          const std::string why = e.getDescription().cStr();
          if (e.getType() == kj::Exception::Type::DISCONNECTED ||
              e.getType() == kj::Exception::Type::OVERLOADED) {
            return Status::Unavailable("cannot connect to '" + address_ + "': " + why);
          }
          return Status::IOError("cannot connect to '" + address_ + "': " + why);
        });
  });
  if (!connected) return Status::Unavailable("cannot connect to '" + address_ + "': no event loop");
  return *connected;
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
