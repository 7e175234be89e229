// The hello: the bytes a served store's client and server exchange before Cap'n Proto RPC
// starts on a connection. It carries the protocol version and, on TCP, the token, so that an
// unauthenticated peer never reaches the RPC layer: the server reads these few bytes with its
// own strict parser, answers, and closes on anything else.
//
//   client -> server   "JOBSTORE" (8 bytes), version (u32 LE), token length (u32 LE), token
//   server -> client   result (u8: 0 accepted, 1 refused), length (u32 LE), message (UTF-8)
//
// The message of a refusal says why (wrong token, too many connections, ...); it never echoes
// the token.
#pragma once

#include <cstdint>
#include <string>

#include <kj/async-io.h>

#include "jobstore/status.h"

namespace jobstore::remote {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr size_t kMaxTokenBytes = 4096;
inline constexpr size_t kMaxHelloMessageBytes = 4096;

struct Hello {
  bool ok = false;     // a well-formed hello of this protocol version
  std::string error;   // why not, for the refusal and the log
  bool empty = false;  // the peer closed before sending a byte: nothing to answer or log
  std::string token;   // a secret: never logged
};

// Server side: reads one hello from `stream`, never more than its declared size.
kj::Promise<Hello> ReadHello(kj::AsyncIoStream& stream);
// Server side: the answer to a hello.
kj::Promise<void> WriteHelloReply(kj::AsyncIoStream& stream, bool accepted,
                                  const std::string& message);

// Client side, blocking: sends the hello on `fd` and reads the server's answer. OK when
// accepted; a refusal is InvalidArgument (a wrong or missing token, a peer check) or
// Unavailable (the server is full or stopping, or hung up), with the server's message.
Status ClientHello(int fd, const std::string& token);

// Whether two tokens are equal, in time independent of where they differ and of the expected
// token's length (both are hashed, then compared with CRYPTO_memcmp).
bool TokensEqual(const std::string& presented, const std::string& expected);

// The refusal messages that mean "try later" rather than "you are not allowed".
inline constexpr const char* kServerFull = "the server has too many connections";
inline constexpr const char* kServerStopping = "the server is shutting down";

}  // namespace jobstore::remote
