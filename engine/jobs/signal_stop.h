// SIGINT/SIGTERM handling for runners (RunnerOptions::handle_signals).
#pragma once

#include <stop_token>

namespace jobstore::internal {

// While alive, SIGINT and SIGTERM request a stop on `source` instead of killing the process.
// The handler only writes a byte to a self-pipe (async-signal-safe); a watcher thread turns
// it into request_stop() calls. Scopes nest across runners: the handlers are installed by
// the first live scope and the previous ones restored when the last ends. A handled signal
// resets to the default action (SA_RESETHAND), so a second one kills a stuck process.
class SignalStopScope {
 public:
  explicit SignalStopScope(std::stop_source source);
  ~SignalStopScope();
  SignalStopScope(const SignalStopScope&) = delete;
  SignalStopScope& operator=(const SignalStopScope&) = delete;

 private:
  std::stop_source source_;
};

}  // namespace jobstore::internal
