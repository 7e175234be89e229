// The status site's routes. Reads are GETs; every write is a POST that passes, in order: the
// server has a token, the Origin (when the browser sends one) is the page's own, the session
// cookie is live, and the form's CSRF token is the session's. The store then refuses it when
// it is read-only.
#include "status_site.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "jobstore/validation.h"
#include "oldest_ready.h"
#include "status_page.h"

namespace jobstore::observe {
namespace {

// Jobs shown on one page of a queue.
constexpr size_t kJobsPerPage = 100;

const std::string* Field(const std::map<std::string, std::string>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

// The session id in a Cookie header ("a=b; name=value; c=d").
std::string CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t end = header.find(';');
    std::string_view part = header.substr(0, end);
    header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name &&
        part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
  }
  return "";
}

// A store's refusal as an HTTP status. InvalidArgument is the request's fault when it reads (a
// bad cursor) and a conflict with the job's state when it writes (a retry of a job that is not
// abandoned).
unsigned HttpStatusOf(const Status& s, bool write = false) {
  switch (s.code()) {
    case Status::Code::kNotFound: return 404;
    case Status::Code::kInvalidArgument: return write ? 409 : 400;
    case Status::Code::kReadOnly: return 409;
    case Status::Code::kUnavailable:
    case Status::Code::kDeadlineExceeded:
    case Status::Code::kBusy: return 503;
    default: return 500;
  }
}

WebReply Redirect(const std::string& to) {
  WebReply r;
  r.status = 303;
  r.headers.emplace_back("Location", to);
  r.body = "<a href=\"" + HtmlEscape(to) + "\">continue</a>\n";
  return r;
}

}  // namespace

struct StatusSite::Caller {
  std::optional<WebSessions::Session> session;
};

StatusSite::StatusSite(Store& store, std::shared_ptr<jobstore::Metrics> metrics,
                       ExpositionOptions exposition, std::string token, std::string cookie_name)
    : store_(store),
      metrics_(std::move(metrics)),
      exposition_(std::move(exposition)),
      sessions_(std::move(token)),
      cookie_name_(std::move(cookie_name)),
      store_label_([&] {
        const Capabilities c = store.capabilities();
        return c.note.empty() ? c.medium : c.note;
      }()) {}

StatusSite::Caller StatusSite::Identify(const WebRequest& r) {
  return Caller{sessions_.Find(CookieValue(r.cookie, cookie_name_))};
}

WebReply StatusSite::Handle(const WebRequest& r) {
  Caller caller = Identify(r);
  if (r.path == "/metrics" || r.path == "/api/queues" || r.path == "/" || r.path == "/queue" ||
      r.path == "/job") {
    if (r.method != "GET") {
      WebReply e = Error(caller, 405, r.path + " is read with GET");
      e.headers.emplace_back("Allow", "GET");
      return e;
    }
    if (r.path == "/metrics") return MetricsText();
    if (r.path == "/api/queues") return QueuesJson();
    return Page(r, caller);
  }
  if (r.path == "/static/app.js" || r.path == "/static/app.css") {
    WebReply a;
    const bool js = r.path == "/static/app.js";
    a.content_type = js ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
    a.body = js ? kAppJs : kAppCss;
    return a;
  }
  if (r.path == "/login" || r.path == "/logout" || r.path == "/job/retry" ||
      r.path == "/job/delete" || r.path == "/queue/repush") {
    if (r.method != "POST") {
      WebReply e = Error(caller, 405, r.path + " changes the store: it takes a POST from the page's form");
      e.headers.emplace_back("Allow", "POST");
      return e;
    }
    return Write(r, caller);
  }
  return Error(caller, 404, "nothing at " + r.path + "; the queues are at /");
}

WebReply StatusSite::Error(const Caller& caller, unsigned status, const std::string& message) {
  PageFrame f;
  f.store = store_label_;
  f.writable = sessions_.writable();
  f.signed_in = caller.session.has_value();
  f.read_only = store_.IsReadOnly();
  if (caller.session) f.csrf = caller.session->csrf;
  f.now_ms = StoreNow(store_);
  WebReply r;
  r.status = status;
  r.body = ErrorPage(f, status, message);
  return r;
}

