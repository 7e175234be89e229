#include "jobstore/status.h"

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
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  if (!msg_.empty()) out += ": " + msg_;
  return out;
}

}  // namespace jobstore
