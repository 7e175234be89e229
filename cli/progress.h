// A progress bar on stderr, drawn only when stderr is a terminal ($JOBSTORE_PROGRESS=always
// or never overrides the test), at most ten times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace jobstore::cli {

class Progress {
 public:
  // `total` 0: unknown, only a counter is drawn.
  Progress(std::string label, uint64_t total);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Add(uint64_t n);
  // Erases the bar (also done by the destructor).
  void Done();

 private:
  void Draw();

  std::string label_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace jobstore::cli
