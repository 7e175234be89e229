// Opening a Store on Redis: what Store::Open does with a redis:// or redis+unix: address.
#pragma once

#include <memory>

#include "jobstore/address.h"
#include "jobstore/options.h"
#include "jobstore/store.h"

namespace jobstore {

// The Store (the policy layer over the Redis medium) at `address`. InvalidArgument for a
// malformed address or refused credentials, Unavailable when the server cannot be reached,
// NotFound when the store is absent and options.create_if_missing is false.
Result<std::unique_ptr<Store>> OpenRedisStore(const Address& address, const Options& options);

}  // namespace jobstore
