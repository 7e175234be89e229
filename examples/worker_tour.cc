// The README's throttling and metrics code, in a program: a runner that throttles a type, and a
// store whose metrics and status page are served over HTTP.
//
//   worker_tour <store address>       (a directory, or memory:)
//
// Built with the project and run as a CTest. It needs no network: the server listens on
// 127.0.0.1, on a port the system picks. Exits 0 when the throttle held the run to one job and
// /metrics counted that job.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "jobstore/metrics.h"
#include "jobstore/registry.h"
#include "jobstore/runner.h"
#include "jobstore/status_server.h"
#include "jobstore/store.h"
#include "jobstore/throttle.h"

class ThumbnailJob : public jobstore::Job {
 public:
  explicit ThumbnailJob(const jobstore::ClaimedJob&) {}
  jobstore::Status Run(jobstore::JobContext&) override { return jobstore::Status::OK(); }
};

// One thumbnail a second: after the first job the type is backed off for a second, so this run
// (of thumbnails only) ends none-ready with the rest still queued.
jobstore::RunReport RunThumbnails(jobstore::Store* store, const jobstore::JobRegistry& registry) {
  jobstore::RunnerOptions options;
  options.types = {"thumbnail"};
  options.throttle = std::make_shared<jobstore::Throttle>(
      std::map<std::string, double>{{"thumbnail", 1.0}}, /*clock=*/nullptr);
  return jobstore::Runner(store, &registry, options).Run();
}

// GETs `path` from 127.0.0.1:`port` as Prometheus would scrape it: the response as far as it
// came. The server keeps the connection open, so this reads up to the end of the body that
// Content-Length gives; a receive timeout bounds each wait.
static std::string HttpGet(uint16_t port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  std::string response;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    size_t end = std::string::npos;  // of the whole response, once its headers are in
    char buf[4096];
    for (ssize_t n; response.size() < end && (n = recv(fd, buf, sizeof buf, 0)) > 0;) {
      response.append(buf, n);
      const size_t body = response.find("\r\n\r\n");
      if (end != std::string::npos || body == std::string::npos) continue;
      std::string headers = response.substr(0, body);
      std::transform(headers.begin(), headers.end(), headers.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      const size_t length = headers.find("\r\ncontent-length:");
      if (length == std::string::npos) break;
      end = body + 4 + std::stoul(headers.substr(length + 17));
    }
  }
  close(fd);
  return response;
}

static int Fail(const char* what, const jobstore::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <store address>\n", argv[0]);
    return 2;
  }
  auto metrics = std::make_shared<jobstore::Metrics>();
  jobstore::Options options;
  options.observer = metrics;
  auto store = jobstore::Store::Open(argv[1], options);
  if (!store.ok()) return Fail("open", store.status());
  auto http = jobstore::StatusServer::Start(**store, {.listen = "127.0.0.1:0",  // a free port
                                                      .metrics = metrics});
  if (!http.ok()) return Fail("serve", http.status());
  std::printf("status page at %s\n", (*http)->url().c_str());

  auto pushed = (*store)->Push({{.type = "thumbnail", .params = R"({"file":1})"},
                                {.type = "thumbnail", .params = R"({"file":2})"},
                                {.type = "thumbnail", .params = R"({"file":3})"}});
  if (!pushed.ok()) return Fail("push", pushed.status());
  jobstore::JobRegistry registry;
  if (jobstore::Status s = registry.Register<ThumbnailJob>("thumbnail"); !s.ok()) {
    return Fail("register", s);
  }
  jobstore::RunReport report = RunThumbnails(store->get(), registry);
  auto counts = (*store)->Counts({"", "thumbnail"});
  if (!counts.ok()) return Fail("counts", counts.status());
  const bool throttled = report.reason == jobstore::StopReason::kNoneReady &&
                         report.succeeded == 1 && counts->ready == 2;
  std::printf("run stopped: %s after %llu job(s), %llu still ready\n",
              jobstore::StopReasonName(report.reason),
              static_cast<unsigned long long>(report.succeeded),
              static_cast<unsigned long long>(counts->ready));

  // The one acked job, as /metrics serves it.
  const std::string scraped = HttpGet((*http)->port(), "/metrics");
  const std::string acked = "jobstore_jobs_acked_total{domain=\"\",type=\"thumbnail\"} 1\n";
  const bool served = scraped.find(acked) != std::string::npos;
  std::printf("/metrics: %s", served ? acked.c_str() : "no acked thumbnail\n");
  if (!served) std::fprintf(stderr, "/metrics answered:\n%s\n", scraped.c_str());
  return throttled && served ? 0 : 1;
}
