// The status server's plumbing: kj-http on a thread of its own (its event loop only parses
// requests and writes replies) and a pool of worker threads that run the site's store calls,
// each request's reply coming back to the loop through a cross-thread promise.
#include "jobstore/status_server.h"

#include <kj/async-io.h>
#include <kj/compat/http.h>
#include <kj/compat/url.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "status_site.h"

namespace jobstore {
namespace {

using observe::WebReply;
using observe::WebRequest;

// The largest POST body read: the forms carry a few short fields.
constexpr uint64_t kMaxBodyBytes = 64 * 1024;

// Threads that run tasks in order of arrival; Close() drops the tasks not started.
class WorkerPool {
 public:
  explicit WorkerPool(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~WorkerPool() { Close(); }

  // False when the pool is closed (the task is dropped).
  bool Post(std::function<void()> task) {
    {
      std::lock_guard l(mu_);
      if (closed_) return false;
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }

  // Waits for the running tasks, drops the others and joins the threads.
  void Close() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard l(mu_);
      closed_ = true;
      dropped.swap(tasks_);
    }
    cv_.notify_all();
    dropped.clear();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock l(mu_);
        cv_.wait(l, [&] { return closed_ || !tasks_.empty(); });
        if (closed_) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool closed_ = false;
  std::vector<std::thread> threads_;
};

const char* StatusText(unsigned status) {
  switch (status) {
    case 200: return "OK";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
  }
}

WebReply PlainReply(unsigned status, std::string text) {
  WebReply r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(text) + "\n";
  return r;
}

// Query or form fields, decoded; the first of a repeated key wins.
void AddFields(const kj::Vector<kj::Url::QueryParam>& params,
               std::map<std::string, std::string>* out) {
  for (const auto& p : params) {
    out->emplace(std::string(p.name.cStr(), p.name.size()),
                 std::string(p.value.cStr(), p.value.size()));
  }
}

// "HOST:PORT" or "PORT".
Status ParseListen(const std::string& listen, std::string* host, uint16_t* port) {
  std::string port_text = listen;
  *host = "127.0.0.1";
  const size_t colon = listen.rfind(':');
  if (colon != std::string::npos) {
    *host = listen.substr(0, colon);
    port_text = listen.substr(colon + 1);
  }
  bool digits = !port_text.empty() && port_text.size() <= 5;
  for (char c : port_text) digits = digits && c >= '0' && c <= '9';
  if (host->empty() || !digits || std::stoul(port_text) > 65535) {
    return Status::InvalidArgument("http address '" + listen +
                                   "' is not HOST:PORT or PORT, e.g. 127.0.0.1:9187 (port 0 "
                                   "picks a free one)");
  }
  *port = static_cast<uint16_t>(std::stoul(port_text));
  return Status::OK();
}

class Service final : public kj::HttpService {
 public:
  Service(const kj::HttpHeaderTable& table, kj::HttpHeaderId cookie, kj::HttpHeaderId origin,
          observe::StatusSite& site, WorkerPool& pool)
      : table_(table), cookie_(cookie), origin_(origin), site_(site), pool_(pool) {}

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url,
                            const kj::HttpHeaders& headers, kj::AsyncInputStream& body,
                            Response& response) override {
    // `url` and `headers` die at the first read of the body: copy what the site needs.
    auto req = kj::heap<WebRequest>();
    req->method = kj::str(method).cStr();
    KJ_IF_MAYBE(h, headers.get(kj::HttpHeaderId::HOST)) { req->host = h->cStr(); }
    KJ_IF_MAYBE(h, headers.get(cookie_)) { req->cookie = h->cStr(); }
    KJ_IF_MAYBE(h, headers.get(origin_)) { req->origin = h->cStr(); }
    KJ_IF_MAYBE(parsed, kj::Url::tryParse(url, kj::Url::HTTP_REQUEST)) {
      req->path = "/";
      for (size_t i = 0; i < parsed->path.size(); ++i) {
        req->path += (i ? "/" : "") + std::string(parsed->path[i].cStr());
      }
      AddFields(parsed->query, &req->query);
    } else {
      return Send(response, PlainReply(400, "malformed request URL"));
    }
    if (method != kj::HttpMethod::POST) return Dispatch(kj::mv(req), response);
    KJ_IF_MAYBE(length, headers.get(kj::HttpHeaderId::CONTENT_LENGTH)) {
      uint64_t n = 0;
      auto parsed = std::from_chars(length->begin(), length->end(), n);
      if (parsed.ec != std::errc() || parsed.ptr != length->end() || n > kMaxBodyBytes) {
        return Send(response, PlainReply(413, "a form of more than 64 KiB, or of an unreadable length, is refused"));
      }
    }
    return body.readAllText(kMaxBodyBytes + 1)
        .then([this, req = kj::mv(req), &response](kj::String text) mutable -> kj::Promise<void> {
          if (text.size() > kMaxBodyBytes) {
            return Send(response, PlainReply(413, "a form of more than 64 KiB is refused"));
          }
          // A www-form body has a query's syntax: parse it as one.
          KJ_IF_MAYBE(form, kj::Url::tryParse(kj::str("/?", text), kj::Url::HTTP_REQUEST)) {
            AddFields(form->query, &req->form);
          } else {
            return Send(response, PlainReply(400, "malformed form body"));
          }
          return Dispatch(kj::mv(req), response);
        });
  }

