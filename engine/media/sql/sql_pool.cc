#include "sql_pool.h"

#include <algorithm>

namespace jobstore::sql {
namespace {
constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
}  // namespace

SqlPool::SqlPool(std::unique_ptr<SqlDatabase> db, size_t max_connections)
    : db_(std::move(db)), max_(std::max<size_t>(max_connections, 1)) {}

SqlPool::~SqlPool() = default;

Result<SqlPool::Lease> SqlPool::Acquire() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return !idle_.empty() || open_ < max_; });
  if (!idle_.empty()) {
    std::unique_ptr<SqlConnection> c = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(c));
  }
  const auto now = std::chrono::steady_clock::now();
  if (now < retry_at_) {
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count();
    return Status::Unavailable(last_failure_.message() + " (retrying in " +
                               std::to_string(wait) + " ms)");
  }
  ++open_;
  l.unlock();
  auto made = db_->Connect();
  l.lock();
  if (!made.ok()) {
    --open_;
    cv_.notify_one();
    backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
    retry_at_ = std::chrono::steady_clock::now() + backoff_;
    last_failure_ = made.status();
    return made.status();
  }
  backoff_ = std::chrono::milliseconds(0);
  retry_at_ = {};
  return Lease(this, std::move(made).value());
}

void SqlPool::Return(std::unique_ptr<SqlConnection> c) {
  std::lock_guard<std::mutex> l(mu_);
  if (c->broken()) {
    // The server went away: the idle connections to it are most likely dead too.
    open_ -= 1 + idle_.size();
    idle_.clear();
    c.reset();
    cv_.notify_all();
  } else {
    idle_.push_back(std::move(c));
  }
  cv_.notify_one();
}

}  // namespace jobstore::sql
