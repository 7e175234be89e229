@0xd162d425aa67eea8;
# The served store's wire protocol (docs/DESIGN.md §11): the Store contract (store.h) as one
# Cap'n Proto RPC interface, one method a call. Evolve only by adding fields with new ordinals
# and methods with new numbers; never renumber, retype or re-default one. A method a server
# does not know fails with UNIMPLEMENTED, which the client reports as NotSupported.
#
# Store errors travel as a Status in the results (every method has one); an RPC exception
# means the transport failed (disconnected, overloaded) or the message was malformed.
#
# Before RPC starts, the client sends a hello (handshake.h): a magic, the protocol version and,
# on TCP, the token. The server answers it; nothing else is read from an unauthenticated peer.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("jobstore::wire");

enum StatusCode {
  ok @0;
  invalidArgument @1;
  notFound @2;
  staleToken @3;
  readOnly @4;
  busy @5;
  corruption @6;
  ioError @7;
  notSupported @8;
  unavailable @9;
  deadlineExceeded @10;
  internal @11;
}

struct Status {
  code @0 :StatusCode;
  message @1 :Text;
  holderPid @2 :Int64;
}

struct QueueRef {
  domain @0 :Text;
  type @1 :Text;
}

struct JobSpec {
  type @0 :Text;
  domain @1 :Text;
  params @2 :Data;
  priority @3 :Int32;
  releaseAtMs @4 :Int64;
  dedup @5 :Bool;
  rootSignature @6 :Text;
  rootTimestampMs @7 :Int64;
  rootIsSelf @8 :Bool;
}

struct ClaimToken {
  deadlineMs @0 :Int64;
  nonce @1 :UInt64;
}

struct Claim {
  queue @0 :QueueRef;
  id @1 :UInt64;
  token @2 :ClaimToken;
}

struct ClaimedJob {
  claim @0 :Claim;
  params @1 :Data;
  attempts @2 :UInt32;
  priority @3 :Int32;
  enqueuedAtMs @4 :Int64;
  rootSignature @5 :Text;
  rootTimestampMs @6 :Int64;
  superseded @7 :Bool;
}

struct QueueCounts {
  ready @0 :UInt64;
  claimed @1 :UInt64;
  delayed @2 :UInt64;
  abandoned @3 :UInt64;
}

enum Order {
  fifo @0;
  random @1;
  priority @2;
}

struct TypeSettings {
  order @0 :Order;
  claimTtlMs @1 :Int64;
  maxTries @2 :UInt32;
  retriesAllowed @3 :Bool;
  retentionMs @4 :Int64;
  rootJobTtlMs @5 :Int64;
}

enum JobState {
  ready @0;
  claimed @1;
  delayed @2;
  abandoned @3;
}

struct JobInfo {
  queue @0 :QueueRef;
  id @1 :UInt64;
  state @2 :JobState;
  params @3 :Data;
  attempts @4 :UInt32;
  priority @5 :Int32;
  enqueuedAtMs @6 :Int64;
  releaseAtMs @7 :Int64;
  deadlineMs @8 :Int64;
  claimedAtMs @9 :Int64;
  abandonedAtMs @10 :Int64;
  lastError @11 :Data;          # arbitrary bytes (a command's stderr)
  rootSignature @12 :Text;
  rootTimestampMs @13 :Int64;
  dedup @14 :Bool;
  corrupt @15 :Bool;
  claimToken @16 :ClaimToken;    # claimed: the current claim's token (Store::ForceRelease)
}

struct Released {
  state @0 :JobState;        # ready, delayed or abandoned
  releaseAtMs @1 :Int64;     # delayed: when it becomes ready
  reason @2 :Text;           # abandoned: why
}

struct ReadyFilter {
  anyDomain @0 :Bool;      # true: every domain (ReadyFilter::domain is nullopt)
  domain @1 :Text;
  types @2 :List(Text);
  exclude @3 :List(Text);
}

struct QueueStats {
  queue @0 :QueueRef;
  counts @1 :QueueCounts;
  backend @2 :Text;
}

struct MaintenanceReport {
  promoted @0 :UInt64;
  reclaimed @1 :UInt64;
  abandoned @2 :UInt64;
  pruned @3 :UInt64;
  rootsExpired @4 :UInt64;
  more @5 :Bool;
}

enum PushAtomicity {
  wholeBatch @0;
  perBackend @1;
  perQueue @2;
}

enum Durability {
  nothing @0;
  processCrash @1;
  powerLoss @2;
  serverConfig @3;
}

