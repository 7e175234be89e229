#include "watched_stream.h"

#include <capnp/rpc.capnp.h>

namespace jobstore::remote {

kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> WatchedStream::tryReadMessage(
    kj::ArrayPtr<kj::AutoCloseFd> fd_space, capnp::ReaderOptions options,
    kj::ArrayPtr<capnp::word> scratch) {
  return inner_.tryReadMessage(fd_space, options, scratch)
      .then(
          [this](kj::Maybe<capnp::MessageReaderAndFds>&& message)
              -> kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> {
            if (message != nullptr) ++messages_read_;
            return kj::mv(message);
          },
          [this](kj::Exception&& e) -> kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> {
            if (!failure_ && e.getType() != kj::Exception::Type::DISCONNECTED) {
              failure_ = std::string(e.getDescription().cStr());
            }
            return kj::mv(e);
          });
}

void WatchedStream::NoteOutgoing(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  if (failure_) return;
  // Our own message, built by the RPC system: reading its root union is cheap and safe.
  kj::runCatchingExceptions([&] {
    capnp::SegmentArrayMessageReader reader(segments);
    auto message = reader.getRoot<capnp::rpc::Message>();
    // An abort because the peer hung up is how every connection ends: not a failure.
    if (message.isAbort() &&
        message.getAbort().getType() != capnp::rpc::Exception::Type::DISCONNECTED) {
      failure_ = "aborted the connection: " + std::string(message.getAbort().getReason().cStr());
    }
  });
}

kj::Promise<void> WatchedStream::writeMessage(
    kj::ArrayPtr<const int> fds, kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  NoteOutgoing(segments);
  return inner_.writeMessage(fds, segments);
}

kj::Promise<void> WatchedStream::writeMessages(
    kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) {
  for (auto& m : messages) NoteOutgoing(m);
  return inner_.writeMessages(messages);
}

}  // namespace jobstore::remote
