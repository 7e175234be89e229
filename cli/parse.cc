#include "parse.h"

#include <charconv>
#include <cmath>
#include <utility>

#include "context.h"
#include "jobstore/options.h"
#include "jobstore/validation.h"

namespace jobstore::cli {
namespace {

constexpr int64_t kMaxDurationMs = 100LL * 365 * 24 * 3600 * 1000;

// User input inside an error message, quoted.
std::string Quote(const std::string& text) { return "'" + Printable(text, 60) + "'"; }

std::string CheckQueue(const std::string& type, const std::string& domain) {
  return ValidateQueue({domain, type}).message();
}

}  // namespace

int64_t ParseInt(const std::string& what, const std::string& text, int64_t min, int64_t max) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    UsageError(what + ": " + Quote(text) + " is not a whole number from " + std::to_string(min) +
               " to " + std::to_string(max));
  }
  return value;
}

int64_t SecondsToMs(const std::string& what, double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds * 1000 > kMaxDurationMs) {
    UsageError(what + ": a duration must be from 0 to 100 years, in seconds");
  }
  return static_cast<int64_t>(std::llround(seconds * 1000));
}

int64_t ParseDurationMs(const std::string& what, const std::string& text) {
  static const std::pair<const char*, double> kUnits[] = {
      {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
  std::string number = text;
  double scale = 1;
  for (const auto& [suffix, factor] : kUnits) {
    std::string s = suffix;
    if (text.size() > s.size() && text.compare(text.size() - s.size(), s.size(), s) == 0 &&
        (s != "s" || text[text.size() - 2] != 'm')) {
      number = text.substr(0, text.size() - s.size());
      scale = factor;
      break;
    }
  }
  double value = 0;
  const char* end = number.data() + number.size();
  auto [ptr, ec] = std::from_chars(number.data(), end, value);
  if (number.empty() || ec != std::errc() || ptr != end || !std::isfinite(value) || value < 0 ||
      value * scale * 1000 > kMaxDurationMs) {
    UsageError(what + ": " + Quote(text) +
               " is not a duration; give seconds (30, 1.5) or a number with a unit "
               "(250ms, 30s, 10m, 2h, 7d), from 0 to 100 years");
  }
  return static_cast<int64_t>(std::llround(value * scale * 1000));
}

std::string FormatDuration(int64_t ms) {
  if (ms < 0) return "-" + FormatDuration(-ms);
  if (ms < 1000) return std::to_string(ms) + "ms";
  static const std::pair<int64_t, const char*> kUnits[] = {
      {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
  std::string out;
  int used = 0;
  for (const auto& [unit, name] : kUnits) {
    if (ms >= unit && used < 2) {
      if (!out.empty()) out += " ";
      out += std::to_string(ms / unit) + name;
      ms %= unit;
      ++used;
    } else if (used > 0) {
      ++used;  // only adjacent units: "1d 3h", never "1d 5s"
    }
  }
  return out;
}

std::string FormatRelative(int64_t at_ms, int64_t now_ms) {
  if (at_ms == INT64_MAX) return "never";
  int64_t d = at_ms - now_ms;
  if (d > -1000 && d < 1000) return "now";
  d = (d + (d > 0 ? 500 : -500)) / 1000 * 1000;  // whole seconds
  return d > 0 ? "in " + FormatDuration(d) : FormatDuration(-d) + " ago";
}

ClaimToken ParseToken(const std::string& text) {
  auto token = ClaimToken::Parse(text);
  if (!token.ok()) {
    UsageError("TOKEN " + Quote(text) +
               " is not a claim token; pass the 32 hex digits that 'jobstore claim' or "
               "'jobstore touch' printed");
  }
  return token.value();
}

QueueRef ParseQueue(const std::string& type, const std::string& domain) {
  if (std::string why = CheckQueue(type, domain); !why.empty()) UsageError(why);
  return {domain, type};
}

std::string CheckSpec(const JobSpec& spec) {
  return ValidateSpec(spec, Options{}.max_params_bytes).message();
}

std::string CountOf(uint64_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string ShowDomain(const std::string& domain) {
  return domain.empty() ? "(default)" : domain;
}

}  // namespace jobstore::cli
