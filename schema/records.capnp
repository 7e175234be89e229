@0x8eed3b11a3139db8;
# What jobstore stores. Evolve only by adding fields with new ordinals; never renumber,
# retype or re-default a field (see docs/DESIGN.md §3, rule 5). Values are stored packed
# (capnp::writePackedMessage), which reads from unaligned RocksDB buffers.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("jobstore::schema");

# Value of a `J` key: written once at push, removed at ack or prune.
struct JobRecord {
  params @0 :Data;           # opaque to the engine; the CLI stores canonical JSON
  enqueuedAtMs @1 :Int64;    # wall-clock ms when the push was accepted
  priority @2 :Int32;        # higher runs first under `priority` order
  releaseAtMs @3 :Int64;     # 0 = no delay
  dedup @4 :Bool;            # pushed with dedup on
  dedupHash @5 :Data;        # SHA-256 of type + params (root-job fields are not in params)
  rootSignature @6 :Text;    # empty = not part of a root job
  rootTimestampMs @7 :Int64;
  rootIsSelf @8 :Bool;       # pushing it registered the root job
}

# Value of the state keys `R` (ready), `C` (claimed), `D` (delayed), `A` (abandoned).
# Each is written once and removed with SingleDelete; a move writes a new key.
struct StateEntry {
  attempts @0 :UInt32;       # claims so far; +1 per claim, never on reclaim
  priority @1 :Int32;        # copied from the record so moves need not read it
  orderRank @2 :UInt32;      # ready order key, kept so a reclaimed job returns to its place
  orderSeq @3 :UInt64;
  ownsDedup @4 :Bool;        # this job holds the queue's `U` entry for its hash
  claimNonce @5 :UInt64;     # C only: second half of the claim token
  claimedAtMs @6 :Int64;     # C and A: time of the last claim
  lastError @7 :Text;        # A, and jobs released with an error
  abandonedAtMs @8 :Int64;   # A only
  lastErrorAtMs @9 :Int64;
}

enum Order {
  fifo @0;
  random @1;
  priority @2;
}

# Value of the `S` key in a type's column family.
struct TypeSettings {
  order @0 :Order;
  claimTtlMs @1 :Int64;      # 0 = a claim never expires
  maxTries @2 :UInt32;
  retentionMs @3 :Int64;     # how long abandoned jobs are kept
  retriesAllowed @4 :Bool = true;
  rootJobTtlMs @5 :Int64;
}
