// RpcLink: the client end of one connection to a served store, speaking Cap'n Proto RPC (the
// two-party protocol of capnp/rpc.capnp) with blocking I/O on the calling thread.
//
// Why not the RPC system of libcapnp-rpc on the client too: that needs a KJ event loop, which
// is bound to one thread, so every call of a multi-threaded client would hop to that loop's
// thread and back: two context switches per call, which cost a served drain half its speed
// (bench/RESULTS.md). The server end stays libcapnp-rpc's RpcSystem; the client needs only
// the part of the protocol the served store's interface uses: Bootstrap, Call, Return,
// Finish (and Abort, to learn why the server gave up). Calls from many threads overlap on the
// one connection: each writes its call, and whichever caller is waiting reads the next
// message and hands it to the caller it answers (a leader/follower reader), so a call costs
// its own thread one write and one blocking read, and no thread switch when it is alone.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/rpc.capnp.h>
#include <kj/array.h>

namespace jobstore::remote {

class RpcLink {
 public:
  // What became of one call.
  struct Outcome {
    enum Kind {
      kReturned,   // `results()` holds its answer
      kNotSent,    // the connection was broken before the call went out: not applied
      kLost,       // the connection broke while the call was out: outcome unknown
      kException,  // the server answered with an exception (`why`, `type`)
      kTooLarge,   // the call is over the message limit: not sent
    };
    Kind kind = kNotSent;
    std::string why;
    capnp::rpc::Exception::Type type = capnp::rpc::Exception::Type::FAILED;
    // kReturned: the answer's content (valid while this Outcome lives).
    capnp::AnyPointer::Reader results() const;

    struct Message;
    std::shared_ptr<Message> message;
  };

  // Takes `fd`, a connected stream past its hello. Answers over `max_read_bytes` break the
  // connection (they are not allocated); calls over `max_write_bytes` are not sent.
  RpcLink(int fd, size_t max_read_bytes, size_t max_write_bytes);
  // Closes the connection. No call may be running.
  ~RpcLink();
  RpcLink(const RpcLink&) = delete;
  RpcLink& operator=(const RpcLink&) = delete;

  // Asks for the server's capability (the first thing to do). kReturned when it has one.
  Outcome Bootstrap();
  // Calls method `method` of interface `interface_id` on it, its params filled in by `fill`.
  // Thread-safe; blocks until the answer (or the connection's end).
  Outcome Call(uint64_t interface_id, uint16_t method,
               const std::function<void(capnp::AnyPointer::Builder params)>& fill);

  // Whether the connection broke (every call from now on is kNotSent).
  bool broken();

 private:
  struct Waiter;

  Outcome Exchange(const std::function<void(capnp::rpc::Message::Builder, uint32_t question)>& build);
  // Writes `message` (with the Finish messages owed so far before it). False when the
  // connection broke; *wrote_any says whether any byte left.
  bool Write(capnp::MessageBuilder& message, bool* wrote_any);
  // Reads one whole message; null (and the connection broken, mu_ held on return) at its end.
  std::shared_ptr<Outcome::Message> ReadMessage(std::string* why);
  // Hands `message` to the call it answers. mu_ held.
  void Dispatch(std::shared_ptr<Outcome::Message> message);
  void Break(const std::string& why);  // mu_ held

  const int fd_;
  const size_t max_read_bytes_;
  std::atomic<size_t> max_write_bytes_;

 public:
  // The server's own limit, once known (ServerInfo).
  void set_max_write_bytes(size_t bytes) { max_write_bytes_.store(bytes); }

 private:

  std::mutex write_mu_;                // one writer at a time
  std::vector<uint32_t> finishes_;     // guarded by write_mu_: answers to finish (send Finish)
  std::vector<uint32_t> keep_caps_;    // guarded by write_mu_: finish without releasing caps

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint32_t, Waiter*> waiting_;  // guarded by mu_: question id -> its caller
  uint32_t next_question_ = 1;           // guarded by mu_
  bool reading_ = false;                 // guarded by mu_: a caller is reading
  bool broken_ = false;                  // guarded by mu_
  std::string broken_why_;               // guarded by mu_
  uint32_t capability_ = 0;              // set by Bootstrap, read-only afterwards

  // The reader's buffer: touched only by the caller that holds reading_.
  std::vector<char> buffer_;
  size_t buffered_ = 0;
};

}  // namespace jobstore::remote
