// A real PostgreSQL 15 for tests: initdb and postgres (Debian's postgresql-15, under
// /usr/lib/postgresql/15/bin) in a directory of the caller's, listening on a unix socket there
// only (listen_addresses=''), run as `nobody` when the tests run as root (PostgreSQL refuses
// root), and stopped by pid. Kill9() sends SIGKILL to the postmaster and to every process it
// started (each backend runs in a session of its own, so killing the postmaster alone would
// let them finish what they are doing): a crash of the whole server, as an OOM kill or a
// power cut leaves it. The test process makes itself their subreaper, so it reaps them all.
//
//   PostgresServer pg(dir.Sub("pg"), {.fsync = false});
//   ASSERT_TRUE(pg.Start().ok());
//   auto store = Store::Open(pg.Url(), options);
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
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

#include "jobstore/status.h"

namespace jobstore::testing {

class PostgresServer {
 public:
  struct Config {
    // Off makes a test's server start and run fast; the crash tests turn it on, since an
    // acknowledged push survives a server crash only if it reached the disk.
    bool fsync = false;
  };

  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin";

  // `dir` is created; the data directory and the socket live in it.
  PostgresServer(std::string dir, Config config) : dir_(std::move(dir)), config_(config) {}
  ~PostgresServer() { (void)Stop(); }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // initdb (first time) and start; returns once the server accepts connections.
  Status Start() {
    if (pid_ > 0) return Status::OK();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Status::IOError("cannot create " + dir_ + ": " + ec.message());
    Status s = Own(dir_);
    if (!s.ok()) return s;
    if (!std::filesystem::exists(data())) {
      s = Run({std::string(kBin) + "/initdb", "-D", data(), "-U", "jobstore", "--auth=trust",
               "--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions"},
              dir_ + "/initdb.log");
      if (!s.ok()) return s;
    }
    const std::string fsync = config_.fsync ? "on" : "off";
    const std::vector<std::string> args = {
        std::string(kBin) + "/postgres", "-D", data(), "-k", dir_,
        "-c", "listen_addresses=", "-c", "fsync=" + fsync,
        "-c", "full_page_writes=" + fsync, "-c", "shared_buffers=32MB",
        "-c", "max_connections=100", "-c", "unix_socket_permissions=0777",
        "-c", "logging_collector=off", "-c", "log_min_messages=warning"};
    pid_ = Spawn(args, dir_ + "/server.log", /*server=*/true);
    if (pid_ < 0) return Status::IOError("cannot start postgres: fork failed");
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < give_up) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return Status::IOError("postgres exited at start; its log:\n" + Log());
      }
      if (PQping(Url().c_str()) == PQPING_OK) return Status::OK();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Status::DeadlineExceeded("postgres did not accept connections in 60 s; its log:\n" +
                                    Log());
  }

  // A fast shutdown (SIGINT), waiting for the postmaster and its children to exit.
  Status Stop() {
    if (pid_ <= 0) return Status::OK();
    ::kill(pid_, SIGINT);
    Reap();
    return Status::OK();
  }

  // SIGKILL to the postmaster and every process it started, then reaps them. The postmaster
  // is stopped first, so it forks no backend between the listing and the kill.
  void Kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGSTOP);
    std::vector<pid_t> children = ChildrenOf(pid_);
    ::kill(pid_, SIGKILL);
    for (pid_t c : children) ::kill(c, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    // Orphaned by the postmaster's death, they are ours to reap (PR_SET_CHILD_SUBREAPER).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (pid_t c : children) {
      while (::waitpid(c, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    pid_ = -1;
  }

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  std::string socket_dir() const { return dir_; }
  std::string data() const { return dir_ + "/data"; }

  // The URL of database `db` as user jobstore over the socket; with `schema`, the tables go
  // there (search_path), so each test can have a fresh store in one server.
  std::string Url(const std::string& schema = "", const std::string& db = "postgres") const {
    std::string url = "postgresql://jobstore@/" + db + "?host=" + dir_;
    if (!schema.empty()) url += "&options=-csearch_path%3D" + schema;
    return url;
  }

  // Runs SQL (no results) as the superuser; for creating schemas and for tests that tamper.
  Status Sql(const std::string& sql, const std::string& db = "postgres") const {
    PGconn* c = PQconnectdb(Url("", db).c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      std::string err = PQerrorMessage(c);
      PQfinish(c);
      return Status::Unavailable("connecting to the test server: " + err);
    }
    PGresult* r = PQexec(c, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    std::string err = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      return Status::IOError("'" + sql + "' failed: " + err);
    }
    return Status::OK();
  }

  std::string Log() const {
    std::ifstream in(dir_ + "/server.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  // The uid the server runs as: ours, or nobody's when we are root.
  static bool AsNobody() { return ::geteuid() == 0; }

  static Status Own(const std::string& path) {
    if (!AsNobody()) return Status::OK();
    const passwd* pw = ::getpwnam("nobody");
    if (!pw) return Status::NotFound("no user 'nobody' to run PostgreSQL as");
    if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return Status::IOError("cannot chown " + path + " to nobody");
    }
    return Status::OK();
  }

  static pid_t Spawn(const std::vector<std::string>& args, const std::string& log, bool server) {
    const passwd* pw = AsNobody() ? ::getpwnam("nobody") : nullptr;
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    // The child: nobody's ids, output to the log, then exec.
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    if (pw) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) {
        ::_exit(126);
      }
    }
    // A test that dies never leaves a server behind (set after setuid, which clears it).
    if (server) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }

  Status Run(const std::vector<std::string>& args, const std::string& log) const {
    const pid_t pid = Spawn(args, log, false);
    if (pid < 0) return Status::IOError("fork failed");
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::ifstream in(log);
      std::stringstream ss;
      ss << in.rdbuf();
      return Status::IOError(args[0] + " failed (status " + std::to_string(status) + "):\n" + ss.str());
    }
    return Status::OK();
  }

  // Waits for the postmaster (a fast shutdown ends its children before it exits).
  void Reap() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  static std::vector<pid_t> ChildrenOf(pid_t parent) {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream stat(e.path() / "stat");
      std::string line;
      std::getline(stat, line);
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
      const size_t close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 1));
      std::string state;
      pid_t ppid = 0;
      rest >> state >> ppid;
      if (ppid == parent) out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return out;
  }

  std::string dir_;
  Config config_;
  pid_t pid_ = -1;
};

}  // namespace jobstore::testing
