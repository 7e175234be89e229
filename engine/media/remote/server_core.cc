#include "server_core.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "hello.h"
#include "wire.h"

namespace jobstore::remote {
namespace {

std::string ReadWholeFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  *ok = static_cast<bool>(in) || in.eof();
  return buf.str();
}

}  // namespace

// A parked call: counted for the watcher while it waits.
class ServerCore::Parked {
 public:
  explicit Parked(ServerCore& server) : server_(server) {
    server_.waiting_.fetch_add(1);
    {
      std::lock_guard<std::mutex> l(server_.watch_mu_);
      ++server_.parked_;
    }
    server_.watch_cv_.notify_one();
  }
  ~Parked() {
    server_.waiting_.fetch_sub(1);
    std::lock_guard<std::mutex> l(server_.watch_mu_);
    --server_.parked_;
  }

 private:
  ServerCore& server_;
};

void ServerCore::Log(const std::string& line) {
  std::lock_guard<std::mutex> l(log_mu_);
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
  auto emit = [&](const std::string& text) {
    if (options_.log) {
      options_.log(text);
    } else {
      std::fprintf(stderr, "jobstore serve: %s\n", text.c_str());
    }
  };
  if (now_s != log_window_s_) {
    if (log_dropped_ > 0) {
      emit(std::to_string(log_dropped_) + " more lines were not logged (over 50 a second)");
    }
    log_window_s_ = now_s;
    log_lines_ = 0;
    log_dropped_ = 0;
  }
  if (++log_lines_ > 50) {
    ++log_dropped_;
    return;
  }
  emit(line);
}

// --- starting ----------------------------------------------------------------------------------

Status ServerCore::Validate() {
  if (!store_) return Status::InvalidArgument("serve: no store given");
  if (options_.listen.empty()) {
    return Status::InvalidArgument("serve: no listener; give at least one unix:PATH or "
                                   "tcp:HOST:PORT");
  }
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
    return Status::InvalidArgument("serve: TLS needs both a certificate and its key (--tls-cert "
                                   "and --tls-key); only one was given");
  }
  const size_t max_client_read = 2 * remote::kDefaultMaxMessageBytes;
  if (options_.max_message_bytes < (1u << 20) || options_.max_message_bytes > max_client_read) {
    return Status::InvalidArgument("serve: the message limit must be 1 MiB to " +
                                   std::to_string(max_client_read >> 20) + " MiB");
  }
  if (options_.max_calls_in_flight == 0 || options_.max_connections == 0 ||
      options_.workers == 0) {
    return Status::InvalidArgument("serve: workers, connections and calls in flight must be >= 1");
  }
  if (!options_.tls_cert_file.empty()) {
    bool ok = false;
    tls_cert_pem_ = ReadWholeFile(options_.tls_cert_file, &ok);
    if (!ok || tls_cert_pem_.empty()) {
      return Status::InvalidArgument("serve: cannot read the TLS certificate '" +
                                     options_.tls_cert_file + "'");
    }
    tls_key_pem_ = ReadWholeFile(options_.tls_key_file, &ok);
    if (!ok || tls_key_pem_.empty()) {
      return Status::InvalidArgument("serve: cannot read the TLS key '" + options_.tls_key_file +
                                     "'");
    }
  }
  return Status::OK();
}

