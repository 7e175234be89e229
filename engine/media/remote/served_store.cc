// ServeWhileOpen (remote.h): a directory's store, served on its socket for as long as the
// program keeps it open (Options::serve). The program uses it as it would the store itself;
// every call goes straight to the store, never through the server.
#include "forwarding_store.h"
#include "jobstore/serve.h"
#include "remote.h"

namespace jobstore::remote {
namespace {

class ServedStore final : public internal::ForwardingStore {
 public:
  ServedStore(std::unique_ptr<Store> store, std::unique_ptr<StoreServer> server)
      : ForwardingStore(std::move(store)), server_(std::move(server)) {}
  // Serving stops first (the calls in flight finish), then the store closes.
  ~ServedStore() override {
    server_.reset();
    CloseInner();
  }

  Capabilities capabilities() const override {
    Capabilities caps = ForwardingStore::capabilities();
    caps.shared = true;
    return caps;
  }

 private:
  std::unique_ptr<StoreServer> server_;
};

}  // namespace

Result<std::unique_ptr<Store>> ServeWhileOpen(std::unique_ptr<Store> store, const std::string& dir) {
  ServeOptions serve;
  serve.listen = {"unix:" + ServedSocketPath(dir)};
  auto server = StoreServer::Start(store.get(), serve);
  if (!server.ok()) {
    return server.status().Prefixed("cannot serve store '" + dir + "' to other processes");
  }
  return std::unique_ptr<Store>(new ServedStore(std::move(store), std::move(server).value()));
}

}  // namespace jobstore::remote
