// SocketStream: a connected socket as a kj::AsyncIoStream that asks the event loop for read
// readiness only, and for write readiness only while a write waits for room.
//
// Why not KJ's own (LowLevelAsyncIoProvider::wrapSocketFd): it registers every socket for
// EPOLLIN and EPOLLOUT, edge-triggered, for the socket's whole life. A unix socket signals
// EPOLLOUT each time the peer reads (the read frees the sender's buffer), so every request a
// client reads back wakes the server's loop once for nothing: one wasted wake-up per call,
// the largest single item of the served store's kernel time (bench/RESULTS.md, the served
// store). Here a write goes straight to sendmsg(); only when the socket buffer is full does
// the stream watch a dup() of the socket for EPOLLOUT (epoll keeps one registration per
// descriptor, and the read registration stays as it is), until the write is done.
//
// Reads go through a buffer: one read() brings a whole small message (its header and its
// segments, which Cap'n Proto asks for in two or three reads).
//
// Like every KJ object it belongs to the thread of the event port it was made with. At most one
// read and one write at a time, as kj::AsyncIoStream requires.
#pragma once

#include <sys/socket.h>

#include <vector>

#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/io.h>

namespace jobstore::remote {

class SocketStream final : public kj::AsyncIoStream {
 public:
  // Takes `fd`, a connected, non-blocking socket; closes it when destroyed (also when this
  // throws, as KJ does when the event port cannot watch it).
  SocketStream(kj::UnixEventPort& port, int fd);
  ~SocketStream() noexcept(false);

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override;
  kj::Promise<void> write(const void* buffer, size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> whenWriteDisconnected() override;
  void shutdownWrite() override;
  void abortRead() override;
  void getsockopt(int level, int option, void* value, kj::uint* length) override;
  void setsockopt(int level, int option, const void* value, kj::uint length) override;
  void getsockname(struct sockaddr* addr, kj::uint* length) override;
  void getpeername(struct sockaddr* addr, kj::uint* length) override;

 private:
  class WriteWatch;

  // Copies up to `room` read-ahead bytes to `out`; returns how many.
  size_t TakeReadAhead(kj::byte* out, size_t room);
  // Reads into `out` until `got` >= min_bytes, EOF or a would-block, then waits for input.
  kj::Promise<size_t> ReadFrom(kj::byte* out, size_t min_bytes, size_t max_bytes, size_t got);
  // Sends what `pending_` holds from pending_at_; waits for room while the socket is full.
  kj::Promise<void> SendPending();

  const kj::AutoCloseFd fd_;  // before readable_: closed after it leaves the epoll set
  kj::UnixEventPort& port_;
  kj::UnixEventPort::FdObserver readable_;
  std::vector<kj::byte> in_;  // bytes read ahead: [in_begin_, in_end_)
  size_t in_begin_ = 0, in_end_ = 0;
  std::vector<kj::ArrayPtr<const kj::byte>> pending_;  // the write in progress, unsent part
  size_t pending_at_ = 0;
  kj::Own<WriteWatch> write_watch_;  // only while a write waits for room
};

}  // namespace jobstore::remote
