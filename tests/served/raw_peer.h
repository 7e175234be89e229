// A peer that speaks to a served store below the client library: raw bytes over a socket (for
// garbage, truncated and oversized input) or the wire protocol through its own KJ loop (for
// calls the client library would never make, such as more calls in flight than allowed).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "hello.h"
#include "remote.capnp.h"

namespace jobstore::testing {

// A blocking unix-socket connection that sends and reads raw bytes.
class RawSocket {
 public:
  explicit RawSocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~RawSocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool Send(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until the peer closes; returns everything read.
  std::string ReadToEnd() {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// The hello a client sends: magic, version, token.
inline std::string HelloBytes(const std::string& token = "", uint32_t version = remote::kProtocolVersion) {
  std::string out = "JOBSTORE";
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
  };
  u32(version);
  u32(static_cast<uint32_t>(token.size()));
  out += token;
  return out;
}

// The accepted answer to a hello: result 0, length 2, "ok".
inline std::string AcceptedReply() { return std::string("\0\2\0\0\0ok", 7); }

}  // namespace jobstore::testing
