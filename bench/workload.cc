#include "workload.h"

#include <rocksdb/iostats_context.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "floor.h"
#include "jobstore/job.h"
#include "jobstore/metrics.h"
#include "jobstore/registry.h"
#include "jobstore/rocksdb_store.h"
#include "jobstore/runner.h"
#include "mediawiki_floor.h"
#include "served.h"
#include "workload_parts.h"
#include "jobstore/store.h"
#include "jobstore/types.h"
#include "redis_floor.h"

namespace jobstore::bench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
float MicrosBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<float, std::micro>(b - a).count();
}

struct WorkerOut {
  uint64_t wal_bytes = 0;  // RocksDB's IO stats of this thread
  std::vector<Sample> samples;
  std::vector<uint64_t> ids;
  uint64_t payload_sum = 0;
  uint64_t payload_bytes_bad = 0;
  std::string error;
};

// Fills the latency, perf-context and verification fields of `r` from the workers' records.
void Summarize(std::vector<WorkerOut>& outs, uint64_t expected, uint64_t expected_id_sum,
               uint64_t expected_payload_sum, bool check_fingerprints, size_t payload_bytes,
               WorkloadReport* r) {
  std::vector<float> claim, ack;
  std::vector<uint64_t> ids;
  uint64_t tomb = 0, keys = 0, first_t = 0, first_n = 0, last_t = 0, last_n = 0;
  uint64_t payload_sum = 0, bad_payloads = 0;
  for (auto& o : outs) {
    size_t n = o.samples.size();
    size_t tenth = std::max<size_t>(1, n / 10);
    for (size_t i = 0; i < n; ++i) {
      const Sample& s = o.samples[i];
      claim.push_back(s.claim_us);
      ack.push_back(s.ack_us);
      tomb += s.tombstones;
      keys += s.keys_skipped;
      if (i < tenth) first_t += s.tombstones, ++first_n;
      if (i + tenth >= n) last_t += s.tombstones, ++last_n;
    }
    ids.insert(ids.end(), o.ids.begin(), o.ids.end());
    payload_sum += o.payload_sum;
    bad_payloads += o.payload_bytes_bad;
    if (!o.error.empty() && r->error.empty()) r->error = o.error;
  }
  r->acked = ids.size();
  r->claim_p50_us = Percentile(claim, 0.50);
  r->claim_p99_us = Percentile(claim, 0.99);
  r->ack_p50_us = Percentile(ack, 0.50);
  r->ack_p99_us = Percentile(ack, 0.99);
  double n = std::max<double>(1, claim.size());
  r->tombstones_per_claim = tomb / n;
  r->keys_skipped_per_claim = keys / n;
  r->tombstones_per_claim_first10 = first_n ? double(first_t) / first_n : 0;
  r->tombstones_per_claim_last10 = last_n ? double(last_t) / last_n : 0;

  if (!r->error.empty()) return;
  std::sort(ids.begin(), ids.end());
  auto dup = std::adjacent_find(ids.begin(), ids.end());
  uint64_t id_sum = 0;
  for (uint64_t id : ids) id_sum += MixId(id);
  char buf[256];
  if (dup != ids.end()) {
    std::snprintf(buf, sizeof buf, "job %llu was acked twice", (unsigned long long)*dup);
    r->error = buf;
  } else if (ids.size() != expected) {
    std::snprintf(buf, sizeof buf, "acked %zu distinct jobs, expected %llu", ids.size(),
                  (unsigned long long)expected);
    r->error = buf;
  } else if (bad_payloads) {
    std::snprintf(buf, sizeof buf, "%llu claimed payloads had the wrong size (expected %zu)",
                  (unsigned long long)bad_payloads, payload_bytes);
    r->error = buf;
  } else if (check_fingerprints && id_sum != expected_id_sum) {
    r->error = "the acked job ids are not the pushed ones";
  } else if (check_fingerprints && payload_sum != expected_payload_sum) {
    r->error = "the claimed payloads differ from the pushed ones";
  } else {
    r->verified = true;
  }
}

// Per-thread RocksDB perf counters around one claim.
struct PerfProbe {
  uint64_t del0 = 0, key0 = 0;
  void Begin() {
    auto* pc = rocksdb::get_perf_context();
    del0 = pc->internal_delete_skipped_count;
    key0 = pc->internal_key_skipped_count;
  }
  void End(Sample* s) {
    auto* pc = rocksdb::get_perf_context();
    s->tombstones = static_cast<uint32_t>(pc->internal_delete_skipped_count - del0);
    s->keys_skipped = static_cast<uint32_t>(pc->internal_key_skipped_count - key0);
  }
};

// What one claim-and-ack step of a worker did: the jobs it acked (one, or up to
// claim_batch), and the latency of its claim call and its ack call.
enum class Step { kAcked, kEmpty, kRetry, kFailed };
struct AckedJob {
  uint64_t id = 0;
  uint64_t payload_hash = 0;
  size_t payload_size = 0;
};
struct StepOut {
  Sample sample{};
  std::vector<AckedJob> acked;
  std::string error;
};

// The drain's figures and verification in `r`, from the workers' records; the drain began
// at `t_drain` with the process at `cpu_drain` seconds of CPU.
void FinishDrain(const WorkloadConfig& c, std::vector<WorkerOut>& outs, uint64_t expected,
                 uint64_t id_sum, uint64_t payload_sum, bool check_fingerprints,
                 Clock::time_point t_drain, double cpu_drain, WorkloadReport* r) {
  r->drain_s = SecondsSince(t_drain);
  Summarize(outs, expected, id_sum, payload_sum, check_fingerprints, c.payload_bytes, r);
  r->drain_jobs_per_s = r->drain_s > 0 ? r->acked / r->drain_s : 0;
  r->drain_cpu_us_per_job = r->acked ? (ProcessCpuSeconds() - cpu_drain) * 1e6 / r->acked : 0;
  uint64_t wal = 0;
  for (const WorkerOut& o : outs) wal += o.wal_bytes;
  r->drain_wal_bytes_per_job = r->acked ? double(wal) / double(r->acked) : 0;
}

