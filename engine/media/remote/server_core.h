// ServerCore: what a StoreServer (serve.h) is made of. The public class only wraps it.
//
// Threads. Several ServerLoops (server_loop.h), each a KJ event loop on its own thread, carry
// the connections: the first loop also runs the listeners and hands each accepted socket to
// the loop with the fewest connections, which then runs everything of it (hello, TLS, RPC,
// parked waits). Store calls are decoded into plain C++ values on the loop; a claim or settle
// of a few jobs runs there, anything longer on the CallPool (fair between connections), its
// result posted back to the loop, which encodes the answer. A watcher thread follows the
// store's ready epoch while calls are parked (ClaimAny with a wait, WaitForReady), so a wait
// holds no pool thread.
//
// Bounds, per connection: the message size and traversal limit (ReaderOptions), the RPC flow
// limit (unanswered call bytes), the calls in flight (refused beyond), batch sizes (refused
// before decoding), and the answers' size (a claim that would not fit gives the extra jobs
// back; a listing pages smaller). Per server: the connections open at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <kj/async-unix.h>

#include "call_pool.h"
#include "jobstore/serve.h"
#include "jobstore/store.h"
#include "server_loop.h"
#include "sockets.h"

namespace jobstore::remote {

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
    s.connections_accepted = counters_.accepted.load();
    s.connections_refused = counters_.refused.load();
    s.connections_open = counters_.open.load();
    s.calls = counters_.calls.load();
    s.calls_refused = counters_.calls_refused.load();
    s.protocol_errors = counters_.protocol_errors.load();
    s.calls_waiting = counters_.waiting.load();
    return s;
  }

  // --- for the loops (any thread) -------------------------------------------------------------

  Store& store() { return *store_; }
  const ServeOptions& options() const { return options_; }
  CallPool& pool() { return *pool_; }
  const std::string& tls_cert_pem() const { return tls_cert_pem_; }
  const std::string& tls_key_pem() const { return tls_key_pem_; }
  uint64_t NextConnectionId() { return next_connection_.fetch_add(1); }
  // Counts one more connection open on some loop; false when that one is over
  // max_connections (it is then refused, and uncounted when closed like any other).
  bool CountConnection() { return connections_.fetch_add(1) < options_.max_connections; }
  void UncountConnection() { connections_.fetch_sub(1); }
  // What ServerStats reports, counted by every loop.
  struct Counters {
    std::atomic<uint64_t> accepted{0}, refused{0}, open{0}, calls{0}, calls_refused{0},
        protocol_errors{0}, waiting{0};
  };
  Counters& counters() { return counters_; }
  // A call parked on some loop: the watcher follows the ready epoch while there is one.
  void Parked(bool parked);

  // One line in the server's log (rate-limited: a flood of bad peers cannot flood the log).
  // Thread-safe.
  void Log(const std::string& line);

 private:
  struct Listener {
    remote::Listening socket;  // its fd is ours until Stop, nonblocking
    bool tcp = false;
    kj::Own<kj::UnixEventPort::FdObserver> readable;
    kj::Promise<void> accepting = nullptr;
  };

  Status Validate();
  Status BindAll(std::vector<Listener>* out);
  kj::Promise<void> AcceptLoop(Listener& l);  // the first loop's thread
  void Dispatch(const Listener& l, int fd);
  void WatchEpochs();
  void CloseListeners();  // the first loop's thread
  static size_t DefaultLoops();

  Store* const store_;
  ServeOptions options_;

  std::unique_ptr<CallPool> pool_;
  std::vector<std::unique_ptr<ServerLoop>> loops_;
  std::vector<Listener> listeners_;  // the first loop's thread

  Counters counters_;
  std::atomic<uint64_t> next_connection_{1};
  std::atomic<size_t> connections_{0};

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
};

}  // namespace jobstore::remote
