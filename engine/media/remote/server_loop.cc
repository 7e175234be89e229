#include "server_loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hello.h"
#include "server_core.h"
#include "socket_stream.h"
#include "sockets.h"

namespace jobstore::remote {

struct ServerLoop::Connection {
  // Counted in the server's connections while it lives (a refused one too, while it is told
  // why), and in its loop's from Adopt on.
  struct Held {
    ServerLoop& loop;
    bool over_limit;
    explicit Held(ServerLoop& l) : loop(l), over_limit(!l.core_.CountConnection()) {}
    ~Held() {
      loop.held_.fetch_sub(1);
      loop.core_.UncountConnection();
    }
  };
  explicit Connection(ServerLoop& loop) : held(loop) {}

  Held held;
  uint64_t id = 0;
  bool tcp = false;
  bool tls = false;
  std::string peer;
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<remote::WatchedStream> messages;
  kj::Own<capnp::TwoPartyVatNetwork> network;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
  std::shared_ptr<Session> session;
  bool serving = false;
  // Last, so it is destroyed first: it refers to the members above.
  kj::Promise<void> life = nullptr;
};

// A parked call: counted for the watcher while it waits.
class ServerLoop::Parked {
 public:
  explicit Parked(ServerCore& core) : core_(core) { core_.Parked(true); }
  ~Parked() { core_.Parked(false); }

 private:
  ServerCore& core_;
};

ServerLoop::ServerLoop(ServerCore& core) : core_(core), loop_(std::make_unique<LoopThread>()) {}

ServerLoop::~ServerLoop() { Stop(); }

Store& ServerLoop::store() { return core_.store(); }
const ServeOptions& ServerLoop::options() const { return core_.options(); }
void ServerLoop::Log(const std::string& line) { core_.Log(line); }
void ServerLoop::CountRefusedCall() { core_.counters().calls_refused.fetch_add(1); }

void ServerLoop::Submit(const Session& session, std::function<void()> task) {
  core_.pool().Submit(session.lane, std::move(task));
}

void ServerLoop::Delivered(uint64_t id) {
  auto it = offloads_.find(id);
  if (it == offloads_.end()) return;
  kj::Own<kj::PromiseFulfiller<void>> f = kj::mv(it->second);
  offloads_.erase(it);
  f->fulfill();
}

Status ServerLoop::Refusal(const Session& session) {
  if (stopping_) {
    CountRefusedCall();
    return Status::Unavailable("the server is shutting down: the call was not applied; "
                               "reopen the store (another process may own it now)");
  }
  if (session.in_flight >= options().max_calls_in_flight) {
    CountRefusedCall();
    return Status::Unavailable("this connection has " + std::to_string(session.in_flight) +
                               " calls in flight, the server's limit; the call was not "
                               "applied: wait for answers before sending more");
  }
  return Status::OK();
}

ServerLoop::InFlight::InFlight(ServerLoop& loop, std::shared_ptr<Session> session)
    : loop_(loop), session_(std::move(session)) {
  ++session_->in_flight;
  ++loop_.in_flight_;
}

ServerLoop::InFlight::~InFlight() {
  --session_->in_flight;
  loop_.core_.counters().calls.fetch_add(1);
  if (--loop_.in_flight_ == 0) {
    KJ_IF_MAYBE(f, loop_.drained_) {
      (*f)->fulfill();
      loop_.drained_ = nullptr;
    }
  }
}

// --- starting ------------------------------------------------------------------------------------

Status ServerLoop::Start() {
  auto started = loop_->Call<Status>([this]() -> Status {
    const std::string& cert = core_.tls_cert_pem();
    const std::string& key = core_.tls_key_pem();
    if (!cert.empty()) {
      KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
        keypair_ = kj::TlsKeypair{kj::TlsPrivateKey(kj::StringPtr(key.c_str())),
                                  kj::TlsCertificate(kj::StringPtr(cert.c_str()))};
        kj::TlsContext::Options o;
        KJ_IF_MAYBE(kp, keypair_) { o.defaultKeypair = *kp; }
        o.timer = timer();
        o.acceptTimeout = options().handshake_timeout_ms * kj::MILLISECONDS;
        tls_ = kj::heap<kj::TlsContext>(kj::mv(o));
      })) {
        return Status::InvalidArgument("serve: the TLS certificate or key is not usable PEM (" +
                                       std::string(e->getDescription().cStr()) + ")");
      }
    }
    auto paf = kj::newPromiseAndFulfiller<void>();
    tick_ = paf.promise.fork();
    tick_fulfiller_ = kj::mv(paf.fulfiller);
    return Status::OK();
  });
  if (!started) return Status::Internal("serve: an event loop did not start");
  return *started;
}

// --- connections ---------------------------------------------------------------------------------

