// Throttle: per-type rate limits for runners (MediaWiki's $wgJobBackoffThrottling).
//
// A type limited to R work items per second backs off for work_item_count / R seconds after
// each job of that type is popped; while a type is backed off, runners do not pick it. One
// Throttle may be shared by several runners (and threads), which then share the budget.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "jobstore/clock.h"

namespace jobstore {

class Throttle {
 public:
  // `items_per_second`: type -> work items per second (> 0; other entries are ignored).
  // Types not listed are never throttled. `clock` null means the system clock.
  Throttle(std::map<std::string, double> items_per_second, std::shared_ptr<Clock> clock);

  // Records that a job of `type` worth `work_items` was popped: the type's backoff ends
  // work_items / rate seconds after the later of now and its current end. Returns the new
  // end in clock milliseconds (0 when the type is not throttled). Thread-safe.
  int64_t Charge(const std::string& type, uint32_t work_items);

  // Whether `type` is backed off now. Thread-safe.
  bool IsThrottled(const std::string& type) const;

  // The types backed off now, sorted: what a pop must exclude. Thread-safe.
  std::vector<std::string> ThrottledTypes() const;

  // Milliseconds until the first backoff ends (0 when none is active). Thread-safe.
  int64_t NextChangeInMs() const;

 private:
  const std::map<std::string, double> rates_;
  const std::shared_ptr<Clock> clock_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> backoff_until_ms_;  // guarded by mu_
};

}  // namespace jobstore
