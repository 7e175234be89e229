// WaitForReady across processes: every script that gives a queue ready jobs bumps {P}:epoch
// and PUBLISHes the new value on the store's channel; a waiter subscribes on a connection of
// its own and sleeps in poll() until a message says the epoch moved past its own, the time is
// up, or the store closes. The subscription is in place before the epoch is read, so a bump
// between the two is never missed; subscribed connections are kept for the next wait.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "connection.h"

namespace jobstore::redis {

class ReadyWaiter {
 public:
  // `e` must outlive the waiter.
  ReadyWaiter(const Endpoint& e, std::string channel);
  // Wakes every wait and waits for them to return.
  ~ReadyWaiter();
  ReadyWaiter(const ReadyWaiter&) = delete;
  ReadyWaiter& operator=(const ReadyWaiter&) = delete;

  // Returns OK once the epoch differs from `epoch` (read with `current` after subscribing),
  // after `max_wait_ms` of real time, or when the waiter closes; Unavailable when the server
  // cannot be reached. Thread-safe.
  Status Wait(uint64_t epoch, int64_t max_wait_ms, const std::function<Result<uint64_t>()>& current);

 private:
  Result<std::unique_ptr<Connection>> Subscribed();
  // Reads what has arrived; true when a message carries an epoch past `epoch`. Breaks the
  // connection on an error.
  Status Drain(Connection& c, uint64_t epoch, bool* moved);

  const Endpoint& e_;
  const std::string channel_;
  const int wake_fd_;  // an eventfd, written once when the waiter closes

  std::mutex mu_;
  std::condition_variable done_cv_;
  bool closed_ = false;
  int active_ = 0;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace jobstore::redis