struct Capabilities {
  medium @0 :Text;
  pushAtomicity @1 :PushAtomicity;
  exactCounts @2 :Bool;
  exactReadyIndex @3 :Bool;
  pushDurability @4 :Durability;
  shared @5 :Bool;
  note @6 :Text;
}

# What the client learns once, right after the hello.
struct ServerInfo {
  capabilities @0 :Capabilities;   # of the store the server holds
  readOnly @1 :Bool;               # the served store refuses writes
  pid @2 :Int64;                   # the serving process
  maxMessageBytes @3 :UInt64;      # the largest message either side may send
  maxCallsInFlight @4 :UInt32;     # per connection; more are refused
  maxParamsBytes @5 :UInt64;       # the served store's Options::max_params_bytes
}

# An optional claim TTL (std::optional<int64_t>).
struct Ttl {
  given @0 :Bool;
  ms @1 :Int64;
}

interface Store {
  info @0 () -> (info :ServerInfo);

  push @1 (jobs :List(JobSpec))
      -> (status :Status, ids :List(UInt64), duplicate :List(Bool), pushed :UInt64,
          duplicates :UInt64);
  claim @2 (queue :QueueRef, maxJobs :UInt64, ttl :Ttl)
      -> (status :Status, jobs :List(ClaimedJob));
  # One round trip whatever the wait: the server parks the call (not a thread) until a queue
  # the filter allows gains ready jobs or waitMs passes.
  claimAny @3 (filter :ReadyFilter, maxJobs :UInt64, ttl :Ttl, waitMs :Int64)
      -> (status :Status, jobs :List(ClaimedJob));
  # Ack and AckMany: `status` fails only when nothing could be tried; else one per claim.
  ackMany @4 (claims :List(Claim)) -> (status :Status, statuses :List(Status));
  release @5 (claim :Claim, delayMs :Int64, error :Data) -> (status :Status, released :Released);
  touch @6 (claim :Claim, ttl :Ttl) -> (status :Status, token :ClaimToken);
  repushAbandoned @7 (queue :QueueRef) -> (status :Status, moved :UInt64);
  retryJob @8 (queue :QueueRef, id :UInt64) -> (status :Status);
  deleteJob @9 (queue :QueueRef, id :UInt64) -> (status :Status);
  clear @10 (queue :QueueRef) -> (status :Status);
  maintain @11 () -> (status :Status, report :MaintenanceReport);

  counts @12 (queue :QueueRef) -> (status :Status, counts :QueueCounts);
  queues @13 () -> (status :Status, queues :List(QueueStats));
  list @14 (queue :QueueRef, state :JobState, cursor :Data, limit :UInt64)
      -> (status :Status, jobs :List(JobInfo), nextCursor :Data);
  inspect @15 (queue :QueueRef, id :UInt64) -> (status :Status, job :JobInfo);
  check @16 () -> (status :Status, problems :List(Text));

  readyQueues @17 () -> (status :Status, queues :List(QueueRef));
  pickReadyQueue @18 (filter :ReadyFilter) -> (status :Status, found :Bool, queue :QueueRef);
  readyEpoch @19 () -> (status :Status, epoch :UInt64);
  # Parked on the server like claimAny's wait.
  waitForReady @20 (epoch :UInt64, maxWaitMs :Int64) -> (status :Status);

  getTypeSettings @21 (type :Text) -> (status :Status, settings :TypeSettings);
  setTypeSettings @22 (type :Text, settings :TypeSettings) -> (status :Status);
  types @23 () -> (status :Status, types :List(Text));

  forceRelease @24 (queue :QueueRef, id :UInt64) -> (status :Status);
  # Store::Restore: jobs as a backup holds them; answered as push is.
  restore @25 (jobs :List(JobInfo))
      -> (status :Status, ids :List(UInt64), duplicate :List(Bool), pushed :UInt64,
          duplicates :UInt64);
  # Store::AckThenClaimAny: ackMany then claimAny (its wait parked the same way) in one round
  # trip. `status` fails only when the acks could not be tried (nothing was claimed); else
  # `statuses` answers each claim and `claimStatus`/`jobs` the claim.
  ackThenClaimAny @26 (claims :List(Claim), filter :ReadyFilter, maxJobs :UInt64, ttl :Ttl,
                       waitMs :Int64)
      -> (status :Status, statuses :List(Status), claimStatus :Status, jobs :List(ClaimedJob));
}
