// Jobs from JSON lines (push, import): reading and validating all of the input before
// anything is pushed, then pushing in atomic batches with a progress bar.
#pragma once

#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jobstore/store.h"

namespace jobstore::cli {

// One line of input as a JSON object; a CliError (exit 2) saying what was expected otherwise.
nlohmann::json ParseObjectLine(const std::string& line, const std::string& expected);

// Optional fields of a line's object; a CliError (exit 2) naming the key when one has the
// wrong type or is out of range.
std::string StringField(const nlohmann::json& v, const char* key, const std::string& fallback);
bool BoolField(const nlohmann::json& v, const char* key, bool fallback);
int64_t IntField(const nlohmann::json& v, const char* key, int64_t min, int64_t max,
                 int64_t fallback);

// Calls `fn` on every non-blank line of `in`. A CliError from it becomes "<source> line N:
// <why>; nothing was <verb>", so one bad line rejects the input.
void ForEachLine(std::istream& in, const std::string& source, const std::string& verb,
                 const std::function<void(const std::string&)>& fn);

// Calls `parse` on every non-blank line of `in` (nullopt: skip the line). A CliError from it
// becomes "<source> line N: <why>; nothing was <verb>", so one bad line rejects the input.
std::vector<JobSpec> ReadSpecLines(
    std::istream& in, const std::string& source, const std::string& verb,
    const std::function<std::optional<JobSpec>(const std::string&)>& parse);

struct Pushed {
  std::vector<JobId> ids;           // new jobs
  std::vector<JobId> duplicate_of;  // queued jobs that absorbed a dedup spec
};

// Sends `count` jobs in atomic batches of 1000 through `send(begin, end)` (a Push or a
// Restore of jobs [begin, end)), with a progress bar named `label`. When a batch fails, calls
// on_failure with what the earlier batches sent, then fails (CliError).
Pushed SendInBatches(size_t count, const std::string& label,
                     const std::function<Result<PushResult>(size_t, size_t)>& send,
                     const std::function<void(const Pushed&)>& on_failure);

// SendInBatches of Store::Push.
Pushed PushInBatches(Store& store, const std::vector<JobSpec>& specs, const std::string& label,
                     const std::function<void(const Pushed&)>& on_failure);

}  // namespace jobstore::cli
