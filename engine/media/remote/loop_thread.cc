#include "loop_thread.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include <kj/async-unix.h>

namespace jobstore::remote {

class LoopThread::IgnoreErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&&) override {}
};

LoopThread::LoopThread() {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { Main(); });
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return running_ || stopped_; });
}

LoopThread::~LoopThread() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

bool LoopThread::Post(std::function<void()> task) {
  bool write_wake = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ || stopped_) return false;
    queue_.push_back(std::move(task));
    // One eventfd write per batch of posts: the loop clears the flag when it takes the queue.
    write_wake = !wake_pending_;
    wake_pending_ = true;
  }
  if (write_wake) {
    const uint64_t one = 1;
    ssize_t n;
    do {
      n = write(wake_fd_, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
  }
  return true;
}

std::deque<std::function<void()>> LoopThread::TakeQueue() {
  // Reset the eventfd before taking the queue: a post after this point writes it again, so the
  // loop cannot sleep on a queued task.
  uint64_t value;
  while (read(wake_fd_, &value, sizeof value) < 0 && errno == EINTR) {
  }
  std::lock_guard<std::mutex> l(mu_);
  wake_pending_ = false;
  return std::exchange(queue_, {});
}

bool LoopThread::Stopped() {
  std::lock_guard<std::mutex> l(mu_);
  return stopped_;
}

void LoopThread::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  const uint64_t one = 1;
  while (write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
  thread_.join();
}

void LoopThread::Main() {
  bool ok = wake_fd_ >= 0;
  kj::Maybe<kj::Exception> failure = kj::runCatchingExceptions([&] {
    if (!ok) return;
    auto io = kj::setupAsyncIo();
    IgnoreErrors ignore;
    kj::TaskSet tasks(ignore);
    io_ = &io;
    tasks_ = &tasks;
    kj::UnixEventPort::FdObserver wake(io.unixEventPort, wake_fd_,
                                       kj::UnixEventPort::FdObserver::OBSERVE_READ);
    {
      std::lock_guard<std::mutex> l(mu_);
      running_ = true;
    }
    cv_.notify_all();
    for (;;) {
      std::deque<std::function<void()>> batch = TakeQueue();
      while (!batch.empty()) {
        // Destroyed right after it ran: what it captured (a caller's completion) is released
        // before the rest of the batch runs.
        std::function<void()> task = std::move(batch.front());
        batch.pop_front();
        // A task that throws (a KJ exception from a library call it forgot to catch) must not
        // take the loop, and every other connection, down with it.
        (void)kj::runCatchingExceptions([&] { task(); });
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stopping_ && queue_.empty()) break;
      }
      wake.whenBecomesReadable().wait(io.waitScope);
    }
    tasks_ = nullptr;
    io_ = nullptr;
  });
  (void)failure;
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopped_ = true;
    running_ = false;
    dropped = std::exchange(queue_, {});
  }
  cv_.notify_all();
}

}  // namespace jobstore::remote
