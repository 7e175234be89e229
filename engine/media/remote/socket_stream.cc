#include "socket_stream.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <kj/debug.h>

namespace jobstore::remote {
namespace {

// Read-ahead per connection. A served call's messages are a few hundred bytes; a larger read
// goes straight into the caller's buffer. 8 KiB a connection is 8 MB at a thousand connections.
constexpr size_t kReadAhead = 8 << 10;
// sendmsg() takes at most IOV_MAX (1024 on Linux) pieces; the rest go in the next call.
constexpr size_t kMaxPieces = 1024;

bool WouldBlock(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

}  // namespace

// A dup() of the socket, watched for EPOLLOUT: its own epoll registration, so the read one
// stays as it is. Made when a write finds the socket full, dropped when that write is done.
// Registering reports the socket's state at once, so room that appeared after the failed
// send is not missed.
class SocketStream::WriteWatch {
 public:
  WriteWatch(kj::UnixEventPort& port, int fd)
      : fd_(Dup(fd)), observer_(port, fd_.get(), kj::UnixEventPort::FdObserver::OBSERVE_WRITE) {}
  kj::Promise<void> whenBecomesWritable() { return observer_.whenBecomesWritable(); }

 private:
  static int Dup(int fd) {
    const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) KJ_FAIL_SYSCALL("dup(socket)", errno);
    return copy;
  }
  const kj::AutoCloseFd fd_;  // closed after observer_ leaves the epoll set
  kj::UnixEventPort::FdObserver observer_;
};

SocketStream::SocketStream(kj::UnixEventPort& port, int fd)
    : fd_(fd), port_(port), readable_(port, fd, kj::UnixEventPort::FdObserver::OBSERVE_READ) {}

SocketStream::~SocketStream() noexcept(false) = default;

kj::Promise<size_t> SocketStream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  return ReadFrom(static_cast<kj::byte*>(buffer), min_bytes, max_bytes, 0);
}

size_t SocketStream::TakeReadAhead(kj::byte* out, size_t room) {
  const size_t n = std::min(in_end_ - in_begin_, room);
  if (n == 0) return 0;  // in_ may not be allocated yet: no memcpy from null
  std::memcpy(out, in_.data() + in_begin_, n);
  in_begin_ += n;
  return n;
}

kj::Promise<size_t> SocketStream::ReadFrom(kj::byte* out, size_t min_bytes, size_t max_bytes,
                                           size_t got) {
  for (;;) {
    got += TakeReadAhead(out + got, max_bytes - got);
    if (got >= min_bytes || got == max_bytes) return got;
    // The read-ahead is empty here. A large read goes straight to the caller's buffer.
    const bool direct = max_bytes - got >= kReadAhead;
    if (!direct && in_.empty()) in_.resize(kReadAhead);
    kj::byte* into = direct ? out + got : in_.data();
    const size_t room = direct ? max_bytes - got : in_.size();
    const ssize_t n = ::read(fd_.get(), into, room);
    if (n == 0) return got;  // EOF: fewer than min_bytes tells the caller
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      if (!WouldBlock(error)) KJ_FAIL_SYSCALL("read(socket)", error);
      break;
    }
    if (direct) {
      got += static_cast<size_t>(n);
    } else {
      in_begin_ = 0;
      in_end_ = static_cast<size_t>(n);
      got += TakeReadAhead(out + got, max_bytes - got);
    }
    if (got >= min_bytes) return got;
    // A read shorter than asked emptied the socket. When the last event said the peer had
    // not ended, what comes next (bytes or the end) raises a new edge: wait for it rather
    // than make a read() that would only say EAGAIN. When it said the peer ended, there is
    // nothing to wait for: the next read() is the end. When no event said either (none came
    // since the stream was made), only another read() can tell.
    if (static_cast<size_t>(n) < room) {
      KJ_IF_MAYBE(at_end, readable_.atEndHint()) {
        if (*at_end) return got;
        break;
      }
    }
  }
  return readable_.whenBecomesReadable().then(
      [this, out, min_bytes, max_bytes, got] { return ReadFrom(out, min_bytes, max_bytes, got); });
}

