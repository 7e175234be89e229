// WatchedStream: the message stream a server's RPC connection runs over, which remembers why
// the connection ended (a message over the size limit, a malformed message the RPC layer
// aborted the connection for), so that the server can log it. Cap'n Proto's RPC system drops
// such a connection without telling its owner; the reason is in the read that failed or in
// the Abort message the RPC system sends the peer, and this stream sees both.
#pragma once

#include <optional>
#include <string>

#include <capnp/serialize-async.h>

namespace jobstore::remote {

class WatchedStream final : public capnp::MessageStream {
 public:
  explicit WatchedStream(kj::AsyncIoStream& stream) : inner_(stream) {}

  // Why the connection failed, if it did: the first read error or aborting reason.
  const std::optional<std::string>& failure() const { return failure_; }
  // Messages read so far.
  uint64_t messages_read() const { return messages_read_; }

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(
      kj::ArrayPtr<kj::AutoCloseFd> fd_space, capnp::ReaderOptions options,
      kj::ArrayPtr<capnp::word> scratch) override;
  kj::Promise<void> writeMessage(kj::ArrayPtr<const int> fds,
                                 kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) override;
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override;
  kj::Maybe<int> getSendBufferSize() override { return inner_.getSendBufferSize(); }
  kj::Promise<void> end() override { return inner_.end(); }

 private:
  void NoteOutgoing(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments);

  capnp::AsyncIoMessageStream inner_;
  std::optional<std::string> failure_;
  uint64_t messages_read_ = 0;
};

}  // namespace jobstore::remote
