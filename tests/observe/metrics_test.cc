// Metrics: exact values after known operations on a manual clock, the runner's histograms and
// outcomes, and `promtool check metrics` on the exposition.
#include <fstream>

#include "jobstore/registry.h"
#include "jobstore/runner.h"
#include "observe/observe_fixture.h"

namespace jobstore::testing {
namespace {

using Event = StoreObserver::Event;

const QueueRef kEmail{"", "email"};
const QueueRef kResize{"wiki", "resize"};

std::string Q(const char* family, const QueueRef& q, const std::string& more = "") {
  return std::string(family) + "{domain=\"" + q.domain + "\",type=\"" + q.type + "\"" + more + "}";
}

// Every transition once or more, on two queues; see each step's comment for what it counts.
class MetricsTest : public ObserveTest {
 protected:
  void RunScenario() {
    TypeSettings email;
    email.max_tries = 1;
    email.retention_ms = 3'600'000;
    ASSERT_TRUE(store_->SetTypeSettings("email", email).ok());

    JobSpec dedup = Spec("email", "d");
    dedup.dedup = true;
    JobSpec later = Spec("resize", "r2", "wiki");
    later.release_at_ms = kT0 + 60'000;
    // pushed: email 4, resize 2; deduplicated: email 1 (the second "d" of the batch).
    Push({Spec("email", "a"), Spec("email", "b"), Spec("email", "c"), dedup, dedup,
          Spec("resize", "r1", "wiki"), later});

    clock_->Advance(90'000);
    head_ages_at_90s_ = Exposition();
    ASSERT_TRUE(store_->Maintain().ok());  // promoted: resize 1

    auto two = ClaimN(kEmail, 2);  // claimed: email 2 (a, b)
    ASSERT_EQ(two.size(), 2u);
    ASSERT_TRUE(store_->Ack(two[0].claim).ok());                     // acked: email 1
    auto gone = store_->Release(two[1].claim, 0, "boom <b>");        // abandoned, failed
    ASSERT_TRUE(gone.ok());
    ASSERT_EQ(gone->state, JobState::kAbandoned);
    b_ = two[1].claim.id;

    ASSERT_EQ(ClaimN(kEmail, 1, 1000).size(), 1u);  // claimed: email 3 (c)
    clock_->Advance(2000);
    ASSERT_TRUE(store_->Maintain().ok());            // abandoned, expired: email 1 (c)

    auto d = ClaimN(kEmail, 1);                      // claimed: email 4 (d)
    ASSERT_EQ(d.size(), 1u);
    ASSERT_TRUE(store_->Release(d[0].claim).ok());   // released: email 1 (no error)

    ASSERT_EQ(ClaimN(kResize, 1, 1000).size(), 1u);  // claimed: resize 1
    clock_->Advance(2000);
    ASSERT_TRUE(store_->Maintain().ok());            // reclaimed: resize 1

    ASSERT_TRUE(store_->RetryJob(kEmail, b_).ok());          // repushed: email 1
    ASSERT_TRUE(store_->DeleteJob(kEmail, d[0].claim.id).ok());  // deleted: email 1
    clock_->Advance(3'600'000);
    ASSERT_TRUE(store_->Maintain().ok());            // pruned: email 1 (c)
  }

  std::string head_ages_at_90s_;
  JobId b_ = 0;
};

TEST_F(MetricsTest, CountsEveryTransitionPerQueue) {
  RunScenario();
  const std::string text = Exposition();
  struct Want {
    const char* family;
    const char* email;
    const char* resize;
  };
  for (const Want& w : {Want{"jobstore_jobs_pushed_total", "4", "2"},
                        Want{"jobstore_jobs_deduplicated_total", "1", "0"},
                        Want{"jobstore_jobs_claimed_total", "4", "1"},
                        Want{"jobstore_jobs_acked_total", "1", "0"},
                        Want{"jobstore_jobs_released_total", "1", "0"},
                        Want{"jobstore_jobs_reclaimed_total", "0", "1"},
                        Want{"jobstore_jobs_promoted_total", "0", "1"},
                        Want{"jobstore_jobs_pruned_total", "1", "0"},
                        Want{"jobstore_jobs_repushed_total", "1", "0"},
                        Want{"jobstore_jobs_deleted_total", "1", "0"}}) {
    EXPECT_EQ(SampleValue(text, Q(w.family, kEmail)), w.email) << w.family;
    EXPECT_EQ(SampleValue(text, Q(w.family, kResize)), w.resize) << w.family;
  }
  EXPECT_EQ(SampleValue(text, Q("jobstore_jobs_abandoned_total", kEmail, ",cause=\"failed\"")), "1");
  EXPECT_EQ(SampleValue(text, Q("jobstore_jobs_abandoned_total", kEmail, ",cause=\"expired\"")), "1");
  EXPECT_EQ(SampleValue(text, Q("jobstore_jobs_abandoned_total", kResize, ",cause=\"failed\"")), "0");
  EXPECT_EQ(metrics_->Count(kEmail, Event::kClaimed), 4u);

  // What is left: email b (retried), resize r1 and r2.
  EXPECT_EQ(SampleValue(text, Q("jobstore_queue_jobs", kEmail, ",state=\"ready\"")), "1");
  EXPECT_EQ(SampleValue(text, Q("jobstore_queue_jobs", kEmail, ",state=\"abandoned\"")), "0");
  EXPECT_EQ(SampleValue(text, Q("jobstore_queue_jobs", kResize, ",state=\"ready\"")), "2");
  EXPECT_EQ(SampleValue(text, Q("jobstore_queue_jobs", kResize, ",state=\"claimed\"")), "0");

  // One push call, four claims of email and one of resize, one ack call.
  EXPECT_EQ(SampleValue(text, "jobstore_store_call_duration_seconds_count{call=\"push\"}"), "1");
  EXPECT_EQ(SampleValue(text, "jobstore_store_call_duration_seconds_count{call=\"claim\"}"), "4");
  EXPECT_EQ(SampleValue(text, "jobstore_store_call_duration_seconds_count{call=\"ack\"}"), "1");
  EXPECT_EQ(SampleValue(text, "jobstore_store_call_duration_seconds_bucket{call=\"claim\",le=\"+Inf\"}"), "4");
  EXPECT_EQ(SampleValue(text, "jobstore_build_info{version=\"" + std::string(JOBSTORE_VERSION) +
                                  "\",medium=\"memory\"}"),
            "1");
}

TEST_F(MetricsTest, OldestReadyAgeIsTheHeadsAgeByTheStoresClock) {
  RunScenario();
  // 90 s after the push: both heads (a, r1) were pushed at T0; r2 was still delayed.
  EXPECT_EQ(SampleValue(head_ages_at_90s_, Q("jobstore_queue_oldest_ready_age_seconds", kEmail)), "90");
  EXPECT_EQ(SampleValue(head_ages_at_90s_, Q("jobstore_queue_oldest_ready_age_seconds", kResize)), "90");
  // Now: 90 s + 2 s + 2 s + 1 h. Each head's age is the clock minus its enqueue time.
  const std::string text = Exposition();
  auto head = store_->List(kEmail, JobState::kReady, "", 1);
  ASSERT_TRUE(head.ok());
  ASSERT_EQ(head->jobs.size(), 1u);
  EXPECT_EQ(head->jobs[0].id, b_);
  const double age = static_cast<double>(clock_->NowMs() - head->jobs[0].enqueued_at_ms) / 1e3;
  EXPECT_EQ(std::stod(SampleValue(text, Q("jobstore_queue_oldest_ready_age_seconds", kEmail))), age);
  EXPECT_EQ(SampleValue(text, Q("jobstore_queue_oldest_ready_age_seconds", kResize)), "3694");
  // An empty queue is 0, not absent.
  ASSERT_TRUE(store_->Clear(kResize).ok());
  EXPECT_EQ(SampleValue(Exposition(), Q("jobstore_queue_oldest_ready_age_seconds", kResize)), "0");
}

TEST_F(MetricsTest, EveryQueueOfTheStoreHasEveryCounterFromZero) {
  // A store opened with a fresh Metrics already holding jobs: counters start at 0 for them.
  Push({Spec("email", "x")});
  auto fresh = std::make_shared<Metrics>();
  auto text = fresh->Exposition(*store_);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(SampleValue(*text, Q("jobstore_jobs_pushed_total", kEmail)), "0");
  EXPECT_EQ(SampleValue(*text, Q("jobstore_queue_jobs", kEmail, ",state=\"ready\"")), "1");
  // Without counters (what `jobstore metrics` prints): the store's gauges only.
  auto gauges = fresh->Exposition(*store_, {.counters = false});
  ASSERT_TRUE(gauges.ok());
  EXPECT_EQ(SampleValue(*gauges, Q("jobstore_jobs_pushed_total", kEmail)), "(absent)");
  EXPECT_EQ(SampleValue(*gauges, Q("jobstore_queue_jobs", kEmail, ",state=\"ready\"")), "1");
}

TEST_F(MetricsTest, StoreSizeSumsTheFilesUnderThePath) {
  std::ofstream(dir_.Sub("a")) << std::string(1000, 'x');
  std::filesystem::create_directories(dir_.Sub("sub"));
  std::ofstream(dir_.Sub("sub/b")) << std::string(234, 'y');
  const std::string text =
      Exposition({.disk_paths = {{"", dir_.path()}, {"local", dir_.Sub("a")}}});
  EXPECT_EQ(SampleValue(text, "jobstore_store_size_bytes"), "1234");
  EXPECT_EQ(SampleValue(text, "jobstore_store_size_bytes{backend=\"local\"}"), "1000");
}

// A job that takes `ms` by the manual clock, then succeeds or fails.
class TimedJob : public Job {
 public:
  TimedJob(ManualClock* clock, int64_t ms, bool ok) : clock_(clock), ms_(ms), ok_(ok) {}
  Status Run(JobContext&) override {
    clock_->Advance(ms_);
    return ok_ ? Status::OK() : Status::IOError("failed on purpose");
  }

