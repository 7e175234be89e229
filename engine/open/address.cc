#include "jobstore/address.h"

#include <cctype>

namespace jobstore {
namespace {

struct Known {
  const char* prefix;
  Address::Scheme scheme;
};

// Longest prefixes first: "redis+unix:" before "redis://" would not matter, "postgres://" and
// "postgresql://" are both accepted.
constexpr Known kKnown[] = {
    {"memory:", Address::Scheme::kMemory},        {"unix:", Address::Scheme::kUnix},
    {"tcp:", Address::Scheme::kTcp},              {"redis+unix:", Address::Scheme::kRedisUnix},
    {"redis://", Address::Scheme::kRedis},        {"sqlite:", Address::Scheme::kSqlite},
    {"postgresql://", Address::Scheme::kPostgres}, {"postgres://", Address::Scheme::kPostgres},
    {"postgresql:", Address::Scheme::kPostgres},
};

// The length of a URI scheme ([A-Za-z][A-Za-z0-9+.-]*) that `text` starts with and that a
// colon follows; 0 when there is none.
size_t SchemeLength(const std::string& text) {
  if (text.empty() || !std::isalpha(static_cast<unsigned char>(text[0]))) return 0;
  size_t i = 1;
  while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) ||
                             text[i] == '+' || text[i] == '.' || text[i] == '-')) {
    ++i;
  }
  return i < text.size() && text[i] == ':' ? i : 0;
}

// `text` with its characters from `value_start` up to the first of `stops` (or the end) as "***".
std::string Mask(std::string text, size_t value_start, const char* stops) {
  const size_t end = text.find_first_of(stops, value_start);
  text.replace(value_start, (end == std::string::npos ? text.size() : end) - value_start, "***");
  return text;
}

}  // namespace

Result<Address> Address::Parse(const std::string& address) {
  if (address.empty()) {
    return Status::InvalidArgument("store address is empty; name a directory or an address "
                                   "such as memory:, unix:PATH or redis://HOST:PORT/0");
  }
  Address a;
  a.text = address;
  for (const Known& k : kKnown) {
    const std::string prefix = k.prefix;
    if (address.compare(0, prefix.size(), prefix) == 0) {
      a.scheme = k.scheme;
      // postgresql:// keeps its whole URL for libpq; the others drop the scheme.
      a.rest = k.scheme == Scheme::kPostgres && prefix.back() == '/' ? address
                                                                      : address.substr(prefix.size());
      return a;
    }
  }
  // "word:" or "word://" that is not a known scheme: most likely a typo of one, so refuse it
  // rather than create a directory named "redis:" or "sqllite:".
  const size_t scheme_end = SchemeLength(address);
  if (scheme_end > 0) {
    return Status::NotSupported(
        "unknown store address scheme '" + address.substr(0, scheme_end) +
        ":'; use a directory path, memory:, unix:PATH, tcp:HOST:PORT, redis://HOST:PORT/DB, "
        "redis+unix:PATH, sqlite:PATH or postgresql://...; for a directory whose name has a "
        "colon, write ./" + address);
  }
  a.scheme = Scheme::kRocksDb;
  a.rest = address;
  return a;
}

std::string Redacted(const std::string& address) {
  std::string out = address;
  // scheme://user:password@host -> scheme://user:***@host
  const size_t scheme = SchemeLength(out);
  if (scheme > 0 && out.compare(scheme, 3, "://") == 0) {
    const size_t authority = scheme + 3;
    const size_t at = out.find('@', authority);
    const size_t slash = out.find('/', authority);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      const size_t colon = out.find(':', authority);
      if (colon != std::string::npos && colon < at) out = Mask(out, colon + 1, "@");
    }
  }
  // password=secret in a libpq string or a query parameter.
  for (size_t p = out.find("password="); p != std::string::npos;
       p = out.find("password=", p + 12)) {
    out = Mask(out, p + 9, " &");
  }
  return out;
}

}  // namespace jobstore
