// LoopThread: a KJ event loop on a thread of its own, which any thread can hand work to.
//
// KJ objects (streams, RPC systems, promises) belong to the thread whose event loop made them.
// The served store keeps every one of them on a LoopThread (the server's listeners and
// connections; a client's TLS relay) and crosses threads only with plain C++ values: Post()
// queues a std::function under a std::mutex and wakes the loop through an eventfd it watches.
// KJ's own cross-thread executor is not used because its synchronisation lives inside libkj,
// which ThreadSanitizer cannot see; a std::mutex hand-off is visible to it, so the TSan build
// checks every value that crosses.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <kj/async-io.h>

namespace jobstore::remote {

class LoopThread {
 public:
  // Starts the thread and its event loop; returns once the loop runs.
  LoopThread();
  // Stop() and join. Whatever the loop thread owns must be gone by then (see Stop).
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  // Queues `task` to run on the loop thread, outside any promise callback (so it may not
  // wait()). Returns false, dropping the task on the calling thread, once the loop stopped.
  // Thread-safe.
  bool Post(std::function<void()> task);

  // Runs `fn` on the loop thread and waits for it; returns its value, or nullopt when the loop
  // stopped before it ran. Must not be called from the loop thread.
  template <typename T>
  std::optional<T> Call(std::function<T()> fn) {
    return Await<T>([fn = std::move(fn)]() -> kj::Promise<T> { return fn(); });
  }

  // Runs `start` on the loop thread and waits until the promise it returns resolves; returns
  // its value, or nullopt when the loop stopped first (or the promise failed: `start` should
  // turn every failure into a value). Must not be called from the loop thread.
  template <typename T>
  std::optional<T> Await(std::function<kj::Promise<T>()> start) {
    auto state = std::make_shared<Completion<T>>();
    auto signal = std::make_shared<Signal<T>>(state);
    const bool posted = Post([this, signal, start = std::move(start)]() mutable {
      tasks().add(start().then([signal](T value) {
        std::lock_guard<std::mutex> l(signal->state->mu);
        signal->state->out.emplace(std::move(value));
      }));
    });
    signal.reset();
    if (!posted) return std::nullopt;
    std::unique_lock<std::mutex> l(state->mu);
    state->cv.wait(l, [&] { return state->done; });
    return std::move(state->out);
  }

  // Runs the tasks queued so far, then ends the loop and joins the thread. Tasks posted later
  // are refused. Idempotent; not from the loop thread.
  void Stop();

  // Loop thread only: the thread's async I/O (network, timer, low-level fds).
  kj::AsyncIoContext& io() { return *io_; }
  // Loop thread only: keeps detached promises alive until they finish. Each such promise
  // handles its own errors; one that escapes is dropped.
  kj::TaskSet& tasks() { return *tasks_; }
  bool OnLoopThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void Main();
  bool Stopped();
  // Takes the queued tasks (waking the loop again for later posts).
  std::deque<std::function<void()>> TakeQueue();

  class IgnoreErrors;

  template <typename T>
  struct Completion {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<T> out;  // guarded by mu
    bool done = false;     // guarded by mu
  };
  // Tells the waiting caller when the last copy of the posted work is destroyed: after it
  // delivered its value, or unrun because the loop stopped.
  template <typename T>
  struct Signal {
    explicit Signal(std::shared_ptr<Completion<T>> s) : state(std::move(s)) {}
    ~Signal() {
      std::lock_guard<std::mutex> l(state->mu);
      state->done = true;
      state->cv.notify_one();
    }
    std::shared_ptr<Completion<T>> state;
  };

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool wake_pending_ = false;                // guarded by mu_: the eventfd was written
  bool stopping_ = false;                    // guarded by mu_
  bool stopped_ = false;                     // guarded by mu_: the loop ended
  bool running_ = false;                     // guarded by mu_: the loop started
  int wake_fd_ = -1;

  kj::AsyncIoContext* io_ = nullptr;  // loop thread only
  kj::TaskSet* tasks_ = nullptr;      // loop thread only
  std::thread thread_;
};

}  // namespace jobstore::remote
