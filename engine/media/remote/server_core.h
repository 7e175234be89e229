// ServerCore: what a StoreServer (serve.h) is made of. The public class only wraps it; the
// RPC handlers (store_service.cc) use it for admission, the pool and parked waits.
//
// Threads. One LoopThread runs every KJ object: the listeners, each connection's hello and RPC
// system, timers, parked waits. Store calls never run there: each is decoded into plain C++
// values on the loop, run on the CallPool (fair between connections), and its result posted
// back to the loop, which encodes the answer. A watcher thread follows the store's ready epoch
// while calls are parked (ClaimAny with a wait, WaitForReady), so a wait holds no pool thread.
//
// Bounds, per connection: the message size and traversal limit (ReaderOptions), the RPC flow
// limit (unanswered call bytes), the calls in flight (refused beyond), batch sizes (refused
// before decoding), and the answers' size (a claim that would not fit gives the extra jobs
// back; a listing pages smaller).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <capnp/rpc-twoparty.h>
#include <capnp/rpc.h>
#include <kj/compat/tls.h>
#include <kj/timer.h>

#include "call_pool.h"
#include "jobstore/serve.h"
#include "jobstore/store.h"
#include "loop_thread.h"
#include "remote.capnp.h"
#include "sockets.h"
#include "watched_stream.h"

namespace jobstore::remote {

// Room left in a message for what is not an answer's variable-length data.
inline constexpr size_t kMessageSlack = 64 << 10;

// One connection's state as its calls see it. Loop thread only, except `lane` (the pool's).
struct Session {
  uint64_t id = 0;
  std::string peer;  // "uid 1000 pid 4242", "tcp 10.0.0.5:51234"
  std::shared_ptr<CallPool::Lane> lane;
  size_t in_flight = 0;
};

class ServerCore {
 public:
  ServerCore(Store* store, ServeOptions options) : store_(store), options_(std::move(options)) {}
  ~ServerCore() { Stop(); }

  Status Start();
  void Stop();

  std::vector<std::string> addresses() const {
    std::lock_guard<std::mutex> l(addresses_mu_);
    return addresses_;
  }
  ServerStats stats() const {
    ServerStats s;
    s.connections_accepted = accepted_.load();
    s.connections_refused = refused_.load();
    s.connections_open = open_.load();
    s.calls = calls_.load();
    s.calls_refused = calls_refused_.load();
    s.protocol_errors = protocol_errors_.load();
    s.calls_waiting = waiting_.load();
    return s;
  }

  // --- for the service (loop thread) ---------------------------------------------------------

  Store& store() { return *store_; }
  const ServeOptions& options() const { return options_; }
  size_t answer_budget() const { return options_.max_message_bytes - kMessageSlack; }
  kj::Timer& timer() { return loop_->io().provider->getTimer(); }

  // Why a call must be refused now (the server stops, the connection has too many calls in
  // flight), or OK.
  Status Refusal(const Session& session) {
    if (stopping_) {
      calls_refused_.fetch_add(1);
      return Status::Unavailable("the server is shutting down: the call was not applied; "
                                 "reopen the store (another process may own it now)");
    }
    if (session.in_flight >= options_.max_calls_in_flight) {
      calls_refused_.fetch_add(1);
      return Status::Unavailable("this connection has " + std::to_string(session.in_flight) +
                                 " calls in flight, the server's limit; the call was not "
                                 "applied: wait for answers before sending more");
    }
    return Status::OK();
  }
  void CountRefusedCall() { calls_refused_.fetch_add(1); }

  // Counts a call in flight on `session` until destroyed (attached to the call's promise).
  class InFlight {
   public:
    InFlight(ServerCore& server, std::shared_ptr<Session> session)
        : server_(server), session_(std::move(session)) {
      ++session_->in_flight;
      ++server_.in_flight_;
    }
    ~InFlight() {
      --session_->in_flight;
      server_.calls_.fetch_add(1);
      if (--server_.in_flight_ == 0) {
        KJ_IF_MAYBE(f, server_.drained_) {
          (*f)->fulfill();
          server_.drained_ = nullptr;
        }
      }
    }

   private:
    ServerCore& server_;
    std::shared_ptr<Session> session_;
  };

