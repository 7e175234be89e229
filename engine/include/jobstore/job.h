// Job: the unit of work a program defines, MediaWiki's RunnableJob in C++.
//
//   class EmailJob : public jobstore::Job {
//    public:
//     explicit EmailJob(const jobstore::ClaimedJob& job) : to_(job.params) {}
//     jobstore::Status Run(jobstore::JobContext& ctx) override { ...send...; return {}; }
//    private:
//     std::string to_;
//   };
//
// A JobRegistry (registry.h) builds a Job from each claimed record; a Runner (runner.h) runs
// it and acks or releases the claim according to the outcome. Delivery is at-least-once, so
// Run() should be idempotent: after a crash, or a claim that outlived its TTL, it runs again.
#pragma once

#include <cstdint>
#include <stop_token>
#include <utility>

#include "jobstore/status.h"

namespace jobstore {

class Store;

// What a running job may use besides its own params: the store (to push follow-up jobs) and
// the runner's stop request. Built by the runner for each job; valid only during Run().
class JobContext {
 public:
  // `store` must outlive the context. `stop` may be a default token (never stops).
  JobContext(Store* store, std::stop_token stop) : store_(store), stop_(std::move(stop)) {}

  // The store the job was claimed from. Thread-safe (every Store method is).
  Store& store() const { return *store_; }

  // True once the runner was asked to stop (RequestStop, SIGINT/SIGTERM). The runner still
  // finishes and acks the jobs in hand; a long job may use this to end its work early (and
  // report success or failure as it sees fit). Thread-safe.
  bool stop_requested() const { return stop_.stop_requested(); }

  // Blocks until a stop is requested or `timeout_ms` of real time has passed (< 0: no
  // limit). Returns stop_requested(). Lets a job pause without ignoring a shutdown.
  // Thread-safe.
  bool WaitForStop(int64_t timeout_ms) const;

 private:
  Store* store_;
  std::stop_token stop_;
};

// Base class of every job type. A subclass gets its params from the ClaimedJob its factory
// receives, and puts its work in Run().
class Job {
 public:
  Job() = default;
  virtual ~Job() = default;
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // Does the work. Returns OK on success; the runner then acks the claim. An error (or an
  // exception, which the runner catches) fails this attempt: the error's message is
  // recorded, and the job is retried with backoff when allow_retries() and the type's
  // settings allow it. Called once per claim, from one runner thread.
  virtual Status Run(JobContext& ctx) = 0;

  // Whether a failed run may be retried. When false a failure is final and the runner acks
  // the claim at once (MediaWiki's allowRetries()). Default: true.
  virtual bool allow_retries() const { return true; }

  // How much work the job stands for; per-type throttling charges work_item_count() / rate
  // seconds per job (MediaWiki's workItemCount()). Default: 1.
  virtual uint32_t work_item_count() const { return 1; }
};

}  // namespace jobstore
