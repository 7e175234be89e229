#include "json_util.h"

#include <iostream>

namespace jobstore::cli {
namespace {

constexpr int kMaxDepth = 256;

// Rejects documents nested deeper than kMaxDepth, so that printing one (which recurses) can
// never exhaust the stack.
template <typename Json>
bool ParseLimited(const std::string& text, Json* out, std::string* error) {
  bool too_deep = false;
  auto limit = [&too_deep](int depth, nlohmann::json::parse_event_t, Json&) {
    if (depth > kMaxDepth) too_deep = true;
    return !too_deep;
  };
  try {
    Json parsed = Json::parse(text, limit, /*allow_exceptions=*/true);
    if (too_deep) {
      *error = "nested deeper than " + std::to_string(kMaxDepth) + " levels";
      return false;
    }
    *out = std::move(parsed);
    return true;
  } catch (const nlohmann::json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." -> from "parse".
    std::string what = e.what();
    size_t p = what.find("] ");
    *error = too_deep ? "nested deeper than " + std::to_string(kMaxDepth) + " levels"
                      : (p == std::string::npos ? what : what.substr(p + 2));
    return false;
  }
}

}  // namespace

bool ParseJson(const std::string& text, nlohmann::json* out, std::string* error) {
  return ParseLimited(text, out, error);
}

std::string Canonical(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool CanonicalParams(const std::string& where, const std::string& text, std::string* canonical,
                     std::string* error) {
  nlohmann::json value;
  std::string why;
  if (!ParseJson(text, &value, &why)) {
    *error = where + ": invalid JSON: " + why;
    return false;
  }
  if (!value.is_object()) {
    *error = where + ": params must be a JSON object like {\"page\":42}, not " +
             std::string(value.type_name());
    return false;
  }
  *canonical = Canonical(value);
  return true;
}

OJson ParamsJson(const std::string& stored) {
  OJson value;
  std::string ignored;
  if (ParseLimited(stored, &value, &ignored)) return value;
  return OJson(stored);
}

OJson Seconds(int64_t ms) {
  if (ms % 1000 == 0) return OJson(ms / 1000);
  return OJson(static_cast<double>(ms) / 1000.0);
}

void PrintJson(const OJson& value) { PrintJson(std::cout, value); }

void PrintJson(std::ostream& out, const OJson& value) {
  out << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

}  // namespace jobstore::cli
