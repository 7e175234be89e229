// What the observe tests share: a memory store on a manual clock with a Metrics observer, the
// value of one sample in an exposition, and running a program for its output.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <sys/wait.h>

#include "jobstore/clock.h"
#include "jobstore/metrics.h"
#include "jobstore/store.h"
#include "support/temp_dir.h"

namespace jobstore::testing {

class ObserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_ = std::make_shared<ManualClock>(kT0);
    metrics_ = std::make_shared<Metrics>();
    options_.clock = clock_;
    options_.observer = metrics_;
    auto s = Store::Open("memory:observe", options_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  static JobSpec Spec(const std::string& type, const std::string& params,
                      const std::string& domain = "") {
    JobSpec j;
    j.type = type;
    j.domain = domain;
    j.params = params;
    return j;
  }

  std::vector<JobId> Push(const std::vector<JobSpec>& specs) {
    auto r = store_->Push(specs);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->ids : std::vector<JobId>{};
  }

  std::vector<ClaimedJob> ClaimN(const QueueRef& q, size_t n, std::optional<int64_t> ttl = {}) {
    auto r = store_->Claim(q, n, ttl);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : std::vector<ClaimedJob>{};
  }

  std::string Exposition(const ExpositionOptions& o = {}) {
    auto text = metrics_->Exposition(*store_, o);
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    return text.ok() ? *text : "";
  }

  static constexpr int64_t kT0 = 1'700'000'000'000;
  TempDir dir_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<Metrics> metrics_;
  Options options_;
  std::unique_ptr<Store> store_;
};

// The value of the sample `series` (name and labels exactly as written) in `text`, or
// "(absent)".
inline std::string SampleValue(const std::string& text, const std::string& series) {
  const std::string start = series + " ";
  size_t at = 0;
  while ((at = text.find(start, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      size_t end = text.find('\n', at);
      return text.substr(at + start.size(), end - at - start.size());
    }
    at += start.size();
  }
  return "(absent)";
}

// Runs `command` with /bin/sh; returns its exit status and fills `output` (stdout and stderr).
inline int RunCommand(const std::string& command, std::string* output) {
  output->clear();
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace jobstore::testing
