// StatusServer: serves a store over HTTP from the process that holds it: /metrics (Prometheus
// text, metrics.h) and a status page at / (every queue with its counts and oldest ready age,
// updating live; a queue's jobs by state, abandoned ones with their errors; one job's details;
// retry, delete and repush-abandoned buttons). `jobstore run --http ADDR` starts one.
//
//   auto metrics = std::make_shared<jobstore::Metrics>();
//   options.observer = metrics;                      // before opening the store
//   auto store = jobstore::Store::Open(dir, options);
//   auto server = jobstore::StatusServer::Start(**store, {.listen = "127.0.0.1:9187",
//                                                        .metrics = metrics});
//   // ... (*server)->port(); the server stops when destroyed, which it must be before the store.
//
// Writes (retry, delete, repush) need `token`: the page asks for it once and keeps a session
// cookie (HttpOnly, SameSite=Strict); every write is a POST carrying the session's CSRF token
// and, when the browser sends one, an Origin equal to the page's own. Without a token the page
// is read-only; a read-only store refuses writes whatever the token. Everything the store holds
// (params, errors) is shown escaped, and the page loads nothing from elsewhere (no CDN), so it
// works offline.
//
// The HTTP server (kj-http) runs on a thread of its own with its own event loop; store calls
// run on a small pool of worker threads, so a slow store call never stalls the other requests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "jobstore/metrics.h"
#include "jobstore/status.h"
#include "jobstore/store.h"

namespace jobstore {

struct StatusServerOptions {
  // HOST:PORT or PORT (host 127.0.0.1). Port 0 picks a free one (port() says which). A host
  // other than a loopback address serves the whole network: give a token for writes.
  std::string listen = "127.0.0.1:0";
  // The secret a person types to enable writes; empty: the page is read-only. At least 16
  // bytes when given.
  std::string token;
  // Counters and histograms for /metrics (null: /metrics shows only what the store holds).
  std::shared_ptr<Metrics> metrics;
  // Passed to Metrics::Exposition (its `counters` is set from whether `metrics` is given).
  ExpositionOptions exposition;
  // Threads that make store calls for requests.
  int workers = 2;
};

class StatusServer {
 public:
  // Binds the address and starts serving `store`, which must outlive the server. Fails, having
  // started nothing, when the address is malformed or cannot be bound (InvalidArgument, IOError
  // naming it) or the token is too short.
  static Result<std::unique_ptr<StatusServer>> Start(Store& store, StatusServerOptions options);

  // Stops serving: requests in progress are dropped, store calls in progress finish first.
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // The port it listens on (the one picked, for port 0).
  uint16_t port() const;
  // "http://HOST:PORT/", for people.
  std::string url() const;

 private:
  class Impl;
  explicit StatusServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobstore
