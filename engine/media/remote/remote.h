// The served-store medium's entry points for Store::Open (engine/open/open.cc): connecting to
// a served store, and serving a store a program opened with Options::serve.
#pragma once

#include <memory>
#include <string>

#include "jobstore/address.h"
#include "jobstore/options.h"
#include "jobstore/status.h"
#include "jobstore/store.h"

namespace jobstore::remote {

// How long Connect waits for the socket, the TLS handshake, the hello and the first answer.
inline constexpr int64_t kConnectTimeoutMs = 10'000;

// A Store that is a connection to the served store at `address` (unix:PATH or tcp:HOST:PORT),
// with `options.token` and `options.tls_ca_file` for TCP; the other options, but read_only,
// are the server's. Unavailable when nobody serves there (a missing socket, a refused
// connection, a server that is full or stopping), InvalidArgument when the server refuses
// this client (a wrong token, a peer check) or the address is malformed, NotSupported for a
// server of another protocol version.
Result<std::unique_ptr<Store>> Connect(const Address& address, const Options& options);

// `store` (a directory's, just opened) served on ServedSocketPath(dir) while it is open: the
// returned Store forwards every call to it and, when destroyed, stops serving (finishing the
// calls in flight) before it closes the store. Fails, closing `store`, when the socket cannot
// be made.
Result<std::unique_ptr<Store>> ServeWhileOpen(std::unique_ptr<Store> store, const std::string& dir);

}  // namespace jobstore::remote
