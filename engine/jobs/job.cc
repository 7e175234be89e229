#include "jobstore/job.h"

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace jobstore {

bool JobContext::WaitForStop(int64_t timeout_ms) const {
  // condition_variable_any wakes on the stop token itself, so a stop is seen at once rather
  // than at the next poll; nothing else ever notifies this private condition variable.
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  auto never = [] { return false; };
  if (timeout_ms < 0) {
    cv.wait(lock, stop_, never);
  } else {
    cv.wait_for(lock, stop_, std::chrono::milliseconds(timeout_ms), never);
  }
  return stop_.stop_requested();
}

}  // namespace jobstore
