// The conformance suite on the served store: a RocksDB store in the test's scratch directory,
// served by a StoreServer in this process on a unix socket, and a client connected to it,
// which is the store the suite tests. Every call crosses the socket; the owner's store runs on
// the suite's manual clock (a served store's "now" is its owner's). A reopen closes the
// client, stops the server, closes the RocksDB store and opens all three again on the same
// directory, so the medium is persistent.
#include "conformance/conformance.h"
#include "jobstore/serve.h"

namespace jobstore::testing {
namespace {

class ServedInstance : public MediumInstance {
 public:
  explicit ServedInstance(std::string dir) : dir_(std::move(dir)) {}
  ~ServedInstance() override { Close(); }

  Result<std::unique_ptr<Store>> Open(const Options& options) override {
    Close();
    auto owner = Store::Open(dir_ + "/store", options);
    if (!owner.ok()) return owner.status();
    owner_ = std::move(owner).value();
    ServeOptions serve;
    serve.listen = {"unix:" + dir_ + "/jobstore.sock"};
    auto server = StoreServer::Start(owner_.get(), serve);
    if (!server.ok()) return server.status();
    server_ = std::move(server).value();
    return Store::Open(server_->addresses().at(0), options);
  }

 private:
  void Close() {
    server_.reset();
    owner_.reset();
  }

  const std::string dir_;
  std::unique_ptr<Store> owner_;
  std::unique_ptr<StoreServer> server_;
};

const RegisterMedium kRemote({
    .name = "Remote",
    .persistent = true,
    .make = [](const std::string& scratch) -> std::unique_ptr<MediumInstance> {
      return std::make_unique<ServedInstance>(scratch);
    },
    // A round trip per call: the stress tests run a third of their volume.
    .load = 0.34,
    // The owner's policy decides and is observed; a client sees only what its calls return.
    .policy_here = false,
});

}  // namespace
}  // namespace jobstore::testing