 private:
  // Runs the site on a worker; the reply comes back to this thread's loop. The reply is
  // handed over under a std::mutex, not through the promise: kj's cross-thread promise only
  // wakes the loop (and its own synchronisation is invisible to ThreadSanitizer).
  kj::Promise<void> Dispatch(kj::Own<WebRequest> req, Response& response) {
    struct Slot {
      std::mutex mu;
      std::optional<WebReply> reply;
    };
    auto slot = std::make_shared<Slot>();
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    auto fulfiller =
        std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
    auto request = std::make_shared<WebRequest>(kj::mv(*req));
    const bool posted = pool_.Post([this, slot, fulfiller, request] {
      WebReply reply;
      try {
        reply = site_.Handle(*request);
      } catch (const std::exception& e) {
        reply = PlainReply(500, std::string("the status page failed: ") + e.what());
      }
      {
        std::lock_guard l(slot->mu);
        slot->reply = std::move(reply);
      }
      (*fulfiller)->fulfill();
    });
    if (!posted) return Send(response, PlainReply(503, "the status server is stopping"));
    return paf.promise.then(
        [this, slot, &response]() {
          std::unique_lock l(slot->mu);
          auto reply = kj::heap<WebReply>(std::move(*slot->reply));
          l.unlock();
          return Send(response, kj::mv(reply));
        },
        [this, &response](kj::Exception&&) {
          return Send(response, PlainReply(503, "the status server is stopping"));
        });
  }

  kj::Promise<void> Send(Response& response, WebReply reply) {
    return Send(response, kj::heap<WebReply>(kj::mv(reply)));
  }
  kj::Promise<void> Send(Response& response, kj::Own<WebReply> owned) {
    kj::HttpHeaders h(table_);
    h.set(kj::HttpHeaderId::CONTENT_TYPE, owned->content_type.c_str());
    // The page's own script and style only; no framing, no referrer, no caching, no sniffing.
    h.add("Content-Security-Policy",
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
          "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    h.add("X-Content-Type-Options", "nosniff");
    h.add("Referrer-Policy", "no-referrer");
    h.add("Cache-Control", "no-store");
    for (const auto& [name, value] : owned->headers) {
      h.add(kj::StringPtr(name.c_str()), kj::StringPtr(value.c_str()));
    }
    auto stream = response.send(owned->status, StatusText(owned->status), h, owned->body.size());
    auto written = stream->write(owned->body.data(), owned->body.size());
    return written.attach(kj::mv(stream), kj::mv(owned));
  }

  const kj::HttpHeaderTable& table_;
  const kj::HttpHeaderId cookie_, origin_;
  observe::StatusSite& site_;
  WorkerPool& pool_;
};

}  // namespace

class StatusServer::Impl {
 public:
  Impl(Store& store, StatusServerOptions options, std::string host, uint16_t port)
      : store_(store), options_(std::move(options)), host_(std::move(host)), port_(port) {}