WebReply StatusSite::MetricsText() {
  ExpositionOptions o = exposition_;
  o.counters = metrics_ != nullptr;
  jobstore::Metrics none;
  auto text = (metrics_ ? *metrics_ : none).Exposition(store_, o);
  WebReply r;
  if (!text.ok()) {
    r.status = 503;
    r.content_type = "text/plain; charset=utf-8";
    r.body = text.status().ToString() + "\n";
    return r;
  }
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(text).value();
  return r;
}

WebReply StatusSite::QueuesJson() {
  WebReply r;
  r.content_type = "application/json";
  auto queues = store_.Queues();
  const int64_t now = StoreNow(store_);
  nlohmann::json j;
  if (!queues.ok()) {
    r.status = 503;
    j["error"] = queues.status().ToString();
  } else {
    j["now_ms"] = now;
    j["read_only"] = store_.IsReadOnly();
    j["queues"] = nlohmann::json::array();
    for (const QueueStats& q : *queues) {
      auto age = OldestReadyAgeMs(store_, q, now);
      if (!age.ok()) {
        r.status = 503;
        j = {{"error", age.status().ToString()}};
        break;
      }
      j["queues"].push_back({{"domain", q.queue.domain},
                             {"type", q.queue.type},
                             {"backend", q.backend},
                             {"ready", q.counts.ready},
                             {"claimed", q.counts.claimed},
                             {"delayed", q.counts.delayed},
                             {"abandoned", q.counts.abandoned},
                             {"oldest_ready_ms", *age}});
    }
  }
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return r;
}

WebReply StatusSite::Page(const WebRequest& r, const Caller& caller) {
  PageFrame f;
  f.store = store_label_;
  f.writable = sessions_.writable();
  f.signed_in = caller.session.has_value();
  f.read_only = store_.IsReadOnly();
  if (caller.session) {
    f.csrf = caller.session->csrf;
    f.note = sessions_.TakeNote(caller.session->id);
  }
  f.now_ms = StoreNow(store_);

  if (r.path == "/") {
    auto queues = store_.Queues();
    if (!queues.ok()) return Error(caller, 503, queues.status().ToString());
    std::vector<QueueRow> rows;
    for (QueueStats& q : *queues) {
      auto age = OldestReadyAgeMs(store_, q, f.now_ms);
      if (!age.ok()) return Error(caller, 503, age.status().ToString());
      rows.push_back({std::move(q), *age});
    }
    WebReply page;
    page.body = QueuesPage(f, rows);
    return page;
  }

  // /queue and /job name a queue.
  QueueRef q;
  const std::string* type = Field(r.query, "type");
  const std::string* domain = Field(r.query, "domain");
  if (!type) return Error(caller, 400, "give the queue's type: " + r.path + "?type=T&domain=D");
  q.type = *type;
  if (domain) q.domain = *domain;
  if (Status s = ValidateQueue(q); !s.ok()) return Error(caller, 400, s.message());

  if (r.path == "/job") {
    const std::string* id_text = Field(r.query, "id");
    JobId id = 0;
    if (!id_text || std::from_chars(id_text->data(), id_text->data() + id_text->size(), id).ec !=
                        std::errc() ||
        id_text->empty() || std::to_string(id) != *id_text) {
      return Error(caller, 400, "give the job's id as a number: /job?type=T&domain=D&id=N");
    }
    auto job = store_.Inspect(q, id);
    if (!job.ok()) return Error(caller, HttpStatusOf(job.status()), job.status().ToString());
    WebReply page;
    page.body = JobPage(f, *job);
    return page;
  }

  auto counts = store_.Counts(q);
  if (!counts.ok()) return Error(caller, HttpStatusOf(counts.status()), counts.status().ToString());
  QueueRow row{QueueStats{q, *counts, ""}, 0};
  auto age = OldestReadyAgeMs(store_, row.stats, f.now_ms);
  if (!age.ok()) return Error(caller, 503, age.status().ToString());
  row.oldest_ready_ms = *age;
  JobState state = counts->abandoned > 0 || counts->ready == 0 ? JobState::kAbandoned
                                                               : JobState::kReady;
  if (const std::string* s = Field(r.query, "state")) {
    auto parsed = ParseJobState(*s);
    if (!parsed.ok()) return Error(caller, 400, parsed.status().message());
    state = *parsed;
  }
  const std::string* cursor = Field(r.query, "cursor");
  auto jobs = store_.List(q, state, cursor ? *cursor : "", kJobsPerPage);
  if (!jobs.ok()) return Error(caller, HttpStatusOf(jobs.status()), jobs.status().ToString());
  WebReply page;
  page.body = QueuePage(f, row, state, jobs->jobs, jobs->next_cursor);
  return page;
}

