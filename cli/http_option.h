// --http ADDR and --http-token-file FILE: the status server (metrics and the status page) of a
// command that holds the store while it works (run, serve).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "context.h"
#include "jobstore/metrics.h"
#include "jobstore/status_server.h"

namespace jobstore::cli {

struct HttpArgs {
  std::optional<std::string> listen;
  std::optional<std::string> token_file;
};

void AddHttpOptions(CLI::App* cmd, HttpArgs& args);

// Before the store is opened: the metrics the server will show, observing the store (null
// without --http).
std::shared_ptr<Metrics> ObserveForHttp(Context& ctx, const HttpArgs& args);
// After: starts the server (null without --http) and says where on stderr. Fails the command
// when the address cannot be served or the token file cannot be read.
std::unique_ptr<StatusServer> StartHttp(Context& ctx, Store& store, const HttpArgs& args,
                                        std::shared_ptr<Metrics> metrics);

}  // namespace jobstore::cli
