// Child of CursorCrash (cursor_crash_test.cc): opens the store in DIR, pushes one job of
// priority 9 into type "t" (which ranks below every job already queued), and SIGKILLs itself
// without closing the store.
//
//   jobstore_cursor_crash_child DIR
//
// Exit codes (when it does not die of SIGKILL): 3 bad usage, the store did not open or the
// push failed.
#include <csignal>
#include <cstdio>

#include "jobstore/store.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: jobstore_cursor_crash_child DIR\n");
    return 3;
  }
  jobstore::Options options;
  options.durability = jobstore::Durability::kProcessCrash;
  options.maintenance_interval_ms = 0;
  auto store = jobstore::Store::Open(argv[1], options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 3;
  }
  auto pushed = (*store)->Push({jobstore::JobSpec{.type = "t", .params = "urgent", .priority = 9}});
  if (!pushed.ok()) {
    std::fprintf(stderr, "push: %s\n", pushed.status().ToString().c_str());
    return 3;
  }
  std::raise(SIGKILL);
  return 3;
}