bool ServerLoop::Adopt(int fd, bool tcp) {
  // Counted now, not when the loop gets to it: a burst of connections accepted in one turn
  // must see each other to spread over the loops.
  held_.fetch_add(1);
  const bool posted = loop_->Post([this, fd, tcp] {
    kj::Own<kj::AsyncIoStream> stream;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
      stream = kj::heap<SocketStream>(loop_->io().unixEventPort, fd);
    })) {
      held_.fetch_sub(1);
      Log(std::string("could not take a connection: ") + e->getDescription().cStr());
      return;
    }
    Accepted(tcp, kj::mv(stream));
  });
  if (!posted) {
    held_.fetch_sub(1);
    close(fd);
  }
  return posted;
}

void ServerLoop::Accepted(bool tcp, kj::Own<kj::AsyncIoStream> stream) {
  auto owned = kj::heap<Connection>(*this);
  Connection& c = *owned;
  c.id = core_.NextConnectionId();
  c.tcp = tcp;
  c.tls = tcp && tls_ != nullptr;
  bool allowed = true;
  std::string refusal;
  kj::runCatchingExceptions([&] {
    if (!tcp) {
      struct ucred cred {};
      uint len = sizeof cred;
      stream->getsockopt(SOL_SOCKET, SO_PEERCRED, &cred, &len);
      c.peer = "uid " + std::to_string(cred.uid) + " pid " + std::to_string(cred.pid);
      if (!remote::PeerUidAllowed(cred.uid)) {
        allowed = false;
        refusal = "uid " + std::to_string(cred.uid) + " may not use this store: it is served "
                  "by uid " + std::to_string(geteuid()) + ", and only that user and root may "
                  "connect";
      }
    } else {
      int on = 1;
      stream->setsockopt(IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      struct sockaddr_storage sa {};
      uint len = sizeof sa;
      stream->getpeername(reinterpret_cast<struct sockaddr*>(&sa), &len);
      char host[128] = "?";
      uint16_t port = 0;
      if (sa.ss_family == AF_INET) {
        auto* in = reinterpret_cast<sockaddr_in*>(&sa);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
      } else if (sa.ss_family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
      }
      c.peer = std::string("tcp ") + host + ":" + std::to_string(port);
    }
  });
  if (c.peer.empty()) c.peer = "peer " + std::to_string(c.id);
  c.stream = kj::mv(stream);
  connections_.emplace(c.id, kj::mv(owned));
  if (stopping_) return Refuse(c, "", remote::kServerStopping);
  if (c.held.over_limit) {
    const std::string limit = std::to_string(options().max_connections);
    return Refuse(c, "refused: " + limit + " connections are open, the limit",
                  std::string(remote::kServerFull) + " (" + limit + "); try again later");
  }
  if (!allowed) return Refuse(c, "refused: " + refusal, refusal);

  const uint64_t id = c.id;
  auto handshake = timer().timeoutAfter(options().handshake_timeout_ms * kj::MILLISECONDS,
                                        Handshake(c));
  c.life = handshake
               .then([this, &c](bool ok) -> kj::Promise<void> {
                 if (!ok) return kj::READY_NOW;
                 return Serve(c);
               })
               .then([this, id] { Forget(id); },
                     [this, &c, id](kj::Exception&& e) {
                       if (!c.serving) {
                         core_.counters().refused.fetch_add(1);
                         Log(c.peer + ": refused: " + e.getDescription().cStr());
                       }
                       Forget(id);
                     })
               .eagerlyEvaluate(nullptr);
}

void ServerLoop::Refuse(Connection& c, const std::string& why, const std::string& tell) {
  core_.counters().refused.fetch_add(1);
  if (!why.empty()) Log(c.peer + ": " + why);
  const uint64_t id = c.id;
  // Read the peer's hello first (bounded: 16 bytes and a token, within a second), so that a
  // client that is still sending it gets the answer rather than a broken pipe.
  kj::AsyncIoStream& stream = *c.stream;
  auto answer = remote::ReadHello(stream).then([&stream, tell](remote::Hello) {
    return remote::WriteHelloReply(stream, false, tell);
  });
  c.life = timer()
               .timeoutAfter(1000 * kj::MILLISECONDS, kj::mv(answer))
               .then([this, id] { Forget(id); }, [this, id](kj::Exception&&) { Forget(id); })
               .eagerlyEvaluate(nullptr);
}

kj::Promise<bool> ServerLoop::RefusalSent(Connection& c, const std::string& why) {
  // The refusal is logged already; a peer that left before reading it changes nothing.
  return remote::WriteHelloReply(*c.stream, false, why).then([] { return false; },
                                                            [](kj::Exception&&) { return false; });
}

kj::Promise<bool> ServerLoop::Handshake(Connection& c) {
  kj::Promise<void> ready = kj::READY_NOW;
  if (c.tls) {
    KJ_IF_MAYBE(tls, tls_) {
      ready = (*tls)->wrapServer(kj::mv(c.stream)).then([&c](kj::Own<kj::AsyncIoStream> s) {
        c.stream = kj::mv(s);
      });
    }
  }
  return ready.then([&c] { return remote::ReadHello(*c.stream); })
      .then([this, &c](remote::Hello hello) -> kj::Promise<bool> {
        std::string error;
        if (hello.empty) {
          core_.counters().refused.fetch_add(1);  // counted, not logged: it said nothing
          return false;
        }
        if (!hello.ok) {
          error = hello.error;
        } else if (c.tcp && !remote::TokensEqual(hello.token, options().token)) {
          error = hello.token.empty()
                      ? "no token: this server requires one (give the client its token file)"
                      : "wrong token: give the token the server was started with";
        }
        if (!error.empty()) {
          core_.counters().refused.fetch_add(1);
          Log(c.peer + ": refused: " + error);
          return RefusalSent(c, error);
        }
        if (stopping_) {
          core_.counters().refused.fetch_add(1);
          return RefusalSent(c, remote::kServerStopping);
        }
        return remote::WriteHelloReply(*c.stream, true, "ok").then([] { return true; });
      });
}

kj::Promise<void> ServerLoop::Serve(Connection& c) {
  c.messages = kj::heap<remote::WatchedStream>(*c.stream);
  capnp::ReaderOptions reader;
  reader.traversalLimitInWords = options().max_message_bytes / sizeof(capnp::word);
  reader.nestingLimit = 64;
  c.network = kj::heap<capnp::TwoPartyVatNetwork>(*c.messages, capnp::rpc::twoparty::Side::SERVER,
                                                  reader);
  c.session = std::make_shared<Session>();
  c.session->id = c.id;
  c.session->peer = c.peer;
  c.session->lane = core_.pool().NewLane();
  c.rpc = kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(
      capnp::makeRpcServer(*c.network, NewStoreService(*this, c.session)));
  // Unanswered call bytes a connection may have; past this the server stops reading from it.
  c.rpc->setFlowLimit(2 * options().max_message_bytes / sizeof(capnp::word));
  c.serving = true;
  core_.counters().accepted.fetch_add(1);
  core_.counters().open.fetch_add(1);
  return c.network->onDisconnect().then([this, &c] {
    core_.counters().open.fetch_sub(1);
    if (const auto& why = c.messages->failure()) {
      core_.counters().protocol_errors.fetch_add(1);
      Log(c.peer + ": connection dropped: " + *why);
    }
  });
}

void ServerLoop::Forget(uint64_t id) {
  // Later, not now: this runs inside the connection's own promise chain.
  loop_->tasks().add(kj::evalLater([this, id] { connections_.erase(id); }));
}

// --- parked waits --------------------------------------------------------------------------------

kj::Promise<void> ServerLoop::ReadyChangeOr(kj::TimePoint deadline) {
  if (stopping_) return kj::READY_NOW;
  kj::Promise<void> change = kj::READY_NOW;
  KJ_IF_MAYBE(t, tick_) { change = t->addBranch(); }
  return change.exclusiveJoin(timer().atTime(deadline)).attach(kj::heap<Parked>(core_));
}

void ServerLoop::ReadyEpochMoved() {
  loop_->Post([this] { Tick(); });
}

void ServerLoop::Tick() {
  ++ticks_;
  auto paf = kj::newPromiseAndFulfiller<void>();
  tick_ = paf.promise.fork();
  kj::Own<kj::PromiseFulfiller<void>> old = kj::mv(tick_fulfiller_);
  tick_fulfiller_ = kj::mv(paf.fulfiller);
  if (old) old->fulfill();
}

// --- stopping ------------------------------------------------------------------------------------

kj::Promise<void> ServerLoop::Flushed(int rounds_left) {
  size_t queued = 0;
  for (auto& [id, c] : connections_) {
    if (c->network) queued += c->network->getCurrentQueueCount();
  }
  if (queued == 0 || rounds_left <= 0) return kj::READY_NOW;
  return timer().afterDelay(2 * kj::MILLISECONDS).then([this, rounds_left] {
    return Flushed(rounds_left - 1);
  });
}

kj::Promise<void> ServerLoop::BeginStop() {
  stopping_ = true;
  // Connections still in their hello are closed now; serving ones finish their calls.
  for (auto it = connections_.begin(); it != connections_.end();) {
    it = it->second->serving ? std::next(it) : connections_.erase(it);
  }
  Tick();  // parked waits end: they see stopping_ and answer with what they have
  kj::Promise<void> drained = kj::READY_NOW;
  if (in_flight_ > 0) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    drained_ = kj::mv(paf.fulfiller);
    drained = kj::mv(paf.promise);
  }
  // Answers are written after their call resolves: give them a turn, then wait (up to 2 s)
  // until every connection's queue is empty.
  return drained.then([] { return kj::evalLater([] {}); }).then([this] {
    return Flushed(1000);
  });
}

void ServerLoop::Stop() {
  if (stopped_) return;
  stopped_ = true;
  (void)loop_->Await<int>([this]() -> kj::Promise<int> {
    return BeginStop().then([] { return 0; }, [](kj::Exception&&) { return 0; });
  });
  (void)loop_->Call<int>([this] {
    connections_.clear();
    offloads_.clear();
    tls_ = nullptr;
    keypair_ = nullptr;
    tick_ = nullptr;
    tick_fulfiller_ = nullptr;
    return 0;
  });
  loop_->Stop();
}

}  // namespace jobstore::remote