  // Runs `fn` on the pool in `session`'s lane; resolves on the loop with its value. A `quick`
  // call (a claim or settle of a few jobs: no fsync, no scan, tens of microseconds) runs here
  // on the loop instead: the hop to a pool thread and back cost more than the call.
  template <typename T>
  kj::Promise<T> Offload(const Session& session, std::function<T(Store&)> fn, bool quick = false) {
    if (quick) {
      try {
        return fn(*store_);
      } catch (const std::exception& e) {
        return T(Status::Internal(std::string("a store call threw: ") + e.what()));
      }
    }
    auto slot = std::make_shared<std::optional<T>>();
    auto paf = kj::newPromiseAndFulfiller<void>();
    const uint64_t id = next_offload_++;
    offloads_.emplace(id, kj::mv(paf.fulfiller));
    pool_->Submit(session.lane, [this, id, slot, fn = std::move(fn)] {
      try {
        slot->emplace(fn(*store_));
      } catch (const std::exception& e) {
        slot->emplace(Status::Internal(std::string("a store call threw: ") + e.what()));
      }
      loop_->Post([this, id] { Delivered(id); });
    });
    return paf.promise.then([slot]() mutable { return std::move(**slot); });
  }

  // Resolves when the store's ready epoch may have changed (the watcher saw it move), at
  // `deadline`, or when the server starts stopping. Holds no thread meanwhile.
  kj::Promise<void> ReadyChangeOr(kj::TimePoint deadline);
  uint64_t ticks() const { return ticks_; }
  bool stopping() const { return stopping_; }

  // One line in the server's log (rate-limited: a flood of bad peers cannot flood the log).
  void Log(const std::string& line);

 private:
  struct Listener {
    remote::Listening socket;
    bool tcp = false;
    kj::Own<kj::ConnectionReceiver> receiver;
    kj::Promise<void> accepting = nullptr;
  };
  struct Connection {
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
  class Parked;

  void Delivered(uint64_t id) {
    auto it = offloads_.find(id);
    if (it == offloads_.end()) return;
    kj::Own<kj::PromiseFulfiller<void>> f = kj::mv(it->second);
    offloads_.erase(it);
    f->fulfill();
  }

  Status Validate();
  Status BindAll(std::vector<Listener>* out);
  void StartListening();  // loop thread
  kj::Promise<void> AcceptLoop(Listener& l);
  void Accepted(Listener& l, kj::Own<kj::AsyncIoStream> stream);
  kj::Promise<bool> Handshake(Connection& c);
  kj::Promise<bool> RefusalSent(Connection& c, const std::string& why);
  kj::Promise<void> Serve(Connection& c);
  void Refuse(Connection& c, const std::string& why, const std::string& tell);
  void Forget(uint64_t id);
  kj::Promise<void> BeginStop();
  kj::Promise<void> Flushed(int rounds_left);
  void Tick();
  void WatchEpochs();

  Store* const store_;
  ServeOptions options_;

  std::unique_ptr<remote::LoopThread> loop_;
  std::unique_ptr<CallPool> pool_;

  // Loop thread only.
  std::vector<Listener> listeners_;
  std::map<uint64_t, kj::Own<Connection>> connections_;
  std::map<uint64_t, kj::Own<kj::PromiseFulfiller<void>>> offloads_;
  uint64_t next_offload_ = 1;
  uint64_t next_connection_ = 1;
  size_t in_flight_ = 0;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> drained_;
  bool stopping_ = false;
  kj::Maybe<kj::Own<kj::TlsContext>> tls_;
  kj::Maybe<kj::TlsKeypair> keypair_;  // outlives tls_ (declared before it is destroyed: see Stop)
  uint64_t ticks_ = 0;
  kj::Own<kj::PromiseFulfiller<void>> tick_fulfiller_;
  kj::Maybe<kj::ForkedPromise<void>> tick_;

  // The epoch watcher.
  std::thread watcher_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  size_t parked_ = 0;       // guarded by watch_mu_
  bool watch_stop_ = false;  // guarded by watch_mu_

  mutable std::mutex addresses_mu_;
  std::vector<std::string> addresses_;  // guarded by addresses_mu_
  std::vector<remote::Listening> unix_sockets_;  // removed at Stop

  std::mutex log_mu_;
  int64_t log_window_s_ = 0;  // guarded by log_mu_
  int log_lines_ = 0;         // guarded by log_mu_
  uint64_t log_dropped_ = 0;  // guarded by log_mu_

  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
  bool started_ = false;

  std::string tls_cert_pem_, tls_key_pem_;

  std::atomic<uint64_t> accepted_{0}, refused_{0}, open_{0}, calls_{0}, calls_refused_{0},
      protocol_errors_{0}, waiting_{0};
};

// The bootstrap capability of one connection (store_service.cc).
wire::Store::Client NewStoreService(ServerCore& server, std::shared_ptr<Session> session);

}  // namespace jobstore::remote
