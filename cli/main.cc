// jobstore: create, feed, inspect, run and repair a job store from the shell.
#include <algorithm>
#include <exception>
#include <vector>
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

// Edit distance counting a swap of two neighbours as one edit ("lsit" is one from "list"),
// for "did you mean": commands are short, so the O(n*m) table costs nothing.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The command the user meant by `word`: the nearest by edit distance (at most 2, or a prefix).
std::string NearestCommand(const CLI::App& app, const std::string& word) {
  std::string best;
  size_t best_distance = 3;
  for (const CLI::App* sub :
       app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
    const std::string& name = sub->get_name();
    const size_t d = name.rfind(word, 0) == 0 ? 1 : EditDistance(word, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  return best;
}

// The first word of the command line that is neither an option nor a global option's value:
// what the user took for a command.
std::string FirstWord(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--store" || arg == "--config") {
      ++i;
    } else if (!arg.empty() && arg[0] != '-') {
      return arg;
    }
  }
  return "";
}

int Main(int argc, char** argv) {
  Context ctx;
  CLI::App app{"jobstore: a durable job queue (RocksDB by default; memory, Redis, SQL).\n"
               "Create, feed, inspect, run and repair a store from the shell.",
               "jobstore"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("jobstore ") + JOBSTORE_VERSION,
                       "print the version and exit");
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
  app.add_option("--redis-password-file", ctx.redis_password_file_flag,
                 "the password of redis addresses that name none: the first line of FILE "
                 "(default: $JOBSTORE_REDIS_PASSWORD_FILE)")
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
  AddJobCommands(commands);
  AddServeCommand(commands);
  commands.SetGroup("Inspect");
  AddInspectCommands(commands);
  AddTransferCommands(commands);
  commands.SetGroup("Tools");
  AddDocCommands(commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::string word = FirstWord(argc, argv);
    if (app.get_subcommands().empty() && !word.empty()) {
      const std::string nearest = NearestCommand(app, word);
      std::cerr << "jobstore: '" << word << "' is not a command"
                << (nearest.empty() ? "" : "; did you mean '" + nearest + "'?")
                << "\nRun 'jobstore --help' for the commands.\n";
      return kExitUsage;
    }
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
