#include "server_core.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

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
  auto unbind = [&] {
    for (Listener& l : bound) close(l.socket.fd);
    for (const auto& u : unix_sockets_) remote::RemoveUnixSocket(u);
    unix_sockets_.clear();
  };
  if (!s.ok()) {
    unbind();
    return s;
  }
  for (Listener& l : bound) fcntl(l.socket.fd, F_SETFL, fcntl(l.socket.fd, F_GETFL) | O_NONBLOCK);
  pool_ = std::make_unique<CallPool>(options_.workers, options_.max_workers,
                                     options_.max_active_per_connection);
  const size_t n = options_.loops > 0 ? options_.loops : DefaultLoops();
  for (size_t i = 0; i < n && s.ok(); ++i) {
    loops_.push_back(std::make_unique<ServerLoop>(*this));
    s = loops_.back()->Start();
  }
  LoopThread& first = loops_.front()->thread();
  if (s.ok()) {
    auto listening = first.Call<int>([this, &bound, &first] {
      listeners_ = std::move(bound);
      for (Listener& l : listeners_) {
        l.readable = kj::heap<kj::UnixEventPort::FdObserver>(
            first.io().unixEventPort, l.socket.fd, kj::UnixEventPort::FdObserver::OBSERVE_READ);
        l.accepting = AcceptLoop(l).eagerlyEvaluate(nullptr);
      }
      return 0;
    });
    if (!listening) s = Status::Internal("serve: the event loop did not start");
  }
  if (!s.ok()) {
    (void)first.Call<int>([this] {
      CloseListeners();
      return 0;
    });
    unbind();  // what the loop never took
    for (auto& loop : loops_) loop->Stop();
    pool_->Shutdown();
    std::lock_guard<std::mutex> l(stop_mu_);
    stopped_ = true;
    return s;
  }
  {
    std::lock_guard<std::mutex> l(addresses_mu_);
    for (const Listener& l2 : listeners_) addresses_.push_back(l2.socket.address);
  }
  watcher_ = std::thread([this] { WatchEpochs(); });
  started_ = true;
  return Status::OK();
}

// One loop a core, up to 4: a loop thread fills a core before the store does, and past the
// cores more loops only take turns.
size_t ServerCore::DefaultLoops() {
  const unsigned cores = std::thread::hardware_concurrency();
  return std::clamp<size_t>(cores, 1, 4);
}

// --- accepting -----------------------------------------------------------------------------------

// Accepts every connection waiting, then waits until the listener is readable again. The
// sockets are accepted here, raw, so that another loop can take them.
kj::Promise<void> ServerCore::AcceptLoop(Listener& l) {
  for (;;) {
    const int fd = accept4(l.socket.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      Dispatch(l, fd);
      continue;
    }
    const int err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      return l.readable->whenBecomesReadable().then([this, &l] { return AcceptLoop(l); });
    }
    // Out of descriptors (a connection flood) or a transient error: keep the listener, try
    // again shortly.
    Log("accept on " + l.socket.address + " failed: " + std::strerror(err) + "; retrying");
    return loops_.front()->timer().afterDelay(100 * kj::MILLISECONDS).then([this, &l] {
      return AcceptLoop(l);
    });
  }
}

// The loop with the fewest connections takes it.
void ServerCore::Dispatch(const Listener& l, int fd) {
  ServerLoop* least = loops_.front().get();
  for (auto& loop : loops_) {
    if (loop->connections() < least->connections()) least = loop.get();
  }
  (void)least->Adopt(fd, l.tcp);
}

void ServerCore::CloseListeners() {
  for (Listener& l : listeners_) {
    l.accepting = nullptr;
    l.readable = nullptr;
    close(l.socket.fd);
  }
  listeners_.clear();
}

// --- parked waits --------------------------------------------------------------------------------

void ServerCore::Parked(bool parked) {
  if (parked) {
    counters_.waiting.fetch_add(1);
    {
      std::lock_guard<std::mutex> l(watch_mu_);
      ++parked_;
    }
    watch_cv_.notify_one();
  } else {
    counters_.waiting.fetch_sub(1);
    std::lock_guard<std::mutex> l(watch_mu_);
    --parked_;
  }
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
      for (auto& loop : loops_) loop->ReadyEpochMoved();
    }
    l.lock();
  }
}

// --- stopping ------------------------------------------------------------------------------------

void ServerCore::Stop() {
  {
    std::lock_guard<std::mutex> l(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (!started_) return;
  (void)loops_.front()->thread().Call<int>([this] {
    CloseListeners();
    return 0;
  });
  for (const auto& u : unix_sockets_) remote::RemoveUnixSocket(u);
  // The loops finish their calls at once, not one after another.
  std::vector<std::thread> stopping;
  for (auto& loop : loops_) stopping.emplace_back([&loop] { loop->Stop(); });
  for (std::thread& t : stopping) t.join();
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    watch_stop_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  pool_->Shutdown();
}

}  // namespace jobstore::remote
