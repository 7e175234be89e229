#include "sockets.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

namespace jobstore::remote {
namespace {

std::string Errno(int e) { return std::strerror(e); }

// The largest unix socket path: sun_path less its NUL.
constexpr size_t kMaxUnixPath = sizeof(sockaddr_un::sun_path) - 1;

bool FillUnix(const std::string& path, sockaddr_un* sa) {
  if (path.empty() || path.size() > kMaxUnixPath) return false;
  std::memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  std::memcpy(sa->sun_path, path.data(), path.size());
  return true;
}

// Whether something accepts connections on the unix socket at `path`.
bool UnixSocketLive(const std::string& path) {
  sockaddr_un sa;
  if (!FillUnix(path, &sa)) return false;
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool live = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  close(fd);
  return live;
}

bool IsLoopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

std::string HostText(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

void SetTcpOptions(int fd) {
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  // A peer that vanished (a machine lost, a cable pulled) is noticed within ~40 s instead of
  // never: idle 20 s, then 4 probes 5 s apart.
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  int idle = 20, interval = 5, count = 4;
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

}  // namespace

Result<Endpoint> ParseEndpoint(const std::string& address) {
  Endpoint e;
  e.text = address;
  if (address.rfind("unix:", 0) == 0) {
    e.is_unix = true;
    e.path = address.substr(5);
    if (e.path.empty()) {
      return Status::InvalidArgument("'" + address + "' names no socket; write unix:PATH");
    }
    if (e.path.size() > kMaxUnixPath) {
      return Status::InvalidArgument("the socket path of '" + address + "' is " +
                                     std::to_string(e.path.size()) + " bytes; a unix socket path " +
                                     "is at most " + std::to_string(kMaxUnixPath) +
                                     " bytes: use a shorter directory");
    }
    return e;
  }
  if (address.rfind("tcp:", 0) != 0) {
    return Status::InvalidArgument("'" + address + "' is not unix:PATH or tcp:HOST:PORT");
  }
  const std::string rest = address.substr(4);
  const size_t colon = rest.rfind(':');
  const std::string form = "; write tcp:HOST:PORT, e.g. tcp:127.0.0.1:7300 or tcp:[::1]:7300";
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) {
    return Status::InvalidArgument("'" + address + "' has no host and port" + form);
  }
  std::string host = rest.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = rest.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return Status::InvalidArgument("'" + address + "': port '" + port +
                                   "' is not a number from 0 to 65535" + form);
  }
  e.host = host;
  e.port = static_cast<uint16_t>(std::stoul(port));
  return e;
}

Result<Listening> ListenUnix(const std::string& path) {
  sockaddr_un sa;
  if (!FillUnix(path, &sa)) {
    return Status::InvalidArgument("unix socket path '" + path + "' is empty or longer than " +
                                   std::to_string(kMaxUnixPath) + " bytes");
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::InvalidArgument("'" + path + "' exists and is not a socket; remove it or "
                                     "listen elsewhere");
    }
    if (UnixSocketLive(path)) {
      return Status::Busy("another server already listens on '" + path + "'");
    }
    unlink(path.c_str());  // stale: its server is gone
  }
  // Bind inside a private (0700) directory beside the target and rename the socket into
  // place once it is 0600: the socket never exists where others could reach it with wider
  // permissions, whatever the umask.
  namespace fs = std::filesystem;
  const fs::path target(path);
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  std::string scratch = (parent / ".jobstore-sock-XXXXXX").string();
  if (!mkdtemp(scratch.data())) {
    return Status::IOError("cannot create a scratch directory in '" + parent.string() +
                           "' for the socket: " + Errno(errno));
  }
  const std::string temp = scratch + "/s";
  auto cleanup = [&] {
    unlink(temp.c_str());
    rmdir(scratch.c_str());
  };
  sockaddr_un tsa;
  if (!FillUnix(temp, &tsa)) {
    cleanup();
    return Status::InvalidArgument("the directory of '" + path +
                                   "' is too long a path for a unix socket");
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    cleanup();
    return Status::IOError("socket: " + Errno(errno));
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&tsa), sizeof tsa) != 0 ||
      chmod(temp.c_str(), 0600) != 0 || listen(fd, 128) != 0 ||
      rename(temp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    close(fd);
    cleanup();
    return Status::IOError("cannot listen on '" + path + "': " + Errno(e));
  }
  rmdir(scratch.c_str());
  Listening l;
  l.fd = fd;
  l.address = "unix:" + path;
  l.unix_path = path;
  l.loopback = true;
  if (lstat(path.c_str(), &st) == 0) l.inode = st.st_ino;
  return l;
}

Result<Listening> ListenTcp(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found);
  if (rc != 0 || !found) {
    return Status::InvalidArgument("cannot resolve host '" + host + "': " + gai_strerror(rc));
  }
  const addrinfo* ai = found;
  const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) {
    freeaddrinfo(found);
    return Status::IOError("socket: " + Errno(errno));
  }
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  Listening l;
  l.loopback = IsLoopback(ai->ai_addr);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
    const int e = errno;
    close(fd);
    freeaddrinfo(found);
    return Status::IOError("cannot listen on tcp:" + HostText(host) + ":" + port_text + ": " +
                           Errno(e));
  }
  freeaddrinfo(found);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  uint16_t actual = port;
  if (bound.ss_family == AF_INET) actual = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (bound.ss_family == AF_INET6) {
    actual = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }
  l.fd = fd;
  l.address = "tcp:" + HostText(host) + ":" + std::to_string(actual);
  return l;
}

void RemoveUnixSocket(const Listening& l) {
  if (l.unix_path.empty()) return;
  struct stat st;
  if (lstat(l.unix_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == l.inode) {
    unlink(l.unix_path.c_str());
  }
}

Result<int> ConnectSocket(const Endpoint& endpoint, int64_t timeout_ms) {
  if (endpoint.is_unix) {
    sockaddr_un sa;
    if (!FillUnix(endpoint.path, &sa)) {
      return Status::InvalidArgument("bad unix socket path '" + endpoint.path + "'");
    }
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::IOError("socket: " + Errno(errno));
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      const int e = errno;
      close(fd);
      if (e == ENOENT || e == ECONNREFUSED || e == EAGAIN) {
        return Status::Unavailable("nobody serves '" + endpoint.text + "' (" + Errno(e) + ")");
      }
      return Status::IOError("cannot connect to '" + endpoint.text + "': " + Errno(e));
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(endpoint.port);
  const int rc = getaddrinfo(endpoint.host.c_str(), port_text.c_str(), &hints, &found);
  if (rc != 0 || !found) {
    return Status::Unavailable("cannot resolve host '" + endpoint.host + "' of '" + endpoint.text +
                               "': " + gai_strerror(rc));
  }
  std::string last = "no address";
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (const addrinfo* ai = found; ai; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          ai->ai_protocol);
    if (fd < 0) continue;
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            give_up - std::chrono::steady_clock::now())
                            .count();
      pollfd p{fd, POLLOUT, 0};
      r = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left)));
      if (r == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        r = err == 0 ? 0 : -1;
        errno = err;
      } else {
        if (r == 0) errno = ETIMEDOUT;
        r = -1;
      }
    }
    if (r == 0) {
      freeaddrinfo(found);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      SetTcpOptions(fd);
      return fd;
    }
    last = Errno(errno);
    close(fd);
  }
  freeaddrinfo(found);
  return Status::Unavailable("cannot connect to '" + endpoint.text + "': " + last);
}

bool PeerUidAllowed(uid_t uid) { return uid == 0 || uid == geteuid(); }

}  // namespace jobstore::remote
