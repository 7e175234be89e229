#include "jobstore/status.h"

#include <cstdio>
#include <cstdlib>

namespace jobstore {

std::string_view Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kStaleToken: return "stale claim token";
    case Code::kReadOnly: return "read-only";
    case Code::kBusy: return "busy";
    case Code::kCorruption: return "corruption";
    case Code::kIOError: return "I/O error";
    case Code::kNotSupported: return "not supported";
    case Code::kUnavailable: return "unavailable";
    case Code::kDeadlineExceeded: return "deadline exceeded";
    case Code::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  if (!msg_.empty()) out += ": " + msg_;
  return out;
}

Status Status::Prefixed(std::string_view context) const {
  if (ok()) return *this;
  Status s = *this;
  s.msg_ = std::string(context) + (msg_.empty() ? "" : ": " + msg_);
  return s;
}

namespace internal {

void DieOnValueOfError(const Status& status) {
  std::fprintf(stderr, "jobstore: value() of a failed Result (%s); check ok() first\n",
               status.ToString().c_str());
  std::abort();
}

Status OkStatusWithoutValue() {
  return Status::Internal("a Result was built from an OK status without a value");
}

}  // namespace internal
}  // namespace jobstore
