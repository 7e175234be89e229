// The exec job (builtin_jobs.h): runs a configured command with the job's params on stdin.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <vector>

#include "jobstore/builtin_jobs.h"

extern char** environ;

namespace jobstore {

namespace {

using SteadyClock = std::chrono::steady_clock;

// A file descriptor closed on scope exit.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A close-on-exec pipe: the descriptors must not leak into children that other threads
// spawn concurrently, or a pipe would not see EOF until those unrelated children exit.
bool MakePipe(Fd* read_end, Fd* write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  *read_end = Fd(fds[0]);
  *write_end = Fd(fds[1]);
  return true;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Blocks SIGPIPE in this thread while alive, so writing to a command that exited without
// reading its stdin yields EPIPE instead of killing the whole process; a SIGPIPE raised
// meanwhile is consumed before the mask is restored.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_set_);
    sigaddset(&pipe_set_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_mask_);
  }
  ~ScopedSigpipeBlock() {
    if (!was_pending_) {
      const timespec zero = {0, 0};
      while (sigtimedwait(&pipe_set_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }

 private:
  sigset_t pipe_set_;
  sigset_t old_mask_;
  bool was_pending_ = false;
};

// The command's environment: ours, with `overrides` replacing or adding variables.
std::vector<std::string> BuildEnvironment(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  for (char** var = environ; var != nullptr && *var != nullptr; ++var) {
    std::string_view entry(*var);
    const std::string name(entry.substr(0, entry.find('=')));
    if (!overrides.contains(name)) env.emplace_back(entry);
  }
  for (const auto& [name, value] : overrides) env.push_back(name + "=" + value);
  return env;
}

// Keeps the last `limit` bytes appended to it.
class TailBuffer {
 public:
  explicit TailBuffer(size_t limit) : limit_(limit) {}
  void Append(const char* data, size_t n) {
    text_.append(data, n);
    // Trim in chunks rather than per read, so the cost stays linear in the bytes read.
    if (text_.size() > 2 * limit_ + 4096) text_.erase(0, text_.size() - limit_);
  }
  std::string Take() && {
    if (text_.size() > limit_) text_.erase(0, text_.size() - limit_);
    return std::move(text_);
  }

 private:
  const size_t limit_;
  std::string text_;
};

// Runs in the forked child, which holds the command's process group: only async-signal-safe
// calls from here on (the parent has other threads, whose locks the fork copied held). Never
// returns. The guardian learns that the runner died from its lifeline: the runner holds the
// pipe's write end, which the kernel closes however the runner dies, so the guardian's poll
// sees the hang-up. (A PR_SET_PDEATHSIG handler did this before: a signal handler is not run
// while ThreadSanitizer's runtime defers signals in a forked child, and the command outlived
// its runner there.)
[[noreturn]] void Guardian(pid_t parent, int lifeline, int stdin_fd, int stdout_fd,
                           int stderr_fd, char* const* argv, char* const* envp) {
  setpgid(0, 0);
  // Dispositions set to "ignore" survive exec, and the runner's thread may block signals: the
  // command must inherit neither.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // A runner started with 0, 1 or 2 closed gets its pipes there: lift all four above 2 first,
  // so that no dup2 below overwrites a descriptor another still needs.
  const int from[3] = {fcntl(stdin_fd, F_DUPFD, 3), fcntl(stdout_fd, F_DUPFD, 3),
                       fcntl(stderr_fd, F_DUPFD, 3)};
  const int life = fcntl(lifeline, F_DUPFD, 3);
  for (int fd = 0; fd < 3; ++fd) {
    if (from[fd] < 0 || dup2(from[fd], fd) < 0) _exit(126);
  }
  // The lifeline at 3, close-on-exec so the command does not hold it; every other descriptor
  // of the parent (this command's other pipe ends among them, which would hold off its EOF,
  // and other guardians' lifelines) is closed by hand: the guardian does not exec, so
  // close-on-exec closes nothing here. With close_range (Linux 5.9), else one by one.
  if (life < 0 || (life != 3 && dup2(life, 3) < 0) || fcntl(3, F_SETFD, FD_CLOEXEC) < 0) _exit(126);
  if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0) {
    struct rlimit limit {};
    const rlim_t top = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                           ? limit.rlim_cur
                           : 65536;
    for (rlim_t fd = 4; fd < top; ++fd) close(static_cast<int>(fd));
  }
  if (getppid() != parent) kill(0, SIGKILL);  // the runner is gone already
  const pid_t command = fork();
  if (command == 0) {
    execve("/bin/sh", argv, envp);
    _exit(127);
  }
  if (command < 0) _exit(126);
  // The guardian keeps no end of the command's pipes: EOF and EPIPE reach the runner as the
  // command's own.
  const int null = open("/dev/null", O_RDWR);
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) dup2(null, fd);
  // Wait for whichever comes first: the command's exit (its pidfd; without one, every 50 ms)
  // or the runner's death (the lifeline hangs up), which takes the whole group with it.
  const int exit_fd = static_cast<int>(syscall(SYS_pidfd_open, command, 0));
  int status = 0;
  for (;;) {
    pollfd fds[2] = {{3, POLLIN, 0}, {exit_fd, POLLIN, 0}};
    const int n = poll(fds, exit_fd >= 0 ? 2 : 1, exit_fd >= 0 ? -1 : 50);
    if (n < 0 && errno != EINTR) kill(0, SIGKILL);
    if (n > 0 && fds[0].revents != 0) kill(0, SIGKILL);  // the runner died: so does the group
    if (waitpid(command, &status, WNOHANG) == command) break;
  }
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  // Killed by a signal: so is the guardian, and the runner reads the same status.
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  sigaction(sig, &dfl, nullptr);
  kill(getpid(), sig);
  _exit(128 + sig);
}

// Starts /bin/sh -c <command> under a guardian process that leads a new process group, with
// stdin, stdout and stderr connected to the given descriptors. Returns the guardian's pid (its
// exit status is the command's), or -1 with errno set. Its own group lets a timeout kill the
// command and everything it started, and keeps a terminal's ^C from it (the runner finishes
// the job instead); the guardian kills the group if the runner dies, even by SIGKILL, which
// no cleanup of the runner's own could.
pid_t Spawn(const ExecJobOptions& options, int lifeline, int stdin_fd, int stdout_fd,
            int stderr_fd, const std::vector<std::string>& env) {
  // Everything the child needs is built before the fork: after it, no allocation.
  std::string shell = "/bin/sh", dash_c = "-c", command = options.command;
  char* argv[] = {shell.data(), dash_c.data(), command.data(), nullptr};
  std::vector<char*> envp;
  for (const std::string& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) Guardian(parent, lifeline, stdin_fd, stdout_fd, stderr_fd, argv, envp.data());
  if (pid > 0) setpgid(pid, pid);  // also here, so the group exists before we might kill it
  return pid;
}

// Describes how the command ended, with its stderr tail, as the job's error.
std::string DescribeFailure(const ExecOutcome& outcome, const ExecJobOptions& options) {
  std::string what;
  if (outcome.timed_out) {
    what = "timed out after " + std::to_string(options.timeout_ms) + " ms";
  } else if (outcome.term_signal != 0) {
    what = std::string("killed by signal ") + std::to_string(outcome.term_signal) + " (" +
           strsignal(outcome.term_signal) + ")";
  } else {
    what = "exit status " + std::to_string(outcome.exit_status);
  }
  std::string tail = outcome.stderr_tail;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
  return tail.empty() ? what : what + ": " + tail;
}

class ExecJob final : public Job {
 public:
  ExecJob(std::shared_ptr<const ExecJobOptions> options, const ClaimedJob& job)
      : options_(std::move(options)),
        job_(job),
        params_(job.params),
        env_{{"JOBSTORE_JOB_ID", std::to_string(job.claim.id)},
             {"JOBSTORE_JOB_TYPE", job.claim.queue.type},
             {"JOBSTORE_JOB_DOMAIN", job.claim.queue.domain},
             {"JOBSTORE_ATTEMPT", std::to_string(job.attempts)}} {}

