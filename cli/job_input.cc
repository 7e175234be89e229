#include "job_input.h"

#include <algorithm>

#include "context.h"
#include "json_util.h"
#include "progress.h"

namespace jobstore::cli {

nlohmann::json ParseObjectLine(const std::string& line, const std::string& expected) {
  nlohmann::json v;
  std::string why;
  if (!ParseJson(line, &v, &why)) UsageError("invalid JSON: " + why);
  if (!v.is_object()) UsageError("expected " + expected + ", not " + v.type_name());
  return v;
}

std::string StringField(const nlohmann::json& v, const char* key, const std::string& fallback) {
  auto it = v.find(key);
  if (it == v.end()) return fallback;
  if (!it->is_string()) UsageError(std::string("\"") + key + "\" must be a string");
  return it->get<std::string>();
}

bool BoolField(const nlohmann::json& v, const char* key, bool fallback) {
  auto it = v.find(key);
  if (it == v.end()) return fallback;
  if (!it->is_boolean()) UsageError(std::string("\"") + key + "\" must be true or false");
  return it->get<bool>();
}

int64_t IntField(const nlohmann::json& v, const char* key, int64_t min, int64_t max,
                 int64_t fallback) {
  auto it = v.find(key);
  if (it == v.end()) return fallback;
  bool in_range = false;
  if (it->is_number_unsigned()) {
    in_range = it->get<uint64_t>() <= static_cast<uint64_t>(max);
  } else if (it->is_number_integer()) {
    in_range = it->get<int64_t>() >= min && it->get<int64_t>() <= max;
  }
  if (!in_range) {
    UsageError(std::string("\"") + key + "\" must be a whole number from " + std::to_string(min) +
               " to " + std::to_string(max));
  }
  return it->get<int64_t>();
}

void ForEachLine(std::istream& in, const std::string& source, const std::string& verb,
                 const std::function<void(const std::string&)>& fn) {
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    try {
      fn(line);
    } catch (const CliError& e) {
      UsageError(source + " line " + std::to_string(n) + ": " + e.message + "; nothing was " +
                 verb + ": fix the line and try again");
    }
  }
  if (in.bad()) Failure("could not read " + source + "; nothing was " + verb);
}

std::vector<JobSpec> ReadSpecLines(
    std::istream& in, const std::string& source, const std::string& verb,
    const std::function<std::optional<JobSpec>(const std::string&)>& parse) {
  std::vector<JobSpec> specs;
  ForEachLine(in, source, verb, [&](const std::string& line) {
    if (std::optional<JobSpec> spec = parse(line)) specs.push_back(std::move(*spec));
  });
  return specs;
}

Pushed SendInBatches(size_t count, const std::string& label,
                     const std::function<Result<PushResult>(size_t, size_t)>& send,
                     const std::function<void(const Pushed&)>& on_failure) {
  constexpr size_t kBatch = 1000;  // jobs per call, each batch atomic
  Pushed done;
  Progress progress(label, count);
  for (size_t start = 0; start < count; start += kBatch) {
    const size_t end = std::min(count, start + kBatch);
    auto r = send(start, end);
    if (!r.ok()) {
      progress.Done();
      on_failure(done);
      FailStatus(r.status(), label + " (" + std::to_string(start) + " of " +
                                 std::to_string(count) + " jobs were sent before this batch failed)");
    }
    for (size_t i = 0; i < r->ids.size(); ++i) {
      (r->duplicate[i] ? done.duplicate_of : done.ids).push_back(r->ids[i]);
    }
    progress.Add(end - start);
  }
  return done;
}

Pushed PushInBatches(Store& store, const std::vector<JobSpec>& specs, const std::string& label,
                     const std::function<void(const Pushed&)>& on_failure) {
  return SendInBatches(
      specs.size(), label,
      [&](size_t begin, size_t end) {
        return store.Push(std::vector<JobSpec>(specs.begin() + begin, specs.begin() + end));
      },
      on_failure);
}

}  // namespace jobstore::cli
