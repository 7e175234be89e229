// The command groups. Each Add* function declares its commands on the CLI11 app; the one the
// user chose runs after parsing succeeded.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "context.h"
#include "json_util.h"

namespace jobstore::cli {

class CommandSet {
 public:
  CommandSet(CLI::App& root, Context& ctx) : root_(root), ctx_(ctx) {}

  // Declares a command in the current group. The first line of `description` is its summary
  // (in the command list); the rest, then `examples` (one a line, without "jobstore"), end its
  // --help.
  CLI::App* Add(const std::string& name, const std::string& description,
                const std::vector<std::string>& examples, std::function<void()> run);
  // The heading of the commands added next in the command list.
  void SetGroup(std::string group) { group_ = std::move(group); }
  Context& ctx() { return ctx_; }
  CLI::App& root() { return root_; }
  // Runs the command that was parsed; false when none was.
  bool RunParsed();

 private:
  CLI::App& root_;
  Context& ctx_;
  std::string group_ = "Commands";
  std::vector<std::pair<CLI::App*, std::function<void()>>> commands_;
};

void AddAdminCommands(CommandSet& set);     // init maintain config repush-abandoned clear checkpoint
void AddPushCommand(CommandSet& set);       // push
void AddLeaseCommands(CommandSet& set);     // claim ack release touch
void AddInspectCommands(CommandSet& set);   // stats list queues check
void AddTransferCommands(CommandSet& set);  // export import
void AddRunCommand(CommandSet& set);        // run
void AddDocCommands(CommandSet& set);       // completion manpage
void AddJobCommands(CommandSet& set);       // show delete retry
void AddServeCommand(CommandSet& set);      // serve

// Shared by commands.

// The queue's type must be known to the store (a typo otherwise claims or acks nothing).
void RequireKnownType(Store& store, const std::string& type);
// --domain D, the same on every command.
CLI::Option* AddDomainOption(CLI::App* cmd, std::string& domain);
// Prints `text` (human) or `json` (--json).
void Report(Context& ctx, const std::string& text, const OJson& json);

}  // namespace jobstore::cli
