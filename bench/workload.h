// The jobstore workload driver (issue 7): one producer pushes N jobs of random payload in
// batches of B, then W worker threads loop claim one -> read payload -> ack until the queue is
// empty. Optionally runs the same workload, in the same run, on bare RocksDB with the minimal
// operations a queue needs (the "floor") and reports the ratio jobstore / floor.
//
// Used by the `jobstore_bench` executable: call BenchMain(argc, argv), or build a
// WorkloadConfig yourself and call RunWorkload / RunFloor.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "jobstore/options.h"
#include "jobstore/status.h"

namespace jobstore::bench {

struct WorkloadConfig {
  uint64_t jobs = 100'000;          // N: jobs pushed (0 with `reuse`: whatever is queued)
  size_t payload_bytes = 100;       // random bytes per job
  size_t batch = 100;               // B: jobs per Push
  int workers = 4;                  // W: drain threads
  Durability durability = Durability::kProcessCrash;
  int types = 1;                    // jobs spread round-robin over this many job types;
                                    // with > 1, workers pick queues with PickReadyQueue
  std::string dir;                  // store directory; empty = a fresh temporary directory
  std::string store;                // a store address (memory:, redis://...) instead of `dir`
  bool keep = false;                // keep the store directory afterwards
  bool reuse = false;               // open an existing store in `dir`, push nothing
  int64_t drain_max = -1;           // stop draining after this many acks (-1 = until empty)
  int64_t settle_ms = 0;            // after open (and push), idle this long before draining so
                                    // background compaction of a fresh backlog can finish
  uint64_t seed = 42;
  size_t claim_batch = 1;           // K: jobs per Claim, acked with one AckMany when K > 1
  bool floor = false;               // also run the floor (single type only): bare RocksDB, or
                                    // on a redis address the MediaWiki-layout Redis queue
  bool floor_hint = false;          // give the floor jobstore's memtable insert hint
  bool floor_tuned = false;         // give the floor jobstore's write buffer and cache sizes
  bool metrics = false;             // observe the store with a Metrics (what --http costs)
  size_t write_buffer_mb = 0;       // a RocksDB store's write buffer per type (0: the default)
  // Drain through jobstore's Runner instead of claim/ack loops: W worker threads running a
  // job type that reads its payload, each claiming `claim_batch` jobs at a time and acking
  // them with one AckMany (RunnerOptions::claim_batch). Claim and ack latencies are not
  // sampled in this mode.
  bool runner = false;
  // Served (served.h): the store in a server process, the producer and the W workers in
  // processes of their own; each worker claims `claim_batch` jobs at a time too, and acks
  // them in the call that claims the next (AckThenClaimAny), or in a call of their own first
  // with `separate_acks`.
  bool served = false;
  bool separate_acks = false;
};

// Everything measured in one run. Rates are jobs per second of wall time.
struct WorkloadReport {
  std::string engine;               // "jobstore" or "floor"
  std::string durability;           // "process-crash" or "power-loss"
  uint64_t jobs = 0;
  size_t payload_bytes = 0;
  size_t batch = 0;
  int workers = 0;
  int types = 1;
  size_t claim_batch = 1;
  std::string note;                 // what the medium guarantees (capabilities().note, or
                                    // the Redis floor's server persistence)
  double open_ms = 0;               // Store::Open / DB::Open
  double settle_cpu_s = 0;          // CPU RocksDB's background threads used while settling
  uint64_t queued_at_open = 0;      // ready jobs found at open (reuse)
  double push_s = 0;
  double push_jobs_per_s = 0;
  double push_cpu_us_per_job = 0;   // process CPU (user+sys, all threads incl. RocksDB's)
  double drain_s = 0;
  double drain_jobs_per_s = 0;
  double drain_cpu_us_per_job = 0;  // per claim+ack; steadier than wall time on a busy box
  uint64_t acked = 0;
  double claim_p50_us = 0;
  double claim_p99_us = 0;
  double ack_p50_us = 0;
  double ack_p99_us = 0;
  // RocksDB perf context, summed over every claim of every worker.
  double tombstones_per_claim = 0;  // internal_delete_skipped_count / claims
  double keys_skipped_per_claim = 0;  // internal_key_skipped_count / claims
  // Tombstones per claim in the first and last tenth of the drain: O(1) means these match.
  double tombstones_per_claim_first10 = 0;
  double tombstones_per_claim_last10 = 0;
  // Bytes RocksDB wrote from the pushing / draining threads (its IO stats context: the WAL,
  // which a group commit's leader writes for the whole group), per job.
  double push_wal_bytes_per_job = 0;
  double drain_wal_bytes_per_job = 0;
  long peak_rss_kb = 0;             // getrusage ru_maxrss when this engine finished
  double server_bytes_per_job = 0;  // Redis: INFO used_memory growth per queued job
  // Redis: the server's CPU per job (INFO cpu), beside this process's: on a shared machine
  // the sum is steadier than the wall-clock rates.
  double push_server_cpu_us_per_job = 0;
  double drain_server_cpu_us_per_job = 0;
  bool verified = false;            // exactly the expected jobs were acked, once each
  std::string error;                // why verification failed
};

// Runs the workload on a jobstore Store. Fails (Status not OK, report.error set) when an
// operation fails or the drain does not ack exactly the pushed jobs once each.
Status RunWorkload(const WorkloadConfig& config, WorkloadReport* report);

// The same workload on bare RocksDB: push = Put job + Put ready key in one WriteBatch (per
// batch of B); claim = under a mutex, seek from a remembered cursor to the next ready key;
// then outside it Delete ready + Put claimed, Get the job; ack = Delete claimed + Delete job.
// power-loss syncs pushes only. Same verification.
Status RunFloor(const WorkloadConfig& config, WorkloadReport* report);

// Output: one "key: value" line per figure, or one JSON object per report (an array when
// `floor` is also given) and the ratios. `baseline_name` names the second report (the floor,
// or the embedded store a served run is compared with) in the JSON and the ratio line.
void PrintReport(std::ostream& out, const WorkloadReport& store, const WorkloadReport* floor,
                 bool json, const std::string& baseline_name = "floor");

// `jobstore_bench` entry point. argv[0] is the program name. Returns the
// process exit status: 0 on success, 1 on a failed run or verification, 2 on bad usage.
int BenchMain(int argc, char** argv);

// Helpers shared with the micro-benchmarks.
std::string MakeTempDir(const std::string& prefix);
void RemoveDir(const std::string& dir);
long PeakRssKb();
double ProcessCpuSeconds();  // user + system time of this process so far
const char* DurabilityName(Durability d);  // "process-crash" / "power-loss"

}  // namespace jobstore::bench
