#include "http_option.h"

#include <fstream>
#include <iostream>
#include <sstream>

namespace jobstore::cli {
namespace {

// The token: the file's text without surrounding whitespace (a trailing newline, say).
std::string ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) Failure("--http-token-file: cannot read '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  const char* space = " \t\r\n";
  token.erase(0, token.find_first_not_of(space) == std::string::npos ? token.size()
                                                                       : token.find_first_not_of(space));
  token.erase(token.find_last_not_of(space) + 1);
  if (token.size() < 16) {
    UsageError("--http-token-file: '" + path + "' holds " + std::to_string(token.size()) +
               " bytes; put a token of at least 16 in it (e.g. openssl rand -hex 32 > " + path + ")");
  }
  return token;
}

}  // namespace

void AddHttpOptions(CLI::App* cmd, HttpArgs& args) {
  cmd->add_option("--http", args.listen,
                  "serve Prometheus metrics (/metrics) and a status page (/) over HTTP at "
                  "HOST:PORT or PORT (host 127.0.0.1)")
      ->type_name("ADDR");
  cmd->add_option("--http-token-file", args.token_file,
                  "enable the page's retry, delete and repush buttons for whoever gives the "
                  "token in FILE (without it the page is read-only)")
      ->type_name("FILE");
}

std::shared_ptr<Metrics> ObserveForHttp(Context& ctx, const HttpArgs& args) {
  if (!args.listen) {
    if (args.token_file) UsageError("--http-token-file needs --http ADDR");
    return nullptr;
  }
  auto metrics = std::make_shared<Metrics>();
  ctx.observer = metrics;
  return metrics;
}

std::unique_ptr<StatusServer> StartHttp(Context& ctx, Store& store, const HttpArgs& args,
                                        std::shared_ptr<Metrics> metrics) {
  if (!args.listen) return nullptr;
  StatusServerOptions options;
  options.listen = *args.listen;
  if (args.token_file) options.token = ReadToken(*args.token_file);
  options.metrics = std::move(metrics);
  options.exposition.disk_paths = ctx.DiskPaths();
  auto server = StatusServer::Start(store, std::move(options));
  if (!server.ok()) FailStatus(server.status(), "--http " + *args.listen);
  std::cerr << "jobstore: status page at " << (*server)->url() << ", metrics at "
            << (*server)->url() << "metrics" << (args.token_file ? "" : " (read-only page)")
            << std::endl;
  return std::move(server).value();
}

}  // namespace jobstore::cli