WebReply StatusSite::Write(const WebRequest& r, const Caller& caller) {
  if (!sessions_.writable()) {
    return Error(caller, 403,
                 "this page is read-only: start the server with a token file "
                 "(--http-token-file) to retry, delete or repush jobs");
  }
  // A browser names the page a POST comes from; another site's page is refused even with a
  // session (the SameSite cookie and the CSRF token stop it too: this is a third lock).
  if (!r.origin.empty() && r.origin != "http://" + r.host) {
    return Error(caller, 403, "a write from another origin (" + r.origin + ") is refused");
  }
  if (r.path == "/login") {
    const std::string* token = Field(r.form, "token");
    auto session = token ? sessions_.SignIn(*token) : std::nullopt;
    if (!session) return Error(caller, 403, "wrong token: give the token of the server's token file");
    WebReply ok = Redirect("/");
    ok.headers.emplace_back("Set-Cookie", cookie_name_ + "=" + session->id +
                                              "; Path=/; HttpOnly; SameSite=Strict");
    return ok;
  }
  if (!caller.session) {
    return Error(caller, 403, "sign in with the server's token first (the form at the top)");
  }
  const std::string* csrf = Field(r.form, "csrf");
  if (!csrf || !WebSessions::CsrfMatches(*caller.session, *csrf)) {
    return Error(caller, 403, "the form's CSRF token is missing or not this session's: reload "
                              "the page and try again");
  }
  if (r.path == "/logout") {
    sessions_.SignOut(caller.session->id);
    WebReply bye = Redirect("/");
    bye.headers.emplace_back("Set-Cookie", cookie_name_ + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    return bye;
  }

  QueueRef q;
  if (const std::string* t = Field(r.form, "type")) q.type = *t;
  if (const std::string* d = Field(r.form, "domain")) q.domain = *d;
  if (Status s = ValidateQueue(q); !s.ok()) return Error(caller, 400, s.message());
  const std::string where = "queue '" + q.type + "'" + (q.domain.empty() ? "" : " of domain '" + q.domain + "'");

  if (r.path == "/queue/repush") {
    auto moved = store_.RepushAbandoned(q);
    if (!moved.ok()) return Error(caller, HttpStatusOf(moved.status(), true), "repush " + where + ": " + moved.status().ToString());
    sessions_.SetNote(caller.session->id, "Repushed " + std::to_string(*moved) +
                                              " abandoned job" + (*moved == 1 ? "" : "s") + " of " + where + ".");
    return Redirect(QueueLink(q, "ready"));
  }

  const std::string* id_text = Field(r.form, "id");
  JobId id = 0;
  if (!id_text || id_text->empty() ||
      std::from_chars(id_text->data(), id_text->data() + id_text->size(), id).ec != std::errc() ||
      std::to_string(id) != *id_text) {
    return Error(caller, 400, "the form names no job id");
  }
  const std::string job = "job " + std::to_string(id) + " of " + where;
  if (r.path == "/job/retry") {
    Status s = store_.RetryJob(q, id);
    if (!s.ok()) return Error(caller, HttpStatusOf(s, true), "retry " + job + ": " + s.ToString());
    sessions_.SetNote(caller.session->id, "Retried " + job + ": it is ready again.");
    return Redirect(JobLink(q, id));
  }
  Status s = store_.DeleteJob(q, id);
  if (!s.ok()) return Error(caller, HttpStatusOf(s, true), "delete " + job + ": " + s.ToString());
  sessions_.SetNote(caller.session->id, "Deleted " + job + ".");
  return Redirect(QueueLink(q));
}

}  // namespace jobstore::observe
