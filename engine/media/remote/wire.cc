#include "wire.h"

namespace jobstore::remote {
namespace {

// The C++ codes and the wire's enumerants, in one table so neither direction can drift.
struct CodePair {
  Status::Code code;
  wire::StatusCode wire;
};
constexpr CodePair kCodes[] = {
    {Status::Code::kOk, wire::StatusCode::OK},
    {Status::Code::kInvalidArgument, wire::StatusCode::INVALID_ARGUMENT},
    {Status::Code::kNotFound, wire::StatusCode::NOT_FOUND},
    {Status::Code::kStaleToken, wire::StatusCode::STALE_TOKEN},
    {Status::Code::kReadOnly, wire::StatusCode::READ_ONLY},
    {Status::Code::kBusy, wire::StatusCode::BUSY},
    {Status::Code::kCorruption, wire::StatusCode::CORRUPTION},
    {Status::Code::kIOError, wire::StatusCode::IO_ERROR},
    {Status::Code::kNotSupported, wire::StatusCode::NOT_SUPPORTED},
    {Status::Code::kUnavailable, wire::StatusCode::UNAVAILABLE},
    {Status::Code::kDeadlineExceeded, wire::StatusCode::DEADLINE_EXCEEDED},
    {Status::Code::kInternal, wire::StatusCode::INTERNAL},
};

Status Make(Status::Code code, std::string msg, int64_t holder_pid) {
  switch (code) {
    case Status::Code::kOk: return Status::OK();
    case Status::Code::kInvalidArgument: return Status::InvalidArgument(std::move(msg));
    case Status::Code::kNotFound: return Status::NotFound(std::move(msg));
    case Status::Code::kStaleToken: return Status::StaleToken(std::move(msg));
    case Status::Code::kReadOnly: return Status::ReadOnly(std::move(msg));
    case Status::Code::kBusy: return Status::Busy(std::move(msg), holder_pid);
    case Status::Code::kCorruption: return Status::Corruption(std::move(msg));
    case Status::Code::kIOError: return Status::IOError(std::move(msg));
    case Status::Code::kNotSupported: return Status::NotSupported(std::move(msg));
    case Status::Code::kUnavailable: return Status::Unavailable(std::move(msg));
    case Status::Code::kDeadlineExceeded: return Status::DeadlineExceeded(std::move(msg));
    case Status::Code::kInternal: return Status::Internal(std::move(msg));
  }
  return Status::Internal(std::move(msg));
}

}  // namespace

void ToWire(const Status& status, wire::Status::Builder out) {
  for (const CodePair& p : kCodes) {
    if (p.code == status.code()) out.setCode(p.wire);
  }
  if (!status.message().empty()) out.setMessage(AsText(status.message()));
  out.setHolderPid(status.holder_pid());
}

Status FromWire(wire::Status::Reader in) {
  for (const CodePair& p : kCodes) {
    if (p.wire == in.getCode()) {
      return Make(p.code, Str(in.getMessage()), in.getHolderPid());
    }
  }
  return Status::Internal("the peer sent status code " +
                          std::to_string(static_cast<unsigned>(in.getCode())) +
                          ", unknown to this build (a newer jobstore?): " +
                          Str(in.getMessage()));
}

void ToWire(const QueueRef& queue, wire::QueueRef::Builder out) {
  out.setDomain(AsText(queue.domain));
  out.setType(AsText(queue.type));
}

QueueRef FromWire(wire::QueueRef::Reader in) {
  return {Str(in.getDomain()), Str(in.getType())};
}

void ToWire(const JobSpec& spec, wire::JobSpec::Builder out) {
  out.setType(AsText(spec.type));
  out.setDomain(AsText(spec.domain));
  out.setParams(AsData(spec.params));
  out.setPriority(spec.priority);
  out.setReleaseAtMs(spec.release_at_ms);
  out.setDedup(spec.dedup);
  out.setRootSignature(AsText(spec.root_signature));
  out.setRootTimestampMs(spec.root_timestamp_ms);
  out.setRootIsSelf(spec.root_is_self);
}

JobSpec FromWire(wire::JobSpec::Reader in) {
  JobSpec spec;
  spec.type = Str(in.getType());
  spec.domain = Str(in.getDomain());
  spec.params = Str(in.getParams());
  spec.priority = in.getPriority();
  spec.release_at_ms = in.getReleaseAtMs();
  spec.dedup = in.getDedup();
  spec.root_signature = Str(in.getRootSignature());
  spec.root_timestamp_ms = in.getRootTimestampMs();
  spec.root_is_self = in.getRootIsSelf();
  return spec;
}

void ToWire(const ClaimToken& token, wire::ClaimToken::Builder out) {
  out.setDeadlineMs(token.deadline_ms);
  out.setNonce(token.nonce);
}

ClaimToken FromWire(wire::ClaimToken::Reader in) { return {in.getDeadlineMs(), in.getNonce()}; }

void ToWire(const Claim& claim, wire::Claim::Builder out) {
  ToWire(claim.queue, out.initQueue());
  out.setId(claim.id);
  ToWire(claim.token, out.initToken());
}

Claim FromWire(wire::Claim::Reader in) {
  return {FromWire(in.getQueue()), in.getId(), FromWire(in.getToken())};
}

void ToWire(const ClaimedJob& job, wire::ClaimedJob::Builder out) {
  ToWire(job.claim, out.initClaim());
  out.setParams(AsData(job.params));
  out.setAttempts(job.attempts);
  out.setPriority(job.priority);
  out.setEnqueuedAtMs(job.enqueued_at_ms);
  out.setRootSignature(AsText(job.root_signature));
  out.setRootTimestampMs(job.root_timestamp_ms);
  out.setSuperseded(job.superseded);
}

ClaimedJob FromWire(wire::ClaimedJob::Reader in) {
  ClaimedJob job;
  job.claim = FromWire(in.getClaim());
  job.params = Str(in.getParams());
  job.attempts = in.getAttempts();
  job.priority = in.getPriority();
  job.enqueued_at_ms = in.getEnqueuedAtMs();
  job.root_signature = Str(in.getRootSignature());
  job.root_timestamp_ms = in.getRootTimestampMs();
  job.superseded = in.getSuperseded();
  return job;
}

void ToWire(const QueueCounts& counts, wire::QueueCounts::Builder out) {
  out.setReady(counts.ready);
  out.setClaimed(counts.claimed);
  out.setDelayed(counts.delayed);
  out.setAbandoned(counts.abandoned);
}

QueueCounts FromWire(wire::QueueCounts::Reader in) {
  return {in.getReady(), in.getClaimed(), in.getDelayed(), in.getAbandoned()};
}

void ToWire(const TypeSettings& settings, wire::TypeSettings::Builder out) {
  switch (settings.order) {
    case Order::kFifo: out.setOrder(wire::Order::FIFO); break;
    case Order::kRandom: out.setOrder(wire::Order::RANDOM); break;
    case Order::kPriority: out.setOrder(wire::Order::PRIORITY); break;
  }
  out.setClaimTtlMs(settings.claim_ttl_ms);
  out.setMaxTries(settings.max_tries);
  out.setRetriesAllowed(settings.retries_allowed);
  out.setRetentionMs(settings.retention_ms);
  out.setRootJobTtlMs(settings.root_job_ttl_ms);
}

Result<TypeSettings> FromWire(wire::TypeSettings::Reader in) {
  TypeSettings settings;
  switch (in.getOrder()) {
    case wire::Order::FIFO: settings.order = Order::kFifo; break;
    case wire::Order::RANDOM: settings.order = Order::kRandom; break;
    case wire::Order::PRIORITY: settings.order = Order::kPriority; break;
    default:
      return Status::InvalidArgument("type settings: order " +
                                     std::to_string(static_cast<unsigned>(in.getOrder())) +
                                     " is unknown; use fifo, random or priority");
  }
  settings.claim_ttl_ms = in.getClaimTtlMs();
  settings.max_tries = in.getMaxTries();
  settings.retries_allowed = in.getRetriesAllowed();
  settings.retention_ms = in.getRetentionMs();
  settings.root_job_ttl_ms = in.getRootJobTtlMs();
  return settings;
}

wire::JobState ToWire(JobState state) {
  switch (state) {
    case JobState::kReady: return wire::JobState::READY;
    case JobState::kClaimed: return wire::JobState::CLAIMED;
    case JobState::kDelayed: return wire::JobState::DELAYED;
    case JobState::kAbandoned: return wire::JobState::ABANDONED;
  }
  return wire::JobState::READY;
}

Result<JobState> FromWire(wire::JobState state) {
  switch (state) {
    case wire::JobState::READY: return JobState::kReady;
    case wire::JobState::CLAIMED: return JobState::kClaimed;
    case wire::JobState::DELAYED: return JobState::kDelayed;
    case wire::JobState::ABANDONED: return JobState::kAbandoned;
  }
  return Status::InvalidArgument("job state " + std::to_string(static_cast<unsigned>(state)) +
                                 " is unknown; use ready, claimed, delayed or abandoned");
}

void ToWire(const JobInfo& job, wire::JobInfo::Builder out) {
  ToWire(job.queue, out.initQueue());
  out.setId(job.id);
  out.setState(ToWire(job.state));
  out.setParams(AsData(job.params));
  out.setAttempts(job.attempts);
  out.setPriority(job.priority);
  out.setEnqueuedAtMs(job.enqueued_at_ms);
  out.setReleaseAtMs(job.release_at_ms);
  out.setDeadlineMs(job.deadline_ms);
  out.setClaimedAtMs(job.claimed_at_ms);
  out.setAbandonedAtMs(job.abandoned_at_ms);
  out.setLastError(AsData(job.last_error));
  out.setRootSignature(AsText(job.root_signature));
  out.setRootTimestampMs(job.root_timestamp_ms);
  out.setDedup(job.dedup);
  out.setCorrupt(job.corrupt);
  ToWire(job.claim_token, out.initClaimToken());
}

Result<JobInfo> FromWire(wire::JobInfo::Reader in) {
  auto state = FromWire(in.getState());
  if (!state.ok()) return state.status();
  JobInfo job;
  job.queue = FromWire(in.getQueue());
  job.id = in.getId();
  job.state = *state;
  job.params = Str(in.getParams());
  job.attempts = in.getAttempts();
  job.priority = in.getPriority();
  job.enqueued_at_ms = in.getEnqueuedAtMs();
  job.release_at_ms = in.getReleaseAtMs();
  job.deadline_ms = in.getDeadlineMs();
  job.claimed_at_ms = in.getClaimedAtMs();
  job.abandoned_at_ms = in.getAbandonedAtMs();
  job.last_error = Str(in.getLastError());
  job.root_signature = Str(in.getRootSignature());
  job.root_timestamp_ms = in.getRootTimestampMs();
  job.dedup = in.getDedup();
  job.corrupt = in.getCorrupt();
  job.claim_token = FromWire(in.getClaimToken());
  return job;
}

void ToWire(const Released& released, wire::Released::Builder out) {
  out.setState(ToWire(released.state));
  out.setReleaseAtMs(released.release_at_ms);
  out.setReason(AsText(released.reason));
}

Result<Released> FromWire(wire::Released::Reader in) {
  auto state = FromWire(in.getState());
  if (!state.ok()) return state.status();
  return Released{*state, in.getReleaseAtMs(), Str(in.getReason())};
}

void ToWire(const ReadyFilter& filter, wire::ReadyFilter::Builder out) {
  out.setAnyDomain(!filter.domain.has_value());
  if (filter.domain) out.setDomain(AsText(*filter.domain));
  auto types = out.initTypes(static_cast<unsigned>(filter.types.size()));
  for (size_t i = 0; i < filter.types.size(); ++i) types.set(i, AsText(filter.types[i]));
  auto exclude = out.initExclude(static_cast<unsigned>(filter.exclude.size()));
  for (size_t i = 0; i < filter.exclude.size(); ++i) exclude.set(i, AsText(filter.exclude[i]));
}

ReadyFilter FromWire(wire::ReadyFilter::Reader in) {
  ReadyFilter filter;
  if (!in.getAnyDomain()) filter.domain = Str(in.getDomain());
  for (auto t : in.getTypes()) filter.types.push_back(Str(t));
  for (auto t : in.getExclude()) filter.exclude.push_back(Str(t));
  return filter;
}

void ToWire(const QueueStats& stats, wire::QueueStats::Builder out) {
  ToWire(stats.queue, out.initQueue());
  ToWire(stats.counts, out.initCounts());
  out.setBackend(AsText(stats.backend));
}

QueueStats FromWire(wire::QueueStats::Reader in) {
  return {FromWire(in.getQueue()), FromWire(in.getCounts()), Str(in.getBackend())};
}

void ToWire(const MaintenanceReport& report, wire::MaintenanceReport::Builder out) {
  out.setPromoted(report.promoted);
  out.setReclaimed(report.reclaimed);
  out.setAbandoned(report.abandoned);
  out.setPruned(report.pruned);
  out.setRootsExpired(report.roots_expired);
  out.setMore(report.more);
}

MaintenanceReport FromWire(wire::MaintenanceReport::Reader in) {
  MaintenanceReport report;
  report.promoted = in.getPromoted();
  report.reclaimed = in.getReclaimed();
  report.abandoned = in.getAbandoned();
  report.pruned = in.getPruned();
  report.roots_expired = in.getRootsExpired();
  report.more = in.getMore();
  return report;
}

void ToWire(const Capabilities& caps, wire::Capabilities::Builder out) {
  out.setMedium(AsText(caps.medium));
  switch (caps.push_atomicity) {
    case Capabilities::PushAtomicity::kWholeBatch:
      out.setPushAtomicity(wire::PushAtomicity::WHOLE_BATCH);
      break;
    case Capabilities::PushAtomicity::kPerBackend:
      out.setPushAtomicity(wire::PushAtomicity::PER_BACKEND);
      break;
    case Capabilities::PushAtomicity::kPerQueue:
      out.setPushAtomicity(wire::PushAtomicity::PER_QUEUE);
      break;
  }
  out.setExactCounts(caps.exact_counts);
  out.setExactReadyIndex(caps.exact_ready_index);
  switch (caps.push_durability) {
    case Capabilities::Durability::kNothing: out.setPushDurability(wire::Durability::NOTHING); break;
    case Capabilities::Durability::kProcessCrash:
      out.setPushDurability(wire::Durability::PROCESS_CRASH);
      break;
    case Capabilities::Durability::kPowerLoss:
      out.setPushDurability(wire::Durability::POWER_LOSS);
      break;
    case Capabilities::Durability::kServerConfig:
      out.setPushDurability(wire::Durability::SERVER_CONFIG);
      break;
  }
  out.setShared(caps.shared);
  out.setNote(AsText(caps.note));
}

Result<Capabilities> FromWire(wire::Capabilities::Reader in) {
  Capabilities caps;
  caps.medium = Str(in.getMedium());
  switch (in.getPushAtomicity()) {
    case wire::PushAtomicity::WHOLE_BATCH:
      caps.push_atomicity = Capabilities::PushAtomicity::kWholeBatch;
      break;
    case wire::PushAtomicity::PER_BACKEND:
      caps.push_atomicity = Capabilities::PushAtomicity::kPerBackend;
      break;
    case wire::PushAtomicity::PER_QUEUE:
      caps.push_atomicity = Capabilities::PushAtomicity::kPerQueue;
      break;
    default:
      return Status::NotSupported("the server declares a push atomicity unknown to this build");
  }
  caps.exact_counts = in.getExactCounts();
  caps.exact_ready_index = in.getExactReadyIndex();
  switch (in.getPushDurability()) {
    case wire::Durability::NOTHING: caps.push_durability = Capabilities::Durability::kNothing; break;
    case wire::Durability::PROCESS_CRASH:
      caps.push_durability = Capabilities::Durability::kProcessCrash;
      break;
    case wire::Durability::POWER_LOSS:
      caps.push_durability = Capabilities::Durability::kPowerLoss;
      break;
    case wire::Durability::SERVER_CONFIG:
      caps.push_durability = Capabilities::Durability::kServerConfig;
      break;
    default:
      return Status::NotSupported("the server declares a push durability unknown to this build");
  }
  caps.shared = in.getShared();
  caps.note = Str(in.getNote());
  return caps;
}

void ToWire(const std::optional<int64_t>& ttl_ms, wire::Ttl::Builder out) {
  out.setGiven(ttl_ms.has_value());
  out.setMs(ttl_ms.value_or(0));
}

std::optional<int64_t> FromWire(wire::Ttl::Reader in) {
  if (!in.getGiven()) return std::nullopt;
  return in.getMs();
}

// A struct's fixed part is at most a few dozen words; each text or data field adds its bytes
// rounded up to a word, its NUL, and a pointer. 256 covers the fixed parts of these structs.
constexpr size_t kFixedAllowance = 256;

size_t WireBytes(const JobSpec& spec) {
  return kFixedAllowance + spec.type.size() + spec.domain.size() + spec.params.size() +
         spec.root_signature.size();
}

size_t WireBytes(const ClaimedJob& job) {
  return kFixedAllowance + job.claim.queue.type.size() + job.claim.queue.domain.size() +
         job.params.size() + job.root_signature.size();
}

size_t WireBytes(const JobInfo& job) {
  return kFixedAllowance + job.queue.type.size() + job.queue.domain.size() + job.params.size() +
         job.last_error.size() + job.root_signature.size();
}

}  // namespace jobstore::remote
