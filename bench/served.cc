#include "served.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "jobstore/rocksdb_store.h"
#include "jobstore/serve.h"
#include "jobstore/store.h"
#include "workload_parts.h"

extern char** environ;

namespace jobstore::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
float MicrosBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<float, std::micro>(b - a).count();
}

const QueueRef kQueue{"", "bench"};

std::string SocketOf(const std::string& dir) { return "unix:" + ServedSocketPath(dir); }

// A child process of this binary, talking over its stdin and stdout, one line at a time.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) std::abort();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::vector<std::string> all = {"/proc/self/exe", "--role"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Child() {
    CloseInput();
    if (from_ >= 0) close(from_);
    Wait();
  }
  bool ok() const { return pid_ > 0; }
  void Send(const std::string& line) {
    const std::string l = line + "\n";
    if (write(to_, l.data(), l.size()) < 0) return;
  }
  // The next line it writes ("" at its end).
  std::string Line() {
    std::string line;
    char c;
    while (read(from_, &c, 1) == 1) {
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }
  void CloseInput() {
    if (to_ >= 0) close(to_);
    to_ = -1;
  }
  int Wait() {
    if (pid_ > 0) {
      while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  int status_ = 0;
};

// --- the roles ------------------------------------------------------------------------------

// server DIR DURABILITY: holds the store and serves it. Answers "cpu" with its CPU seconds;
// at the end of its stdin, stops and answers with its CPU and peak RSS.
int Server(const std::string& dir, const std::string& durability) {
  Options options;
  options.durability = durability == "power-loss" ? Durability::kPowerLoss
                                                  : Durability::kProcessCrash;
  auto store = RocksDb::Open(dir, options);
  if (!store.ok()) {
    std::cout << json{{"error", store.status().ToString()}}.dump() << std::endl;
    return 1;
  }
  ServeOptions serve;
  serve.listen = {SocketOf(dir)};
  auto server = StoreServer::Start(store->get(), serve);
  if (!server.ok()) {
    std::cout << json{{"error", server.status().ToString()}}.dump() << std::endl;
    return 1;
  }
  std::cout << "ready" << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
    if (line == "cpu") std::cout << ProcessCpuSeconds() << std::endl;
  }
  (*server)->Stop();
  server->reset();
  store->reset();
  std::cout << json{{"cpu_s", ProcessCpuSeconds()}, {"peak_rss_kb", PeakRssKb()}}.dump()
            << std::endl;
  return 0;
}

// producer DIR JOBS BATCH PAYLOAD SEED: pushes, then answers with its figures.
int Producer(const std::string& dir, uint64_t jobs, size_t batch, size_t payload, uint64_t seed) {
  auto store = Store::Open(SocketOf(dir));
  if (!store.ok()) {
    std::cout << json{{"error", store.status().ToString()}}.dump() << std::endl;
    return 1;
  }
  SplitMix rng{seed};
  uint64_t id_sum = 0, payload_sum = 0;
  std::vector<JobSpec> specs;
  const double cpu0 = ProcessCpuSeconds();
  const auto t0 = Clock::now();
  for (uint64_t done = 0; done < jobs;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(batch, jobs - done));
    specs.resize(n);
    for (auto& s : specs) {
      s.type = kQueue.type;
      FillRandom(rng, &s.params, payload);
      payload_sum += HashBytes(s.params);
    }
    auto pushed = (*store)->Push(specs);
    if (!pushed.ok() || pushed->pushed != n) {
      std::cout << json{{"error", pushed.ok() ? "short push" : pushed.status().ToString()}}.dump()
                << std::endl;
      return 1;
    }
    for (JobId id : pushed->ids) id_sum += MixId(id);
    done += n;
  }
  const double push_s = SecondsSince(t0);
  std::cout << json{{"push_s", push_s},
                    {"cpu_s", ProcessCpuSeconds() - cpu0},
                    {"id_sum", id_sum},
                    {"payload_sum", payload_sum}}
                   .dump()
            << std::endl;
  return 0;
}

