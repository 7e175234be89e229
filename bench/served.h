// The workload served (docs/DESIGN.md §11): the store held by one server process, one producer
// process pushing, W worker processes (not threads) draining, each with its own connection.
// Same figures and verification as the embedded workload (workload.h); rates are wall time of
// the phase, CPU per job is the sum over every process (server, producer, workers).
#pragma once

#include "workload.h"

namespace jobstore::bench {

// Runs the workload served, with `config.claim_batch` jobs per claim (1: claim and ack one at
// a time; more: Claim up to that many, then one AckMany). The store is config.dir (a fresh
// temporary directory when empty). peak_rss_kb is the server's.
Status RunServed(const WorkloadConfig& config, WorkloadReport* report);

// The child processes of RunServed: `jobstore_bench --role server|producer|worker ...`.
// Returns the exit status.
int ServedRole(int argc, char** argv);

}  // namespace jobstore::bench
