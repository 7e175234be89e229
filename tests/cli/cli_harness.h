// Runs the jobstore binary as a child process with arguments, stdin and environment, and
// captures its exit status, stdout and stderr.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace jobstore::clitest {

struct Output {
  int status = -1;  // exit status; 128 + signal when a signal ended it
  std::string out, err;
};

struct Invocation {
  std::vector<std::string> args;  // after the program name
  std::string input;              // written to stdin, then closed
  // Environment changes: a value sets the variable, nullopt removes it. JOBSTORE_DIR and
  // JOBSTORE_PROGRESS are removed unless set here.
  std::map<std::string, std::optional<std::string>> env;
  std::string cwd;  // empty: the test's cwd
};

// Runs the binary and waits for it. Aborts the test binary only if fork or pipe fail.
Output RunBinary(const std::string& path, const Invocation& inv);

}  // namespace jobstore::clitest
