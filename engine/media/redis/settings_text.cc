#include "settings_text.h"

#include <charconv>

#include "jobstore/validation.h"

namespace jobstore::redis {
namespace {

bool ParseInt(std::string_view text, int64_t lo, int64_t hi, int64_t* out) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

std::string EncodeSettings(const TypeSettings& s) {
  return std::string("order=") + OrderName(s.order) +
         " claim_ttl_ms=" + std::to_string(s.claim_ttl_ms) +
         " max_tries=" + std::to_string(s.max_tries) +
         " retries_allowed=" + (s.retries_allowed ? "1" : "0") +
         " retention_ms=" + std::to_string(s.retention_ms) +
         " root_job_ttl_ms=" + std::to_string(s.root_job_ttl_ms);
}

Result<TypeSettings> DecodeSettings(std::string_view text) {
  TypeSettings s;
  while (!text.empty()) {
    const size_t space = text.find(' ');
    std::string_view item = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : item.substr(eq + 1);
    int64_t v = 0;
    bool ok = true;
    if (key == "order") {
      auto order = ParseOrder(std::string(value));
      ok = order.ok();
      if (ok) s.order = *order;
    } else if (key == "claim_ttl_ms") {
      ok = ParseInt(value, 0, INT64_MAX, &s.claim_ttl_ms);
    } else if (key == "max_tries") {
      ok = ParseInt(value, 1, UINT32_MAX, &v);
      s.max_tries = static_cast<uint32_t>(v);
    } else if (key == "retries_allowed") {
      ok = ParseInt(value, 0, 1, &v);
      s.retries_allowed = v == 1;
    } else if (key == "retention_ms") {
      ok = ParseInt(value, 0, INT64_MAX, &s.retention_ms);
    } else if (key == "root_job_ttl_ms") {
      ok = ParseInt(value, 0, INT64_MAX, &s.root_job_ttl_ms);
    }
    if (!ok) {
      return Status::Corruption("type settings field '" + Printable(item, 80) +
                                "' does not parse; set the type's settings again");
    }
  }
  return s;
}

}  // namespace jobstore::redis