// worker DIR CLAIM_BATCH SEPARATE OUT: waits for "go", drains until a claim comes back empty,
// writes the acked ids and the latency samples to OUT, then answers with its figures. A worker
// acks the jobs it ran in the call that claims the next ones (AckThenClaimAny: one round trip a
// job); SEPARATE=1 acks in a call of its own first (Ack, or AckMany), two round trips.
int Worker(const std::string& dir, size_t claim_batch, bool separate, const std::string& out_file) {
  auto store = Store::Open(SocketOf(dir));
  if (!store.ok()) {
    std::cout << json{{"error", store.status().ToString()}}.dump() << std::endl;
    return 1;
  }
  std::cout << "ready" << std::endl;
  std::string go;
  std::getline(std::cin, go);
  std::vector<uint64_t> ids;
  std::vector<float> claim_us, ack_us;
  uint64_t payload_sum = 0;
  std::string error;
  const double cpu0 = ProcessCpuSeconds();
  const ReadyFilter only_queue{kQueue.domain, {kQueue.type}, {}};
  auto check_acks = [&](const Result<std::vector<Status>>& acked, const char* what) {
    if (!acked.ok()) {
      error = std::string(what) + ": " + acked.status().ToString();
      return;
    }
    for (const Status& s : *acked) {
      if (!s.ok()) error = "ack: " + s.ToString();
    }
  };
  std::vector<Claim> claims;  // claimed and run, not yet acked
  for (;;) {
    const auto t0 = Clock::now();
    Result<std::vector<ClaimedJob>> claimed = std::vector<ClaimedJob>{};
    if (separate) {
      claimed = (*store)->Claim(kQueue, claim_batch);
    } else {
      auto r = (*store)->AckThenClaimAny(claims, only_queue, claim_batch);
      if (!r.ok()) {
        error = "ack then claim: " + r.status().ToString();
        break;
      }
      check_acks(r->acked, "ack then claim");
      claimed = std::move(r->claimed);
    }
    const auto t1 = Clock::now();
    if (!claimed.ok()) {
      error = "claim: " + claimed.status().ToString();
      break;
    }
    if (!error.empty() || claimed->empty()) break;
    claims.clear();
    for (const ClaimedJob& job : *claimed) {
      payload_sum += HashBytes(job.params);  // "read the payload"
      claims.push_back(job.claim);
      ids.push_back(job.claim.id);
    }
    const auto t2 = Clock::now();
    if (separate && claim_batch == 1) {
      Status s = (*store)->Ack(claims[0]);
      if (!s.ok()) error = "ack: " + s.ToString();
    } else if (separate) {
      check_acks((*store)->AckMany(claims), "ack many");
    }
    const auto t3 = Clock::now();
    if (!error.empty()) break;
    // Combined, the claim's latency includes the previous jobs' acks and ack_us is 0.
    claim_us.push_back(MicrosBetween(t0, t1));
    ack_us.push_back(MicrosBetween(t2, t3));
  }
  const double cpu_s = ProcessCpuSeconds() - cpu0;
  std::ofstream out(out_file, std::ios::binary);
  for (uint64_t id : ids) out << "i " << id << "\n";
  for (size_t i = 0; i < claim_us.size(); ++i) out << "s " << claim_us[i] << " " << ack_us[i] << "\n";
  out.close();
  std::cout << json{{"acked", ids.size()}, {"cpu_s", cpu_s}, {"payload_sum", payload_sum},
                    {"error", error}}
                   .dump()
            << std::endl;
  return error.empty() ? 0 : 1;
}

json Parse(const std::string& line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return json{{"error", "bad answer: " + line}};
  return j;
}

}  // namespace

int ServedRole(int argc, char** argv) {
  std::vector<std::string> a(argv + 2, argv + argc);
  if (a.size() == 3 && a[0] == "server") return Server(a[1], a[2]);
  if (a.size() == 6 && a[0] == "producer") {
    return Producer(a[1], std::stoull(a[2]), std::stoull(a[3]), std::stoull(a[4]),
                    std::stoull(a[5]));
  }
  if (a.size() == 5 && a[0] == "worker") {
    return Worker(a[1], std::stoull(a[2]), a[3] == "1", a[4]);
  }
  std::cerr << "jobstore_bench: bad --role arguments\n";
  return 2;
}

