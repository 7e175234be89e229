// Store::Open: the address names the medium.
#include "jobstore/address.h"
#include "jobstore/rocksdb_store.h"
#include "jobstore/store.h"
#include "memory_backend.h"
#include "sql_store.h"

namespace jobstore {
namespace {

Status NotYet(const Address& a, const char* medium, const char* scheme) {
  return Status::NotSupported(std::string(medium) + " stores ('" + scheme +
                              "' addresses) are not in this build of jobstore yet; use a "
                              "directory (RocksDB) or memory: for '" +
                              Redacted(a.text) + "'");
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& address, const Options& options) {
  auto a = Address::Parse(address);
  if (!a.ok()) return a.status();
  switch (a->scheme) {
    case Address::Scheme::kRocksDb: return RocksDb::Open(a->rest, options);
    case Address::Scheme::kMemory: return Store::Over(NewMemoryBackend(a->rest), options);
    case Address::Scheme::kUnix: return NotYet(*a, "Served", "unix:");
    case Address::Scheme::kTcp: return NotYet(*a, "Served", "tcp:");
    case Address::Scheme::kRedis: return NotYet(*a, "Redis", "redis://");
    case Address::Scheme::kRedisUnix: return NotYet(*a, "Redis", "redis+unix:");
    case Address::Scheme::kSqlite: return sql::OpenSqlite(a->rest, options);
    case Address::Scheme::kPostgres: return sql::OpenPostgres(a->rest, options);
  }
  return Status::Internal("unhandled address scheme");
}

}  // namespace jobstore
