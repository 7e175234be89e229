#include "jobstore/registry.h"

#include <exception>
#include <mutex>

#include "jobstore/validation.h"

namespace jobstore {

Status JobRegistry::Register(const std::string& type, JobFactory factory) {
  if (Status valid = ValidateType(type); !valid.ok()) return valid;
  if (!factory) return Status::InvalidArgument("empty factory for job type '" + type + "'");
  std::unique_lock lock(mu_);
  if (!factories_.emplace(type, std::move(factory)).second) {
    return Status::InvalidArgument("job type '" + type + "' is already registered");
  }
  return Status::OK();
}

bool JobRegistry::Contains(const std::string& type) const {
  std::shared_lock lock(mu_);
  return factories_.contains(type);
}

std::vector<std::string> JobRegistry::Types() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> types;
  types.reserve(factories_.size());
  for (const auto& [type, factory] : factories_) types.push_back(type);
  return types;
}

Result<std::unique_ptr<Job>> JobRegistry::Create(const ClaimedJob& job) const {
  const std::string& type = job.claim.queue.type;
  JobFactory factory;
  {
    // Copy the factory out so a slow factory never blocks Register().
    std::shared_lock lock(mu_);
    auto it = factories_.find(type);
    if (it == factories_.end()) {
      return Status::NotFound("no job class registered for type '" + type + "'");
    }
    factory = it->second;
  }
  // Factories are user code: an exception is the job's failure, not the runner's.
  try {
    Result<std::unique_ptr<Job>> built = factory(job);
    if (built.ok() && *built == nullptr) {
      return Status::InvalidArgument("factory of job type '" + type + "' returned no job");
    }
    return built;
  } catch (const std::exception& e) {
    return Status::InvalidArgument("factory of job type '" + type + "' threw: " + e.what());
  } catch (...) {
    return Status::InvalidArgument("factory of job type '" + type + "' threw");
  }
}

}  // namespace jobstore