Status RunServed(const WorkloadConfig& c, WorkloadReport* r) {
  *r = WorkloadReport{};
  r->engine = c.claim_batch > 1 ? "served-claim" + std::to_string(c.claim_batch) : "served";
  if (c.separate_acks) r->engine += "-separate-acks";
  r->durability = DurabilityName(c.durability);
  r->payload_bytes = c.payload_bytes;
  r->batch = c.batch;
  r->workers = c.workers;
  r->types = 1;
  r->claim_batch = c.claim_batch;
  r->note = std::string("RocksDB served over a unix socket by a process of its own, pushes ") +
            (c.durability == Durability::kPowerLoss ? "fsynced" : "not fsynced");
  auto fail = [&](const std::string& why) {
    if (r->error.empty()) r->error = why;
    return Status::IOError(why);
  };
  if (c.types != 1 || c.reuse || c.drain_max >= 0 || !c.store.empty()) {
    return fail("the served workload takes one type, a fresh directory, no --drain-max or --store");
  }
  if (c.claim_batch < 1 || c.claim_batch > kMaxClaimBatch) return fail("bad --claim-batch");

  const auto t_open = Clock::now();
  Child server({"server", c.dir, DurabilityName(c.durability)});
  if (!server.ok() || server.Line() != "ready") return fail("the server did not start");
  r->open_ms = SecondsSince(t_open) * 1e3;
  auto server_cpu = [&] {
    server.Send("cpu");
    return std::atof(server.Line().c_str());
  };

  // Push: one producer process.
  const double cpu_push0 = server_cpu();
  json produced;
  {
    Child producer({"producer", c.dir, std::to_string(c.jobs), std::to_string(c.batch),
                    std::to_string(c.payload_bytes), std::to_string(c.seed)});
    produced = Parse(producer.Line());
    if (producer.Wait() != 0 || produced.contains("error")) {
      return fail("producer: " + produced.value("error", std::string("failed")));
    }
  }
  const double cpu_push = server_cpu() - cpu_push0 + produced["cpu_s"].get<double>();
  r->jobs = c.jobs;
  r->push_s = produced["push_s"].get<double>();
  r->push_jobs_per_s = r->push_s > 0 ? c.jobs / r->push_s : 0;
  r->push_cpu_us_per_job = c.jobs ? cpu_push * 1e6 / c.jobs : 0;

  // Drain: W worker processes, started together.
  std::vector<std::unique_ptr<Child>> workers;
  std::vector<std::string> files;
  for (int w = 0; w < c.workers; ++w) {
    files.push_back(c.dir + "/worker-" + std::to_string(w) + ".out");
    workers.push_back(std::make_unique<Child>(std::vector<std::string>{
        "worker", c.dir, std::to_string(c.claim_batch), c.separate_acks ? "1" : "0",
        files.back()}));
    if (!workers.back()->ok() || workers.back()->Line() != "ready") return fail("a worker did not start");
  }
  const double cpu_drain0 = server_cpu();
  const auto t_drain = Clock::now();
  for (auto& w : workers) w->Send("go");
  double worker_cpu = 0;
  uint64_t payload_sum = 0;
  for (auto& w : workers) {
    json done = Parse(w->Line());
    w->Wait();
    if (!done.value("error", std::string()).empty()) return fail("worker: " + done["error"].get<std::string>());
    worker_cpu += done["cpu_s"].get<double>();
    payload_sum += done["payload_sum"].get<uint64_t>();
  }
  r->drain_s = SecondsSince(t_drain);
  const double cpu_drain = server_cpu() - cpu_drain0 + worker_cpu;

  std::vector<uint64_t> ids;
  std::vector<float> claim_us, ack_us;
  for (const std::string& f : files) {
    std::ifstream in(f);
    for (std::string tag; in >> tag;) {
      if (tag == "i") {
        uint64_t id;
        in >> id;
        ids.push_back(id);
      } else {
        float a, b;
        in >> a >> b;
        claim_us.push_back(a);
        ack_us.push_back(b);
      }
    }
  }
  r->acked = ids.size();
  r->drain_jobs_per_s = r->drain_s > 0 ? r->acked / r->drain_s : 0;
  r->drain_cpu_us_per_job = r->acked ? cpu_drain * 1e6 / r->acked : 0;
  r->claim_p50_us = Percentile(claim_us, 0.50);
  r->claim_p99_us = Percentile(claim_us, 0.99);
  r->ack_p50_us = Percentile(ack_us, 0.50);
  r->ack_p99_us = Percentile(ack_us, 0.99);

  server.CloseInput();
  json stopped = Parse(server.Line());
  server.Wait();
  r->peak_rss_kb = stopped.value("peak_rss_kb", 0L);

  std::sort(ids.begin(), ids.end());
  uint64_t id_sum = 0;
  for (uint64_t id : ids) id_sum += MixId(id);
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) return fail("a job was acked twice");
  if (ids.size() != c.jobs) {
    return fail("acked " + std::to_string(ids.size()) + " jobs, expected " + std::to_string(c.jobs));
  }
  if (id_sum != produced["id_sum"].get<uint64_t>()) return fail("the acked ids are not the pushed ones");
  if (payload_sum != produced["payload_sum"].get<uint64_t>()) {
    return fail("the claimed payloads differ from the pushed ones");
  }
  r->verified = true;
  return Status::OK();
}

}  // namespace jobstore::bench
