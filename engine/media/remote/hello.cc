#include "hello.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <kj/array.h>

namespace jobstore::remote {
namespace {

constexpr char kMagic[8] = {'J', 'O', 'B', 'S', 'T', 'O', 'R', 'E'};

void PutU32(kj::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<kj::byte>(v >> (8 * i));
}
uint32_t GetU32(const kj::byte* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

// Reads exactly `n` bytes; resolves to how many it got (fewer at an end of stream).
kj::Promise<size_t> ReadUpTo(kj::AsyncIoStream& stream, kj::byte* buffer, size_t n) {
  if (n == 0) return size_t{0};
  return stream.tryRead(buffer, n, n);
}

kj::Promise<bool> ReadExactly(kj::AsyncIoStream& stream, kj::byte* buffer, size_t n) {
  return ReadUpTo(stream, buffer, n).then([n](size_t got) { return got == n; });
}

}  // namespace

kj::Promise<Hello> ReadHello(kj::AsyncIoStream& stream) {
  auto header = kj::heapArray<kj::byte>(16);
  kj::byte* p = header.begin();
  return ReadUpTo(stream, p, 16).then([&stream, header = kj::mv(header)](size_t got) mutable
                                          -> kj::Promise<Hello> {
    Hello hello;
    if (got < 16) {
      // A peer that connects and leaves (a liveness probe) said nothing worth an answer.
      hello.empty = got == 0;
      hello.error = "the connection ended inside the hello";
      return hello;
    }
    if (std::memcmp(header.begin(), kMagic, sizeof kMagic) != 0) {
      hello.error = "the peer did not send a jobstore hello (not a jobstore client?)";
      return hello;
    }
    const uint32_t version = GetU32(header.begin() + 8);
    if (version != kProtocolVersion) {
      hello.error = "the client speaks protocol version " + std::to_string(version) +
                    " and this server version " + std::to_string(kProtocolVersion) +
                    "; use the same jobstore version on both sides";
      return hello;
    }
    const uint32_t length = GetU32(header.begin() + 12);
    if (length > kMaxTokenBytes) {
      hello.error = "the hello's token is " + std::to_string(length) + " bytes, over the limit of " +
                    std::to_string(kMaxTokenBytes);
      return hello;
    }
    auto token = kj::heapArray<kj::byte>(length);
    kj::byte* t = token.begin();
    return ReadExactly(stream, t, length).then([token = kj::mv(token)](bool done) {
      Hello h;
      if (!done) {
        h.error = "the connection ended inside the hello";
        return h;
      }
      h.ok = true;
      h.token.assign(reinterpret_cast<const char*>(token.begin()), token.size());
      return h;
    });
  });
}

kj::Promise<void> WriteHelloReply(kj::AsyncIoStream& stream, bool accepted,
                                  const std::string& message) {
  const size_t n = std::min(message.size(), kMaxHelloMessageBytes);
  auto out = kj::heapArray<kj::byte>(5 + n);
  out[0] = accepted ? 0 : 1;
  PutU32(out.begin() + 1, static_cast<uint32_t>(n));
  std::memcpy(out.begin() + 5, message.data(), n);
  auto promise = stream.write(out.begin(), out.size());
  return promise.attach(kj::mv(out));
}

namespace {

bool SendAll(int fd, const kj::byte* p, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAll(int fd, kj::byte* p, size_t n) {
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

Status ClientHello(int fd, const std::string& token) {
  std::vector<kj::byte> out(16 + token.size());
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  PutU32(out.data() + 8, kProtocolVersion);
  PutU32(out.data() + 12, static_cast<uint32_t>(token.size()));
  std::memcpy(out.data() + 16, token.data(), token.size());
  // A server that refuses at once (full, a peer check) may close before it read everything:
  // its answer is still there to read.
  (void)SendAll(fd, out.data(), out.size());
  kj::byte header[5];
  if (!ReadAll(fd, header, sizeof header)) {
    return Status::Unavailable("the server closed the connection during the hello");
  }
  const bool accepted = header[0] == 0;
  const uint32_t length = GetU32(header + 1);
  if (header[0] > 1 || length > kMaxHelloMessageBytes) {
    return Status::Unavailable("the peer's answer to the hello is not a jobstore server's");
  }
  std::string message(length, '\0');
  if (!ReadAll(fd, reinterpret_cast<kj::byte*>(message.data()), length)) {
    return Status::Unavailable("the server closed the connection during the hello");
  }
  if (accepted) return Status::OK();
  if (message.starts_with(kServerFull) || message.starts_with(kServerStopping)) {
    return Status::Unavailable("the server refused the connection: " + message);
  }
  return Status::InvalidArgument("the server refused the connection: " + message);
}

bool TokensEqual(const std::string& presented, const std::string& expected) {
  unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
  unsigned int na = 0, nb = 0;
  if (EVP_Digest(presented.data(), presented.size(), a, &na, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(expected.data(), expected.size(), b, &nb, EVP_sha256(), nullptr) != 1 ||
      na != nb) {
    return false;
  }
  return CRYPTO_memcmp(a, b, na) == 0;
}

}  // namespace jobstore::remote