// Runs W workers, each looping step(worker, max, &out) until the queue is empty, the drain
// budget (in jobs) is spent or a step fails; a step acks at most `max` jobs. Then fills the
// drain figures and verification of `r`.
template <typename StepFn>
void Drain(const WorkloadConfig& c, uint64_t expected, bool limited, uint64_t id_sum,
           uint64_t payload_sum, bool check_fingerprints, bool check_sizes, StepFn step,
           WorkloadReport* r) {
  std::atomic<int64_t> budget(limited ? c.drain_max : INT64_MAX);
  std::atomic<bool> stop(false);
  std::vector<WorkerOut> outs(c.workers);
  auto worker = [&](int w) {
    WorkerOut& o = outs[w];
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
    const uint64_t written0 = rocksdb::get_iostats_context()->bytes_written;
    const int64_t k = static_cast<int64_t>(std::max<size_t>(1, c.claim_batch));
    while (!stop.load(std::memory_order_relaxed)) {
      // Reserve up to k jobs of the budget; give back what the step did not ack.
      const int64_t left = budget.fetch_sub(k, std::memory_order_relaxed);
      if (left <= 0) break;
      const int64_t want = std::min(k, left);
      StepOut out;
      Step st = step(w, static_cast<size_t>(want), &out);
      budget.fetch_add(k - static_cast<int64_t>(out.acked.size()), std::memory_order_relaxed);
      if (st == Step::kFailed) {
        o.error = out.error;
        stop = true;
        break;
      }
      if (st == Step::kEmpty) break;
      if (st == Step::kRetry) continue;
      for (const AckedJob& a : out.acked) {
        o.payload_sum += a.payload_hash;
        if (check_sizes && a.payload_size != c.payload_bytes) ++o.payload_bytes_bad;
        o.ids.push_back(a.id);
      }
      o.samples.push_back(out.sample);
    }
    o.wal_bytes = rocksdb::get_iostats_context()->bytes_written - written0;
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  };
  auto t_drain = Clock::now();
  double cpu_drain = ProcessCpuSeconds();
  {
    std::vector<std::thread> threads;
    for (int w = 0; w < c.workers; ++w) threads.emplace_back(worker, w);
    for (auto& t : threads) t.join();
  }
  FinishDrain(c, outs, expected, id_sum, payload_sum, check_fingerprints, t_drain, cpu_drain, r);
}

// Pushes c.jobs jobs in batches of c.batch through push_batch(n, rng) -> Status (which adds
// each payload's hash and each id's MixId to the sums), and fills the push figures of `r`.
template <typename PushBatchFn>
Status PushAll(const WorkloadConfig& c, PushBatchFn push_batch, WorkloadReport* r) {
  SplitMix rng{c.seed};
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  const uint64_t written0 = rocksdb::get_iostats_context()->bytes_written;
  auto t_push = Clock::now();
  double cpu_push = ProcessCpuSeconds();
  for (uint64_t done = 0; done < c.jobs;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(c.batch, c.jobs - done));
    Status st = push_batch(n, rng);
    if (!st.ok()) return st;
    done += n;
  }
  r->push_s = SecondsSince(t_push);
  r->push_cpu_us_per_job = c.jobs ? (ProcessCpuSeconds() - cpu_push) * 1e6 / c.jobs : 0;
  r->push_wal_bytes_per_job =
      c.jobs ? double(rocksdb::get_iostats_context()->bytes_written - written0) / double(c.jobs) : 0;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  r->jobs = c.jobs;
  r->push_jobs_per_s = r->push_s > 0 ? c.jobs / r->push_s : 0;
  return Status::OK();
}

void FillCommon(const WorkloadConfig& c, const std::string& engine, WorkloadReport* r) {
  r->engine = engine;
  r->claim_batch = c.claim_batch;
  r->durability = DurabilityName(c.durability);
  r->payload_bytes = c.payload_bytes;
  r->batch = c.batch;
  r->workers = c.workers;
  r->types = c.types;
}

std::string TypeName(int types, int i) {
  if (types <= 1) return "bench";
  char buf[32];
  std::snprintf(buf, sizeof buf, "bench_t%04d", i);
  return buf;
}

Status Fail(WorkloadReport* r, Status s) {
  if (r->error.empty()) r->error = s.ToString();
  return s;
}

}  // namespace

const char* DurabilityName(Durability d) {
  return d == Durability::kPowerLoss ? "power-loss" : "process-crash";
}

long PeakRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string MakeTempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + ".XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) {
    std::perror("mkdtemp");
    std::abort();
  }
  return buf.data();
}

void RemoveDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// A job that reads its payload and records it for the drain's verification (`out`, under
// `mu`); a payload whose size is not `expected_size` (0: any) counts as bad.
class BenchJob final : public Job {
 public:
  BenchJob(const ClaimedJob& job, size_t expected_size, std::mutex* mu, WorkerOut* out)
      : id_(job.claim.id), hash_(HashBytes(job.params)),
        bad_size_(expected_size != 0 && job.params.size() != expected_size), mu_(mu), out_(out) {}
  Status Run(JobContext&) override {
    std::lock_guard lock(*mu_);
    out_->ids.push_back(id_);
    out_->payload_sum += hash_;
    out_->payload_bytes_bad += bad_size_;
    return Status::OK();
  }

 private:
  JobId id_;
  uint64_t hash_;
  bool bad_size_;
  std::mutex* mu_;
  WorkerOut* out_;
};

