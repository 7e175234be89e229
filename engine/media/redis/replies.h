// Reading hiredis replies without trusting their shape: every accessor checks the type, and a
// reply of an unexpected shape is an Internal error naming the operation (a bug in a script,
// or something other than Redis answering), never a crash.
#pragma once

#include <hiredis.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "jobstore/status.h"

namespace jobstore::redis {

inline Status BadShape(std::string_view what) {
  return Status::Internal(std::string(what) +
                          ": redis answered in a shape jobstore's script does not give (is this "
                          "a Redis server, and this jobstore's own store?)");
}

inline bool IsError(const redisReply* r, std::string_view code) {
  return r->type == REDIS_REPLY_ERROR &&
         std::string_view(r->str, r->len).substr(0, code.size()) == code;
}

inline bool IsArray(const redisReply* r, size_t min_elements = 0) {
  return r->type == REDIS_REPLY_ARRAY && r->elements >= min_elements;
}

// A string (or status) reply's bytes; nullptr elsewhere.
inline bool AsString(const redisReply* r, std::string_view* out) {
  if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) return false;
  *out = std::string_view(r->str, r->len);
  return true;
}

// An integer reply, or a string holding a decimal integer.
inline bool AsInt(const redisReply* r, int64_t* out) {
  if (r->type == REDIS_REPLY_INTEGER) {
    *out = r->integer;
    return true;
  }
  std::string_view s;
  if (!AsString(r, &s)) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// A score as ZSCORE or ZRANGE WITHSCORES gives it ("1700000000000", "9.2233720368547758e+18"):
// the integer it stands for, saturated to int64.
inline bool ParseScore(std::string_view s, int64_t* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec == std::errc() && end == s.data() + s.size()) return true;
  double d = 0;
  auto [dend, dec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (dec != std::errc() || dend != s.data() + s.size()) return false;
  *out = d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : static_cast<int64_t>(d);
  return true;
}

}  // namespace jobstore::redis
