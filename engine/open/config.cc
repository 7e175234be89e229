// The routing config: JSON in, a StoreConfig out, or an error naming the file, the key and the
// fix.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobstore/address.h"
#include "jobstore/config.h"
#include "jobstore/validation.h"

namespace jobstore {
namespace {

using Json = nlohmann::json;

constexpr const char* kDefault = "default";
constexpr const char* kFormat =
    R"(the format is {"backends": {"NAME": "ADDRESS", ...}, "types": {"default": "NAME", "TYPE": "NAME", ...}})";

Status Bad(const std::string& origin, const std::string& what) {
  return Status::InvalidArgument("config '" + origin + "': " + what);
}

std::string Names(const std::map<std::string, std::string>& backends) {
  std::string out;
  for (const auto& [name, address] : backends) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// A key that appears twice in one JSON object (nlohmann keeps the last silently; for a config,
// "email" mapped twice is a mistake to report).
std::optional<std::string> DuplicateKey(const std::string& text) {
  std::vector<std::set<std::string>> open;
  std::optional<std::string> duplicate;
  auto callback = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open.emplace_back();
    if (event == Json::parse_event_t::object_end && !open.empty()) open.pop_back();
    if (event == Json::parse_event_t::key && !open.empty() && !duplicate) {
      const std::string key = parsed.get<std::string>();
      if (!open.back().insert(key).second) duplicate = key;
    }
    return true;
  };
  // Parsed for the callback's sake; the document itself is parsed again by the caller.
  const Json walked = Json::parse(text, callback, /*allow_exceptions=*/false);
  (void)walked;
  return duplicate;
}

}  // namespace

Result<StoreConfig> StoreConfig::Parse(const std::string& text, const std::string& origin) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    try {
      const Json again = Json::parse(text);  // only to get the parser's own message
      (void)again;
    } catch (const Json::parse_error& e) {
      return Bad(origin, std::string("not JSON (") + e.what() + "); " + kFormat);
    }
    return Bad(origin, std::string("not JSON; ") + kFormat);
  }
  if (!doc.is_object()) return Bad(origin, std::string("not a JSON object; ") + kFormat);
  if (auto dup = DuplicateKey(text)) {
    return Bad(origin, "the key '" + Printable(*dup, 80) +
                           "' appears twice in one object; keep one (a type is routed to one "
                           "backend)");
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "backends" && key != "types") {
      return Bad(origin, "unknown key '" + Printable(key, 80) + "'; " + kFormat);
    }
  }
  StoreConfig config;
  config.origin = origin;
  const Json* backends = doc.contains("backends") ? &doc["backends"] : nullptr;
  if (!backends || !backends->is_object() || backends->empty()) {
    return Bad(origin, std::string("\"backends\" must be an object naming at least one backend "
                                   "and its address, e.g. {\"local\": \"./jobstore-data\"}; ") +
                           kFormat);
  }
  // Relative directory and file paths are taken from the config's own directory, so a config
  // means the same store whatever the working directory of the command that reads it.
  const std::filesystem::path base = std::filesystem::path(origin).parent_path();
  std::map<std::string, std::string> seen_address;
  for (const auto& [name, value] : backends->items()) {
    if (name.empty()) return Bad(origin, "a backend has an empty name; name it");
    if (!value.is_string()) {
      return Bad(origin, "backends." + Printable(name, 80) +
                             " must be an address string, such as \"./jobstore-data\" or "
                             "\"redis://127.0.0.1:6379/0\"");
    }
    std::string address = value.get<std::string>();
    auto parsed = Address::Parse(address);
    if (!parsed.ok()) {
      return Bad(origin, "backends." + Printable(name, 80) + ": " + parsed.status().message());
    }
    const bool is_path = parsed->scheme == Address::Scheme::kRocksDb ||
                         parsed->scheme == Address::Scheme::kSqlite ||
                         parsed->scheme == Address::Scheme::kUnix;
    if (is_path && !base.empty() && !parsed->rest.empty() && parsed->rest[0] != '/') {
      const std::string prefix = address.substr(0, address.size() - parsed->rest.size());
      address = prefix + (base / parsed->rest).lexically_normal().string();
    }
    if (parsed->scheme != Address::Scheme::kMemory) {
      auto [it, inserted] = seen_address.emplace(address, name);
      if (!inserted) {
        return Bad(origin, "backends '" + it->second + "' and '" + Printable(name, 80) +
                               "' have the same address; one store is one backend");
      }
    }
    config.backends[name] = address;
  }
  const Json* types = doc.contains("types") ? &doc["types"] : nullptr;
  if (!types || !types->is_object()) {
    return Bad(origin, std::string("\"types\" must be an object mapping job types to backends, "
                                   "with \"default\" for the rest; ") +
                           kFormat);
  }
  for (const auto& [type, value] : types->items()) {
    if (type != kDefault) {
      Status s = ValidateType(type);
      if (!s.ok()) return Bad(origin, "types: " + s.message());
    }
    if (!value.is_string()) {
      return Bad(origin, "types." + Printable(type, 80) + " must be the name of a backend (" +
                             Names(config.backends) + ")");
    }
    const std::string backend = value.get<std::string>();
    if (!config.backends.count(backend)) {
      return Bad(origin, "types." + Printable(type, 80) + " names backend '" +
                             Printable(backend, 80) + "', which is not in \"backends\" (" +
                             Names(config.backends) + "); add it there or fix the name");
    }
    config.types[type] = backend;
  }
  if (!config.types.count(kDefault)) {
    return Bad(origin, "\"types\" has no \"default\"; add \"default\": \"<backend>\" for the "
                       "types not listed (backends: " +
                           Names(config.backends) + ")");
  }
  return config;
}

Result<StoreConfig> StoreConfig::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status::InvalidArgument("cannot read config '" + path +
                                   "'; check the path given to --config or $JOBSTORE_CONFIG");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::InvalidArgument("cannot read config '" + path + "'");
  return Parse(text.str(), path);
}

const std::string& StoreConfig::BackendOf(const std::string& type) const {
  auto it = types.find(type);
  return it != types.end() ? it->second : types.at(kDefault);
}

}  // namespace jobstore
