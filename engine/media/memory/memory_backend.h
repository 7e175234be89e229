// The in-memory medium (MediaWiki's JobQueueMemory): the whole contract, thread-safe, kept in
// this process's memory and lost when it exits. It is the second implementation that proves
// the contract, and a real choice for jobs that need no durability ("memory:" addresses).
#pragma once

#include <memory>
#include <string>

#include "jobstore/backend.h"
#include "jobstore/options.h"

namespace jobstore {

// A new, empty in-memory medium. `label` names it in capabilities().note.
std::unique_ptr<Backend> NewMemoryBackend(const std::string& label);

}  // namespace jobstore