// The drain of --runner: the Runner, W threads, claims of K acked with AckMany.
Status DrainWithRunner(const WorkloadConfig& c, Store* store, const std::vector<QueueRef>& queues,
                       uint64_t expected, bool limited, uint64_t id_sum, uint64_t payload_sum,
                       WorkloadReport* r) {
  std::mutex mu;
  std::vector<WorkerOut> outs(1);
  JobRegistry registry;
  for (const QueueRef& q : queues) {
    Status s = registry.Register(q.type, [&](const ClaimedJob& job) -> Result<std::unique_ptr<Job>> {
      return std::unique_ptr<Job>(
          std::make_unique<BenchJob>(job, c.reuse ? 0 : c.payload_bytes, &mu, &outs[0]));
    });
    if (!s.ok()) return s;
  }
  RunnerOptions options;
  options.threads = c.workers;
  options.claim_batch = std::max<size_t>(1, c.claim_batch);
  options.keep_results = false;
  if (limited) options.max_jobs = static_cast<uint64_t>(c.drain_max);
  auto t_drain = Clock::now();
  double cpu_drain = ProcessCpuSeconds();
  RunReport report = Runner(store, &registry, options).Run();
  if (!report.status.ok()) return report.status;
  FinishDrain(c, outs, expected, id_sum, payload_sum, !c.reuse && !limited, t_drain, cpu_drain, r);
  if (report.failed > 0) {
    r->verified = false;
    r->error = std::to_string(report.failed) + " jobs failed in the runner";
  }
  return Status::OK();
}

// ------------------------------------------------------------------------------------------

Status RunWorkload(const WorkloadConfig& c, WorkloadReport* r) {
  *r = WorkloadReport{};
  FillCommon(c,
             c.runner    ? "jobstore-runner" + std::to_string(std::max<size_t>(1, c.claim_batch))
             : c.metrics ? "jobstore+metrics"
                         : "jobstore",
             r);
  if (c.types < 1 || c.workers < 1 || c.batch < 1) {
    return Fail(r, Status::InvalidArgument("types, workers and batch must be >= 1"));
  }

  if (!c.reuse && c.store.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(c.dir, ec) && !std::filesystem::is_empty(c.dir, ec)) {
      return Fail(r, Status::InvalidArgument(c.dir + " is not empty (use --reuse to drain it)"));
    }
  }
  Options opts;
  opts.durability = c.durability;
  opts.create_if_missing = !c.reuse;
  if (c.metrics) opts.observer = std::make_shared<Metrics>();
  auto t_open = Clock::now();
  if (c.write_buffer_mb > 0 && !c.store.empty()) {
    return Fail(r, Status::InvalidArgument("--write-buffer-mb is for a RocksDB store in --dir, "
                                           "not for --store " + c.store));
  }
  RocksDbOptions rocks;
  if (c.write_buffer_mb > 0) rocks.write_buffer_bytes_per_type = c.write_buffer_mb << 20;
  auto opened = c.write_buffer_mb > 0 ? RocksDb::Open(c.dir, opts, rocks)
                                      : Store::Open(c.store.empty() ? c.dir : c.store, opts);
  r->open_ms = SecondsSince(t_open) * 1e3;
  if (!opened.ok()) return Fail(r, opened.status());
  std::unique_ptr<Store> store = std::move(opened.value());
  r->note = store->capabilities().note;
  // On Redis, what the server's memory grows by per queued job.
  std::unique_ptr<RedisLink> redis;
  int64_t memory_before = 0;
  double server_cpu = 0;
  if (c.store.rfind("redis", 0) == 0 && RedisLink::Open(c.store, &redis).ok()) {
    auto m = redis->UsedMemory();
    memory_before = m.ok() ? *m : 0;
    auto cpu = redis->ServerCpuSeconds();
    server_cpu = cpu.ok() ? *cpu : 0;
  }

  std::vector<QueueRef> queues;
  for (int t = 0; t < c.types; ++t) queues.push_back(QueueRef{"", TypeName(c.types, t)});

  // Push.
  uint64_t expected = 0, id_sum = 0, payload_sum = 0;
  if (c.reuse) {
    for (auto& q : queues) {
      auto counts = store->Counts(q);
      if (!counts.ok()) return Fail(r, counts.status());
      r->queued_at_open += counts->ready;
    }
    expected = r->queued_at_open;
  } else {
    std::vector<JobSpec> specs;
    uint64_t next_type = 0;
    Status st = PushAll(
        c,
        [&](size_t n, SplitMix& rng) {
          specs.resize(n);
          for (auto& s : specs) {
            s.type = queues[next_type++ % queues.size()].type;
            FillRandom(rng, &s.params, c.payload_bytes);
            payload_sum += HashBytes(s.params);
          }
          auto pushed = store->Push(specs);
          if (!pushed.ok()) return pushed.status();
          if (pushed->pushed != n) {
            return Status::Corruption("push accepted " + std::to_string(pushed->pushed) +
                                      " of " + std::to_string(n) + " jobs");
          }
          for (JobId id : pushed->ids) id_sum += MixId(id);
          return Status::OK();
        },
        r);
    if (!st.ok()) return Fail(r, st);
    expected = c.jobs;
  }
  if (redis && c.jobs > 0) {
    auto m = redis->UsedMemory();
    if (m.ok()) r->server_bytes_per_job = double(*m - memory_before) / double(c.jobs);
    auto cpu = redis->ServerCpuSeconds();
    if (cpu.ok()) {
      r->push_server_cpu_us_per_job = (*cpu - server_cpu) * 1e6 / double(c.jobs);
      server_cpu = *cpu;
    }
  }
  bool limited = c.drain_max >= 0 && static_cast<uint64_t>(c.drain_max) < expected;
  if (limited) expected = static_cast<uint64_t>(c.drain_max);
  if (c.reuse) r->jobs = expected;

  if (c.settle_ms > 0) {
    double cpu0 = ProcessCpuSeconds();
    std::this_thread::sleep_for(std::chrono::milliseconds(c.settle_ms));
    r->settle_cpu_s = ProcessCpuSeconds() - cpu0;
  }

  if (c.runner) {
    Status st = DrainWithRunner(c, store.get(), queues, expected, limited, id_sum, payload_sum, r);
    if (!st.ok()) return Fail(r, st);
    store.reset();
    r->peak_rss_kb = PeakRssKb();
    if (!r->verified) return Status::Corruption(r->error);
    return Status::OK();
  }

  // Drain.
  auto step = [&](int, size_t max, StepOut* out) {
    QueueRef q;
    if (queues.size() == 1) {
      q = queues[0];
    } else {
      auto picked = store->PickReadyQueue();
      if (!picked.ok()) {
        out->error = "pick: " + picked.status().ToString();
        return Step::kFailed;
      }
      if (!*picked) return Step::kEmpty;
      q = std::move(**picked);
    }
    PerfProbe probe;
    probe.Begin();
    auto t0 = Clock::now();
    auto claimed = store->Claim(q, max);
    auto t1 = Clock::now();
    probe.End(&out->sample);
    if (!claimed.ok()) {
      out->error = "claim: " + claimed.status().ToString();
      return Step::kFailed;
    }
    // Empty: done with one queue; with several, another worker took the picked queue's last.
    if (claimed->empty()) return queues.size() == 1 ? Step::kEmpty : Step::kRetry;
    std::vector<Claim> claims;
    for (const ClaimedJob& job : *claimed) {
      // "read the payload"
      out->acked.push_back({job.claim.id, HashBytes(job.params), job.params.size()});
      claims.push_back(job.claim);
    }
    auto t2 = Clock::now();
    Status st;
    if (claims.size() == 1 && c.claim_batch <= 1) {
      st = store->Ack(claims[0]);
    } else {
      auto acks = store->AckMany(claims);
      st = acks.status();
      for (size_t i = 0; st.ok() && i < acks->size(); ++i) st = (*acks)[i];
    }
    auto t3 = Clock::now();
    if (!st.ok()) {
      out->error = "ack: " + st.ToString();
      return Step::kFailed;
    }
    out->sample.claim_us = MicrosBetween(t0, t1);
    out->sample.ack_us = MicrosBetween(t2, t3);
    return Step::kAcked;
  };
  Drain(c, expected, limited, id_sum, payload_sum, !c.reuse && !limited, !c.reuse, step, r);
  if (redis && r->acked > 0) {
    auto cpu = redis->ServerCpuSeconds();
    if (cpu.ok()) r->drain_server_cpu_us_per_job = (*cpu - server_cpu) * 1e6 / double(r->acked);
  }
  if (r->verified && !limited) {
    // Nothing may be left behind.
    for (auto& q : queues) {
      auto counts = store->Counts(q);
      if (!counts.ok()) return Fail(r, counts.status());
      if (counts->total() != 0) {
        r->verified = false;
        r->error = "queue " + q.type + " still holds " + std::to_string(counts->total()) +
                   " jobs after the drain";
        break;
      }
    }
  }
  store.reset();
  r->peak_rss_kb = PeakRssKb();
  if (!r->verified) return Status::Corruption(r->error);
  return Status::OK();
}

