// Store addresses: which medium an address names, and how to show one without its secrets.
#pragma once

#include <string>

#include "jobstore/status.h"

namespace jobstore {

struct Address {
  enum class Scheme {
    kRocksDb,    // a directory path: "jobs", "./jobs", "/var/lib/jobs"
    kMemory,     // "memory:" or "memory:NAME"
    kUnix,       // "unix:PATH": a served store's socket
    kTcp,        // "tcp:HOST:PORT": a served store over TCP
    kRedis,      // "redis://[:PASSWORD@]HOST:PORT/DB?prefix=P"
    kRedisUnix,  // "redis+unix:PATH?db=N&prefix=P"
    kSqlite,     // "sqlite:PATH"
    kPostgres,   // "postgresql://..." or "postgres://...", or a libpq "key=value" string
                 // given as "postgresql:host=... dbname=..."
  };
  Scheme scheme = Scheme::kRocksDb;
  std::string text;  // the address as given
  std::string rest;  // what follows the scheme ("" for memory:, the path for a directory)

  // Parses `address`. InvalidArgument for an empty address; NotSupported naming an unknown
  // scheme (a directory whose name has a colon is written ./NAME).
  static Result<Address> Parse(const std::string& address);
};

// `address` with any password replaced by "***" (the user-info of a URL, a password= field of
// a libpq string), for messages and logs.
std::string Redacted(const std::string& address);

}  // namespace jobstore
