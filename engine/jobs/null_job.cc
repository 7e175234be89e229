// The null job (builtin_jobs.h): does nothing, or sleeps, fails or throws on request.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "jobstore/builtin_jobs.h"

namespace jobstore {

namespace {

struct NullJobParams {
  int64_t sleep_ms = 0;
  std::optional<std::string> fail;
  std::optional<std::string> throw_message;
  bool allow_retries = true;
  uint32_t work_items = 1;
};

// Parses the params; empty params are the plain no-op. Unknown keys are ignored, as
// MediaWiki's NullJob ignores params it does not know.
Result<NullJobParams> ParseNullJobParams(const std::string& params) {
  NullJobParams parsed;
  if (params.empty()) return parsed;
  nlohmann::json json = nlohmann::json::parse(params, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    return Status::InvalidArgument("null job: params must be empty or a JSON object");
  }
  try {
    if (json.contains("sleep_ms")) parsed.sleep_ms = json.at("sleep_ms").get<int64_t>();
    if (json.contains("fail")) parsed.fail = json.at("fail").get<std::string>();
    if (json.contains("throw")) parsed.throw_message = json.at("throw").get<std::string>();
    if (json.contains("allow_retries")) parsed.allow_retries = json.at("allow_retries").get<bool>();
    if (json.contains("work_items")) {
      // get<uint32_t>() would wrap a negative number silently; check the range ourselves.
      const int64_t items = json.at("work_items").get<int64_t>();
      if (items < 0 || items > UINT32_MAX) {
        return Status::InvalidArgument("null job: work_items must be in [0, 2^32)");
      }
      parsed.work_items = static_cast<uint32_t>(items);
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("null job: bad params: ") + e.what());
  }
  if (parsed.sleep_ms < 0) return Status::InvalidArgument("null job: sleep_ms must be >= 0");
  return parsed;
}

class NullJob final : public Job {
 public:
  explicit NullJob(NullJobParams params) : params_(std::move(params)) {}

  Status Run(JobContext&) override {
    // A plain sleep, not WaitForStop: a stopping runner finishes the jobs in hand, and a
    // benchmark's sleeping job should cost exactly what it asked for.
    if (params_.sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(params_.sleep_ms));
    if (params_.throw_message) throw std::runtime_error(*params_.throw_message);
    if (params_.fail) return Status::IOError(*params_.fail);
    return Status::OK();
  }

  bool allow_retries() const override { return params_.allow_retries; }
  uint32_t work_item_count() const override { return params_.work_items; }

 private:
  const NullJobParams params_;
};

}  // namespace

Status RegisterNullJob(JobRegistry* registry, const std::string& type) {
  return registry->Register(type, [](const ClaimedJob& job) -> Result<std::unique_ptr<Job>> {
    Result<NullJobParams> params = ParseNullJobParams(job.params);
    if (!params.ok()) return params.status();
    return std::unique_ptr<Job>(std::make_unique<NullJob>(std::move(params).value()));
  });
}

}  // namespace jobstore