Status ServerCore::BindAll(std::vector<Listener>* out) {
  const bool tls = !options_.tls_cert_file.empty();
  for (const std::string& text : options_.listen) {
    auto e = remote::ParseEndpoint(text);
    if (!e.ok()) return e.status().Prefixed("serve");
    Listener l;
    if (e->is_unix) {
      auto s = remote::ListenUnix(e->path);
      if (!s.ok()) return s.status().Prefixed("serve: listener '" + text + "'");
      l.socket = std::move(*s);
      unix_sockets_.push_back(l.socket);
    } else {
      if (options_.token.empty()) {
        return Status::InvalidArgument(
            "serve: listener '" + text + "' needs a token (--token-file): without one, "
            "anyone who can reach the port could read and change every job");
      }
      if (options_.token.size() < 16) {
        return Status::InvalidArgument(
            "serve: a token of " + std::to_string(options_.token.size()) +
            " bytes is too easy to guess; use at least 16 random bytes (for example "
            "'openssl rand -hex 32 > token')");
      }
      auto s = remote::ListenTcp(e->host, e->port);
      if (!s.ok()) return s.status().Prefixed("serve: listener '" + text + "'");
      if (!s->loopback && !tls) {
        close(s->fd);
        return Status::InvalidArgument(
            "serve: refusing to listen on '" + text + "' without TLS: it is not a loopback "
            "address, so the token and every job would cross the network in clear text; give "
            "--tls-cert and --tls-key, or listen on 127.0.0.1");
      }
      l.socket = std::move(*s);
      l.tcp = true;
    }
    out->push_back(std::move(l));
  }
  return Status::OK();
}

Status ServerCore::Start() {
  Status s = Validate();
  if (!s.ok()) return s;
  std::vector<Listener> bound;
  s = BindAll(&bound);
  if (!s.ok()) {
    for (Listener& l : bound) {
      close(l.socket.fd);
      remote::RemoveUnixSocket(l.socket);
    }
    unix_sockets_.clear();
    return s;
  }
  {
    std::lock_guard<std::mutex> l(addresses_mu_);
    for (const Listener& l2 : bound) addresses_.push_back(l2.socket.address);
  }
  pool_ = std::make_unique<CallPool>(options_.workers, options_.max_workers,
                                     options_.max_active_per_connection);
  loop_ = std::make_unique<remote::LoopThread>();
  auto started = loop_->Call<Status>([this, &bound]() -> Status {
    if (!tls_cert_pem_.empty()) {
      Status tls_status;
      KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
        keypair_ = kj::TlsKeypair{kj::TlsPrivateKey(kj::StringPtr(tls_key_pem_.c_str())),
                                  kj::TlsCertificate(kj::StringPtr(tls_cert_pem_.c_str()))};
        kj::TlsContext::Options o;
        KJ_IF_MAYBE(kp, keypair_) { o.defaultKeypair = *kp; }
        o.timer = timer();
        o.acceptTimeout = options_.handshake_timeout_ms * kj::MILLISECONDS;
        tls_ = kj::heap<kj::TlsContext>(kj::mv(o));
      })) {
        return Status::InvalidArgument("serve: the TLS certificate or key is not usable PEM (" +
                                       std::string(e->getDescription().cStr()) + ")");
      }
    }
    auto paf = kj::newPromiseAndFulfiller<void>();
    tick_ = paf.promise.fork();
    tick_fulfiller_ = kj::mv(paf.fulfiller);
    listeners_ = std::move(bound);
    for (Listener& l : listeners_) {
      l.receiver = loop_->io().lowLevelProvider->wrapListenSocketFd(
          l.socket.fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                           kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
      l.accepting = AcceptLoop(l).eagerlyEvaluate(nullptr);
    }
    return Status::OK();
  });
  if (!started || !started->ok()) {
    Status failed = started ? *started : Status::Internal("serve: the event loop did not start");
    for (Listener& l : bound) close(l.socket.fd);  // left unwrapped: the loop never took them
    for (const auto& u : unix_sockets_) remote::RemoveUnixSocket(u);
    unix_sockets_.clear();
    loop_->Call<int>([this] {
      listeners_.clear();
      tls_ = nullptr;
      return 0;
    });
    loop_->Stop();
    pool_->Shutdown();
    std::lock_guard<std::mutex> l(stop_mu_);
    stopped_ = true;
    return failed;
  }
  watcher_ = std::thread([this] { WatchEpochs(); });
  started_ = true;
  return Status::OK();
}

// --- connections ---------------------------------------------------------------------------------

