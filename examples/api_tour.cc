// The README's first example, whole: open a store, push, claim, ack or release.
//
//   api_tour <store address>       (a directory, or memory:)
//
// Built with the project and run as a CTest on RocksDB and on memory. Exits 0 when every job
// was handled.
#include <cstdio>
#include <string>

#include "jobstore/backoff.h"
#include "jobstore/clock.h"
#include "jobstore/store.h"

using namespace jobstore;

static bool Send(const std::string& params) { return params.find("bob") == std::string::npos; }

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  // --- as the README shows it -----------------------------------------------------------------
  auto store = Store::Open(argv[1]);                              // creates it if missing
  if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;

  auto pushed = (*store)->Push({
      {.type = "email", .params = R"({"to":"ada@example.org"})"},
      {.type = "email", .params = R"({"to":"bob@example.org"})", .dedup = true},
      {.type = "thumbnail", .domain = "wiki2", .params = R"({"file":42})",
       .release_at_ms = SystemClock()->NowMs() + 60'000},        // delayed one minute
  });                                                             // atomic: all or nothing
  if (!pushed.ok()) return std::fprintf(stderr, "%s\n", pushed.status().ToString().c_str()), 1;

  for (;;) {
    auto jobs = (*store)->ClaimAny({}, 16);                       // any ready queue, one call
    if (!jobs.ok() || jobs->empty()) break;
    for (const ClaimedJob& job : *jobs) {
      Status s = job.superseded || Send(job.params)
                     ? (*store)->Ack(job.claim)
                     : (*store)->Release(job.claim, BackoffPolicy{}.DelayMs(job.attempts),
                                         "smtp down").status();
      if (!s.ok()) std::fprintf(stderr, "job %llu: %s\n", (unsigned long long)job.claim.id,
                                s.ToString().c_str());
    }
  }
  // --- end of the README's part -----------------------------------------------------------------
  auto email = (*store)->Counts({"", "email"});
  auto thumbs = (*store)->Counts({"wiki2", "thumbnail"});
  if (!email.ok() || !thumbs.ok()) return 1;
  // ada acked; bob released with a backoff (delayed); the thumbnail still delayed.
  const bool ok = email->ready == 0 && email->claimed == 0 && email->delayed == 1 &&
                  thumbs->delayed == 1;
  std::printf("%s: email %llu delayed, thumbnail %llu delayed\n", ok ? "ok" : "WRONG",
              (unsigned long long)email->delayed, (unsigned long long)thumbs->delayed);
  return ok ? 0 : 1;
}