// ------------------------------------------------------------------------------------------

namespace {

// Pushes c.jobs random payloads into a floor queue (any with Push(payloads, &ids)), summing
// what went in for the drain's verification.
template <typename Queue>
Status PushPayloads(const WorkloadConfig& c, Queue& q, uint64_t* id_sum, uint64_t* payload_sum,
                    WorkloadReport* r) {
  std::vector<std::string> payloads;
  std::vector<uint64_t> ids;
  return PushAll(
      c,
      [&](size_t n, SplitMix& rng) {
        payloads.resize(n);
        for (auto& p : payloads) {
          FillRandom(rng, &p, c.payload_bytes);
          *payload_sum += HashBytes(p);
        }
        ids.clear();
        Status ps = q.Push(payloads, &ids);
        for (uint64_t id : ids) *id_sum += MixId(id);
        return ps;
      },
      r);
}

// The floor on the Redis server of c.store (redis_floor.h): same payloads, same verification.
Status RunRedisFloor(const WorkloadConfig& c, WorkloadReport* r) {
  std::unique_ptr<RedisFloor> fq;
  std::unique_ptr<RedisLink> link;
  auto t_open = Clock::now();
  Status st = RedisFloor::Open(c.store, &fq);
  if (st.ok()) st = RedisLink::Open(c.store, &link);
  r->open_ms = SecondsSince(t_open) * 1e3;
  if (!st.ok()) return Fail(r, st);
  r->note = "Redis floor (MediaWiki layout): " + link->Persistence();
  auto before = link->UsedMemory();
  auto cpu0 = link->ServerCpuSeconds();

  uint64_t id_sum = 0, payload_sum = 0;
  st = PushPayloads(c, *fq, &id_sum, &payload_sum, r);
  if (!st.ok()) return Fail(r, st);
  auto after = link->UsedMemory();
  if (before.ok() && after.ok() && c.jobs > 0) {
    r->server_bytes_per_job = double(*after - *before) / double(c.jobs);
  }
  auto cpu1 = link->ServerCpuSeconds();
  if (cpu0.ok() && cpu1.ok() && c.jobs > 0) {
    r->push_server_cpu_us_per_job = (*cpu1 - *cpu0) * 1e6 / double(c.jobs);
  }
  uint64_t expected = c.jobs;
  bool limited = c.drain_max >= 0 && static_cast<uint64_t>(c.drain_max) < expected;
  if (limited) expected = static_cast<uint64_t>(c.drain_max);

  auto step = [&](int, size_t, StepOut* out) {
    std::string payload;
    bool found = false;
    AckedJob a;
    auto t0 = Clock::now();
    Status cs = fq->Claim(&a.id, &payload, &found);
    auto t1 = Clock::now();
    if (!cs.ok()) {
      out->error = cs.ToString();
      return Step::kFailed;
    }
    if (!found) return Step::kEmpty;
    a.payload_hash = HashBytes(payload);
    a.payload_size = payload.size();
    auto t2 = Clock::now();
    cs = fq->Ack(a.id);
    auto t3 = Clock::now();
    if (!cs.ok()) {
      out->error = cs.ToString();
      return Step::kFailed;
    }
    out->acked.push_back(a);
    out->sample.claim_us = MicrosBetween(t0, t1);
    out->sample.ack_us = MicrosBetween(t2, t3);
    return Step::kAcked;
  };
  Drain(c, expected, limited, id_sum, payload_sum, !limited, true, step, r);
  auto cpu2 = link->ServerCpuSeconds();
  if (cpu1.ok() && cpu2.ok() && r->acked > 0) {
    r->drain_server_cpu_us_per_job = (*cpu2 - *cpu1) * 1e6 / double(r->acked);
  }
  st = fq->Clear();
  fq.reset();
  r->peak_rss_kb = PeakRssKb();
  if (!r->verified) return Status::Corruption(r->error);
  return st;
}

}  // namespace

