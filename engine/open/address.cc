#include "jobstore/address.h"

#include <regex>

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
  static const std::regex scheme("^([A-Za-z][A-Za-z0-9+.-]*):");
  std::smatch m;
  if (std::regex_search(address, m, scheme)) {
    return Status::NotSupported(
        "unknown store address scheme '" + m[1].str() +
        ":'; use a directory path, memory:, unix:PATH, tcp:HOST:PORT, redis://HOST:PORT/DB, "
        "redis+unix:PATH, sqlite:PATH or postgresql://...; for a directory whose name has a "
        "colon, write ./" + address);
  }
  a.scheme = Scheme::kRocksDb;
  a.rest = address;
  return a;
}

std::string Redacted(const std::string& address) {
  // scheme://user:password@host -> scheme://user:***@host
  static const std::regex userinfo("^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*):[^/@]*@");
  std::string out = std::regex_replace(address, userinfo, "$1:***@");
  // password=secret in a libpq string or a query parameter.
  static const std::regex field("(password=)[^ &]*");
  return std::regex_replace(out, field, "$1***");
}

}  // namespace jobstore
