#include "jobstore/throttle.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace jobstore {

Throttle::Throttle(std::map<std::string, double> items_per_second, std::shared_ptr<Clock> clock)
    : rates_([&] {
        // Drop meaningless rates up front so Charge never divides by them.
        std::erase_if(items_per_second,
                      [](const auto& entry) { return !(entry.second > 0) || !std::isfinite(entry.second); });
        return std::move(items_per_second);
      }()),
      clock_(clock ? std::move(clock) : SystemClock()) {}

int64_t Throttle::Charge(const std::string& type, uint32_t work_items) {
  auto rate = rates_.find(type);
  if (rate == rates_.end()) return 0;
  // Round up: a job worth any work at all must back its type off by at least 1 ms.
  const double cost = std::ceil(1000.0 * work_items / rate->second);
  const int64_t delta_ms =
      cost >= static_cast<double>(std::numeric_limits<int32_t>::max()) ? std::numeric_limits<int32_t>::max()
                                                                       : static_cast<int64_t>(cost);
  const int64_t now = clock_->NowMs();
  std::lock_guard lock(mu_);
  int64_t& until = backoff_until_ms_[type];
  // Like MediaWiki's backoff file: a backlog of charges accumulates, an idle type starts
  // from now rather than from a long-past end.
  until = std::max(until, now) + delta_ms;
  return until;
}

bool Throttle::IsThrottled(const std::string& type) const {
  const int64_t now = clock_->NowMs();
  std::lock_guard lock(mu_);
  auto it = backoff_until_ms_.find(type);
  return it != backoff_until_ms_.end() && it->second > now;
}

std::vector<std::string> Throttle::ThrottledTypes() const {
  const int64_t now = clock_->NowMs();
  std::vector<std::string> types;
  std::lock_guard lock(mu_);
  for (const auto& [type, until] : backoff_until_ms_) {
    if (until > now) types.push_back(type);
  }
  return types;
}

int64_t Throttle::NextChangeInMs() const {
  const int64_t now = clock_->NowMs();
  int64_t next = 0;
  std::lock_guard lock(mu_);
  for (const auto& [type, until] : backoff_until_ms_) {
    if (until > now && (next == 0 || until - now < next)) next = until - now;
  }
  return next;
}

}  // namespace jobstore
