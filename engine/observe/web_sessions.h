// WebSessions: who may write through the status page. A person signs in once with the server's
// token and gets a session (a random id kept in an HttpOnly cookie) with its own CSRF token,
// which every write form carries. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace jobstore::observe {

class WebSessions {
 public:
  struct Session {
    std::string id;    // the cookie's value
    std::string csrf;  // what write forms must carry
  };

  // `token` empty: nobody can sign in (the page is read-only).
  explicit WebSessions(std::string token);

  bool writable() const { return !token_.empty(); }
  // A new session when `token` is the server's (compared in constant time), else nullopt.
  std::optional<Session> SignIn(std::string_view token);
  // The session whose id is `id`, if it is live.
  std::optional<Session> Find(std::string_view id);
  void SignOut(std::string_view id);
  // A message for the session's next page (what its last write did), and taking it.
  void SetNote(std::string_view id, std::string note);
  std::string TakeNote(std::string_view id);
  // Whether `csrf` is the session's CSRF token (constant time).
  static bool CsrfMatches(const Session& session, std::string_view csrf);

 private:
  // Sessions are few (people at a page): the oldest goes when there are more than this, and
  // each lasts 12 hours.
  static constexpr size_t kMaxSessions = 64;
  static constexpr std::chrono::hours kLifetime{12};

  struct Entry {
    std::string csrf;
    std::chrono::steady_clock::time_point created;
    std::string note;
  };

  const std::string token_;
  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> sessions_;
};

// Whether two secrets are equal, in time that depends only on their lengths.
bool SecretsEqual(std::string_view a, std::string_view b);
// `bytes` random bytes from the system's CSPRNG, as hex.
std::string RandomHex(size_t bytes);

}  // namespace jobstore::observe
