// The contract's values to and from their wire form (schema/remote.capnp), shared by the
// client and the server so that both read and write every field the same way.
//
// Decoding never trusts the peer: an enumerant this build does not know, a count out of
// range, comes back as InvalidArgument naming the field. Readers that point outside their
// message throw kj::Exception (Cap'n Proto's bounds checks); the RPC layer turns that into an
// error for the call.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <capnp/blob.h>

#include "jobstore/status.h"
#include "jobstore/store.h"
#include "jobstore/types.h"
#include "remote.capnp.h"

namespace jobstore::remote {

// Every message either side sends stays under this (schema/remote.capnp). Both sides read with
// this traversal limit, so a bigger message is refused, not allocated.
inline constexpr size_t kDefaultMaxMessageBytes = 64u << 20;
// Longest wait one parked call (claimAny, waitForReady) takes: ~35 years, so that a deadline
// computed from it never overflows a clock.
inline constexpr int64_t kMaxWaitMs = int64_t{1} << 40;

inline capnp::Text::Reader AsText(const std::string& s) { return {s.data(), s.size()}; }
inline capnp::Data::Reader AsData(const std::string& s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}
inline std::string Str(capnp::Text::Reader t) { return {t.begin(), t.size()}; }
inline std::string Str(capnp::Data::Reader d) {
  return {reinterpret_cast<const char*>(d.begin()), d.size()};
}

void ToWire(const Status& status, wire::Status::Builder out);
Status FromWire(wire::Status::Reader in);

void ToWire(const QueueRef& queue, wire::QueueRef::Builder out);
QueueRef FromWire(wire::QueueRef::Reader in);

void ToWire(const JobSpec& spec, wire::JobSpec::Builder out);
JobSpec FromWire(wire::JobSpec::Reader in);

void ToWire(const ClaimToken& token, wire::ClaimToken::Builder out);
ClaimToken FromWire(wire::ClaimToken::Reader in);

void ToWire(const Claim& claim, wire::Claim::Builder out);
Claim FromWire(wire::Claim::Reader in);

void ToWire(const ClaimedJob& job, wire::ClaimedJob::Builder out);
ClaimedJob FromWire(wire::ClaimedJob::Reader in);

void ToWire(const QueueCounts& counts, wire::QueueCounts::Builder out);
QueueCounts FromWire(wire::QueueCounts::Reader in);

void ToWire(const TypeSettings& settings, wire::TypeSettings::Builder out);
Result<TypeSettings> FromWire(wire::TypeSettings::Reader in);

wire::JobState ToWire(JobState state);
Result<JobState> FromWire(wire::JobState state);

void ToWire(const JobInfo& job, wire::JobInfo::Builder out);
Result<JobInfo> FromWire(wire::JobInfo::Reader in);

void ToWire(const Released& released, wire::Released::Builder out);
Result<Released> FromWire(wire::Released::Reader in);

void ToWire(const ReadyFilter& filter, wire::ReadyFilter::Builder out);
ReadyFilter FromWire(wire::ReadyFilter::Reader in);

void ToWire(const QueueStats& stats, wire::QueueStats::Builder out);
QueueStats FromWire(wire::QueueStats::Reader in);

void ToWire(const MaintenanceReport& report, wire::MaintenanceReport::Builder out);
MaintenanceReport FromWire(wire::MaintenanceReport::Reader in);

void ToWire(const Capabilities& caps, wire::Capabilities::Builder out);
Result<Capabilities> FromWire(wire::Capabilities::Reader in);

void ToWire(const std::optional<int64_t>& ttl_ms, wire::Ttl::Builder out);
std::optional<int64_t> FromWire(wire::Ttl::Reader in);

// A vector into a wire list already sized to it (`out.initJobs(n)`), and a wire list back into a
// vector: the one place that walks the lists of statuses and jobs, for both ends.
template <typename T, typename ListBuilder>
void ToWireList(const std::vector<T>& items, ListBuilder list) {
  for (unsigned i = 0; i < list.size(); ++i) ToWire(items[i], list[i]);
}
template <typename T, typename ListReader>
std::vector<T> FromWireList(ListReader list) {
  std::vector<T> out;
  out.reserve(list.size());
  for (auto item : list) out.push_back(FromWire(item));
  return out;
}

// Upper bounds of the encoded size of a value, in bytes, for keeping a message under the limit
// before building it: the variable-length fields plus a fixed allowance for the rest.
size_t WireBytes(const JobSpec& spec);
size_t WireBytes(const ClaimedJob& job);
size_t WireBytes(const JobInfo& job);

}  // namespace jobstore::remote
