#include "redis_open.h"

#include "redis_backend.h"

namespace jobstore {

Result<std::unique_ptr<Store>> OpenRedisStore(const Address& address, const Options& options) {
  auto endpoint = redis::ParseEndpoint(address);
  if (!endpoint.ok()) return endpoint.status();
  if (endpoint->password.empty()) endpoint->password = options.redis_password;
  auto backend = redis::RedisBackend::Open(*endpoint, options);
  if (!backend.ok()) return backend.status();
  return Store::Over(std::move(backend).value(), options);
}

}  // namespace jobstore