  Status Run(JobContext&) override {
    ExecOutcome outcome = RunCommand(*options_, params_, env_);
    if (options_->on_output) options_->on_output(job_, outcome);
    if (!outcome.error.empty()) return Status::IOError(outcome.error);
    return Status::OK();
  }

  bool allow_retries() const override { return options_->allow_retries; }

 private:
  const std::shared_ptr<const ExecJobOptions> options_;
  const ClaimedJob job_;
  const std::string params_;
  const std::map<std::string, std::string> env_;
};

}  // namespace

ExecOutcome RunCommand(const ExecJobOptions& options, const std::string& stdin_data,
                       const std::map<std::string, std::string>& extra_env) {
  ExecOutcome outcome;
  const bool keep_output = options.output_bytes > 0;
  Fd stdin_read, stdin_write, stderr_read, stderr_write, stdout_read, stdout_write;
  // The guardian's lifeline: this process holds the write end until the guardian is reaped;
  // when this process dies, the kernel closes it and the guardian kills the command's group.
  Fd life_read, life_write;
  if (!MakePipe(&life_read, &life_write) || !MakePipe(&stdin_read, &stdin_write) ||
      !MakePipe(&stderr_read, &stderr_write) ||
      (keep_output ? !MakePipe(&stdout_read, &stdout_write)
                   : !(stdout_write = Fd(open("/dev/null", O_WRONLY | O_CLOEXEC))).valid())) {
    outcome.error = std::string("exec: pipe: ") + strerror(errno);
    return outcome;
  }
  std::map<std::string, std::string> overrides = options.env;
  for (const auto& [name, value] : extra_env) overrides[name] = value;
  const pid_t pid = Spawn(options, life_read.get(), stdin_read.get(), stdout_write.get(),
                          stderr_write.get(), BuildEnvironment(overrides));
  if (pid < 0) {
    outcome.error = std::string("exec: spawn /bin/sh: ") + strerror(errno);
    return outcome;
  }
  outcome.started = true;
  // Our copies of the child's ends must go, or we would never see EOF on its output.
  life_read.Reset();
  stdin_read.Reset();
  stderr_write.Reset();
  stdout_write.Reset();
  SetNonBlocking(stdin_write.get());
  SetNonBlocking(stderr_read.get());
  if (stdout_read.valid()) SetNonBlocking(stdout_read.get());
  auto keep = [&](const char* data, size_t n) {
    if (!keep_output) return;
    const size_t room = options.output_bytes - std::min(options.output_bytes, outcome.output.size());
    outcome.output.append(data, std::min(n, room));
    outcome.output_cut += n - std::min(n, room);
  };
  // A pidfd makes the child's exit pollable alongside its pipes, so a command that exits
  // while a background grandchild keeps stderr open does not hold the job.
  // (Through syscall(): glibc 2.36's <sys/pidfd.h> lacks extern "C".) -1 on old kernels,
  // which the loop below handles by polling waitpid.
  Fd exit_fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));

  const bool has_deadline = options.timeout_ms > 0;
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(options.timeout_ms);
  TailBuffer tail(options.stderr_tail_bytes);
  size_t written = 0;
  if (stdin_data.empty()) stdin_write.Reset();
  bool exited = false;
  int wait_status = 0;
  ScopedSigpipeBlock no_sigpipe;

  while (!exited) {
    std::vector<pollfd> fds;
    if (stdin_write.valid()) fds.push_back({stdin_write.get(), POLLOUT, 0});
    if (stderr_read.valid()) fds.push_back({stderr_read.get(), POLLIN, 0});
    if (stdout_read.valid()) fds.push_back({stdout_read.get(), POLLIN, 0});
    if (exit_fd.valid()) fds.push_back({exit_fd.get(), POLLIN, 0});
    int wait_ms = -1;
    if (has_deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      wait_ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
    }
    // Without a pidfd and with both pipes closed, only waitpid can tell; check it often.
    if (!exit_fd.valid() && !stderr_read.valid()) wait_ms = wait_ms < 0 ? 10 : std::min(wait_ms, 10);
    const int ready = poll(fds.data(), fds.size(), wait_ms);
    if (ready < 0 && errno != EINTR) break;
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == stdin_write.get()) {
        ssize_t n = write(p.fd, stdin_data.data() + written, stdin_data.size() - written);
        if (n > 0) written += static_cast<size_t>(n);
        // Done, or the command closed its stdin (EPIPE): either way stdin is finished.
        if (written == stdin_data.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          stdin_write.Reset();
        }
      } else if (p.fd == stderr_read.get()) {
        char buffer[4096];
        ssize_t n = read(p.fd, buffer, sizeof buffer);
        if (n > 0) {
          tail.Append(buffer, static_cast<size_t>(n));
          keep(buffer, static_cast<size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          stderr_read.Reset();
        }
      } else if (p.fd == stdout_read.get()) {
        char buffer[4096];
        ssize_t n = read(p.fd, buffer, sizeof buffer);
        if (n > 0) {
          keep(buffer, static_cast<size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          stdout_read.Reset();
        }
      }
    }
    // Reap when the pidfd says so, or when polling without one.
    if (exit_fd.valid() ? std::ranges::any_of(fds, [&](const pollfd& p) {
                            return p.fd == exit_fd.get() && p.revents != 0;
                          })
                        : !stderr_read.valid()) {
      exited = waitpid(pid, &wait_status, WNOHANG) == pid;
    }
    if (!exited && has_deadline && SteadyClock::now() >= deadline) {
      outcome.timed_out = true;
      kill(-pid, SIGKILL);
      exited = waitpid(pid, &wait_status, 0) == pid;
      break;
    }
  }
  if (!exited) {
    // poll failed: make sure nothing is left running, then collect the status.
    kill(-pid, SIGKILL);
    waitpid(pid, &wait_status, 0);
  }
  // Whatever the command wrote before exiting is already in the pipes; take it.
  while (stdout_read.valid()) {
    char buffer[4096];
    ssize_t n = read(stdout_read.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    keep(buffer, static_cast<size_t>(n));
  }
  while (stderr_read.valid()) {
    char buffer[4096];
    ssize_t n = read(stderr_read.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    tail.Append(buffer, static_cast<size_t>(n));
    keep(buffer, static_cast<size_t>(n));
  }
  outcome.stderr_tail = std::move(tail).Take();
  if (WIFEXITED(wait_status)) outcome.exit_status = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) outcome.term_signal = WTERMSIG(wait_status);
  if (outcome.timed_out || outcome.exit_status != 0) {
    outcome.error = DescribeFailure(outcome, options);
  }
  return outcome;
}

Status RegisterExecJob(JobRegistry* registry, const std::string& type, ExecJobOptions options) {
  if (options.command.empty()) {
    return Status::InvalidArgument("exec job type '" + type + "': empty command");
  }
  auto shared = std::make_shared<const ExecJobOptions>(std::move(options));
  return registry->Register(type, [shared](const ClaimedJob& job) -> Result<std::unique_ptr<Job>> {
    return std::unique_ptr<Job>(std::make_unique<ExecJob>(shared, job));
  });
}

}  // namespace jobstore
