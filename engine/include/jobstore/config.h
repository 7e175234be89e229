// Routing job types to storage media (MediaWiki's $wgJobTypeConf): a config names backends by
// address and maps types to them, with a default.
//
//   {
//     "backends": {"local": "./jobstore-data", "shared": "redis://127.0.0.1:6379/0"},
//     "types": {"default": "local", "email": "shared"}
//   }
//
//   auto config = jobstore::StoreConfig::Load("jobs.json");
//   auto store = jobstore::OpenConfig(*config, options);   // one Store over every backend
//
// The routed store is a Store like any other: a push splits its batch per backend (atomic
// within each; a failure names what was accepted), claims and listings go to the type's
// backend, picks and ClaimAny choose among the ready queues of every backend (each backend's
// own exact ready index is its aggregator), and the runner and every CLI command work
// through it unchanged.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "jobstore/options.h"
#include "jobstore/status.h"
#include "jobstore/store.h"

namespace jobstore {

struct StoreConfig {
  // Backend name -> address (any address Store::Open takes).
  std::map<std::string, std::string> backends;
  // Type -> backend name. The key "default" routes every type not listed.
  std::map<std::string, std::string> types;
  // Where the config came from ("jobs.json"), for error messages.
  std::string origin;

  // Parses the JSON text. Every error names `origin`, the key and what to do: not JSON, not
  // an object, a missing or empty "backends", a type mapped to an unknown backend, no
  // "default", a type mapped twice, an address with an unknown scheme, a bad type name.
  static Result<StoreConfig> Parse(const std::string& json_text, const std::string& origin);
  // Reads and parses a file (InvalidArgument naming it when it cannot be read).
  static Result<StoreConfig> Load(const std::string& path);

  // The backend name `type` routes to.
  const std::string& BackendOf(const std::string& type) const;
};

// Opens every backend of `config` with `options` and returns the routed store. Fails, naming
// the backend and its address, when one of them cannot be opened.
Result<std::unique_ptr<Store>> OpenConfig(const StoreConfig& config, const Options& options = {});

// The routed store over stores already open (say, Store::Over a medium of your own): `stores`
// by backend name, routed as `types` says (StoreConfig::types: "default" and type names).
// InvalidArgument when a type names a backend not given, or there is no "default".
Result<std::unique_ptr<Store>> RouteTypes(std::map<std::string, std::unique_ptr<Store>> stores,
                                          const std::map<std::string, std::string>& types,
                                          const Options& options = {});

}  // namespace jobstore
