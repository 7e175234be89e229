#include "redis_address.h"

#include <charconv>
#include <fstream>
#include <map>

#include "jobstore/validation.h"

namespace jobstore::redis {
namespace {

Status Bad(const Endpoint& e, const std::string& what) {
  return Status::InvalidArgument("redis address '" + e.display + "': " + what);
}

bool ParseInt(std::string_view text, int64_t lo, int64_t hi, int64_t* out) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool ParseHex(std::string_view text, int64_t* out) {
  if (text.size() != 2) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + 2, *out, 16);
  return ec == std::errc() && end == text.data() + 2 && *out >= 0;
}

// %XX escapes, so that a password or a path can hold '@', ':', '/', '&' or '?'.
bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    int64_t v;
    if (i + 2 >= in.size() || !ParseHex(in.substr(i + 1, 2), &v)) return false;
    out->push_back(static_cast<char>(v));
    i += 2;
  }
  return true;
}

bool ValidPrefix(const std::string& p) {
  if (p.empty() || p.size() > kMaxPrefixBytes) return false;
  for (unsigned char c : p) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-' || c == ':';
    if (!ok) return false;
  }
  return true;
}

Status ReadPasswordFile(Endpoint* e, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Bad(*e, "cannot read password_file '" + Printable(path, 200) +
                       "'; check that it exists and that this user may read it");
  }
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return Bad(*e, "password_file '" + Printable(path, 200) +
                       "' is empty; put the password on its first line");
  }
  e->password = line;
  return Status::OK();
}

}  // namespace

std::string Endpoint::Where() const {
  return unix_path.empty() ? host + ":" + std::to_string(port) : "unix:" + unix_path;
}

Result<Endpoint> ParseEndpoint(const Address& address) {
  Endpoint e;
  e.display = Redacted(address.text);
  // Redacted() hides "user:password@"; hide a lone "word@" too, which may be a password.
  if (size_t start = e.display.find("://"); start != std::string::npos) {
    size_t at = e.display.find('@', start);
    size_t end = e.display.find_first_of("/?", start + 3);
    if (at != std::string::npos && at < end &&
        e.display.substr(start + 3, at - start - 3).find(':') == std::string::npos) {
      e.display.replace(start + 3, at - start - 3, "***");
    }
  }
  const bool unix_socket = address.scheme == Address::Scheme::kRedisUnix;
  std::string_view rest = address.rest;
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }

  std::map<std::string, std::string> params;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Bad(e, "parameter '" + Printable(item, 80) + "' has no value; write NAME=VALUE");
    }
    std::string key(item.substr(0, eq)), value;
    if (!PercentDecode(item.substr(eq + 1), &value)) {
      return Bad(e, "parameter '" + key + "' has a malformed %-escape");
    }
    if (!params.emplace(key, value).second) return Bad(e, "parameter '" + key + "' is given twice");
  }

  if (unix_socket) {
    if (rest.empty()) return Bad(e, "no socket path; write redis+unix:/path/to/redis.sock");
    if (!PercentDecode(rest, &e.unix_path)) return Bad(e, "the socket path has a malformed %-escape");
  } else {
    // [[USER]:PASSWORD@]HOST[:PORT][/DB]
    if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
      std::string_view info = rest.substr(0, at);
      rest = rest.substr(at + 1);
      size_t colon = info.find(':');
      std::string_view user = info.substr(0, colon);
      std::string_view pass = colon == std::string_view::npos ? std::string_view()
                                                              : info.substr(colon + 1);
      if (!PercentDecode(user, &e.user) || !PercentDecode(pass, &e.password)) {
        return Bad(e, "the user or password has a malformed %-escape");
      }
      if (colon == std::string_view::npos) {
        // redis://WORD@HOST: a user without a password by the URL rules, but often meant as
        // a password; refuse it without repeating it.
        return Bad(e, "user-info without ':' (a user with no password); write "
                      "redis://:PASSWORD@HOST or redis://USER:PASSWORD@HOST, or use "
                      "password_file=");
      }
    }
    std::string_view db;
    if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
      db = rest.substr(slash + 1);
      rest = rest.substr(0, slash);
    }
    std::string_view port;
    if (!rest.empty() && rest.front() == '[') {  // [IPv6]:PORT
      size_t close = rest.find(']');
      if (close == std::string_view::npos) return Bad(e, "an IPv6 host lacks its ']'");
      e.host = std::string(rest.substr(1, close - 1));
      rest = rest.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':') return Bad(e, "expected ':PORT' after the IPv6 host");
        port = rest.substr(1);
      }
    } else {
      size_t colon = rest.find(':');
      e.host = std::string(rest.substr(0, colon));
      if (colon != std::string_view::npos) port = rest.substr(colon + 1);
    }
    if (e.host.empty()) return Bad(e, "no host; write redis://HOST:PORT/DB");
    if (!port.empty()) {
      int64_t v;
      if (!ParseInt(port, 1, 65535, &v)) {
        return Bad(e, "port '" + Printable(port, 20) + "' is not a number in 1..65535");
      }
      e.port = static_cast<int>(v);
    }
    if (!db.empty()) {
      int64_t v;
      if (!ParseInt(db, 0, 1 << 20, &v)) {
        return Bad(e, "database '" + Printable(db, 20) + "' is not a number (0 is the default)");
      }
      e.db = static_cast<int>(v);
    }
    if (params.count("db")) return Bad(e, "give the database as /DB in a redis:// address");
  }

  for (const auto& [key, value] : params) {
    if (key == "prefix") {
      if (!ValidPrefix(value)) {
        return Bad(e, "prefix '" + Printable(value, 80) + "' must be 1.." +
                          std::to_string(kMaxPrefixBytes) +
                          " bytes of letters, digits and _ . : -");
      }
      e.prefix = value;
    } else if (key == "db") {
      int64_t v;
      if (!ParseInt(value, 0, 1 << 20, &v)) {
        return Bad(e, "db '" + Printable(value, 20) + "' is not a number (0 is the default)");
      }
      e.db = static_cast<int>(v);
    } else if (key == "timeout_ms") {
      int64_t v;
      if (!ParseInt(value, 1, 3'600'000, &v)) {
        return Bad(e, "timeout_ms '" + Printable(value, 20) +
                          "' is not a number of milliseconds in 1..3600000");
      }
      e.timeout_ms = v;
    } else if (key == "password") {
      if (!e.password.empty()) return Bad(e, "the password is given twice");
      e.password = value;
    } else if (key == "password_file") {
      if (!e.password.empty()) return Bad(e, "the password is given twice");
      Status s = ReadPasswordFile(&e, value);
      if (!s.ok()) return s;
    } else if (key == "user") {
      if (!e.user.empty()) return Bad(e, "the user is given twice");
      e.user = value;
    } else {
      return Bad(e, "unknown parameter '" + Printable(key, 40) +
                        "'; known: prefix, db, timeout_ms, password_file, password, user");
    }
  }
  if (!e.user.empty() && e.password.empty()) {
    return Bad(e, "user '" + Printable(e.user, 64) + "' needs a password (password_file=...)");
  }
  return e;
}

}  // namespace jobstore::redis
