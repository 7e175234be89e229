// CallPool: the threads a server runs store calls on, shared fairly between connections.
//
// Each connection has a Lane. A lane's calls start in arrival order, at most `per_lane` at
// once, and lanes with calls waiting take turns, so a client that floods the server or makes
// slow calls only slows itself. The pool starts `min_threads` threads and adds one whenever a
// call would wait for a thread, up to `max_threads`: a few long calls (a big Check, a slow
// disk) do not hold up every other client.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace jobstore::remote {

class CallPool {
 public:
  class Lane;

  CallPool(size_t min_threads, size_t max_threads, size_t per_lane);
  // Shutdown().
  ~CallPool();
  CallPool(const CallPool&) = delete;
  CallPool& operator=(const CallPool&) = delete;

  std::shared_ptr<Lane> NewLane();
  // Queues `call` on `lane`. It runs on a pool thread; it must not throw. Thread-safe.
  void Submit(const std::shared_ptr<Lane>& lane, std::function<void()> call);
  // Runs every queued call, then joins the threads. Calls submitted later run on the caller's
  // thread. Idempotent.
  void Shutdown();

 private:
  void Worker();
  // Puts `lane` in the turn order if it has calls waiting and room to start one. mu_ held.
  void MaybeSchedule(Lane* lane, const std::shared_ptr<Lane>& owner);

  const size_t max_threads_;
  const size_t per_lane_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Lane>> turns_;  // lanes that may start a call, in turn order
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  size_t queued_ = 0;  // calls waiting in any lane
  bool shutdown_ = false;
};

class CallPool::Lane {
 private:
  friend class CallPool;
  std::deque<std::function<void()>> calls;  // guarded by the pool's mu_
  size_t active = 0;
  bool in_turns = false;
};

}  // namespace jobstore::remote
