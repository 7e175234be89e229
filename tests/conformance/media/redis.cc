// The conformance suite on Redis: each test gets its own redis-server (tests/support), started
// on a unix socket in the test's scratch directory; a reopen is a new Store on the same server,
// which keeps what Redis holds.
#include "conformance/conformance.h"
#include "support/redis_server.h"

namespace jobstore::testing {
namespace {

class RedisInstance : public MediumInstance {
 public:
  explicit RedisInstance(const std::string& scratch) : server_(scratch + "/redis") {}
  bool Start() { return server_.Start(); }
  const std::string& error() const { return server_.error(); }
  Result<std::unique_ptr<Store>> Open(const Options& options) override {
    return Store::Open(server_.Address("conformance"), options);
  }

 private:
  RedisServer server_;
};

const RegisterMedium kRedis({
    .name = "Redis",
    .persistent = true,
    .make = [](const std::string& scratch) -> std::unique_ptr<MediumInstance> {
      auto instance = std::make_unique<RedisInstance>(scratch);
      if (!instance->Start()) {
        ADD_FAILURE() << instance->error();
        return nullptr;
      }
      return instance;
    },
    // Every call is a round trip to another process: the stress tests run a quarter of the
    // volume, with the same threads and interleavings.
    .load = 0.25,
});

}  // namespace
}  // namespace jobstore::testing
