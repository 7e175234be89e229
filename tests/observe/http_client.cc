#include "http_client.h"

#include <kj/async-io.h>
#include <kj/compat/http.h>
#include <kj/encoding.h>

namespace jobstore::testing {

struct TestHttpClient::Impl {
  explicit Impl(uint16_t port) : io(kj::setupAsyncIo()), port(port) {
    kj::HttpHeaderTable::Builder b;
    for (const char* name : {"Location", "Set-Cookie", "Content-Security-Policy", "Allow",
                             "X-Content-Type-Options", "Cookie", "Origin"}) {
      ids.emplace_back(name, b.add(name));
    }
    table = b.build();
  }
  kj::AsyncIoContext io;
  uint16_t port;
  kj::Own<kj::HttpHeaderTable> table;
  std::vector<std::pair<std::string, kj::HttpHeaderId>> ids;
};

TestHttpClient::TestHttpClient(uint16_t port) : impl_(std::make_unique<Impl>(port)) {}
TestHttpClient::~TestHttpClient() = default;

HttpResponse TestHttpClient::Get(const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  return Request("GET", path, "", headers);
}

HttpResponse TestHttpClient::Post(const std::string& path, const std::string& form,
                                  const std::vector<std::pair<std::string, std::string>>& headers) {
  auto h = headers;
  h.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  return Request("POST", path, form, h);
}

HttpResponse TestHttpClient::Request(const std::string& method, const std::string& path,
                                     const std::string& body,
                                     const std::vector<std::pair<std::string, std::string>>& headers) {
  auto& ws = impl_->io.waitScope;
  auto address =
      impl_->io.provider->getNetwork().parseAddress("127.0.0.1", impl_->port).wait(ws);
  auto client = kj::newHttpClient(impl_->io.provider->getTimer(), *impl_->table, *address);
  kj::HttpHeaders h(*impl_->table);
  const std::string host = "127.0.0.1:" + std::to_string(impl_->port);
  h.set(kj::HttpHeaderId::HOST, host.c_str());
  for (const auto& [name, value] : headers) {
    if (name == "Content-Type") {
      h.set(kj::HttpHeaderId::CONTENT_TYPE, value.c_str());
    } else {
      h.add(kj::StringPtr(name.c_str()), kj::StringPtr(value.c_str()));
    }
  }
  KJ_IF_MAYBE(m, kj::tryParseHttpMethod(method.c_str())) {
    auto req = client->request(*m, path.c_str(), h,
                               body.empty() && method == "GET" ? kj::Maybe<uint64_t>(nullptr)
                                                               : kj::Maybe<uint64_t>(body.size()));
    if (!body.empty()) {
      req.body->write(body.data(), body.size()).wait(ws);
    }
    req.body = nullptr;
    auto response = req.response.wait(ws);
    HttpResponse out;
    out.status = response.statusCode;
    for (const auto& [name, id] : impl_->ids) {
      KJ_IF_MAYBE(v, response.headers->get(id)) {
        std::string lower;
        for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out.headers[lower] = v->cStr();
      }
    }
    KJ_IF_MAYBE(v, response.headers->get(kj::HttpHeaderId::CONTENT_TYPE)) {
      out.headers["content-type"] = v->cStr();
    }
    out.body = response.body->readAllText().wait(ws).cStr();
    return out;
  }
  return HttpResponse{};
}

std::string TestHttpClient::Raw(const std::string& raw) {
  auto& ws = impl_->io.waitScope;
  auto address =
      impl_->io.provider->getNetwork().parseAddress("127.0.0.1", impl_->port).wait(ws);
  auto conn = address->connect().wait(ws);
  conn->write(raw.data(), raw.size()).wait(ws);
  conn->shutdownWrite();
  return conn->readAllText().wait(ws).cStr();
}

std::string FormEncode(const std::string& value) {
  return kj::encodeWwwForm(kj::StringPtr(value.c_str())).cStr();
}

}  // namespace jobstore::testing
