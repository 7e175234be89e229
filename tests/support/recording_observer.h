// A StoreObserver (jobstore/observer.h) that records what it is told: jobs per (queue, event)
// and the number of timed calls per kind, for tests to compare with what they did.
// Thread-safe: stores tell it from their callers' threads and their maintenance thread.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "jobstore/observer.h"
#include "jobstore/types.h"

namespace jobstore::testing {

class RecordingObserver final : public StoreObserver {
 public:
  void OnJobs(std::string_view domain, std::string_view type, Event event, uint64_t n) override {
    std::lock_guard l(mu_);
    jobs_[{std::string(domain), std::string(type), event}] += n;
  }
  void OnCall(Call call, int64_t nanoseconds) override {
    std::lock_guard l(mu_);
    ++calls_[call];
    negative_ = negative_ || nanoseconds < 0;
  }
  uint64_t N(const QueueRef& q, Event e) {
    std::lock_guard l(mu_);
    auto it = jobs_.find({q.domain, q.type, e});
    return it == jobs_.end() ? 0 : it->second;
  }
  uint64_t Calls(Call c) {
    std::lock_guard l(mu_);
    return calls_[c];
  }
  // Every (queue, event) told so far with its total.
  std::map<std::tuple<std::string, std::string, Event>, uint64_t> All() {
    std::lock_guard l(mu_);
    return jobs_;
  }
  // Whether any call was told a negative duration.
  bool negative() {
    std::lock_guard l(mu_);
    return negative_;
  }

 private:
  std::mutex mu_;
  std::map<std::tuple<std::string, std::string, Event>, uint64_t> jobs_;
  std::map<Call, uint64_t> calls_;
  bool negative_ = false;
};

}  // namespace jobstore::testing
