#include "commands.h"

#include <algorithm>
#include <iostream>

namespace jobstore::cli {

CLI::App* CommandSet::Add(const std::string& name, const std::string& description,
                          const std::vector<std::string>& examples, std::function<void()> run) {
  size_t eol = description.find('\n');
  CLI::App* cmd = root_.add_subcommand(name, description.substr(0, eol));
  cmd->group(group_);
  std::string footer = eol == std::string::npos ? "" : description.substr(eol + 1) + "\n\n";
  footer += "Examples:";
  for (const auto& e : examples) footer += "\n  jobstore " + e;
  cmd->footer(footer);
  commands_.emplace_back(cmd, std::move(run));
  return cmd;
}

bool CommandSet::RunParsed() {
  for (auto& [cmd, run] : commands_) {
    if (cmd->parsed()) {
      run();
      return true;
    }
  }
  return false;
}

void RequireKnownType(Store& store, const std::string& type) {
  auto listed = store.Types();
  if (!listed.ok()) FailStatus(listed.status(), "list the job types");
  const std::vector<std::string>& types = *listed;
  if (std::find(types.begin(), types.end(), type) != types.end()) return;
  std::string known;
  for (const auto& t : types) known += (known.empty() ? "" : ", ") + t;
  UsageError("unknown job type '" + type + "': this store has never held one; " +
             (known.empty() ? std::string("it has no types yet (push a job first)")
                            : "its types are: " + known));
}

CLI::Option* AddDomainOption(CLI::App* cmd, std::string& domain) {
  return cmd->add_option("--domain", domain, "the tenant (default: the default domain \"\")")
      ->type_name("D");
}

void Report(Context& ctx, const std::string& text, const OJson& json) {
  if (ctx.json) {
    PrintJson(json);
  } else {
    std::cout << text << '\n';
  }
}

}  // namespace jobstore::cli
