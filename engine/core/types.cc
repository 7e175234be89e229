#include "jobstore/types.h"

#include <cstdio>

namespace jobstore {

std::string ClaimToken::ToString() const {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(deadline_ms),
                static_cast<unsigned long long>(nonce));
  return buf;
}

Result<ClaimToken> ClaimToken::Parse(const std::string& text) {
  if (text.size() != 32) {
    return Status::InvalidArgument("claim token '" + text +
                                   "' must be 32 hex digits, as printed by claim");
  }
  uint64_t parts[2] = {0, 0};
  for (size_t i = 0; i < 32; ++i) {
    const char c = text[i];
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else return Status::InvalidArgument("claim token '" + text + "' has a non-hex character");
    parts[i / 16] = (parts[i / 16] << 4) | static_cast<uint64_t>(v);
  }
  if (parts[0] > static_cast<uint64_t>(INT64_MAX)) {
    return Status::InvalidArgument("claim token '" + text + "' has an impossible deadline");
  }
  return ClaimToken{static_cast<int64_t>(parts[0]), parts[1]};
}

const char* OrderName(Order order) {
  switch (order) {
    case Order::kFifo: return "fifo";
    case Order::kRandom: return "random";
    case Order::kPriority: return "priority";
  }
  return "fifo";
}

Result<Order> ParseOrder(const std::string& name) {
  if (name == "fifo") return Order::kFifo;
  if (name == "random") return Order::kRandom;
  if (name == "priority") return Order::kPriority;
  return Status::InvalidArgument("order '" + name + "' is not one of fifo, random, priority");
}

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kReady: return "ready";
    case JobState::kClaimed: return "claimed";
    case JobState::kDelayed: return "delayed";
    case JobState::kAbandoned: return "abandoned";
  }
  return "ready";
}

Result<JobState> ParseJobState(const std::string& name) {
  if (name == "ready") return JobState::kReady;
  if (name == "claimed") return JobState::kClaimed;
  if (name == "delayed") return JobState::kDelayed;
  if (name == "abandoned") return JobState::kAbandoned;
  return Status::InvalidArgument("state '" + name +
                                 "' is not one of ready, claimed, delayed, abandoned");
}

const char* PushAtomicityName(Capabilities::PushAtomicity atomicity) {
  switch (atomicity) {
    case Capabilities::PushAtomicity::kWholeBatch: return "whole-batch";
    case Capabilities::PushAtomicity::kPerBackend: return "per-backend";
    case Capabilities::PushAtomicity::kPerQueue: return "per-queue";
  }
  return "whole-batch";
}

const char* DurabilityName(Capabilities::Durability durability) {
  switch (durability) {
    case Capabilities::Durability::kNothing: return "nothing";
    case Capabilities::Durability::kProcessCrash: return "process-crash";
    case Capabilities::Durability::kPowerLoss: return "power-loss";
    case Capabilities::Durability::kServerConfig: return "server-config";
  }
  return "nothing";
}

}  // namespace jobstore