Status RunFloor(const WorkloadConfig& c, WorkloadReport* r) {
  *r = WorkloadReport{};
  FillCommon(c, std::string("floor") + (c.floor_tuned ? "+tuned" : "") + (c.floor_hint ? "+hint" : ""),
             r);
  if (c.types != 1 || c.reuse) {
    return Fail(r, Status::InvalidArgument("the floor supports one type and no --reuse"));
  }
  if (c.store.rfind("redis", 0) == 0) return RunRedisFloor(c, r);
  // On a SQL store the floor is MediaWiki's own JobQueueDB on the same database; elsewhere,
  // the minimal queue on bare RocksDB.
  const bool sql = IsSqlAddress(c.store);
  if (sql) r->engine = "mediawiki";
  std::unique_ptr<Floor> fq;
  auto t_open = Clock::now();
  Status st;
  if (sql) {
    st = OpenMediaWikiFloor(c.store, c.workers + 1, &fq);
  } else {
    std::unique_ptr<FloorQueue> rocks;
    st = FloorQueue::Open(c.dir, c.durability, {c.floor_tuned, c.floor_hint}, &rocks);
    fq = std::move(rocks);
  }
  r->open_ms = SecondsSince(t_open) * 1e3;
  if (!st.ok()) return Fail(r, st);
  r->note = sql ? std::string("MediaWiki's JobQueueDB on the same database")
                : std::string("bare RocksDB, pushes ") +
                      (c.durability == Durability::kPowerLoss ? "fsynced" : "not fsynced");

  // Push.
  uint64_t id_sum = 0, payload_sum = 0;
  st = PushPayloads(c, *fq, &id_sum, &payload_sum, r);
  if (!st.ok()) return Fail(r, st);
  uint64_t expected = c.jobs;
  bool limited = c.drain_max >= 0 && static_cast<uint64_t>(c.drain_max) < expected;
  if (limited) expected = static_cast<uint64_t>(c.drain_max);

  // Drain, one job a step whatever claim_batch says: the floor's claim takes one.
  auto step = [&](int, size_t, StepOut* out) {
    std::string payload;
    bool found = false;
    PerfProbe probe;
    probe.Begin();
    auto t0 = Clock::now();
    AckedJob a;
    Status cs = fq->Claim(&a.id, &payload, &found);
    auto t1 = Clock::now();
    probe.End(&out->sample);
    if (!cs.ok()) {
      out->error = cs.ToString();
      return Step::kFailed;
    }
    if (!found) return Step::kEmpty;
    a.payload_hash = HashBytes(payload);
    a.payload_size = payload.size();
    auto t2 = Clock::now();
    cs = fq->Ack(a.id);
    auto t3 = Clock::now();
    out->acked.push_back(a);
    if (!cs.ok()) {
      out->error = cs.ToString();
      return Step::kFailed;
    }
    out->sample.claim_us = MicrosBetween(t0, t1);
    out->sample.ack_us = MicrosBetween(t2, t3);
    return Step::kAcked;
  };
  Drain(c, expected, limited, id_sum, payload_sum, !limited, true, step, r);
  fq.reset();
  r->peak_rss_kb = PeakRssKb();
  if (!r->verified) return Status::Corruption(r->error);
  return Status::OK();
}

// ------------------------------------------------------------------------------------------

