// Serving a store to other processes (docs/DESIGN.md §11): the owner of a store serves it over
// Cap'n Proto RPC, and every other process opens it by address (unix:PATH, tcp:HOST:PORT) or
// by its directory (Store::Open connects when the directory's owner serves it).
//
//   auto store = jobstore::Store::Open("/var/lib/app/jobs");        // the owner
//   jobstore::ServeOptions serve;
//   serve.listen = {"unix:/var/lib/app/jobs/jobstore.sock", "tcp:0.0.0.0:7300"};
//   serve.token = ReadSecret("/etc/jobstore/token");
//   serve.tls_cert_file = "/etc/jobstore/cert.pem";
//   serve.tls_key_file = "/etc/jobstore/key.pem";
//   auto server = jobstore::StoreServer::Start(store->get(), serve);
//   ...
//   (*server)->Stop();   // finishes the calls in flight; then close the store
//
// Options::serve does the first listener for a program that opens a directory.
//
// Security model: a unix socket is created mode 0600 and every peer's credentials are checked
// (SO_PEERCRED: this user or root); a TCP peer must present the token first (compared in
// constant time; nothing else is read from it before), and a TCP listener on an address other
// than loopback is refused without TLS. The server applies the store's policy to every call
// (a client cannot bypass validation, limits or read-only mode), bounds every connection
// (message size, traversal, batch sizes, calls in flight) and runs store calls on a pool of
// threads so a slow call, a long wait or a stuck peer never holds up the others. A malformed
// or hostile peer gets an error and is logged (never with a secret); the others keep working.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "jobstore/status.h"
#include "jobstore/store.h"

namespace jobstore {

struct ServeOptions {
  // Where to listen, as clients will name it: "unix:PATH" (created mode 0600; a stale socket
  // nobody listens on is replaced) or "tcp:HOST:PORT" (PORT 0: any free port, see
  // StoreServer::addresses()). At least one.
  std::vector<std::string> listen;
  // The token every TCP client must present (Options::token): at least 16 bytes, required when
  // a tcp: listener is given; a secret, never logged. Unix peers are checked by their
  // credentials instead.
  std::string token;
  // PEM files of the certificate (chain) and its private key: TLS on every tcp: listener.
  // Both or neither. Without them only loopback addresses may be listened on.
  std::string tls_cert_file;
  std::string tls_key_file;

  // Threads that run store calls: `workers` at start, more while calls wait for a thread, up
  // to `max_workers`. One connection runs at most `max_active_per_connection` calls at once,
  // and connections with calls waiting take turns, so one busy client cannot starve another.
  size_t workers = 4;
  size_t max_workers = 64;
  size_t max_active_per_connection = 8;
  // Event-loop threads that carry the connections (each connection stays on one, the least
  // busy when it came): 0 is one a core, up to 4. One loop fills a core at ~20k calls a
  // second.
  size_t loops = 0;
  // Connections open at once; the next one is told the server is full and closed.
  size_t max_connections = 1024;
  // Calls received and not yet answered, per connection; more are refused with Unavailable.
  size_t max_calls_in_flight = 256;
  // The largest message read or written on a connection (also its traversal limit).
  size_t max_message_bytes = 64u << 20;
  // A connection that has not completed its hello (and TLS handshake) by then is closed.
  int64_t handshake_timeout_ms = 10'000;
  // Where the server reports what it refused and why (a peer check, a wrong token, a malformed
  // message), one line each, never with a secret. Null: stderr, "jobstore serve: " first.
  // Called from the server's threads, one call at a time.
  std::function<void(const std::string& line)> log;
};

// What a server has done so far (for tests and status pages).
struct ServerStats {
  uint64_t connections_accepted = 0;  // completed the hello
  uint64_t connections_refused = 0;   // failed a peer check, the hello, the token or TLS
  uint64_t connections_open = 0;
  uint64_t calls = 0;                 // calls answered
  uint64_t calls_refused = 0;         // over a bound (in flight, batch size) or while stopping
  uint64_t calls_waiting = 0;         // parked now: a ClaimAny or WaitForReady waiting for work
  uint64_t protocol_errors = 0;       // connections dropped for a malformed message
};

class StoreServer {
 public:
  // Serves `store`, which must outlive the server, on every listener of `options`. Fails,
  // having started nothing, with InvalidArgument naming the listener when an address is
  // malformed, a tcp: listener has no token, a non-loopback one has no TLS (saying why), or
  // only one TLS file is given; with IOError when an address is in use (a live server on a
  // unix socket is Busy) or a file cannot be read.
  static Result<std::unique_ptr<StoreServer>> Start(Store* store, ServeOptions options);

  // Stop(), then releases the threads.
  ~StoreServer();
  StoreServer(const StoreServer&) = delete;
  StoreServer& operator=(const StoreServer&) = delete;

  // Stops accepting connections, answers calls that arrive from now on with Unavailable ("not
  // applied"), ends parked waits (a waiting ClaimAny returns what it has: nothing), finishes
  // the calls in flight and sends their answers, then closes every connection and removes the
  // unix sockets. Returns when all that is done. Idempotent and thread-safe.
  void Stop();

  // The addresses served, as clients pass them to Store::Open ("unix:/d/jobstore.sock",
  // "tcp:127.0.0.1:40213" with the port a port 0 got). Thread-safe.
  std::vector<std::string> addresses() const;
  ServerStats stats() const;

 private:
  class Impl;
  explicit StoreServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The unix socket a served directory store listens on: DIR/jobstore.sock.
std::string ServedSocketPath(const std::string& dir);

}  // namespace jobstore