kj::Promise<void> SocketStream::write(const void* buffer, size_t size) {
  const kj::ArrayPtr<const kj::byte> piece(static_cast<const kj::byte*>(buffer), size);
  return write(kj::arrayPtr(&piece, 1));
}

kj::Promise<void> SocketStream::write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  // The caller keeps the bytes alive until the promise resolves (kj::AsyncOutputStream), so
  // only the list of pieces is copied.
  pending_.assign(pieces.begin(), pieces.end());
  pending_at_ = 0;
  return SendPending();
}

kj::Promise<void> SocketStream::SendPending() {
  while (pending_at_ < pending_.size()) {
    if (pending_[pending_at_].size() == 0) {
      ++pending_at_;
      continue;
    }
    iovec iov[kMaxPieces];
    size_t count = 0;
    for (size_t k = pending_at_; k < pending_.size() && count < kMaxPieces; ++k) {
      iov[count].iov_base = const_cast<kj::byte*>(pending_[k].begin());
      iov[count].iov_len = pending_[k].size();
      ++count;
    }
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = count;
    // MSG_NOSIGNAL: a peer that hung up is an error of this write, not a SIGPIPE.
    ssize_t sent = ::sendmsg(fd_.get(), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      const int error = errno;
      if (error == EINTR) continue;
      if (!WouldBlock(error)) {
        write_watch_ = nullptr;
        KJ_FAIL_SYSCALL("sendmsg(socket)", error);
      }
      if (!write_watch_) write_watch_ = kj::heap<WriteWatch>(port_, fd_.get());
      return write_watch_->whenBecomesWritable().then([this] { return SendPending(); });
    }
    // Drop what went out: whole pieces, then the front of the one cut short.
    while (sent > 0) {
      kj::ArrayPtr<const kj::byte>& piece = pending_[pending_at_];
      const size_t n = std::min(piece.size(), static_cast<size_t>(sent));
      piece = piece.slice(n, piece.size());
      sent -= static_cast<ssize_t>(n);
      if (piece.size() == 0) ++pending_at_;
    }
  }
  pending_.clear();
  pending_at_ = 0;
  write_watch_ = nullptr;
  return kj::READY_NOW;
}

kj::Promise<void> SocketStream::whenWriteDisconnected() {
  // epoll reports a hang-up on every registration, the read-only one included.
  return readable_.whenWriteDisconnected();
}

void SocketStream::shutdownWrite() {
  if (::shutdown(fd_.get(), SHUT_WR) < 0 && errno != ENOTCONN) KJ_FAIL_SYSCALL("shutdown(SHUT_WR)", errno);
}

void SocketStream::abortRead() {
  if (::shutdown(fd_.get(), SHUT_RD) < 0 && errno != ENOTCONN) KJ_FAIL_SYSCALL("shutdown(SHUT_RD)", errno);
}

void SocketStream::getsockopt(int level, int option, void* value, kj::uint* length) {
  socklen_t len = *length;
  if (::getsockopt(fd_.get(), level, option, value, &len) < 0) KJ_FAIL_SYSCALL("getsockopt", errno);
  *length = len;
}

void SocketStream::setsockopt(int level, int option, const void* value, kj::uint length) {
  if (::setsockopt(fd_.get(), level, option, value, length) < 0) KJ_FAIL_SYSCALL("setsockopt", errno);
}

void SocketStream::getsockname(struct sockaddr* addr, kj::uint* length) {
  socklen_t len = *length;
  if (::getsockname(fd_.get(), addr, &len) < 0) KJ_FAIL_SYSCALL("getsockname", errno);
  *length = len;
}

void SocketStream::getpeername(struct sockaddr* addr, kj::uint* length) {
  socklen_t len = *length;
  if (::getpeername(fd_.get(), addr, &len) < 0) KJ_FAIL_SYSCALL("getpeername", errno);
  *length = len;
}

}  // namespace jobstore::remote
