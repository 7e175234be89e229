// The sockets of a served store: parsing unix:/tcp: endpoints, listening (a unix socket that
// only its owner can reach, a TCP port), connecting with a timeout.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "jobstore/status.h"

namespace jobstore::remote {

struct Endpoint {
  bool is_unix = false;
  std::string path;  // unix
  std::string host;  // tcp: a name or an address ("[::1]" given as "::1")
  uint16_t port = 0;
  std::string text;  // as given: "unix:/d/jobstore.sock", "tcp:localhost:7300"
};

// A unix:PATH or tcp:HOST:PORT address. InvalidArgument, naming the address and the expected
// form, when it is another scheme or malformed (an empty path, a path too long for a socket, a
// missing or bad port). (Parsed here rather than by Address::Parse, which lives in the layer
// above: these addresses hold no secret, so they are shown as given.)
Result<Endpoint> ParseEndpoint(const std::string& address);

struct Listening {
  int fd = -1;
  std::string address;  // as clients name it (a tcp port 0 resolved)
  std::string unix_path;
  ino_t inode = 0;      // of the unix socket file this listener created
  bool loopback = false;
};

// Listens on a unix socket at `path`, created mode 0600 (bound inside a private directory and
// renamed into place, so it never exists with wider permissions). A stale socket nobody
// listens on is replaced; a live one is Busy; anything else at `path` is InvalidArgument.
Result<Listening> ListenUnix(const std::string& path);
// Listens on the first address `host` resolves to. `loopback` says whether it is one.
Result<Listening> ListenTcp(const std::string& host, uint16_t port);
// Removes the unix socket if it is still the one `l` created (a successor's stays).
void RemoveUnixSocket(const Listening& l);

// Connects to `endpoint` within `timeout_ms`. Unavailable when nobody listens there (no socket
// file, connection refused) or it does not answer in time; IOError for other failures. The
// descriptor is close-on-exec, with TCP_NODELAY and keepalive on TCP.
Result<int> ConnectSocket(const Endpoint& endpoint, int64_t timeout_ms);

// Whether `uid` may use a store served by this process: the same user, or root.
bool PeerUidAllowed(uid_t uid);

}  // namespace jobstore::remote
