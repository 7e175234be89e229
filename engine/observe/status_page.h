// The status page's HTML: every value from the store goes through HtmlEscape (params and
// errors are bytes a job's pusher chose), and the page's script and style are served by the
// server itself (kAppJs, kAppCss), never from elsewhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jobstore/types.h"

namespace jobstore::observe {

// What every page shows around its content.
struct PageFrame {
  std::string store;       // the medium and a note ("rocksdb", "RocksDB at /var/lib/jobs")
  bool writable = false;   // the server has a token: writes are possible once signed in
  bool signed_in = false;  // this request's session is live
  bool read_only = false;  // the store refuses writes
  std::string csrf;        // the session's CSRF token (signed in)
  std::string note;        // a message to show at the top (what a write did), or ""
  int64_t now_ms = 0;      // by the store's clock
};

struct QueueRow {
  QueueStats stats;
  int64_t oldest_ready_ms = 0;  // age of the head of the ready order; 0 when none is ready
};

std::string HtmlEscape(std::string_view text);
// A URL query component, percent-encoded (unreserved characters kept).
std::string UrlEncode(std::string_view text);
// "0s", "45s", "3m 20s", "2h 5m", "3d 4h" (the script formats ages the same way).
std::string FormatAge(int64_t ms);
// "2023-11-14 22:13:20 UTC"
std::string FormatTime(int64_t ms);
// "/queue?domain=D&type=T" (plus &state=S when given).
std::string QueueLink(const QueueRef& queue, const char* state = nullptr);
std::string JobLink(const QueueRef& queue, JobId id);

std::string QueuesPage(const PageFrame& frame, const std::vector<QueueRow>& queues);
// One queue: its counts, and one page of its jobs in `state`; `next` is the page's next cursor.
std::string QueuePage(const PageFrame& frame, const QueueRow& queue, JobState state,
                      const std::vector<JobInfo>& jobs, const std::string& next);
std::string JobPage(const PageFrame& frame, const JobInfo& job);
std::string ErrorPage(const PageFrame& frame, unsigned status, std::string_view message);

extern const char kAppJs[];
extern const char kAppCss[];

}  // namespace jobstore::observe