namespace {

nlohmann::json ToJson(const WorkloadReport& r) {
  return nlohmann::json{
      {"engine", r.engine},
      {"durability", r.durability},
      {"jobs", r.jobs},
      {"payload_bytes", r.payload_bytes},
      {"batch", r.batch},
      {"workers", r.workers},
      {"types", r.types},
      {"claim_batch", r.claim_batch},
      {"note", r.note},
      {"server_bytes_per_job", r.server_bytes_per_job},
      {"push_server_cpu_us_per_job", r.push_server_cpu_us_per_job},
      {"drain_server_cpu_us_per_job", r.drain_server_cpu_us_per_job},
      {"open_ms", r.open_ms},
      {"settle_cpu_s", r.settle_cpu_s},
      {"queued_at_open", r.queued_at_open},
      {"push_s", r.push_s},
      {"push_jobs_per_s", r.push_jobs_per_s},
      {"push_cpu_us_per_job", r.push_cpu_us_per_job},
      {"drain_s", r.drain_s},
      {"drain_jobs_per_s", r.drain_jobs_per_s},
      {"drain_cpu_us_per_job", r.drain_cpu_us_per_job},
      {"acked", r.acked},
      {"claim_p50_us", r.claim_p50_us},
      {"claim_p99_us", r.claim_p99_us},
      {"ack_p50_us", r.ack_p50_us},
      {"ack_p99_us", r.ack_p99_us},
      {"tombstones_per_claim", r.tombstones_per_claim},
      {"keys_skipped_per_claim", r.keys_skipped_per_claim},
      {"tombstones_per_claim_first10", r.tombstones_per_claim_first10},
      {"tombstones_per_claim_last10", r.tombstones_per_claim_last10},
      {"push_wal_bytes_per_job", r.push_wal_bytes_per_job},
      {"drain_wal_bytes_per_job", r.drain_wal_bytes_per_job},
      {"peak_rss_kb", r.peak_rss_kb},
      {"verified", r.verified},
      {"error", r.error},
  };
}

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

void PrintText(std::ostream& out, const WorkloadReport& r) {
  char buf[4096];
  std::snprintf(
      buf, sizeof buf,
      "[%s] durability: %s  jobs: %llu  payload: %zu  batch: %zu  workers: %d  types: %d\n"
      "[%s] open_ms: %.1f  queued_at_open: %llu\n"
      "[%s] push_jobs_per_s: %.0f  (%.3f s; cpu %.1f us/job; %.0f bytes written/job)\n"
      "[%s] drain_jobs_per_s: %.0f  (%llu acked in %.3f s; cpu %.1f us/job; %.0f bytes written/job)\n"
      "[%s] claim_p50_us: %.1f  claim_p99_us: %.1f  ack_p50_us: %.1f  ack_p99_us: %.1f\n"
      "[%s] tombstones_per_claim: %.2f (first 10%%: %.2f, last 10%%: %.2f)  "
      "keys_skipped_per_claim: %.2f\n"
      "[%s] peak_rss_kb: %ld  verified: %s%s%s\n",
      r.engine.c_str(), r.durability.c_str(), (unsigned long long)r.jobs, r.payload_bytes,
      r.batch, r.workers, r.types, r.engine.c_str(), r.open_ms,
      (unsigned long long)r.queued_at_open, r.engine.c_str(), r.push_jobs_per_s, r.push_s,
      r.push_cpu_us_per_job, r.push_wal_bytes_per_job, r.engine.c_str(), r.drain_jobs_per_s,
      (unsigned long long)r.acked, r.drain_s, r.drain_cpu_us_per_job, r.drain_wal_bytes_per_job,
      r.engine.c_str(), r.claim_p50_us, r.claim_p99_us, r.ack_p50_us, r.ack_p99_us,
      r.engine.c_str(), r.tombstones_per_claim, r.tombstones_per_claim_first10,
      r.tombstones_per_claim_last10, r.keys_skipped_per_claim, r.engine.c_str(),
      r.peak_rss_kb, r.verified ? "yes" : "NO", r.error.empty() ? "" : "  error: ",
      r.error.c_str());
  out << buf;
  std::snprintf(buf, sizeof buf,
                "[%s] claim_batch: %zu  server_bytes_per_job: %.0f  server cpu us/job: push "
                "%.1f, drain %.1f\n",
                r.engine.c_str(), r.claim_batch, r.server_bytes_per_job,
                r.push_server_cpu_us_per_job, r.drain_server_cpu_us_per_job);
  out << buf << "[" << r.engine << "] medium: " << r.note << "\n";
}

}  // namespace

void PrintReport(std::ostream& out, const WorkloadReport& store, const WorkloadReport* floor,
                 bool json, const std::string& baseline_name) {
  if (json) {
    nlohmann::json j;
    j[store.engine] = ToJson(store);
    if (floor) {
      j[baseline_name] = ToJson(*floor);
      j["ratio"] = {
          {"push", Ratio(store.push_jobs_per_s, floor->push_jobs_per_s)},
          {"drain", Ratio(store.drain_jobs_per_s, floor->drain_jobs_per_s)},
          {"push_cpu", Ratio(store.push_cpu_us_per_job, floor->push_cpu_us_per_job)},
          {"drain_cpu", Ratio(store.drain_cpu_us_per_job, floor->drain_cpu_us_per_job)},
          {"claim_p50", Ratio(store.claim_p50_us, floor->claim_p50_us)},
          {"claim_p99", Ratio(store.claim_p99_us, floor->claim_p99_us)},
      };
      if (floor->drain_server_cpu_us_per_job > 0) {
        j["ratio"]["push_cpu_with_server"] = Ratio(
            store.push_cpu_us_per_job + store.push_server_cpu_us_per_job,
            floor->push_cpu_us_per_job + floor->push_server_cpu_us_per_job);
        j["ratio"]["drain_cpu_with_server"] = Ratio(
            store.drain_cpu_us_per_job + store.drain_server_cpu_us_per_job,
            floor->drain_cpu_us_per_job + floor->drain_server_cpu_us_per_job);
      }
    }
    out << j.dump(2) << "\n";
    return;
  }
  PrintText(out, store);
  if (floor) {
    PrintText(out, *floor);
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "ratio %s/%s (%s): push %.2f  drain %.2f  (throughput, > 1 = faster)\n"
                  "  cpu per job: push %.2f  drain %.2f;  claim latency p50 %.2f, p99 %.2f"
                  "  (> 1 = costlier)\n",
                  store.engine.c_str(), baseline_name.c_str(), store.durability.c_str(),
                  Ratio(store.push_jobs_per_s, floor->push_jobs_per_s),
                  Ratio(store.drain_jobs_per_s, floor->drain_jobs_per_s),
                  Ratio(store.push_cpu_us_per_job, floor->push_cpu_us_per_job),
                  Ratio(store.drain_cpu_us_per_job, floor->drain_cpu_us_per_job),
                  Ratio(store.claim_p50_us, floor->claim_p50_us),
                  Ratio(store.claim_p99_us, floor->claim_p99_us));
    out << buf;
    if (floor->drain_server_cpu_us_per_job > 0) {
      std::snprintf(buf, sizeof buf,
                    "  cpu per job with the server's: push %.2f  drain %.2f  (> 1 = costlier)\n",
                    Ratio(store.push_cpu_us_per_job + store.push_server_cpu_us_per_job,
                          floor->push_cpu_us_per_job + floor->push_server_cpu_us_per_job),
                    Ratio(store.drain_cpu_us_per_job + store.drain_server_cpu_us_per_job,
                          floor->drain_cpu_us_per_job + floor->drain_server_cpu_us_per_job));
      out << buf;
    }
  }
}

