// A manual clock that another process reads: a served store's "now" is its owner's, so a test
// whose clock lives in a client process (the crash child, the conformance suite) shares it with
// the owner through one int64 in a file mapped by both.
//
//   owner:  options.clock = std::make_shared<PageClock>(SharedClockPage::Map(file));
//   client: ClockSyncStore store(remote, manual_clock, SharedClockPage::Map(file));
//           // every call first writes manual_clock's time into the page
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "forwarding_store.h"
#include "jobstore/clock.h"

namespace jobstore::testing {

class SharedClockPage {
 public:
  // Maps `file` (created, 8 bytes, when missing). Null when it cannot be mapped.
  static std::shared_ptr<SharedClockPage> Map(const std::string& file) {
    const int fd = open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return nullptr;
    if (ftruncate(fd, sizeof(std::atomic<int64_t>)) != 0) {
      close(fd);
      return nullptr;
    }
    void* p = mmap(nullptr, sizeof(std::atomic<int64_t>), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return nullptr;
    return std::shared_ptr<SharedClockPage>(new SharedClockPage(static_cast<std::atomic<int64_t>*>(p)));
  }
  ~SharedClockPage() { munmap(now_, sizeof *now_); }

  // Lock-free 64-bit atomics work across processes sharing the page.
  int64_t Load() const { return now_->load(std::memory_order_acquire); }
  void Set(int64_t ms) { now_->store(ms, std::memory_order_release); }

 private:
  explicit SharedClockPage(std::atomic<int64_t>* now) : now_(now) {}
  std::atomic<int64_t>* now_;
};

// The owner's clock: whatever the page says.
class PageClock final : public Clock {
 public:
  explicit PageClock(std::shared_ptr<SharedClockPage> page) : page_(std::move(page)) {}
  int64_t NowMs() const override { return page_->Load(); }

 private:
  std::shared_ptr<SharedClockPage> page_;
};

// A client's store that brings the owner's clock to the test's before every call.
class ClockSyncStore final : public internal::ForwardingStore {
 public:
  ClockSyncStore(std::unique_ptr<Store> store, std::shared_ptr<Clock> clock,
                 std::shared_ptr<SharedClockPage> page)
      : ForwardingStore(std::move(store)), clock_(std::move(clock)), page_(std::move(page)) {}

 protected:
  Store& Target() override {
    page_->Set(clock_->NowMs());
    return ForwardingStore::Target();
  }

 private:
  std::shared_ptr<Clock> clock_;
  std::shared_ptr<SharedClockPage> page_;
};

}  // namespace jobstore::testing
