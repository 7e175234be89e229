#include "tls_relay.h"

#include <sys/socket.h>
#include <unistd.h>

#include <kj/compat/tls.h>
#include <kj/timer.h>

namespace jobstore::remote {

struct TlsRelay::State {
  kj::Maybe<kj::TlsCertificate> ca;
  kj::Own<kj::TlsContext> tls;
  kj::Own<kj::AsyncIoStream> secure;  // the TLS stream over the TCP socket
  kj::Own<kj::AsyncIoStream> plain;   // the relay's end of the socketpair
  kj::Promise<void> pumps = nullptr;
};

Result<std::unique_ptr<TlsRelay>> TlsRelay::Start(int tcp_fd, const std::string& host,
                                                  const std::string& ca_pem, int64_t timeout_ms,
                                                  int* plain_fd) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    close(tcp_fd);
    return Status::IOError("socketpair failed");
  }
  std::unique_ptr<TlsRelay> relay(new TlsRelay());
  TlsRelay* r = relay.get();
  std::optional<Status> started = r->loop_.Await<Status>([&]() -> kj::Promise<Status> {
    r->state_ = std::make_unique<State>();
    State& s = *r->state_;
    auto& io = r->loop_.io();
    auto raw = io.lowLevelProvider->wrapSocketFd(
        tcp_fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                    kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
    s.plain = io.lowLevelProvider->wrapSocketFd(
        pair[1], kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                     kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
      s.ca = kj::TlsCertificate(kj::StringPtr(ca_pem.c_str()));
      kj::TlsContext::Options o;
      KJ_IF_MAYBE(ca, s.ca) { o.trustedCertificates = kj::arrayPtr(ca, 1); }
      s.tls = kj::heap<kj::TlsContext>(kj::mv(o));
    })) {
      return Status::InvalidArgument(std::string("the TLS certificate is not usable PEM (") +
                                     e->getDescription().cStr() + ")");
    }
    return io.provider->getTimer()
        .timeoutAfter(timeout_ms * kj::MILLISECONDS, s.tls->wrapClient(kj::mv(raw), host))
        .then(
            [&s](kj::Own<kj::AsyncIoStream> secure) -> Status {
              s.secure = kj::mv(secure);
              // Both directions; when one side ends, the other is told, and the relay idles
              // until it is destroyed.
              auto up = s.plain->pumpTo(*s.secure).then([&s](uint64_t) { s.secure->shutdownWrite(); });
              auto down = s.secure->pumpTo(*s.plain).then([&s](uint64_t) { s.plain->shutdownWrite(); });
              s.pumps = kj::joinPromises(kj::arr(kj::mv(up), kj::mv(down)))
                            .catch_([&s](kj::Exception&&) {
                              // A broken side: hang up both, so the client sees the end.
                              s.plain->shutdownWrite();
                            })
                            .eagerlyEvaluate(nullptr);
              return Status::OK();
            },
            [](kj::Exception&& e) -> Status {
              return Status::IOError(std::string("TLS: ") + e.getDescription().cStr());
            });
  });
  if (!started) {
    close(pair[0]);
    return Status::Internal("the TLS relay's event loop did not start");
  }
  if (!started->ok()) {
    close(pair[0]);
    return *started;
  }
  *plain_fd = pair[0];
  return relay;
}

TlsRelay::~TlsRelay() {
  (void)loop_.Call<int>([this] {
    state_.reset();
    return 0;
  });
  loop_.Stop();
}

}  // namespace jobstore::remote
