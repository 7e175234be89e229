#include "progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace jobstore::cli {
namespace {

bool ProgressWanted() {
  const char* mode = std::getenv("JOBSTORE_PROGRESS");
  if (mode && std::strcmp(mode, "always") == 0) return true;
  if (mode && std::strcmp(mode, "never") == 0) return false;
  return isatty(STDERR_FILENO) == 1;
}

}  // namespace

Progress::Progress(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total), enabled_(ProgressWanted()) {}

Progress::~Progress() { Done(); }

void Progress::Add(uint64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && done_ != total_) return;
  last_draw_ = now;
  Draw();
}

void Progress::Draw() {
  constexpr int kWidth = 30;
  if (total_ > 0) {
    uint64_t shown = done_ < total_ ? done_ : total_;
    int filled = static_cast<int>(shown * kWidth / total_);
    std::string bar(filled, '#');
    bar.append(kWidth - filled, '.');
    std::fprintf(stderr, "\r%s [%s] %3d%% %llu/%llu", label_.c_str(), bar.c_str(),
                 static_cast<int>(shown * 100 / total_), static_cast<unsigned long long>(done_),
                 static_cast<unsigned long long>(total_));
  } else {
    std::fprintf(stderr, "\r%s %llu", label_.c_str(), static_cast<unsigned long long>(done_));
  }
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::Done() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace jobstore::cli
