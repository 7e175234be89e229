// StoreServer (serve.h): a thin owner of the ServerCore.
#include "jobstore/serve.h"

#include "server_core.h"

namespace jobstore {

std::string ServedSocketPath(const std::string& dir) {
  if (!dir.empty() && dir.back() == '/') return dir + "jobstore.sock";
  return dir + "/jobstore.sock";
}

class StoreServer::Impl : public remote::ServerCore {
 public:
  using remote::ServerCore::ServerCore;
};

Result<std::unique_ptr<StoreServer>> StoreServer::Start(Store* store, ServeOptions options) {
  auto impl = std::make_unique<Impl>(store, std::move(options));
  Status s = impl->Start();
  if (!s.ok()) return s;
  return std::unique_ptr<StoreServer>(new StoreServer(std::move(impl)));
}

StoreServer::StoreServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StoreServer::~StoreServer() { Stop(); }
void StoreServer::Stop() { impl_->Stop(); }
std::vector<std::string> StoreServer::addresses() const { return impl_->addresses(); }
ServerStats StoreServer::stats() const { return impl_->stats(); }

}  // namespace jobstore