 private:
  ManualClock* clock_;
  int64_t ms_;
  bool ok_;
};

TEST_F(MetricsTest, RunnerReportsDurationAndOutcomePerType) {
  JobRegistry registry;
  ManualClock* clock = clock_.get();
  auto add = [&](const char* type, int64_t ms, bool ok) {
    ASSERT_TRUE(registry
                    .Register(type,
                              [=](const ClaimedJob&) -> Result<std::unique_ptr<Job>> {
                                return std::unique_ptr<Job>(new TimedJob(clock, ms, ok));
                              })
                    .ok());
  };
  add("slow", 1500, true);
  add("bad", 20, false);
  TypeSettings once;
  once.max_tries = 1;
  ASSERT_TRUE(store_->SetTypeSettings("bad", once).ok());
  Push({Spec("slow", "1"), Spec("slow", "2"), Spec("bad", "1")});
  RunnerOptions options;
  options.maintain = false;
  RunReport report = Runner(store_.get(), &registry, options).Run();
  ASSERT_EQ(report.jobs, 3u) << report.status.ToString();

  const std::string text = Exposition();
  const std::string slow = "jobstore_runner_job_duration_seconds_bucket{type=\"slow\",le=\"";
  EXPECT_EQ(SampleValue(text, slow + "1\"}"), "0");
  EXPECT_EQ(SampleValue(text, slow + "2.5\"}"), "2");
  EXPECT_EQ(SampleValue(text, slow + "+Inf\"}"), "2");
  EXPECT_EQ(SampleValue(text, "jobstore_runner_job_duration_seconds_sum{type=\"slow\"}"), "3");
  EXPECT_EQ(SampleValue(text, "jobstore_runner_job_duration_seconds_count{type=\"slow\"}"), "2");
  EXPECT_EQ(SampleValue(text, "jobstore_runner_job_duration_seconds_sum{type=\"bad\"}"), "0.02");
  EXPECT_EQ(SampleValue(text, "jobstore_runner_jobs_total{type=\"slow\",outcome=\"succeeded\"}"), "2");
  EXPECT_EQ(SampleValue(text, "jobstore_runner_jobs_total{type=\"bad\",outcome=\"abandoned\"}"), "1");
  EXPECT_EQ(SampleValue(text, "jobstore_runner_jobs_total{type=\"bad\",outcome=\"succeeded\"}"), "0");
  EXPECT_EQ(SampleValue(text, Q("jobstore_jobs_abandoned_total", QueueRef{"", "bad"}, ",cause=\"failed\"")), "1");
}

TEST_F(MetricsTest, PromtoolAcceptsTheExposition) {
  RunScenario();
  metrics_->OnJobRun("", "email", StoreObserver::Outcome::kRetried, 42);
  const std::string path = dir_.Sub("metrics.prom");
  std::ofstream(path) << Exposition({.disk_paths = {{"", dir_.path()}}});
  std::string output;
  const int rc = RunCommand(std::string(JOBSTORE_PROMTOOL) + " check metrics < " + path, &output);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_EQ(output, "");
}

TEST_F(MetricsTest, LabelValuesAreEscaped) {
  // Names are validated, but a backend label comes from a config: quote, backslash, newline.
  const std::string text = Exposition({.disk_paths = {{"a\"b\\c\nd", dir_.path()}}});
  EXPECT_NE(text.find("jobstore_store_size_bytes{backend=\"a\\\"b\\\\c\\nd\"} "), std::string::npos)
      << text;
}

}  // namespace
}  // namespace jobstore::testing
