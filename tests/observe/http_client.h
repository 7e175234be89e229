// A real HTTP client (kj-http) for the status server's tests: one connection per request to
// 127.0.0.1:PORT, on an event loop of the calling thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace jobstore::testing {

struct HttpResponse {
  unsigned status = 0;
  std::string body;
  // Headers the tests look at, by lowercase name: content-type, location, set-cookie,
  // content-security-policy, allow, x-content-type-options.
  std::map<std::string, std::string> headers;
};

class TestHttpClient {
 public:
  explicit TestHttpClient(uint16_t port);
  ~TestHttpClient();

  // `headers`: extra request headers (name, value), e.g. {"Cookie", "..."}, {"Origin", "..."}.
  HttpResponse Get(const std::string& path,
                   const std::vector<std::pair<std::string, std::string>>& headers = {});
  HttpResponse Post(const std::string& path, const std::string& form,
                    const std::vector<std::pair<std::string, std::string>>& headers = {});
  HttpResponse Request(const std::string& method, const std::string& path, const std::string& body,
                       const std::vector<std::pair<std::string, std::string>>& headers);
  // Sends `raw` bytes as they are and returns what the server answered before closing.
  std::string Raw(const std::string& raw);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `value` percent-encoded for a form or a query.
std::string FormEncode(const std::string& value);

}  // namespace jobstore::testing
