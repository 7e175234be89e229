// ServerLoop: one event loop's share of a served store. The server (server_core.h) accepts a
// connection and hands its socket to the loop that carries the fewest; from then on everything
// of that connection lives on this loop's thread: its hello and TLS, its RPC system, the
// promises of its calls, its parked waits. Loops share no KJ object; what they share is the
// ServerCore's (the store, the pool, the atomic counters, the log).
//
// Why several loops: a one-at-a-time drain spends most of a call in the loop (Cap'n Proto RPC,
// the socket's wake-ups, a claim of a few jobs run on the loop), and one loop thread filled one
// core at ~20k calls a second while the other core stood 28% idle (bench/RESULTS.md, served).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <capnp/rpc-twoparty.h>
#include <capnp/rpc.h>
#include <kj/compat/tls.h>
#include <kj/timer.h>

#include "call_pool.h"
#include "jobstore/serve.h"
#include "jobstore/store.h"
#include "loop_thread.h"
#include "remote.capnp.h"
#include "watched_stream.h"

namespace jobstore::remote {

class ServerCore;

// Room left in a message for what is not an answer's variable-length data.
inline constexpr size_t kMessageSlack = 64 << 10;

// One connection's state as its calls see it. Its loop's thread only, except `lane` (the
// pool's).
struct Session {
  uint64_t id = 0;
  std::string peer;  // "uid 1000 pid 4242", "tcp 10.0.0.5:51234"
  std::shared_ptr<CallPool::Lane> lane;
  size_t in_flight = 0;
};

class ServerLoop {
 public:
  // Starts the loop's thread; Start() makes it ready for connections.
  explicit ServerLoop(ServerCore& core);
  ~ServerLoop();
  ServerLoop(const ServerLoop&) = delete;
  ServerLoop& operator=(const ServerLoop&) = delete;

  // --- for the ServerCore (any thread but this loop's) --------------------------------------

  // Builds what the loop needs before its first connection (the TLS context, when the server
  // has a certificate). InvalidArgument when the certificate or key is not usable.
  Status Start();
  // Takes `fd`, an accepted socket of a unix (`tcp` false) or TCP listener, and serves it on
  // this loop. Thread-safe. False when the loop has stopped (the socket is closed then).
  bool Adopt(int fd, bool tcp);
  // Lets parked waits look again: the store's ready epoch moved. Thread-safe.
  void ReadyEpochMoved();
  // Refuses calls from now on, ends parked waits, finishes the calls in flight and sends their
  // answers, then closes every connection and stops the thread. Idempotent.
  void Stop();
  // Connections this loop carries now (including those still in their hello). Thread-safe.
  size_t connections() const { return held_.load(); }
  LoopThread& thread() { return *loop_; }

  // --- for the service (this loop's thread) -------------------------------------------------

  Store& store();
  const ServeOptions& options() const;
  size_t answer_budget() const { return options().max_message_bytes - kMessageSlack; }
  kj::Timer& timer() { return loop_->io().provider->getTimer(); }

  // Why a call must be refused now (the server stops, the connection has too many calls in
  // flight), or OK.
  Status Refusal(const Session& session);
  void CountRefusedCall();

  // Counts a call in flight on `session` until destroyed (attached to the call's promise).
  class InFlight {
   public:
    InFlight(ServerLoop& loop, std::shared_ptr<Session> session);
    ~InFlight();

   private:
    ServerLoop& loop_;
    std::shared_ptr<Session> session_;
  };

  // Runs `fn` on the pool in `session`'s lane; resolves on the loop with its value. A `quick`
  // call (a claim or settle of a few jobs: no fsync, no scan, tens of microseconds) runs here
  // on the loop instead: the hop to a pool thread and back cost more than the call.
  template <typename T>
  kj::Promise<T> Offload(const Session& session, std::function<T(Store&)> fn, bool quick = false) {
    if (quick) {
      try {
        return fn(store());
      } catch (const std::exception& e) {
        return T(Status::Internal(std::string("a store call threw: ") + e.what()));
      }
    }
    auto slot = std::make_shared<std::optional<T>>();
    auto paf = kj::newPromiseAndFulfiller<void>();
    const uint64_t id = next_offload_++;
    offloads_.emplace(id, kj::mv(paf.fulfiller));
    Submit(session, [this, id, slot, fn = std::move(fn)] {
      try {
        slot->emplace(fn(store()));
      } catch (const std::exception& e) {
        slot->emplace(Status::Internal(std::string("a store call threw: ") + e.what()));
      }
      loop_->Post([this, id] { Delivered(id); });
    });
    return paf.promise.then([slot]() mutable { return std::move(**slot); });
  }

  // Resolves when the store's ready epoch may have changed (the server's watcher saw it move),
  // at `deadline`, or when the server starts stopping. Holds no thread meanwhile.
  kj::Promise<void> ReadyChangeOr(kj::TimePoint deadline);
  uint64_t ticks() const { return ticks_; }
  bool stopping() const { return stopping_; }

  // One line in the server's log (rate-limited there).
  void Log(const std::string& line);

 private:
  struct Connection;
  class Parked;

  void Submit(const Session& session, std::function<void()> task);
  void Delivered(uint64_t id);
  void Accepted(bool tcp, kj::Own<kj::AsyncIoStream> stream);
  kj::Promise<bool> Handshake(Connection& c);
  kj::Promise<bool> RefusalSent(Connection& c, const std::string& why);
  kj::Promise<void> Serve(Connection& c);
  void Refuse(Connection& c, const std::string& why, const std::string& tell);
  void Forget(uint64_t id);
  kj::Promise<void> BeginStop();
  kj::Promise<void> Flushed(int rounds_left);
  void Tick();

  ServerCore& core_;
  std::unique_ptr<LoopThread> loop_;
  std::atomic<size_t> held_{0};
  bool stopped_ = false;  // ServerCore's thread only (Start/Stop)

  // This loop's thread only.
  std::map<uint64_t, kj::Own<Connection>> connections_;
  std::map<uint64_t, kj::Own<kj::PromiseFulfiller<void>>> offloads_;
  uint64_t next_offload_ = 1;
  uint64_t next_connection_ = 1;
  size_t in_flight_ = 0;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> drained_;
  bool stopping_ = false;
  kj::Maybe<kj::TlsKeypair> keypair_;  // outlives tls_ (see Stop)
  kj::Maybe<kj::Own<kj::TlsContext>> tls_;
  uint64_t ticks_ = 0;
  kj::Own<kj::PromiseFulfiller<void>> tick_fulfiller_;
  kj::Maybe<kj::ForkedPromise<void>> tick_;
};

// The bootstrap capability of one connection (store_service.cc).
wire::Store::Client NewStoreService(ServerLoop& loop, std::shared_ptr<Session> session);

}  // namespace jobstore::remote
