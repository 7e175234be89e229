#include "rpc_link.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <capnp/serialize.h>
#include <kj/io.h>

namespace jobstore::remote {

// An incoming message, with the words it lives in.
struct RpcLink::Outcome::Message {
  kj::Array<capnp::word> words;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader;
  capnp::rpc::Message::Reader root;
};

struct RpcLink::Waiter {
  bool done = false;
  Outcome outcome;
};

capnp::AnyPointer::Reader RpcLink::Outcome::results() const {
  return message->root.getReturn().getResults().getContent();
}

RpcLink::RpcLink(int fd, size_t max_read_bytes, size_t max_write_bytes)
    : fd_(fd), max_read_bytes_(max_read_bytes), max_write_bytes_(max_write_bytes) {
  buffer_.resize(64 << 10);
}

RpcLink::~RpcLink() { close(fd_); }

bool RpcLink::broken() {
  std::lock_guard<std::mutex> l(mu_);
  return broken_;
}

void RpcLink::Break(const std::string& why) {
  if (broken_) return;
  broken_ = true;
  broken_why_ = why;
  // A reader blocked in read() returns at once; writers fail.
  shutdown(fd_, SHUT_RDWR);
  cv_.notify_all();
}

bool RpcLink::Write(capnp::MessageBuilder& message, bool* wrote_any) {
  *wrote_any = false;
  kj::VectorOutputStream out;
  // Finish the answers already taken: the server keeps each until told (RPC's Finish), and
  // riding on the next call's write costs no extra system call.
  for (uint32_t q : finishes_) {
    capnp::MallocMessageBuilder finish(16);
    auto f = finish.initRoot<capnp::rpc::Message>().initFinish();
    f.setQuestionId(q);
    capnp::writeMessage(out, finish);
  }
  for (uint32_t q : keep_caps_) {
    capnp::MallocMessageBuilder finish(16);
    auto f = finish.initRoot<capnp::rpc::Message>().initFinish();
    f.setQuestionId(q);
    f.setReleaseResultCaps(false);
    capnp::writeMessage(out, finish);
  }
  finishes_.clear();
  keep_caps_.clear();
  capnp::writeMessage(out, message);
  auto bytes = out.getArray();
  const char* p = reinterpret_cast<const char*>(bytes.begin());
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = send(fd_, p, left, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    *wrote_any = true;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

std::shared_ptr<RpcLink::Outcome::Message> RpcLink::ReadMessage(std::string* why) {
  // Frame: u32 segments - 1, u32 size of each segment (words), padding to 8 bytes, segments.
  auto have = [&](size_t n) -> bool {
    while (buffered_ < n) {
      if (buffer_.size() < n) buffer_.resize(std::max(n, 2 * buffer_.size()));
      // Wait in poll() for POLLIN, not in read(): a reader asleep in read() on a unix socket
      // is also woken each time the server consumes a request from it (the kernel signals
      // "room to write" on the same wait queue), which cost the server a cross-CPU wake-up
      // and this process a context switch on every call; poll's waiter ignores those.
      pollfd want{fd_, POLLIN, 0};
      if (poll(&want, 1, -1) < 0 && errno == EINTR) continue;
      const ssize_t got = read(fd_, buffer_.data() + buffered_, buffer_.size() - buffered_);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        *why = got == 0 ? "the server closed the connection" : std::strerror(errno);
        return false;
      }
      buffered_ += static_cast<size_t>(got);
    }
    return true;
  };
  auto u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, buffer_.data() + at, 4);
    return v;  // little-endian hosts only, as is every host this builds for
  };
  if (!have(4)) return nullptr;
  const size_t segments = size_t{u32(0)} + 1;
  if (segments > 512) {
    *why = "the server sent a message of " + std::to_string(segments) + " segments";
    return nullptr;
  }
  const size_t table = (4 + 4 * segments + 7) / 8 * 8;
  if (!have(table)) return nullptr;
  size_t words = 0;
  for (size_t i = 0; i < segments; ++i) words += u32(4 + 4 * i);
  if (words * sizeof(capnp::word) > max_read_bytes_) {
    *why = "the server sent a message of " + std::to_string(words * 8) + " bytes, over the limit";
    return nullptr;
  }
  const size_t total = table + words * sizeof(capnp::word);
  if (!have(total)) return nullptr;
  auto message = std::make_shared<Outcome::Message>();
  message->words = kj::heapArray<capnp::word>(total / sizeof(capnp::word));
  std::memcpy(message->words.begin(), buffer_.data(), total);
  std::memmove(buffer_.data(), buffer_.data() + total, buffered_ - total);
  buffered_ -= total;
  capnp::ReaderOptions options;
  options.traversalLimitInWords = max_read_bytes_ / sizeof(capnp::word);
  bool ok = true;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
    message->reader = std::make_unique<capnp::FlatArrayMessageReader>(message->words, options);
    message->root = message->reader->getRoot<capnp::rpc::Message>();
    (void)message->root.which();
  })) {
    *why = std::string("the server sent a malformed message: ") + e->getDescription().cStr();
    ok = false;
  }
  return ok ? message : nullptr;
}

