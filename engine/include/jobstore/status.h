// Status and Result: what every jobstore call returns. Errors are values, never exceptions, and
// the compiler warns when one is ignored ([[nodiscard]]).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace jobstore {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,   // the caller passed something malformed; the message names it
    kNotFound,          // the job, queue or store does not exist
    kStaleToken,        // the claim was reclaimed (and maybe claimed again): do not ack it
    kReadOnly,          // the store refuses writes (option or SetReadOnly)
    kBusy,              // another process holds the store for writing; holder_pid() names it
    kCorruption,        // a stored record failed to decode or an invariant does not hold
    kIOError,           // the medium failed; nothing was acknowledged
    kNotSupported,      // e.g. a store written by a newer schema, or an unknown address scheme
    kUnavailable,       // the medium cannot be reached (a server is down, a connection broke):
                        // safe to retry later; a write may or may not have been applied, and
                        // the message says which when it is known
    kDeadlineExceeded,  // the medium did not answer in time; as Unavailable
    kInternal,          // a bug in jobstore (an invariant of the code, not of the data, broke)
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status StaleToken(std::string msg) { return {Code::kStaleToken, std::move(msg)}; }
  static Status ReadOnly(std::string msg) { return {Code::kReadOnly, std::move(msg)}; }
  // `holder_pid`: the process that holds the store (0 when it is not known).
  static Status Busy(std::string msg, int64_t holder_pid = 0) {
    Status s(Code::kBusy, std::move(msg));
    s.holder_pid_ = holder_pid;
    return s;
  }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status NotSupported(std::string msg) { return {Code::kNotSupported, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status DeadlineExceeded(std::string msg) { return {Code::kDeadlineExceeded, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }
  // A status of `code` (kOk gives OK, whatever the message), for code that relays another
  // status's code with a message of its own.
  static Status FromCode(Code code, std::string msg) {
    return code == Code::kOk ? Status() : Status(code, std::move(msg));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsStaleToken() const { return code_ == Code::kStaleToken; }
  bool IsReadOnly() const { return code_ == Code::kReadOnly; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsDeadlineExceeded() const { return code_ == Code::kDeadlineExceeded; }
  bool IsInternal() const { return code_ == Code::kInternal; }
  // Unavailable or DeadlineExceeded: the medium, not the call, failed; the same call may work
  // once it is back.
  bool IsTransient() const { return IsUnavailable() || IsDeadlineExceeded(); }

  const std::string& message() const { return msg_; }
  // Busy: the pid of the process holding the store, 0 when unknown (or another code).
  int64_t holder_pid() const { return holder_pid_; }
  // "OK", or "<code name>: <message>".
  std::string ToString() const;
  static std::string_view CodeName(Code code);
  // The same status with `context + ": "` before its message (OK stays OK).
  Status Prefixed(std::string_view context) const;

 private:
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string msg_;
  int64_t holder_pid_ = 0;
};

namespace internal {
// Reports a value() taken from a failed Result (a bug in the caller) on stderr and aborts.
[[noreturn]] void DieOnValueOfError(const Status& status);
// The status a Result built from an OK Status carries instead: a Result without a value must
// not look like success.
Status OkStatusWithoutValue();
}  // namespace internal

// A value, or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // `status` must be an error; an OK status becomes Internal (the caller forgot the value).
  Result(Status status)  // NOLINT: implicit by design
      : status_(status.ok() ? internal::OkStatusWithoutValue() : std::move(status)) {}

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  // The value. Taking it from a failed Result is a bug: it aborts with the status.
  T& value() & { Check(); return *value_; }
  const T& value() const& { Check(); return *value_; }
  T&& value() && { Check(); return std::move(*value_); }
  T* operator->() { Check(); return &*value_; }
  const T* operator->() const { Check(); return &*value_; }
  T& operator*() & { Check(); return *value_; }
  const T& operator*() const& { Check(); return *value_; }

 private:
  void Check() const {
    if (!status_.ok()) internal::DieOnValueOfError(status_);
  }
  Status status_;
  std::optional<T> value_;
};

}  // namespace jobstore
