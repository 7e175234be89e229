#include "reliability/model.h"

#include <algorithm>
#include <sstream>

#include "reliability/workload.h"

namespace jobstore::testing {

namespace {

constexpr JobState kAllStates[] = {JobState::kReady, JobState::kClaimed, JobState::kDelayed,
                                   JobState::kAbandoned};

std::string Name(const QueueRef& q) { return "(" + q.domain + "," + q.type + ")"; }

ModelState Category(JobState s) {
  switch (s) {
    case JobState::kClaimed: return ModelState::kClaimed;
    case JobState::kAbandoned: return ModelState::kAbandoned;
    default: return ModelState::kQueued;
  }
}

const char* CategoryName(ModelState s) {
  switch (s) {
    case ModelState::kQueued: return "queued";
    case ModelState::kClaimed: return "claimed";
    case ModelState::kAbandoned: return "abandoned";
  }
  return "?";
}

}  // namespace

Snapshot TakeSnapshot(Store& store) {
  Snapshot snap;
  auto problem = [&](const std::string& p) { snap.problems.push_back(p); };

  // Every queue the store reports, plus the workload's (which must read as zeros if unused).
  auto listed = store.Queues();
  if (!listed.ok()) problem("Queues() failed: " + listed.status().ToString());
  std::vector<QueueStats> stats = listed.ok() ? *listed : std::vector<QueueStats>{};
  std::vector<QueueRef> queues;
  for (auto& s : stats) queues.push_back(s.queue);
  for (auto& q : WorkloadQueues()) {
    if (std::find(queues.begin(), queues.end(), q) == queues.end()) queues.push_back(q);
  }
  for (size_t i = 1; i < stats.size(); ++i) {
    auto key = [](const QueueRef& q) { return std::make_pair(q.domain, q.type); };
    if (!(key(stats[i - 1].queue) < key(stats[i].queue))) {
      problem("Queues() not sorted/unique at " + Name(stats[i].queue));
    }
  }

  std::vector<QueueRef> with_ready;
  for (auto& q : queues) {
    QueueCounts listed;
    for (JobState state : kAllStates) {
      std::string cursor;
      uint64_t n = 0;
      for (int page = 0;; ++page) {
        if (page > 100000) {
          problem("List " + Name(q) + " " + JobStateName(state) + " does not end");
          break;
        }
        auto r = store.List(q, state, cursor, 97);
        if (!r.ok()) {
          problem("List " + Name(q) + " " + JobStateName(state) + ": " + r.status().ToString());
          break;
        }
        for (auto& job : r->jobs) {
          ++n;
          if (!(job.queue == q)) {
            problem("job " + std::to_string(job.id) + " listed under " + Name(q) +
                    " says queue " + Name(job.queue));
          }
          if (job.state != state) {
            problem("job " + std::to_string(job.id) + " listed as " + JobStateName(state) +
                    " says " + JobStateName(job.state));
          }
          if (job.corrupt) problem("job " + std::to_string(job.id) + " is corrupt");
          auto [it, inserted] = snap.jobs.emplace(job.id, job);
          if (!inserted) {
            problem("job " + std::to_string(job.id) + " is in two places: " +
                    Name(it->second.queue) + " " + JobStateName(it->second.state) + " and " +
                    Name(q) + " " + JobStateName(state));
          }
        }
        if (r->next_cursor.empty()) break;
        if (r->next_cursor == cursor) {
          problem("List " + Name(q) + " returns the same cursor twice");
          break;
        }
        cursor = r->next_cursor;
      }
      switch (state) {
        case JobState::kReady: listed.ready = n; break;
        case JobState::kClaimed: listed.claimed = n; break;
        case JobState::kDelayed: listed.delayed = n; break;
        case JobState::kAbandoned: listed.abandoned = n; break;
      }
    }
    auto describe = [](const QueueCounts& c) {
      std::ostringstream o;
      o << "{ready " << c.ready << ", claimed " << c.claimed << ", delayed " << c.delayed
        << ", abandoned " << c.abandoned << "}";
      return o.str();
    };
    auto counts = store.Counts(q);
    if (!counts.ok()) {
      problem("Counts " + Name(q) + ": " + counts.status().ToString());
    } else if (!(*counts == listed)) {
      problem("Counts " + Name(q) + " = " + describe(*counts) + " but listed " +
              describe(listed));
    }
    auto st = std::find_if(stats.begin(), stats.end(),
                           [&](const QueueStats& s) { return s.queue == q; });
    if (st != stats.end() && !(st->counts == listed)) {
      problem("Queues() " + Name(q) + " = " + describe(st->counts) + " but listed " +
              describe(listed));
    }
    if (st == stats.end() && listed.total() > 0) {
      problem("Queues() misses " + Name(q) + " which holds jobs");
    }
    if (listed.ready > 0) with_ready.push_back(q);
  }

  auto by_name = [](const QueueRef& a, const QueueRef& b) {
    return std::make_pair(a.domain, a.type) < std::make_pair(b.domain, b.type);
  };
  std::sort(with_ready.begin(), with_ready.end(), by_name);
  auto ready = store.ReadyQueues();
  if (!ready.ok()) problem("ReadyQueues() failed: " + ready.status().ToString());
  std::vector<QueueRef> ready_index = ready.ok() ? *ready : std::vector<QueueRef>{};
  if (ready_index != with_ready) {
    std::string a, b;
    for (auto& q : ready_index) a += Name(q);
    for (auto& q : with_ready) b += Name(q);
    problem("ReadyQueues() = [" + a + "] but queues with ready jobs = [" + b + "]");
  }

  for (auto& [id, info] : snap.jobs) {
    auto r = store.Inspect(info.queue, id);
    if (!r.ok()) {
      problem("Inspect " + std::to_string(id) + ": " + r.status().ToString());
    } else if (r->state != info.state || r->attempts != info.attempts) {
      problem("Inspect " + std::to_string(id) + " says " + JobStateName(r->state) +
              " attempts " + std::to_string(r->attempts) + ", List says " +
              JobStateName(info.state) + " attempts " + std::to_string(info.attempts));
    }
  }

  auto check = store.Check();
  if (!check.ok()) {
    problem("Check: " + check.status().ToString());
  } else {
    for (auto& v : *check) problem("Check: " + v);
  }
  return snap;
}

void Model::Error(const std::string& what) { errors.push_back(what); }

ModelJob* Model::Find(JobId id, int queue, const char* op) {
  auto it = jobs.find(id);
  if (it == jobs.end()) {
    Error(std::string(op) + " of job " + std::to_string(id) + " which the model lacks");
    return nullptr;
  }
  if (it->second.queue != queue) {
    Error(std::string(op) + " of job " + std::to_string(id) + " in queue " +
          std::to_string(queue) + ", model has queue " + std::to_string(it->second.queue));
  }
  return &it->second;
}

void Model::Apply(const std::string& line) {
  std::istringstream in(line);
  std::string tag;
  in >> tag;
  if (tag == "B") {
    if (in_flight && !in_flight->failed) Error("two operations in flight: " + line);
    InFlight f;
    std::string op;
    in >> op;
    f.op = op.empty() ? '?' : op[0];
    switch (f.op) {
      case 'P': {
        int q;
        while (in >> q) f.queues.push_back(q);
        break;
      }
      case 'C': {
        int q;
        in >> q >> f.n;
        f.queues.push_back(q);
        break;
      }
      case 'X': {
        int q;
        in >> q;
        f.queues.push_back(q);
        break;
      }
      case 'A': case 'M': case 'L': case 'T': {
        int q;
        JobId id;
        while (in >> q >> id) f.ids.push_back(id);
        break;
      }
      default: break;
    }
    in_flight = f;
    return;
  }
  if (tag == "F") {
    ++failures;
    if (in_flight) in_flight->failed = true;
    return;
  }
  if (!in_flight) Error("result without an operation: " + line);
  in_flight.reset();
  ++completed;
  auto claimed = [&](JobId id, int q, const char* op) -> ModelJob* {
    ModelJob* j = Find(id, q, op);
    if (j && j->state != ModelState::kClaimed) {
      Error(std::string(op) + " succeeded on job " + std::to_string(id) + " which is " +
            CategoryName(j->state));
    }
    return j;
  };
  if (tag == "P") {
    size_t n;
    in >> n;
    for (size_t i = 0; i < n; ++i) {
      int q, dup;
      JobId id;
      in >> q >> id >> dup;
      if (dup) {
        auto it = jobs.find(id);
        if (it == jobs.end() || it->second.queue != q ||
            it->second.state != ModelState::kQueued) {
          Error("push dropped as duplicate of job " + std::to_string(id) +
                " which is not queued in queue " + std::to_string(q));
        }
        continue;
      }
      if (ever.count(id)) Error("push returned id " + std::to_string(id) + " used before");
      ever.insert(id);
      max_id = std::max(max_id, id);
      jobs[id] = ModelJob{q, ModelState::kQueued, 0, {}};
    }
  } else if (tag == "C") {
    int q;
    size_t n;
    in >> q >> n;
    for (size_t i = 0; i < n; ++i) {
      JobId id;
      ClaimToken token;
      uint32_t attempts;
      in >> id >> token.nonce >> token.deadline_ms >> attempts;
      ModelJob* j = Find(id, q, "claim");
      if (!j) continue;
      if (j->state != ModelState::kQueued) {
        Error("claim returned job " + std::to_string(id) + " which is " +
              CategoryName(j->state));
      }
      if (attempts != j->attempts + 1) {
        Error("claim of job " + std::to_string(id) + " says attempts " +
              std::to_string(attempts) + ", model expects " + std::to_string(j->attempts + 1));
      }
      j->state = ModelState::kClaimed;
      j->attempts = attempts;
      j->token = token;
    }
  } else if (tag == "A" || tag == "M") {
    size_t n = 1;
    if (tag == "M") in >> n;
    for (size_t i = 0; i < n; ++i) {
      int q;
      JobId id;
      in >> q >> id;
      if (claimed(id, q, "ack")) {
        jobs.erase(id);
        acked.insert(id);
      }
    }
  } else if (tag == "L") {
    int q;
    JobId id;
    std::string outcome;
    in >> q >> id >> outcome;
    if (ModelJob* j = claimed(id, q, "release")) {
      j->state = outcome == "A" ? ModelState::kAbandoned : ModelState::kQueued;
      j->token = {};
    }
  } else if (tag == "T") {
    int q;
    JobId id;
    ClaimToken token;
    in >> q >> id >> token.nonce >> token.deadline_ms;
    if (ModelJob* j = claimed(id, q, "touch")) j->token = token;
  } else if (tag == "X") {
    int q;
    uint64_t count;
    in >> q >> count;
    uint64_t n = 0;
    for (auto& [id, j] : jobs) {
      if (j.queue == q && j.state == ModelState::kAbandoned) {
        j.state = ModelState::kQueued;
        j.attempts = 0;
        ++n;
      }
    }
    if (n != count) {
      Error("repush of queue " + std::to_string(q) + " moved " + std::to_string(count) +
            ", model has " + std::to_string(n) + " abandoned");
    }
  } else if (tag != "E" && tag != "S") {
    Error("unknown report line: " + line);
  }
}

void Model::ResetFrom(const Snapshot& snap, bool forget_ids) {
  jobs.clear();
  in_flight.reset();
  if (forget_ids) {
    ever.clear();
    max_id = 0;
  }
  for (auto& [id, info] : snap.jobs) {
    ModelJob j;
    j.queue = QueueIndex(info.queue);
    j.state = Category(info.state);
    j.attempts = info.attempts;
    j.token.deadline_ms = info.deadline_ms;
    jobs[id] = j;
    ever.insert(id);
    acked.erase(id);
    max_id = std::max(max_id, id);
  }
}

std::vector<std::string> Verify(const Model& model, const Snapshot& snap, Loss loss) {
  std::vector<std::string> out = snap.problems;
  for (auto& e : model.errors) out.push_back("model: " + e);
  const InFlight* f = model.in_flight ? &*model.in_flight : nullptr;
  auto in_flight_touches = [&](char op, JobId id) {
    return f && f->op == op && std::find(f->ids.begin(), f->ids.end(), id) != f->ids.end();
  };
  auto in_flight_queue = [&](char op, int q) {
    return f && f->op == op && std::find(f->queues.begin(), f->queues.end(), q) != f->queues.end();
  };
  auto id_s = [](JobId id) { return "job " + std::to_string(id); };

  size_t claimed_by_flight = 0, repushed = 0, not_repushed = 0;
  for (auto& [id, j] : model.jobs) {
    auto it = snap.jobs.find(id);
    if (it == snap.jobs.end()) {
      bool may_be_gone = in_flight_touches('A', id) || in_flight_touches('M', id) ||
                         loss == Loss::kAnything;
      if (!may_be_gone) {
        out.push_back(id_s(id) + " (" + CategoryName(j.state) + " in queue " +
                      std::to_string(j.queue) + ") is lost");
      }
      continue;
    }
    const JobInfo& info = it->second;
    if (QueueIndex(info.queue) != j.queue) {
      out.push_back(id_s(id) + " moved to queue " + Name(info.queue));
      continue;
    }
    if (loss != Loss::kNone) continue;  // any state may be the undone one
    ModelState got = Category(info.state);
    bool exact = got == j.state && info.attempts == j.attempts &&
                 (got != ModelState::kClaimed || j.token.nonce == 0 ||
                  info.deadline_ms == j.token.deadline_ms || in_flight_touches('T', id));
    if (exact) continue;
    // Changes the operation in flight may have made.
    if (f && f->op == 'C' && j.queue == f->queues[0] && j.state == ModelState::kQueued &&
        got == ModelState::kClaimed && info.attempts == j.attempts + 1) {
      ++claimed_by_flight;
      continue;
    }
    if (in_flight_touches('L', id) && j.state == ModelState::kClaimed &&
        got != ModelState::kClaimed && info.attempts == j.attempts) {
      continue;
    }
    if (f && f->op == 'X' && j.queue == f->queues[0] && j.state == ModelState::kAbandoned &&
        got == ModelState::kQueued && info.attempts == 0) {
      ++repushed;
      continue;
    }
    out.push_back(id_s(id) + " is " + JobStateName(info.state) + " attempts " +
                  std::to_string(info.attempts) + " deadline " +
                  std::to_string(info.deadline_ms) + ", model says " + CategoryName(j.state) +
                  " attempts " + std::to_string(j.attempts) + " deadline " +
                  std::to_string(j.token.deadline_ms));
  }
  if (f && f->op == 'C' && claimed_by_flight > f->n) {
    out.push_back("the claim in flight of at most " + std::to_string(f->n) + " moved " +
                  std::to_string(claimed_by_flight) + " jobs");
  }
  if (f && f->op == 'X' && repushed > 0) {
    for (auto& [id, j] : model.jobs) {
      if (j.queue == f->queues[0] && j.state == ModelState::kAbandoned) {
        auto it = snap.jobs.find(id);
        if (it != snap.jobs.end() && it->second.state == JobState::kAbandoned) ++not_repushed;
      }
    }
    if (not_repushed > 0) {
      out.push_back("the repush in flight was applied to " + std::to_string(repushed) +
                    " jobs but not to " + std::to_string(not_repushed));
    }
  }

  for (auto& [id, info] : snap.jobs) {
    if (model.jobs.count(id)) continue;
    int q = QueueIndex(info.queue);
    bool from_flight_push = in_flight_queue('P', q) && id > model.max_id &&
                            Category(info.state) == ModelState::kQueued && info.attempts == 0;
    if (from_flight_push) continue;
    if (model.acked.count(id)) {
      if (loss == Loss::kNone) out.push_back(id_s(id) + " was acked but is back");
      continue;
    }
    if (loss == Loss::kAnything && model.ever.count(id)) continue;
    out.push_back(id_s(id) + " in " + Name(info.queue) + " " + JobStateName(info.state) +
                  " was never pushed");
  }
  return out;
}

std::string Describe(const std::vector<std::string>& problems, size_t max) {
  std::ostringstream o;
  o << problems.size() << " problem(s):";
  for (size_t i = 0; i < problems.size() && i < max; ++i) o << "\n  " << problems[i];
  return o.str();
}

}  // namespace jobstore::testing
