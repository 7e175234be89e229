// A random mixed workload over the public Store API, shared by the crash harness (run in a
// child process, reporting over a pipe) and the in-process power-loss and I/O-fault tests.
//
// Every operation is reported as text lines: "B ..." before it starts (what it is about to
// touch), then one result line once it returned OK, or "F <status>" when it failed. A
// Model (model.h) replays the lines; an operation with a "B" line but no result is the one
// in flight when the process died or the power went off.
//
// Lines (q = queue index into WorkloadQueues(), ids and nonces decimal):
//   B P q1 q2 ...            push of one spec per listed queue
//   P n (q id dup)*n         pushed; dup=1: dropped as a duplicate of job id
//   B C q n                  claim up to n from queue q
//   C q n (id nonce deadline attempts)*n
//   B A q id                 ack            -> A q id
//   B M (q id)*k             ack many       -> M k (q id)*k   (those that succeeded)
//   B L q id                 release        -> L q id Q|A     (back to queued, or abandoned)
//   B T q id                 touch          -> T q id nonce deadline
//   B X q                    repush abandoned -> X q count
//   B E                      maintain       -> E
//   B S                      type settings  -> S
//   F <status text>          the operation in flight failed
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "jobstore/clock.h"
#include "jobstore/store.h"

namespace jobstore::testing {

struct WorkloadType {
  std::string name;
  TypeSettings settings;
};

// The fixed types, domains and queues every reliability workload uses.
const std::vector<WorkloadType>& WorkloadTypes();
const std::vector<std::string>& WorkloadDomains();
const std::vector<QueueRef>& WorkloadQueues();
int QueueIndex(const QueueRef& queue);  // -1 when not a workload queue
const TypeSettings& SettingsOf(int queue_index);

class Workload {
 public:
  using Emit = std::function<void(const std::string& line)>;
  // `stop` is asked after each operation returns and before its result is reported; when it
  // says true, the result is not reported and Run() stops (the power went off meanwhile).
  Workload(Store& store, ManualClock& clock, uint64_t seed, Emit emit,
           std::function<bool()> stop = {});

  // Writes the workload's type settings (reported as "B S" / "S").
  Status Configure();
  // Runs `n` random operations. Stops early at the first failure (after reporting it) or
  // when `stop` says so. Returns the failure, or OK.
  Status Run(size_t n);

  size_t held_claims() const { return held_.size(); }
  uint64_t ops_done() const { return ops_; }

 private:
  Status Push();
  Status ClaimSome();
  Status AckOne();
  Status AckMany();
  Status ReleaseOne();
  Status TouchOne();
  Status Repush();
  Status DoMaintain();
  Status Finish(const Status& s, const std::string& result);
  size_t TakeHeld();
  std::string RandomParams();
  int64_t Rand(int64_t lo, int64_t hi);  // inclusive

  Store& store_;
  ManualClock& clock_;
  std::mt19937_64 rng_;
  Emit emit_;
  std::function<bool()> stop_;
  std::vector<ClaimedJob> held_;
  uint64_t ops_ = 0;
  int64_t approx_jobs_ = 0;
  bool stopped_ = false;
};

}  // namespace jobstore::testing
