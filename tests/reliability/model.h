// What a reliability test knows about a store: the Model replays the workload's report lines
// (workload.h) into the state every job must be in; a Snapshot lists what the store really
// holds and checks the store's own invariants; Verify compares the two.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "jobstore/store.h"

namespace jobstore::testing {

// Everything a store holds, read through the public API, and every inconsistency found on
// the way: a job listed twice (two states, or two queues), a count that differs from the
// jobs listed (Counts() and Queues()), a ready index that differs from the queues with ready
// jobs, an Inspect() that disagrees with the listing, a corrupt record, a Check() violation.
struct Snapshot {
  std::map<JobId, JobInfo> jobs;
  std::vector<std::string> problems;
};
Snapshot TakeSnapshot(Store& store);

enum class ModelState { kQueued, kClaimed, kAbandoned };  // queued = ready or delayed

struct ModelJob {
  int queue = 0;
  ModelState state = ModelState::kQueued;
  uint32_t attempts = 0;
  ClaimToken token;  // kClaimed: the current token (nonce 0 = unknown)
};

// The operation whose "B" line had no result yet (or whose result was "F").
struct InFlight {
  char op = 0;
  std::vector<int> queues;  // P: one per spec; C, X: the queue
  std::vector<JobId> ids;   // A, M, L, T: the jobs
  size_t n = 0;             // C: max jobs
  bool failed = false;
};

class Model {
 public:
  // Applies one complete report line. Impossible reports (an id reused, a claim of a job
  // that is not queued, ...) are recorded in errors.
  void Apply(const std::string& line);
  // Replaces the jobs with what a snapshot holds (after the test moved jobs itself, or
  // after a loss the model cannot predict). Claimed jobs get an unknown token.
  void ResetFrom(const Snapshot& snap, bool forget_ids = false);

  std::map<JobId, ModelJob> jobs;  // every job that must be in the store
  std::set<JobId> acked;           // acknowledged acks
  std::set<JobId> ever;            // every id the store ever reported
  JobId max_id = 0;
  std::optional<InFlight> in_flight;
  std::vector<std::string> errors;
  uint64_t completed = 0;  // result lines applied
  uint64_t failures = 0;   // "F" lines

 private:
  void Error(const std::string& what);
  ModelJob* Find(JobId id, int queue, const char* op);
};

// How much a store may have lost relative to the model.
enum class Loss {
  kNone,         // kill -9, or a live store's memory: exactly the model, except the op in flight
  kUnsyncedOps,  // power cut under Durability::kPowerLoss: every push survives; claims, acks,
                 // releases, touches after the last synced write may be undone
  kAnything,     // power cut under Durability::kProcessCrash: anything unsynced may be gone
};
// The differences between model and store, plus the snapshot's own problems. Empty = pass.
std::vector<std::string> Verify(const Model& model, const Snapshot& snap, Loss loss);

// Joins problems for a test failure message (the first `max` of them).
std::string Describe(const std::vector<std::string>& problems, size_t max = 20);

}  // namespace jobstore::testing