  ~Impl() {
    if (pool_) pool_->Close();  // while the loop runs: the dropped requests get their 503
    {
      std::lock_guard l(mu_);
      if (stop_) stop_->fulfill();
    }
    if (thread_.joinable()) thread_.join();
  }

  // Binds and starts the loop; returns once it serves, or why it cannot.
  Status Start() {
    pool_ = std::make_unique<WorkerPool>(std::max(1, options_.workers));
    std::promise<Status> started;
    auto ready = started.get_future();
    thread_ = std::thread([this, &started] { Run(&started); });
    return ready.get();
  }

  uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  void Run(std::promise<Status>* started) {
    bool told = false;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
      auto io = kj::setupAsyncIo();
      auto address = io.provider->getNetwork().parseAddress(host_, port_).wait(io.waitScope);
      auto listener = address->listen();
      port_ = static_cast<uint16_t>(listener->getPort());
      // Cookies ignore the port: two servers on one host keep their sessions apart by name.
      site_ = std::make_unique<observe::StatusSite>(store_, options_.metrics, options_.exposition,
                                                    options_.token,
                                                    "jobstore_session_" + std::to_string(port_));
      kj::HttpHeaderTable::Builder builder;
      const kj::HttpHeaderId cookie = builder.add("Cookie");
      const kj::HttpHeaderId origin = builder.add("Origin");
      auto table = builder.build();
      Service service(*table, cookie, origin, *site_, *pool_);
      kj::HttpServer server(io.provider->getTimer(), *table, service);
      auto stop = kj::newPromiseAndCrossThreadFulfiller<void>();
      {
        std::lock_guard l(mu_);
        stop_ = kj::mv(stop.fulfiller);
      }
      told = true;
      started->set_value(Status::OK());
      stop.promise.exclusiveJoin(server.listenHttp(*listener)).wait(io.waitScope);
    })) {
      if (!told) {
        started->set_value(Status::IOError("cannot serve http on " + host_ + ":" +
                                           std::to_string(port_) + ": " +
                                           std::string(e->getDescription().cStr())));
      }
    }
  }

  Store& store_;
  const StatusServerOptions options_;
  const std::string host_;
  std::atomic<uint16_t> port_;
  std::unique_ptr<observe::StatusSite> site_;
  std::unique_ptr<WorkerPool> pool_;
  std::mutex mu_;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop_;  // guarded by mu_
  std::thread thread_;
};

Result<std::unique_ptr<StatusServer>> StatusServer::Start(Store& store, StatusServerOptions options) {
  if (!options.token.empty() && options.token.size() < 16) {
    return Status::InvalidArgument("the http token is " + std::to_string(options.token.size()) +
                                   " bytes; give at least 16 (e.g. openssl rand -hex 32)");
  }
  std::string host;
  uint16_t port = 0;
  Status s = ParseListen(options.listen, &host, &port);
  if (!s.ok()) return s;
  auto impl = std::make_unique<Impl>(store, std::move(options), std::move(host), port);
  s = impl->Start();
  if (!s.ok()) return s;
  return std::unique_ptr<StatusServer>(new StatusServer(std::move(impl)));
}

StatusServer::StatusServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StatusServer::~StatusServer() = default;

uint16_t StatusServer::port() const { return impl_->port(); }

std::string StatusServer::url() const {
  const std::string& h = impl_->host();
  return "http://" + h + ":" + std::to_string(impl_->port()) + "/";
}

}  // namespace jobstore
