// Clock: where all TTL, delay and retention logic reads the time. Tests inject a ManualClock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace jobstore {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the UNIX epoch. Thread-safe.
  virtual int64_t NowMs() const = 0;
};

// The system's real-time clock.
std::shared_ptr<Clock> SystemClock();

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  int64_t NowMs() const override { return now_.load(std::memory_order_acquire); }
  void Set(int64_t ms) { now_.store(ms, std::memory_order_release); }
  void Advance(int64_t ms) { now_.fetch_add(ms, std::memory_order_acq_rel); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace jobstore
