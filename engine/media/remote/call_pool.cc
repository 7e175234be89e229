#include "call_pool.h"

namespace jobstore::remote {

CallPool::CallPool(size_t min_threads, size_t max_threads, size_t per_lane)
    : max_threads_(std::max<size_t>(1, std::max(min_threads, max_threads))),
      per_lane_(std::max<size_t>(1, per_lane)) {
  std::lock_guard<std::mutex> l(mu_);
  for (size_t i = 0; i < std::max<size_t>(1, min_threads); ++i) {
    threads_.emplace_back([this] { Worker(); });
  }
}

CallPool::~CallPool() { Shutdown(); }

std::shared_ptr<CallPool::Lane> CallPool::NewLane() { return std::make_shared<Lane>(); }

void CallPool::MaybeSchedule(Lane* lane, const std::shared_ptr<Lane>& owner) {
  if (lane->in_turns || lane->calls.empty() || lane->active >= per_lane_) return;
  lane->in_turns = true;
  turns_.push_back(owner);
}

void CallPool::Submit(const std::shared_ptr<Lane>& lane, std::function<void()> call) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!shutdown_) {
      lane->calls.push_back(std::move(call));
      ++queued_;
      MaybeSchedule(lane.get(), lane);
      // Grow while calls wait for a thread: a slow call then never queues another behind it.
      if (idle_ < queued_ && threads_.size() < max_threads_ && !turns_.empty()) {
        threads_.emplace_back([this] { Worker(); });
      }
      cv_.notify_one();
      return;
    }
  }
  call();
}

void CallPool::Worker() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(l, [&] { return !turns_.empty() || (shutdown_ && queued_ == 0); });
    --idle_;
    if (turns_.empty()) return;  // shut down and nothing left
    std::shared_ptr<Lane> lane = std::move(turns_.front());
    turns_.pop_front();
    lane->in_turns = false;
    std::function<void()> call = std::move(lane->calls.front());
    lane->calls.pop_front();
    --queued_;
    ++lane->active;
    // Round robin: the lane goes to the back of the turns if it may start another call.
    MaybeSchedule(lane.get(), lane);
    if (!turns_.empty()) cv_.notify_one();
    l.unlock();
    call();
    call = nullptr;  // destroyed outside the lock, before the next turn
    l.lock();
    --lane->active;
    MaybeSchedule(lane.get(), lane);
    if (!turns_.empty()) cv_.notify_one();
  }
}

void CallPool::Shutdown() {
  std::vector<std::thread> threads;
  {
    // Submit() adds no thread once shutdown_ is set, so this takes every thread there is.
    std::lock_guard<std::mutex> l(mu_);
    shutdown_ = true;
    threads.swap(threads_);
    cv_.notify_all();
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace jobstore::remote