namespace {

const char kUsage[] =
    "usage: jobstore_bench [--jobs N] [--payload BYTES] [--batch B] [--workers W]\n"
    "                      [--durability process-crash|power-loss] [--json] [--floor]\n"
    "                      [--types T] [--dir DIR] [--keep] [--reuse] [--drain-max K]\n"
    "                      [--seed S] [--floor-only] [--floor-first] [--floor-hint]\n"
    "                      [--store ADDRESS] [--claim-batch K] [--settle-ms MS] [--metrics]\n"
    "                      [--served [--compare-embedded] [--embedded-first] [--separate-acks]]\n"
    "  One producer pushes N jobs of BYTES random bytes in batches of B, then W workers\n"
    "  claim one, read its payload and ack it until the queue is empty. Verifies that exactly\n"
    "  the N pushed jobs were acked once each (exit 1 otherwise).\n"
    "  --floor      also run the same workload on bare RocksDB and print jobstore/floor\n"
    "  --floor-only run only the bare-RocksDB floor\n"
    "  --floor-first  run the floor before jobstore (alternate to cancel drift)\n"
    "  --floor-hint   give the floor the memtable insert hint jobstore uses (one per key tag)\n"
    "  --floor-tuned  give the floor jobstore's per-type write buffer and cache sizes (the floor\n"
    "               is RocksDB's default options otherwise; variants are for learning, not targets)\n"
    "  --types T    spread the jobs over T job types; workers pick queues at random\n"
    "  --dir DIR    store directory (default: a temporary one, removed afterwards)\n"
    "  --store ADDRESS  a store address instead (memory:, redis://..., sqlite:...); with a\n"
    "               redis address, --floor is the MediaWiki-layout Redis queue on that server\n"
    "  --claim-batch K  claim K jobs a call and ack them with one AckMany (default 1)\n"
    "  --write-buffer-mb N  a RocksDB store's write buffer per type (default 64)\n"
    "  --runner         drain through jobstore's Runner (W threads, claims of --claim-batch K\n"
    "                   acked with one AckMany): the end-to-end figure (no latencies)\n"
    "  --keep       keep the store directory\n"
    "  --reuse      open the existing store in DIR and drain what is queued (no push)\n"
    "  --drain-max K  stop after K acks (0: measure open time and RSS only)\n"
    "  --settle-ms MS  idle MS after open/push before the drain (background compaction)\n"
    "  --metrics    observe the store with a Metrics, as run --http does (its cost)\n"
    "  --served     the store in a server process, one producer process, W worker processes\n"
    "               (each its own connection); CPU per job sums every process, peak RSS is\n"
    "               the server's\n"
    "  --claim-batch K  served workers claim up to K jobs a call (default 1); each call also\n"
    "               acks the jobs the worker ran before it (AckThenClaimAny: one round trip)\n"
    "  --separate-acks  served workers ack in a call of their own (Ack, AckMany) before the\n"
    "               next claim: two round trips\n"
    "  --compare-embedded  also run the embedded workload (threads, one at a time) in the\n"
    "               same run and print served/embedded\n"
    "  --embedded-first  run the embedded workload first (alternate to cancel drift)\n"
    "defaults: --jobs 100000 --payload 100 --batch 100 --workers 4 "
    "--durability process-crash\n";

bool ParseU64(const std::string& s, uint64_t* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long x = std::strtoull(s.c_str(), &end, 10);
  if (errno || *end || s[0] == '-') return false;
  *v = x;
  return true;
}

}  // namespace

