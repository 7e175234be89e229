// jobstore_wakeup_cost: what it costs this machine to hand work from one thread to another.
//
// Two threads pass a turn back and forth N times, three ways:
//   - sleeping on a condition variable, the threads on two different CPUs (a futex wake-up of
//     a thread whose CPU may have gone idle: what a RocksDB write group's leader pays to wake
//     a follower, and what any worker pays that waits for another's write);
//   - the same, both threads on one CPU (a wake-up without a cross-CPU interrupt);
//   - spinning on an atomic, on two CPUs (no sleep at all).
// It prints the cost of one hand-off (half a round trip), wall clock and CPU. The W=4 >= W=1
// target of a one-at-a-time drain (bench/RESULTS.md, design note 44) depends on the first
// figure: where it exceeds a whole claim and ack by one thread, more threads than cores
// cannot win. bench/floor_targets.sh prints it beside the targets.
//
//   jobstore_wakeup_cost [--handoffs N] [--json]        (default N: 100000)
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace {

struct Cost {
  double wall_us = 0;  // per hand-off
  double cpu_us = 0;   // per hand-off, both threads together
};

double ProcessCpuUs() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

// Pins the calling thread to `cpu`; false if the machine refuses (then the figure is not the
// one its name says, and main reports that instead of printing it).
bool PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

// Runs `ping` on this thread and `pong` on another, pinned to cpu_a and cpu_b, each doing
// `rounds` round trips; the cost is per hand-off (two a round trip).
template <typename Ping, typename Pong>
std::optional<Cost> Measure(int cpu_a, int cpu_b, long rounds, Ping ping, Pong pong) {
  std::atomic<bool> pinned_b{true};
  cpu_set_t before;
  pthread_getaffinity_np(pthread_self(), sizeof(before), &before);
  if (!PinTo(cpu_a)) return std::nullopt;
  const double cpu0 = ProcessCpuUs();
  const auto t0 = std::chrono::steady_clock::now();
  std::thread other([&] {
    if (!PinTo(cpu_b)) pinned_b = false;
    pong(rounds);
  });
  ping(rounds);
  other.join();
  const auto t1 = std::chrono::steady_clock::now();
  const double cpu1 = ProcessCpuUs();
  pthread_setaffinity_np(pthread_self(), sizeof(before), &before);
  if (!pinned_b) return std::nullopt;
  const double handoffs = 2.0 * static_cast<double>(rounds);
  return Cost{std::chrono::duration<double, std::micro>(t1 - t0).count() / handoffs,
              (cpu1 - cpu0) / handoffs};
}

std::optional<Cost> Sleeping(int cpu_a, int cpu_b, long rounds) {
  std::mutex mu;
  std::condition_variable cv;
  int turn = 0;  // 1: the other thread's turn
  return Measure(
      cpu_a, cpu_b, rounds,
      [&](long n) {
        for (long i = 0; i < n; ++i) {
          std::unique_lock lock(mu);
          turn = 1;
          cv.notify_one();
          cv.wait(lock, [&] { return turn == 0; });
        }
      },
      [&](long n) {
        for (long i = 0; i < n; ++i) {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return turn == 1; });
          turn = 0;
          cv.notify_one();
        }
      });
}

std::optional<Cost> Spinning(int cpu_a, int cpu_b, long rounds) {
  std::atomic<int> turn{0};
  return Measure(
      cpu_a, cpu_b, rounds,
      [&](long n) {
        for (long i = 0; i < n; ++i) {
          turn.store(1, std::memory_order_release);
          while (turn.load(std::memory_order_acquire) != 0) {
          }
        }
      },
      [&](long n) {
        for (long i = 0; i < n; ++i) {
          while (turn.load(std::memory_order_acquire) != 1) {
          }
          turn.store(0, std::memory_order_release);
        }
      });
}

int Usage(const char* why) {
  std::fprintf(stderr,
               "jobstore_wakeup_cost: %s\nusage: jobstore_wakeup_cost [--handoffs N] [--json]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long handoffs = 100000;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (std::strcmp(argv[i], "--handoffs") == 0 && i + 1 < argc) {
      char* end = nullptr;
      handoffs = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || handoffs < 2 || handoffs > 100'000'000) {
        return Usage("--handoffs takes a whole number from 2 to 100000000");
      }
    } else {
      return Usage(("unknown argument " + std::string(argv[i])).c_str());
    }
  }
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return Usage("cannot read the CPUs");
  int cpus[2] = {-1, -1};
  for (int c = 0, found = 0; c < CPU_SETSIZE && found < 2; ++c) {
    if (CPU_ISSET(c, &allowed)) cpus[found++] = c;
  }
  const long rounds = handoffs / 2;
  const std::optional<Cost> same = Sleeping(cpus[0], cpus[0], rounds);
  std::optional<Cost> cross, spin;
  if (cpus[1] >= 0) {
    cross = Sleeping(cpus[0], cpus[1], rounds);
    spin = Spinning(cpus[0], cpus[1], rounds);
  }
  auto fig = [&](const std::optional<Cost>& c, const char* key) {
    if (json) {
      if (c) {
        std::printf("  \"%s_wall_us\": %.2f,\n  \"%s_cpu_us\": %.2f,\n", key, c->wall_us, key,
                    c->cpu_us);
      } else {
        std::printf("  \"%s_wall_us\": null,\n  \"%s_cpu_us\": null,\n", key, key);
      }
    } else if (c) {
      std::printf("%-34s %8.2f us wall %8.2f us CPU\n", key, c->wall_us, c->cpu_us);
    } else {
      std::printf("%-34s not measured (fewer than two CPUs, or pinning refused)\n", key);
    }
  };
  if (json) std::printf("{\n");
  else std::printf("one hand-off between two threads, %ld hand-offs each:\n", handoffs);
  fig(cross, json ? "sleeping_two_cpus" : "sleeping, threads on two CPUs");
  fig(same, json ? "sleeping_one_cpu" : "sleeping, threads on one CPU");
  fig(spin, json ? "spinning_two_cpus" : "spinning, threads on two CPUs");
  if (json) std::printf("  \"handoffs\": %ld\n}\n", handoffs);
  return 0;
}
