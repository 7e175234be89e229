// Where a Redis store lives: the server, the database, the key prefix and the credentials, as
// parsed from a store address.
//
//   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?PARAMS]
//   redis+unix:PATH[?PARAMS]
//
// PARAMS, joined with '&':
//   prefix=P           the store's key prefix (default "jobstore"): every key is "{P}:...", so
//                      stores with different prefixes share one Redis without seeing each other
//   db=N               the database (redis+unix: only; redis:// gives it as /DB; default 0)
//   password_file=F    read the password from file F (its first line), so that it appears
//                      in no command line, config file or process listing
//   password=S         the password inline (redis+unix:, which has no user-info part)
//   user=U             an ACL user name (Redis 6+) for redis+unix:
//   timeout_ms=N       bound of every connect and every call (default 5000)
#pragma once

#include <cstdint>
#include <string>

#include "jobstore/address.h"
#include "jobstore/status.h"

namespace jobstore::redis {

// What a prefix may hold: it names keys and a hash tag, so no braces, no spaces.
inline constexpr size_t kMaxPrefixBytes = 64;

struct Endpoint {
  std::string host;       // TCP host; empty for a unix socket
  int port = 6379;
  std::string unix_path;  // unix socket path; empty for TCP
  int db = 0;
  std::string prefix = "jobstore";
  std::string user;       // empty: the default user
  std::string password;   // empty: no AUTH
  int64_t timeout_ms = 5000;
  std::string display;    // the address with any password hidden, for messages

  // "unix:/run/redis.sock" or "127.0.0.1:6379", for messages.
  std::string Where() const;
};

// Parses a redis:// or redis+unix: address (Address::Parse has recognised the scheme) and reads
// a password_file. InvalidArgument names the part that is wrong and what is allowed; no
// message ever holds the password.
Result<Endpoint> ParseEndpoint(const Address& address);

}  // namespace jobstore::redis
