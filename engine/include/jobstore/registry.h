// JobRegistry: which C++ class runs which job type (MediaWiki's $wgJobClasses).
//
//   jobstore::JobRegistry registry;
//   registry.Register<EmailJob>("email");         // EmailJob(const ClaimedJob&)
//   registry.Register("resize", [](const jobstore::ClaimedJob& job)
//       -> jobstore::Result<std::unique_ptr<jobstore::Job>> { ...parse job.params... });
#pragma once

#include <concepts>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "jobstore/job.h"
#include "jobstore/status.h"
#include "jobstore/types.h"

namespace jobstore {

// Builds the Job for one claimed record. An error (e.g. params that do not parse) counts as
// a failed run of that job.
using JobFactory = std::function<Result<std::unique_ptr<Job>>(const ClaimedJob&)>;

class JobRegistry {
 public:
  JobRegistry() = default;
  JobRegistry(const JobRegistry&) = delete;
  JobRegistry& operator=(const JobRegistry&) = delete;

  // Maps `type` to `factory`. Returns InvalidArgument when the name is not a valid type name
  // (types.h: 1-64 bytes of [A-Za-z0-9_.-]) or the factory is empty, and InvalidArgument
  // naming the type when it is already registered. Thread-safe.
  Status Register(const std::string& type, JobFactory factory);

  // Registers a class constructible from `const ClaimedJob&`. Same errors as above.
  template <typename T>
    requires std::derived_from<T, Job> && std::constructible_from<T, const ClaimedJob&>
  Status Register(const std::string& type) {
    return Register(type, [](const ClaimedJob& job) -> Result<std::unique_ptr<Job>> {
      return std::unique_ptr<Job>(std::make_unique<T>(job));
    });
  }

  // Whether `type` has a factory. Thread-safe.
  bool Contains(const std::string& type) const;

  // Every registered type, sorted. Thread-safe.
  std::vector<std::string> Types() const;

  // Builds the job for `job` (its type is job.claim.queue.type). Returns NotFound when the
  // type is not registered, or the factory's error; a factory that throws, or returns a null
  // job, yields InvalidArgument. Thread-safe; factories may run concurrently.
  Result<std::unique_ptr<Job>> Create(const ClaimedJob& job) const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, JobFactory> factories_;
};

}  // namespace jobstore
