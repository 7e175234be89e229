// jobstore: create, feed, inspect, run and repair a job store from the shell.
#include <exception>
#include <iostream>
#include <string_view>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "context.h"

namespace jobstore::cli {
namespace {

// The command the user was typing when the parser failed, for the hint.
std::string CommandName(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) return " " + sub->get_name();
  return "";
}

int Main(int argc, char** argv) {
  Context ctx;
  CLI::App app{"jobstore: a durable job queue (RocksDB by default; memory, Redis, SQL).\n"
               "Create, feed, inspect, run and repair a store from the shell.",
               "jobstore"};
  app.require_subcommand(0, 1);
  app.fallthrough();  // --store and --json are accepted after the command too
  app.add_option("--store", ctx.store_flag,
                 "the store: a directory, or an address such as memory:, unix:PATH, "
                 "redis://HOST:PORT/DB, sqlite:PATH (default: $JOBSTORE_DIR, else "
                 "./jobstore-data)")
      ->type_name("ADDRESS");
  app.add_option("--config", ctx.config_flag,
                 "a JSON config routing job types to backends (default: $JOBSTORE_CONFIG); "
                 "instead of --store")
      ->type_name("FILE");
  app.add_option("--token-file", ctx.token_file_flag,
                 "the token of a tcp: store (default: $JOBSTORE_TOKEN_FILE); for serve, the "
                 "token its TCP clients must give")
      ->type_name("FILE");
  app.add_option("--tls-ca", ctx.tls_ca_flag,
                 "connect to a tcp: store over TLS, trusting this PEM certificate")
      ->type_name("FILE");
  app.add_flag("--json", ctx.json, "print JSON for machines instead of tables");
  app.footer(
      "Exit status: 0 ok, 1 failure (store, system, check found problems), 2 bad usage or "
      "input.\nRun 'jobstore COMMAND --help' for a command's options and examples.\n\n"
      "Examples:\n"
      "  jobstore init\n"
      "  jobstore push email '{\"to\":\"ann@example.org\"}'\n"
      "  jobstore stats\n"
      "  jobstore run --exec 'email=./send-mail.sh' --max-jobs 100");

  CommandSet commands(app, ctx);
  commands.SetGroup("Store");
  AddAdminCommands(commands);
  commands.SetGroup("Jobs");
  AddPushCommand(commands);
  AddLeaseCommands(commands);
  AddRunCommand(commands);
  AddServeCommand(commands);
  commands.SetGroup("Inspect");
  AddInspectCommands(commands);
  AddTransferCommands(commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "jobstore: " << e.what() << "\nRun 'jobstore" << CommandName(app)
              << " --help' for usage.\n";
    return kExitUsage;
  }
  if (!commands.RunParsed()) {
    std::cerr << app.help() << "\njobstore: name a command (see above)\n";
    return kExitUsage;
  }
  std::cout.flush();
  if (!std::cout) Failure("could not write the output (is the disk full or the pipe closed?)");
  return kExitOk;
}

}  // namespace
}  // namespace jobstore::cli

int main(int argc, char** argv) {
  using namespace jobstore::cli;
  try {
    return Main(argc, argv);
  } catch (const CliError& e) {
    std::cout.flush();
    std::cerr << "jobstore: " << e.message << '\n';
    return e.code;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "jobstore: internal error: " << e.what() << "\nPlease report this as a bug.\n";
    return kExitFailure;
  }
}
