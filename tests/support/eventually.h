// Waits for an event a test caused in another thread or process (a server that counted a
// connection, a worker process that ran a job) that cannot signal the test: checks `done`
// every `pause` until it holds (true) or `limit` passed (false). The limit only keeps a broken
// peer from hanging the suite; no assertion depends on how long anything took.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace jobstore::testing {

inline bool Eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(30),
                       std::chrono::milliseconds pause = std::chrono::milliseconds(1)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(pause);
  }
  return true;
}

}  // namespace jobstore::testing
