// StatusSite: what the status server answers, request by request: the pages, /api/queues,
// /metrics, and the writes (sign in, retry, delete, repush) with their checks. Plain C++ over
// the Store: the server calls Handle on a worker thread. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "jobstore/metrics.h"
#include "jobstore/store.h"
#include "web_request.h"
#include "web_sessions.h"

namespace jobstore::observe {

class StatusSite {
 public:
  // `cookie_name` is the session cookie's, unique per server (cookies ignore the port).
  StatusSite(Store& store, std::shared_ptr<jobstore::Metrics> metrics, ExpositionOptions exposition,
             std::string token, std::string cookie_name);

  WebReply Handle(const WebRequest& request);

 private:
  struct Caller;  // the request's session, if any
  Caller Identify(const WebRequest& request);
  WebReply Page(const WebRequest& r, const Caller& caller);
  WebReply Write(const WebRequest& r, const Caller& caller);
  WebReply Error(const Caller& caller, unsigned status, const std::string& message);
  WebReply MetricsText();
  WebReply QueuesJson();

  Store& store_;
  const std::shared_ptr<jobstore::Metrics> metrics_;
  const ExpositionOptions exposition_;
  WebSessions sessions_;
  const std::string cookie_name_;
  const std::string store_label_;
};

}  // namespace jobstore::observe
