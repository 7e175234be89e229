// One HTTP request as the status site sees it (parsed by the server's kj-http layer) and the
// reply it makes: plain values, so the site's logic runs on worker threads without kj.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace jobstore::observe {

struct WebRequest {
  std::string method;                         // "GET", "POST", ...
  std::string path;                           // decoded, e.g. "/queue"
  std::map<std::string, std::string> query;   // decoded; a key given twice keeps the first
  std::map<std::string, std::string> form;    // a POST's application/x-www-form-urlencoded body
  std::string cookie;                         // the Cookie header
  std::string origin;                         // the Origin header ("" when absent)
  std::string host;                           // the Host header
};

struct WebReply {
  unsigned status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // Location, Set-Cookie, ...
};

}  // namespace jobstore::observe
