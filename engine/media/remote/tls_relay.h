// TlsRelay: TLS for a client connection (RpcLink speaks plain bytes on a blocking socket).
// The relay owns the TCP socket and a KJ event loop thread that runs kj-tls over it, and hands
// the client one end of a socketpair: what the client writes there goes out encrypted, what
// arrives is decrypted into it. Only tcp: connections with Options::tls_ca_file pay for it.
#pragma once

#include <memory>
#include <string>

#include "jobstore/status.h"
#include "loop_thread.h"

namespace jobstore::remote {

class TlsRelay {
 public:
  // Handshakes over `tcp_fd` (taken) as a client of `host`, trusting `ca_pem` besides the
  // system's certificates, within `timeout_ms`. On success *plain_fd is the client's end.
  static Result<std::unique_ptr<TlsRelay>> Start(int tcp_fd, const std::string& host,
                                                 const std::string& ca_pem, int64_t timeout_ms,
                                                 int* plain_fd);
  // Stops relaying and closes both sockets of the relay.
  ~TlsRelay();

 private:
  struct State;
  TlsRelay() = default;
  LoopThread loop_;
  std::unique_ptr<State> state_;  // loop thread only
};

}  // namespace jobstore::remote
