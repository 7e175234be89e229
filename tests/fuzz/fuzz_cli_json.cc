// libFuzzer target: the CLI's JSON input (cli/json_util.h). Arbitrary text typed by a user or
// read from a JSON-lines file must be accepted or rejected with a message, never crash or
// recurse without bound; canonical params must be a fixed point (canonicalising the canonical
// form gives it back, so dedup hashes agree); stored params of any bytes must print.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "json_util.h"

namespace {
void Require(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // PrintJson writes to stdout; keep the fuzzer's output readable.
  Require(std::freopen("/dev/null", "w", stdout) != nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  nlohmann::json parsed;
  std::string error;
  const bool ok = jobstore::cli::ParseJson(text, &parsed, &error);
  Require(ok || !error.empty());
  if (ok) {
    const std::string canonical = jobstore::cli::Canonical(parsed);
    nlohmann::json again;
    std::string error2;
    Require(jobstore::cli::ParseJson(canonical, &again, &error2));
    Require(jobstore::cli::Canonical(again) == canonical);
  }
  std::string canonical_params, why;
  if (jobstore::cli::CanonicalParams("fuzz", text, &canonical_params, &why)) {
    Require(ok && parsed.is_object());
    Require(canonical_params == jobstore::cli::Canonical(parsed));
  } else {
    Require(!why.empty());
  }
  // Whatever bytes a job's params hold (the library accepts any), the CLI can show them.
  jobstore::cli::PrintJson(jobstore::cli::ParamsJson(text));
  return 0;
}