kj::Promise<void> ServerCore::AcceptLoop(Listener& l) {
  return l.receiver->accept().then(
      [this, &l](kj::Own<kj::AsyncIoStream> stream) {
        Accepted(l, kj::mv(stream));
        return AcceptLoop(l);
      },
      [this, &l](kj::Exception&& e) -> kj::Promise<void> {
        // Out of descriptors (a connection flood) or a transient error: keep the listener,
        // try again shortly.
        Log("accept on " + l.socket.address + " failed: " + e.getDescription().cStr() +
            "; retrying");
        return timer().afterDelay(100 * kj::MILLISECONDS).then([this, &l] {
          return AcceptLoop(l);
        });
      });
}

void ServerCore::Accepted(Listener& l, kj::Own<kj::AsyncIoStream> stream) {
  auto owned = kj::heap<Connection>();
  Connection& c = *owned;
  c.id = next_connection_++;
  c.tcp = l.tcp;
  c.tls = l.tcp && tls_ != nullptr;
  bool allowed = true;
  std::string refusal;
  kj::runCatchingExceptions([&] {
    if (!l.tcp) {
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
  const bool full = connections_.size() >= options_.max_connections;
  connections_.emplace(c.id, kj::mv(owned));
  if (stopping_) return Refuse(c, "", remote::kServerStopping);
  if (full) {
    return Refuse(c, "refused: " + std::to_string(options_.max_connections) +
                         " connections are open, the limit",
                  std::string(remote::kServerFull) + " (" +
                      std::to_string(options_.max_connections) + "); try again later");
  }
  if (!allowed) return Refuse(c, "refused: " + refusal, refusal);

  const uint64_t id = c.id;
  auto handshake = timer().timeoutAfter(options_.handshake_timeout_ms * kj::MILLISECONDS,
                                        Handshake(c));
  c.life = handshake
               .then([this, &c](bool ok) -> kj::Promise<void> {
                 if (!ok) return kj::READY_NOW;
                 return Serve(c);
               })
               .then([this, id] { Forget(id); },
                     [this, &c, id](kj::Exception&& e) {
                       if (!c.serving) {
                         refused_.fetch_add(1);
                         Log(c.peer + ": refused: " + e.getDescription().cStr());
                       }
                       Forget(id);
                     })
               .eagerlyEvaluate(nullptr);
}

void ServerCore::Refuse(Connection& c, const std::string& why, const std::string& tell) {
  refused_.fetch_add(1);
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

kj::Promise<bool> ServerCore::RefusalSent(Connection& c, const std::string& why) {
  // The refusal is logged already; a peer that left before reading it changes nothing.
  return remote::WriteHelloReply(*c.stream, false, why).then([] { return false; },
                                                            [](kj::Exception&&) { return false; });
}

kj::Promise<bool> ServerCore::Handshake(Connection& c) {
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
          refused_.fetch_add(1);  // counted, not logged: it said nothing
          return false;
        }
        if (!hello.ok) {
          error = hello.error;
        } else if (c.tcp && !remote::TokensEqual(hello.token, options_.token)) {
          error = hello.token.empty()
                      ? "no token: this server requires one (give the client its token file)"
                      : "wrong token: give the token the server was started with";
        }
        if (!error.empty()) {
          refused_.fetch_add(1);
          Log(c.peer + ": refused: " + error);
          return RefusalSent(c, error);
        }
        if (stopping_) {
          refused_.fetch_add(1);
          return RefusalSent(c, remote::kServerStopping);
        }
        return remote::WriteHelloReply(*c.stream, true, "ok").then([] { return true; });
      });
}

kj::Promise<void> ServerCore::Serve(Connection& c) {
  c.messages = kj::heap<remote::WatchedStream>(*c.stream);
  capnp::ReaderOptions reader;
  reader.traversalLimitInWords = options_.max_message_bytes / sizeof(capnp::word);
  reader.nestingLimit = 64;
  c.network = kj::heap<capnp::TwoPartyVatNetwork>(*c.messages, capnp::rpc::twoparty::Side::SERVER,
                                                  reader);
  c.session = std::make_shared<Session>();
  c.session->id = c.id;
  c.session->peer = c.peer;
  c.session->lane = pool_->NewLane();
  c.rpc = kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(
      capnp::makeRpcServer(*c.network, NewStoreService(*this, c.session)));
  // Unanswered call bytes a connection may have; past this the server stops reading from it.
  c.rpc->setFlowLimit(2 * options_.max_message_bytes / sizeof(capnp::word));
  c.serving = true;
  accepted_.fetch_add(1);
  open_.fetch_add(1);
  return c.network->onDisconnect().then([this, &c] {
    open_.fetch_sub(1);
    if (const auto& why = c.messages->failure()) {
      protocol_errors_.fetch_add(1);
      Log(c.peer + ": connection dropped: " + *why);
    }
  });
}

void ServerCore::Forget(uint64_t id) {
  // Later, not now: this runs inside the connection's own promise chain.
  loop_->tasks().add(kj::evalLater([this, id] {
    connections_.erase(id);
  }));
}

// --- parked waits --------------------------------------------------------------------------------

kj::Promise<void> ServerCore::ReadyChangeOr(kj::TimePoint deadline) {
  if (stopping_) return kj::READY_NOW;
  kj::Promise<void> change = kj::READY_NOW;
  KJ_IF_MAYBE(t, tick_) { change = t->addBranch(); }
  return change.exclusiveJoin(timer().atTime(deadline)).attach(kj::heap<Parked>(*this));
}

void ServerCore::Tick() {
  ++ticks_;
  auto paf = kj::newPromiseAndFulfiller<void>();
  tick_ = paf.promise.fork();
  kj::Own<kj::PromiseFulfiller<void>> old = kj::mv(tick_fulfiller_);
  tick_fulfiller_ = kj::mv(paf.fulfiller);
  if (old) old->fulfill();
}

void ServerCore::WatchEpochs() {
  auto first = store_->ReadyEpoch();
  uint64_t seen = first.ok() ? *first : 0;
  std::unique_lock<std::mutex> l(watch_mu_);
  while (!watch_stop_) {
    watch_cv_.wait(l, [&] { return watch_stop_ || parked_ > 0; });
    if (watch_stop_) break;
    l.unlock();
    // Sliced, so Stop() is noticed within 100 ms even when nothing changes.
    (void)store_->WaitForReady(seen, 100);
    auto now = store_->ReadyEpoch();
    if (now.ok() && *now != seen) {
      seen = *now;
      loop_->Post([this] { Tick(); });
    }
    l.lock();
  }
}

// --- stopping ------------------------------------------------------------------------------------

kj::Promise<void> ServerCore::Flushed(int rounds_left) {
  size_t queued = 0;
  for (auto& [id, c] : connections_) {
    if (c->network) queued += c->network->getCurrentQueueCount();
  }
  if (queued == 0 || rounds_left <= 0) return kj::READY_NOW;
  return timer().afterDelay(2 * kj::MILLISECONDS).then([this, rounds_left] {
    return Flushed(rounds_left - 1);
  });
}

kj::Promise<void> ServerCore::BeginStop() {
  stopping_ = true;
  for (Listener& l : listeners_) l.accepting = nullptr;
  listeners_.clear();
  for (const auto& u : unix_sockets_) remote::RemoveUnixSocket(u);
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

void ServerCore::Stop() {
  {
    std::lock_guard<std::mutex> l(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (!started_) return;
  (void)loop_->Await<int>([this]() -> kj::Promise<int> {
    return BeginStop().then([] { return 0; }, [](kj::Exception&&) { return 0; });
  });
  (void)loop_->Call<int>([this] {
    connections_.clear();
    offloads_.clear();
    tls_ = nullptr;
    tick_ = nullptr;
    tick_fulfiller_ = nullptr;
    return 0;
  });
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    watch_stop_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  pool_->Shutdown();
  loop_->Stop();
}

}  // namespace jobstore::remote
