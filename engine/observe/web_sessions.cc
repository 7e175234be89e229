#include "web_sessions.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace jobstore::observe {

bool SecretsEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    // Without randomness a session id could be guessed: refuse rather than weaken it.
    throw std::runtime_error("the system's random generator failed");
  }
  std::string hex;
  for (unsigned char c : raw) {
    hex += "0123456789abcdef"[c >> 4];
    hex += "0123456789abcdef"[c & 15];
  }
  return hex;
}

WebSessions::WebSessions(std::string token) : token_(std::move(token)) {}

std::optional<WebSessions::Session> WebSessions::SignIn(std::string_view token) {
  if (token_.empty() || !SecretsEqual(token, token_)) return std::nullopt;
  Session s{RandomHex(16), RandomHex(16)};
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard l(mu_);
  if (sessions_.size() >= kMaxSessions) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.created < b.second.created;
    });
    sessions_.erase(oldest);
  }
  sessions_[s.id] = Entry{s.csrf, now, ""};
  return s;
}

std::optional<WebSessions::Session> WebSessions::Find(std::string_view id) {
  if (token_.empty() || id.empty()) return std::nullopt;
  std::lock_guard l(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (std::chrono::steady_clock::now() - it->second.created > kLifetime) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return Session{it->first, it->second.csrf};
}

void WebSessions::SignOut(std::string_view id) {
  std::lock_guard l(mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) sessions_.erase(it);
}

void WebSessions::SetNote(std::string_view id, std::string note) {
  std::lock_guard l(mu_);
  auto it = sessions_.find(id);
  if (it != sessions_.end()) it->second.note = std::move(note);
}

std::string WebSessions::TakeNote(std::string_view id) {
  std::lock_guard l(mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? std::string() : std::exchange(it->second.note, std::string());
}

bool WebSessions::CsrfMatches(const Session& session, std::string_view csrf) {
  return SecretsEqual(csrf, session.csrf);
}

}  // namespace jobstore::observe