int BenchMain(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--role") return ServedRole(argc, argv);
  WorkloadConfig c;
  bool json = false, floor_only = false, floor_first = false;
  bool compare_embedded = false, embedded_first = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto next = [&](const char* name) -> std::optional<std::string> {
      if (has_value) return value;
      if (i + 1 >= argc) {
        std::cerr << "jobstore_bench: " << name << " needs a value\n" << kUsage;
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    auto number = [&](const char* name, uint64_t* out) -> bool {
      auto v = next(name);
      if (!v) return false;
      if (!ParseU64(*v, out)) {
        std::cerr << "jobstore_bench: " << name << ": not a number: " << *v << "\n";
        return false;
      }
      return true;
    };
    uint64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--jobs") {
      if (!number("--jobs", &n)) return 2;
      c.jobs = n;
    } else if (arg == "--payload") {
      if (!number("--payload", &n)) return 2;
      c.payload_bytes = n;
    } else if (arg == "--batch") {
      if (!number("--batch", &n) || n == 0) return 2;
      c.batch = n;
    } else if (arg == "--workers") {
      if (!number("--workers", &n) || n == 0 || n > 1024) return 2;
      c.workers = static_cast<int>(n);
    } else if (arg == "--types") {
      if (!number("--types", &n) || n == 0 || n > 100000) return 2;
      c.types = static_cast<int>(n);
    } else if (arg == "--drain-max") {
      if (!number("--drain-max", &n)) return 2;
      c.drain_max = static_cast<int64_t>(n);
    } else if (arg == "--settle-ms") {
      if (!number("--settle-ms", &n)) return 2;
      c.settle_ms = static_cast<int64_t>(n);
    } else if (arg == "--seed") {
      if (!number("--seed", &n)) return 2;
      c.seed = n;
    } else if (arg == "--durability") {
      auto v = next("--durability");
      if (!v) return 2;
      if (*v == "process-crash" || *v == "process_crash") {
        c.durability = Durability::kProcessCrash;
      } else if (*v == "power-loss" || *v == "power_loss") {
        c.durability = Durability::kPowerLoss;
      } else {
        std::cerr << "jobstore_bench: --durability must be process-crash or power-loss\n";
        return 2;
      }
    } else if (arg == "--store") {
      auto v = next("--store");
      if (!v) return 2;
      c.store = *v;
    } else if (arg == "--dir") {
      auto v = next("--dir");
      if (!v) return 2;
      c.dir = *v;
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "--floor") {
      c.floor = true;
    } else if (arg == "--floor-hint") {
      c.floor_hint = true;
    } else if (arg == "--floor-tuned") {
      c.floor_tuned = true;
    } else if (arg == "--metrics") {
      c.metrics = true;
    } else if (arg == "--floor-first") {
      floor_first = true;
    } else if (arg == "--floor-only") {
      c.floor = true;
      floor_only = true;
    } else if (arg == "--served") {
      c.served = true;
    } else if (arg == "--separate-acks") {
      c.separate_acks = true;
    } else if (arg == "--runner") {
      c.runner = true;
    } else if (arg == "--write-buffer-mb") {
      if (!number("--write-buffer-mb", &n) || n == 0 || n > 1024) return 2;
      c.write_buffer_mb = n;
    } else if (arg == "--claim-batch") {
      if (!number("--claim-batch", &n) || n == 0 || n > kMaxClaimBatch) return 2;
      c.claim_batch = n;
    } else if (arg == "--compare-embedded") {
      compare_embedded = true;
    } else if (arg == "--embedded-first") {
      embedded_first = true;
    } else if (arg == "--keep") {
      c.keep = true;
    } else if (arg == "--reuse") {
      c.reuse = true;
    } else {
      std::cerr << "jobstore_bench: unknown argument " << argv[i] << "\n" << kUsage;
      return 2;
    }
  }
  if (c.reuse && c.dir.empty()) {
    std::cerr << "jobstore_bench: --reuse needs --dir\n";
    return 2;
  }
  if (c.floor && (c.reuse || c.types != 1)) {
    std::cerr << "jobstore_bench: --floor needs one type and no --reuse\n";
    return 2;
  }

  if (c.served) {
    if (c.floor || c.reuse || c.types != 1 || !c.store.empty() || c.drain_max >= 0) {
      std::cerr << "jobstore_bench: --served takes one type, a fresh store, no --floor, "
                   "--reuse, --store or --drain-max\n";
      return 2;
    }
    const std::string tmp = c.dir.empty() ? MakeTempDir("jobstore_bench") : "";
    WorkloadConfig served_cfg = c, embedded_cfg = c;
    served_cfg.dir = tmp.empty() ? c.dir : tmp + "/served";
    embedded_cfg.dir = (tmp.empty() ? c.dir : tmp + "/store") + ".embedded";
    embedded_cfg.served = false;
    embedded_cfg.claim_batch = 1;
    WorkloadReport served_r, embedded_r;
    Status st, est;
    auto embedded = [&] {
      est = RunWorkload(embedded_cfg, &embedded_r);
      RemoveDir(embedded_cfg.dir);
    };
    if (compare_embedded && embedded_first) embedded();
    st = RunServed(served_cfg, &served_r);
    if (!c.keep) RemoveDir(served_cfg.dir);
    if (compare_embedded && !embedded_first) embedded();
    if (!tmp.empty()) RemoveDir(tmp);
    PrintReport(std::cout, served_r, compare_embedded && est.ok() ? &embedded_r : nullptr, json,
                "jobstore");
    if (!st.ok()) {
      std::cerr << "jobstore_bench: FAILED (served): " << st.ToString() << "\n";
      return 1;
    }
    if (!est.ok()) {
      std::cerr << "jobstore_bench: FAILED (embedded): " << est.ToString() << "\n";
      return 1;
    }
    return 0;
  }

  std::string tmp;
  WorkloadConfig store_cfg = c, floor_cfg = c;
  if (c.dir.empty()) {
    tmp = MakeTempDir("jobstore_bench");
    store_cfg.dir = tmp + "/store";
    floor_cfg.dir = tmp + "/floor";
  } else {
    floor_cfg.dir = c.dir + ".floor";
  }
  bool keep = c.keep && tmp.empty();

  WorkloadReport store_r, floor_r;
  Status st, fst;
  auto run_floor = [&] {
    fst = RunFloor(floor_cfg, &floor_r);
    if (!keep) RemoveDir(floor_cfg.dir);
  };
  if (c.floor && floor_first) run_floor();
  if (!floor_only && fst.ok()) {
    st = RunWorkload(store_cfg, &store_r);
    if (!keep && !c.reuse) RemoveDir(store_cfg.dir);
  }
  if (st.ok() && c.floor && !floor_first) run_floor();
  if (!tmp.empty()) RemoveDir(tmp);

  if (floor_only) {
    PrintReport(std::cout, floor_r, nullptr, json);
  } else {
    PrintReport(std::cout, store_r, c.floor && st.ok() ? &floor_r : nullptr, json);
  }
  if (!st.ok()) {
    std::cerr << "jobstore_bench: FAILED (jobstore): " << st.ToString() << "\n";
    return 1;
  }
  if (!fst.ok()) {
    std::cerr << "jobstore_bench: FAILED (floor): " << fst.ToString() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace jobstore::bench
