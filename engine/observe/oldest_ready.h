// The age of a queue's oldest ready job, as the metrics and the page show it: the job at the
// head of the ready order (one List of one job, exact and cheap on every medium), which is the
// oldest ready job of a fifo or random queue and the next to run of a priority queue.
#pragma once

#include <cstdint>

#include "jobstore/status.h"
#include "jobstore/store.h"

namespace jobstore::observe {

// Now by the store's clock (the system clock when it has none).
int64_t StoreNow(const Store& store);
// now - the head's enqueue time, in ms (0 when no job is ready or the clock is behind).
Result<int64_t> OldestReadyAgeMs(Store& store, const QueueStats& queue, int64_t now_ms);

}  // namespace jobstore::observe
