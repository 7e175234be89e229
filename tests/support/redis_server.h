// A real redis-server for a test: started on a unix socket in a directory of the test's (no TCP
// port), stopped by its pid (SIGTERM, then SIGKILL if it lingers), restartable on the same
// directory (its AOF or RDB there), killable with SIGKILL for crash tests. RawRedis talks to it
// directly, for tests that look at or tamper with the keys.
//
//   RedisServer redis(dir.Sub("redis"));
//   ASSERT_TRUE(redis.Start()) << redis.error();
//   auto store = Store::Open(redis.Address("t1"), options);
#pragma once

#include <hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace jobstore::testing {

struct RedisConfig {
  bool appendonly = false;
  std::string appendfsync = "everysec";  // always | everysec | no (with appendonly)
  std::string save = "";                 // RDB snapshot rules; "" = none
};

class RedisServer {
 public:
  // `dir` is created; its path must be short enough for a unix socket (~100 bytes).
  explicit RedisServer(std::string dir, RedisConfig config = {})
      : dir_(std::move(dir)), config_(std::move(config)) {
    std::filesystem::create_directories(dir_);
  }
  ~RedisServer() { Stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts redis-server and waits (up to 10 s) until it answers PING. False, with error(),
  // when it exits or never answers.
  bool Start() {
    if (pid_ > 0) return true;
    std::vector<std::string> args = {
        "redis-server", "--port", "0", "--unixsocket", socket(), "--unixsocketperm", "700",
        "--dir", dir_, "--logfile", dir_ + "/redis.log", "--daemonize", "no",
        "--save", config_.save, "--appendonly", config_.appendonly ? "yes" : "no",
        "--appendfsync", config_.appendfsync, "--databases", "4",
        // Redis acts on SIGTERM in its cron: 100 Hz stops it in ~10 ms, not ~100 ms.
        "--hz", "100"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    unlink(socket().c_str());
    pid_t pid = 0;
    if (posix_spawnp(&pid, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      error_ = "cannot run redis-server (install it: scripts/install-deps.sh)";
      return false;
    }
    pid_ = pid;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < give_up) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "redis-server exited at start; its log:\n" + Log();
        return false;
      }
      if (Ping()) return true;
      // Waiting for a process to come up: a readiness poll, not a timing assumption.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    error_ = "redis-server did not answer within 10 s; its log:\n" + Log();
    Kill();
    return false;
  }

  // SIGTERM (Redis flushes its AOF and exits), then SIGKILL after 10 s.
  void Stop() { Signal(SIGTERM, std::chrono::seconds(10)); }
  // SIGKILL: nothing is flushed; what an fsync had not reached is gone.
  void Kill() { Signal(SIGKILL, std::chrono::seconds(10)); }

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }
  std::string socket() const { return dir_ + "/redis.sock"; }
  // A store address on this server. Its call timeout is a minute, not the default 5 s: a
  // test on a loaded 2-core machine (or under a sanitizer) must not fail because the server
  // was not scheduled for a few seconds.
  std::string Address(const std::string& prefix, int db = 0) const {
    return "redis+unix:" + socket() + "?db=" + std::to_string(db) + "&prefix=" + prefix +
           "&timeout_ms=60000";
  }
  std::string Log() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  bool Ping() const {
    struct stat st;
    if (stat(socket().c_str(), &st) != 0) return false;
    redisContext* c = redisConnectUnix(socket().c_str());
    bool ok = false;
    if (c && !c->err) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      ok = r && r->type == REDIS_REPLY_STATUS;
      if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return ok;
  }

  void Signal(int sig, std::chrono::seconds patience) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    const auto give_up = std::chrono::steady_clock::now() + patience;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > give_up) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    pid_ = -1;
  }

  std::string dir_;
  RedisConfig config_;
  pid_t pid_ = -1;
  std::string error_;
};

// A plain hiredis connection to a test's server, for looking at and tampering with keys.
class RawRedis {
 public:
  explicit RawRedis(const std::string& socket) : c_(redisConnectUnix(socket.c_str())) {}
  ~RawRedis() {
    if (c_) redisFree(c_);
  }
  RawRedis(const RawRedis&) = delete;
  RawRedis& operator=(const RawRedis&) = delete;
  bool ok() const { return c_ && !c_->err; }

  struct Reply {
    int type = REDIS_REPLY_NIL;
    std::string str;        // string, status, error
    long long integer = 0;
    std::vector<Reply> elements;
  };
  // Runs one command (binary-safe arguments).
  Reply Cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    Reply out;
    if (r == nullptr) {
      out.type = REDIS_REPLY_ERROR;
      out.str = c_->errstr;
      return out;
    }
    out = Convert(r);
    freeReplyObject(r);
    return out;
  }

 private:
  static Reply Convert(const redisReply* r) {
    Reply out;
    out.type = r->type;
    out.integer = r->integer;
    if (r->str) out.str.assign(r->str, r->len);
    for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
    return out;
  }
  redisContext* c_;
};

}  // namespace jobstore::testing
