#include "signal_stop.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <pthread.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace jobstore::internal {

namespace {

// The self-pipe's write end, read by the handler; -1 when no scope is alive.
std::atomic<int> g_signal_pipe{-1};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free fd");

constexpr char kSignalByte = 's';
constexpr char kQuitByte = 'q';

extern "C" void OnStopSignal(int) {
  const int saved_errno = errno;
  const int fd = g_signal_pipe.load(std::memory_order_relaxed);
  if (fd >= 0) {
    char byte = kSignalByte;
    // A full pipe already holds a pending wake-up; nothing is lost by dropping this byte.
    [[maybe_unused]] ssize_t n = write(fd, &byte, 1);
  }
  errno = saved_errno;
}

// The process-wide state behind every SignalStopScope.
class SignalHub {
 public:
  static SignalHub& Get() {
    static SignalHub* hub = new SignalHub();  // never destroyed: a handler may still run
    return *hub;
  }

  void Add(const std::stop_source& source) {
    std::lock_guard install_lock(install_mu_);
    bool first;
    {
      std::lock_guard lock(sources_mu_);
      first = sources_.empty();
      sources_.push_back(source);
    }
    if (first) Install();
  }

  void Remove(const std::stop_source& source) {
    std::lock_guard install_lock(install_mu_);
    bool last;
    {
      std::lock_guard lock(sources_mu_);
      auto it = std::ranges::find(sources_, source);
      if (it != sources_.end()) sources_.erase(it);
      last = sources_.empty();
    }
    if (last) Uninstall();
  }

 private:
  // Caller holds install_mu_.
  void Install() {
    if (pipe2(pipe_, O_CLOEXEC) != 0) return;  // no pipe: signals keep their old action
    g_signal_pipe.store(pipe_[1]);
    watcher_ = std::thread([this, read_fd = pipe_[0]] { Watch(read_fd); });
    struct sigaction action = {};
    action.sa_handler = OnStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART | SA_RESETHAND;
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
    installed_ = true;
  }

  // Caller holds install_mu_ (not sources_mu_, which the watcher takes).
  void Uninstall() {
    if (!installed_) return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    g_signal_pipe.store(-1);
    char byte = kQuitByte;
    [[maybe_unused]] ssize_t n = write(pipe_[1], &byte, 1);
    watcher_.join();
    close(pipe_[0]);
    close(pipe_[1]);
    installed_ = false;
  }

  void Watch(int read_fd) {
    // A program may block these signals in its threads (as multi-threaded programs are
    // advised to) and leave them to this one; unblocking here makes that work. The
    // signal_test child does exactly that.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
    for (;;) {
      // Wait in poll(), then read: ThreadSanitizer (GCC 12) runs a handler at once only in
      // calls it knows block, and it does not count read(); a signal taken during a bare
      // read() would wait, unhandled, for the read to return.
      pollfd readable = {.fd = read_fd, .events = POLLIN, .revents = 0};
      if (poll(&readable, 1, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      char byte = 0;
      ssize_t n = read(read_fd, &byte, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || byte == kQuitByte) return;
      std::lock_guard lock(sources_mu_);
      for (std::stop_source& source : sources_) source.request_stop();
    }
  }

  std::mutex install_mu_;                  // serialises Add/Remove and guards what follows
  std::mutex sources_mu_;                  // guards sources_; the watcher takes only this
  std::vector<std::stop_source> sources_;
  bool installed_ = false;
  int pipe_[2] = {-1, -1};
  std::thread watcher_;
  struct sigaction old_int_ = {};
  struct sigaction old_term_ = {};
};

}  // namespace

SignalStopScope::SignalStopScope(std::stop_source source) : source_(std::move(source)) {
  SignalHub::Get().Add(source_);
}

SignalStopScope::~SignalStopScope() { SignalHub::Get().Remove(source_); }

}  // namespace jobstore::internal