void RpcLink::Dispatch(std::shared_ptr<Outcome::Message> message) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] {
    auto root = message->root;
    switch (root.which()) {
      case capnp::rpc::Message::RETURN: {
        auto ret = root.getReturn();
        auto it = waiting_.find(ret.getAnswerId());
        if (it == waiting_.end()) return;  // not ours (cannot happen with this server)
        Waiter* w = it->second;
        waiting_.erase(it);
        w->done = true;
        if (ret.isResults()) {
          w->outcome.kind = Outcome::kReturned;
          w->outcome.message = std::move(message);
        } else if (ret.isException()) {
          w->outcome.kind = Outcome::kException;
          w->outcome.why = ret.getException().getReason();
          w->outcome.type = ret.getException().getType();
        } else {
          w->outcome.kind = Outcome::kException;
          w->outcome.why = "the server answered with a kind of return this client does not take";
        }
        return;
      }
      case capnp::rpc::Message::ABORT:
        Break(std::string("the server aborted the connection: ") +
              root.getAbort().getReason().cStr());
        return;
      case capnp::rpc::Message::UNIMPLEMENTED:
        Break("the server does not speak this client's protocol");
        return;
      default:
        return;  // nothing else concerns a client that exports no capability
    }
  })) {
    Break(std::string("the server sent a malformed message: ") + e->getDescription().cStr());
  }
}

RpcLink::Outcome RpcLink::Exchange(
    const std::function<void(capnp::rpc::Message::Builder, uint32_t question)>& build) {
  Waiter waiter;
  uint32_t question;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (broken_) {
      waiter.outcome.why = broken_why_;
      return std::move(waiter.outcome);
    }
    question = next_question_++;
    waiting_[question] = &waiter;
  }
  capnp::MallocMessageBuilder message;
  build(message.initRoot<capnp::rpc::Message>(), question);
  const size_t bytes = message.sizeInWords() * sizeof(capnp::word);
  if (bytes > max_write_bytes_.load()) {
    std::lock_guard<std::mutex> l(mu_);
    waiting_.erase(question);
    waiter.outcome.kind = Outcome::kTooLarge;
    waiter.outcome.why = "the call is " + std::to_string(bytes >> 20) +
                         " MiB, over the served store's limit of " +
                         std::to_string(max_write_bytes_.load() >> 20) +
                         " MiB a message; it was not sent";
    return std::move(waiter.outcome);
  }
  bool wrote_any = false, wrote;
  int error = 0;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    wrote = Write(message, &wrote_any);
    error = errno;
  }
  std::unique_lock<std::mutex> l(mu_);
  if (!wrote) {
    waiting_.erase(question);
    Break("the connection broke: " + std::string(std::strerror(error)));
    // A message cut short is not one the server acts on.
    waiter.outcome.kind = Outcome::kNotSent;
    waiter.outcome.why = broken_why_;
    return std::move(waiter.outcome);
  }
  while (!waiter.done) {
    if (broken_) {
      waiting_.erase(question);
      waiter.outcome.kind = Outcome::kLost;
      waiter.outcome.why = broken_why_;
      return std::move(waiter.outcome);
    }
    if (reading_) {
      cv_.wait(l);
      continue;
    }
    reading_ = true;
    l.unlock();
    std::string why;
    std::shared_ptr<Outcome::Message> next = ReadMessage(&why);
    l.lock();
    reading_ = false;
    if (next) {
      Dispatch(std::move(next));
    } else {
      Break(why);
    }
    cv_.notify_all();
  }
  return std::move(waiter.outcome);
}

RpcLink::Outcome RpcLink::Bootstrap() {
  uint32_t question = 0;
  Outcome out = Exchange([&](capnp::rpc::Message::Builder m, uint32_t q) {
    m.initBootstrap().setQuestionId(q);
    question = q;
  });
  if (out.kind != Outcome::kReturned) return out;
  auto caps = out.message->root.getReturn().getResults().getCapTable();
  if (caps.size() != 1 || !caps[0].isSenderHosted()) {
    out.kind = Outcome::kException;
    out.why = "the server's bootstrap answer holds no capability";
    return out;
  }
  capability_ = caps[0].getSenderHosted();
  std::lock_guard<std::mutex> l(write_mu_);
  keep_caps_.push_back(question);  // the capability stays ours until the connection ends
  return out;
}

RpcLink::Outcome RpcLink::Call(uint64_t interface_id, uint16_t method,
                               const std::function<void(capnp::AnyPointer::Builder)>& fill) {
  uint32_t question = 0;
  Outcome out = Exchange([&](capnp::rpc::Message::Builder m, uint32_t q) {
    auto call = m.initCall();
    call.setQuestionId(q);
    call.initTarget().setImportedCap(capability_);
    call.setInterfaceId(interface_id);
    call.setMethodId(method);
    fill(call.initParams().initContent());
    question = q;
  });
  if (out.kind == Outcome::kReturned || out.kind == Outcome::kException) {
    std::lock_guard<std::mutex> l(write_mu_);
    finishes_.push_back(question);
  }
  return out;
}

}  // namespace jobstore::remote
